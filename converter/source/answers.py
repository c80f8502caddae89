"""Parsing a PS3.18 JSON answer from bytes, the same way for a server's answer and a saved file.

JSON is UTF-8 (RFC 8259 8.1; PS3.18 F.2 uses the ``application/dicom+json``
media type, which is JSON). Servers that copy a file's bytes into JSON without
decoding them by its Specific Character Set send invalid UTF-8; refusing such an
answer would make the study impossible to convert however often it is asked
for, so the invalid bytes are replaced by U+FFFD and a warning names the element
they were in. Everything else that is not JSON raises :class:`NotJsonError`.
Parsing is orjson's: it refuses NaN, infinities and nesting deeper than 1024,
none of which PS3.18 JSON has.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import orjson

from converter.mapping.keywords import keyword_for

_BOM = b"\xef\xbb\xbf"
_TAG_KEY = re.compile(rb'"([0-9A-Fa-f]{8})"\s*:')
_TAG_RE = re.compile(r"^[0-9A-Fa-f]{8}$")


class NotJsonError(ValueError):
    """The bytes are not a JSON document (the message says why, in orjson's words)."""


def _element_at(raw: bytes, offset: int) -> str:
    """The tag key last opened before ``offset``: the element holding that byte."""
    found = None
    for match in _TAG_KEY.finditer(raw, 0, offset):
        found = match
    if found is None:
        return "the answer"
    tag = found.group(1).decode("ascii").upper()
    return f"{keyword_for(tag)} ({tag[:4]},{tag[4:]})"


def load_json(raw: bytes, warn: Callable[[str], None] | None = None) -> Any:
    """Parse ``raw`` as JSON; invalid UTF-8 is replaced by U+FFFD and warned about.

    A UTF-8 byte order mark is ignored (RFC 8259 8.1 allows a parser to).
    """
    if raw.startswith(_BOM):
        raw = raw[len(_BOM) :]
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        problem = str(exc)
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as bad:
        try:
            document = orjson.loads(raw.decode("utf-8", errors="replace"))
        except orjson.JSONDecodeError as exc:
            raise NotJsonError(str(exc)) from exc
        if warn is not None:
            warn(
                f"invalid UTF-8 in {_element_at(raw, bad.start)} (byte {bad.start}) replaced "
                "by U+FFFD; the server sent text that is not UTF-8 (RFC 8259 8.1)"
            )
        return document
    raise NotJsonError(problem)


def check_datasets(answer: Any) -> str | None:
    """PS3.18 F.2: a JSON array of dataset objects; anything else is a bad answer.

    A dataset's keys are 8-hex tags (F.2.1.1); an object whose first key is not
    one is an error report such as ``{"error": "..."}`` that dicomweb-client
    wrapped into a list (it accepts a lone dataset), not a dataset. Only the
    first key is looked at: checking every key of a large answer costs time,
    and the mapper warns about (and drops) any other odd key.
    """
    if not isinstance(answer, list):
        return "answered JSON that is not an array of datasets (PS3.18 F.2)"
    for dataset in answer:
        if not isinstance(dataset, dict):
            return "answered JSON that is not an array of datasets (PS3.18 F.2)"
        first = next(iter(dataset), None)
        if first is not None and not _TAG_RE.match(first):
            return (
                f"answered JSON objects that are not datasets (key {first[:40]!r} is not "
                "a tag, PS3.18 F.2.1.1)"
            )
    return None
