"""A launch file's bytes: the document around the studies and its JSON encoding (RFC 8259,
UTF-8), the same bytes for every store.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import orjson

from converter.launch.model import (
    Study,
)


def launch_file(studies: Iterable[Study]) -> dict[str, Any]:
    """The whole document: ``{"studies": [...]}``."""
    return {"studies": [s.to_json() for s in studies]}


def dumps(document: Any, indent: int | None = None) -> bytes:
    """Serialise deterministically as UTF-8 (non-ASCII kept), newline-terminated.

    Compact output goes through orjson (several times faster than the stdlib on
    large studies); ``indent`` and values orjson refuses (integers beyond 64
    bits) use the stdlib encoder. Neither writes NaN: orjson writes ``null``.
    """
    if indent is None:
        try:
            return orjson.dumps(document, option=orjson.OPT_APPEND_NEWLINE)
        except orjson.JSONEncodeError:
            pass
    separators = (",", ":") if indent is None else (",", ": ")
    text = json.dumps(
        document, ensure_ascii=False, allow_nan=False, indent=indent, separators=separators
    )
    return (text + "\n").encode("utf-8")
