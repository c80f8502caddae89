"""Values by value representation (PS3.5 6.2) in the mapper's JSON: the VR families,
the empty value of each (PS3.18 F.2.5), a PN as one string (PS3.18 F.2.2), DS and IS
strings as numbers, and how a broken value is named in a warning. Pure.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import orjson

from converter.errors import MappingError

TEXT_VRS = frozenset(
    {"AE", "AS", "AT", "CS", "DA", "DT", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI", "UR", "UT"}
)
"""VRs whose empty value is written as ``""``."""


NUMERIC_VRS = frozenset({"DS", "FD", "FL", "IS", "SL", "SS", "SV", "UL", "US", "UV"})
"""VRs whose empty value is written as ``null``."""


BINARY_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})
"""VRs that PS3.18 F.2.7 carries as ``InlineBinary`` or ``BulkDataURI``."""


ALL_VRS = TEXT_VRS | NUMERIC_VRS | BINARY_VRS | {"SQ"}


PN_GROUPS = ("Alphabetic", "Ideographic", "Phonetic")


DS_RE = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$")


IS_RE = re.compile(r"^\s*[+-]?\d+\s*$")


def empty_value(vr: str) -> Any:
    """What an element with no value is written as: the one place this is decided.

    ``""`` for text VRs (as in OHIF's docs example, ``"PatientName": ""``),
    ``[]`` for SQ, ``None`` for numeric, binary and unknown VRs.
    """
    if vr in TEXT_VRS:
        return ""
    if vr == "SQ":
        return []
    return None


def person_name(value: Any) -> Any:
    """PS3.18 F.2.2 PN object -> ``Alphabetic=Ideographic=Phonetic`` (PS3.5 6.2.1).

    Trailing empty component groups are dropped, so a name with only an
    alphabetic group stays ``"Doe^Jane"``. A bare string (a broken server) is
    kept as it is.
    """
    if isinstance(value, Mapping):
        groups = [value.get("Alphabetic"), value.get("Ideographic"), value.get("Phonetic")]
        if not all(g is None or g.__class__ is str for g in groups):
            groups = [pn_component(g) for g in groups]
        return f"{groups[0] or ''}={groups[1] or ''}={groups[2] or ''}".rstrip("=")
    if value is None:
        return ""
    return value


def pn_component(group: Any) -> str:
    """One PN component group as text; a non-string (a broken server) as its JSON text."""
    if group is None or group.__class__ is str:
        return group or ""
    try:
        return orjson.dumps(group).decode("utf-8")
    except orjson.JSONEncodeError as exc:
        raise MappingError("a PN component nested too deep to be written") from exc


def parse_number(text: str, integer: bool) -> int | float | None:
    """Parse a DS/IS string (PS3.5 6.2 grammar) or return None when it is not one.

    ``1e999`` fits the grammar but not a JSON number (it is infinite): None.
    """
    if integer:
        return int(text) if IS_RE.match(text) else None
    if not DS_RE.match(text):
        return None
    if IS_RE.match(text):
        return int(text)
    number = float(text)
    return number if math.isfinite(number) else None


def json_type(value: Any) -> str:
    """What a JSON value is, in words: 'an array', 'an object', 'a number'..."""
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "null" if value is None else "a string"


def short_repr(value: Any) -> str:
    """``repr`` of a broken value, cut to fit in a warning (an array or object: its type)."""
    if isinstance(value, list | dict):
        return json_type(value)
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"
