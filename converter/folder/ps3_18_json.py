"""A pydicom dataset -> the PS3.18 F.2 DICOM JSON Model, from the raw bytes where it can.

What a DICOMweb server answers to ``.../metadata``, made here from a header that
:mod:`converter.folder.part10` read, so that ``folder`` feeds the mapper the same form as
``snapshot`` does (docs/format.md: one mapping path for both sources).

pydicom's ``Dataset.to_json_dict`` would give this JSON too, but it converts every
element into a Python value first (three times the cost of reading the file) and
raises on an invalid IS such as ``'1A'``. So elements are encoded from their raw
bytes, driven by VR tables (PS3.5 6.2); only what the tables do not cover
(sequences, AT, UN, VRs that depend on other attributes such as "US or SS") goes
through pydicom's own conversion, and a test holds both ways equal on every
fixture and real-world file. Differences from ``to_json_dict``, all on purpose:

* DS and IS values are JSON numbers (PS3.18 F.2.3), whole ones printed without a
  fraction as Orthanc prints them (``"1.0"`` -> ``1``, like FL/FD ``64.0`` -> ``64``);
  a value outside PS3.5's grammar stays a string, which the mapper keeps and
  warns about.
* An empty value inside a multi-valued string is ``null`` (PS3.18 F.2.5), as
  DICOMweb servers send it, not ``""``.
* Group length elements ``(gggg,0000)`` are left out: they describe the byte
  layout of the file and are retired (PS3.5 7.2).
* ``EncapsulatedDocument`` is inline whatever its size, so OHIF can open the PDF
  from a static host (see :class:`BulkData`); so are palette colour lookup
  tables, in little endian byte order whatever the file's, the only form OHIF
  reads them in (:mod:`converter.mapping.palette`).
* Private elements are left out before any work is spent on them unless kept
  (the mapper would drop them), and values shorter than their declared length
  (a truncated file, which pydicom reads without a word) are an error.
"""

from __future__ import annotations

import base64
import math
import re
import struct
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydicom.charset import convert_encodings, decode_bytes
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset

from converter.errors import UnreadableFileError
from converter.mapping.palette import TABLE_TAGS

ENCAPSULATED_DOCUMENT = 0x00420011
SPECIFIC_CHARACTER_SET = 0x00080005
BULK_DATA_THRESHOLD = 1024
"""Base64 characters above which a binary value is a BulkDataURI (pydicom's default)."""

_UNDEFINED_LENGTH = 0xFFFFFFFF
_DEFAULT_ENCODINGS = ("iso8859",)
_TEXT_DELIMITERS = {0x0D, 0x0A, 0x09, 0x0C}  # reset ISO 2022 code extensions (PS3.5 6.1.2.5.3)
_PN_DELIMITERS = {0x5E}  # '^'; groups are split on '=' first

# --- VR tables (PS3.5 6.2) ------------------------------------------------------

# Default repertoire, multi-valued: which characters around each value are padding.
_PLAIN_TEXT: dict[str, str] = {
    "AE": " ",
    "AS": " ",
    "CS": " ",
    "DA": " ",
    "DS": " ",
    "DT": " ",
    "IS": " ",
    "TM": " ",
    "UI": " \x00",
}
# Specific Character Set applies (PS3.5 6.1.2.3), multi-valued; leading spaces of
# LO and SH are padding, of UC they are not.
_CHARSET_TEXT: dict[str, bool] = {"LO": True, "SH": True, "UC": False}
# Specific Character Set applies, one value that may hold backslashes; leading
# spaces are significant.
_CHARSET_SINGLE = frozenset({"LT", "ST", "UT"})
_STRUCT_CODES: dict[str, str] = {
    "US": "H",
    "SS": "h",
    "UL": "L",
    "SL": "l",
    "UV": "Q",
    "SV": "q",
    "FL": "f",
    "FD": "d",
}
_STRUCT_SIZES = {vr: struct.calcsize("<" + code) for vr, code in _STRUCT_CODES.items()}
_FLOATS = frozenset({"FL", "FD"})
_EXACT_INTEGERS = 2**53  # whole floats below this print as integers without loss
_DS_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")  # PS3.5 6.2 DS
_IS_RE = re.compile(r"^[+-]?\d+$")  # PS3.5 6.2 IS
_BINARY = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})


@dataclass(frozen=True)
class BulkData:
    """How binary values are written (PS3.18 F.2.7: ``InlineBinary`` or ``BulkDataURI``).

    Values up to ``threshold`` base64 characters are inline, so OHIF gets small
    lookup tables without a request it could not make; larger ones are a
    ``BulkDataURI`` naming ``uri``, the Part 10 object that holds them (a launch
    file viewer never fetches those). ``EncapsulatedDocument`` is inline
    whatever its size when ``inline_documents`` (OHIF turns it into a ``blob:``
    URL and shows the PDF, which a static file host could not serve otherwise),
    else always a ``BulkDataURI``.
    """

    uri: str
    threshold: int = BULK_DATA_THRESHOLD
    inline_documents: bool = True


def dataset_json(
    ds: Dataset, bulk: BulkData, *, keep_private: bool = True, fast: bool = True
) -> dict[str, Any]:
    """A pydicom dataset as a PS3.18 F.2 JSON object (tag-keyed, ``vr`` + ``Value``).

    ``keep_private=False`` leaves out private elements (odd groups), which the
    mapper would drop anyway, before any work is spent on them. ``fast=False``
    converts every element through pydicom (the reference the fast raw-byte
    path is tested against).
    """
    return _Encoder(bulk, fast, keep_private).dataset(ds, _DEFAULT_ENCODINGS)


_IMPLICIT_VRS: dict[int, str | None] = {}


def _implicit_vr(tag: int) -> str | None:
    """The dictionary VR of a public tag in an implicit VR dataset (PS3.5 A.1), cached.

    None where pydicom has to decide: private and unknown tags, and the VRs that
    depend on other attributes ("US or SS", "OB or OW").
    """
    if tag in _IMPLICIT_VRS:
        return _IMPLICIT_VRS[tag]
    vr = None
    if not tag & 0x10000:
        try:
            vr = dictionary_VR(tag)
        except KeyError:
            vr = None
        if vr is not None and (" " in vr or vr in ("UN", "SQ")):
            vr = None
    _IMPLICIT_VRS[tag] = vr
    return vr


_KEYS: dict[int, str] = {}
"""Tag -> its 8-hex key, cached: a folder repeats the same few hundred tags."""


class _Encoder:
    __slots__ = ("bulk", "fast", "keep_private", "limit")

    def __init__(self, bulk: BulkData, fast: bool, keep_private: bool) -> None:
        self.bulk = bulk
        self.fast = fast
        self.limit = (bulk.threshold // 4) * 3  # raw bytes whose base64 fits the threshold
        self.keep_private = keep_private

    def dataset(self, ds: Dataset, encodings: Sequence[str]) -> dict[str, Any]:
        if SPECIFIC_CHARACTER_SET in ds:
            encodings = self._encodings(ds)
        out: dict[str, Any] = {}
        keys, skip_private = _KEYS, not self.keep_private
        for key_tag, elem in ds.items():
            tag = int(key_tag)  # an exact int: BaseTag compares in Python, slowly
            # Group lengths always (PS3.5 7.2); private groups unless kept (PS3.5 7.8).
            if not tag & 0xFFFF or (skip_private and tag & 0x10000):
                continue
            encoded = None
            if elem.__class__ is RawDataElement:
                _check_length(elem)
                if self.fast:
                    encoded = self._raw(elem, encodings)
            if encoded is None:
                encoded = self._element(ds[tag], encodings)
                if (
                    tag in TABLE_TAGS
                    and "InlineBinary" in encoded
                    and ds.original_encoding[1] is False
                ):
                    encoded = self._binary(
                        encoded["vr"],
                        tag,
                        _little_endian_words(base64.b64decode(encoded["InlineBinary"])),
                    )
            key = keys.get(tag)
            if key is None:
                key = keys[tag] = f"{tag:08X}"
            out[key] = encoded
        return out

    @staticmethod
    def _encodings(ds: Dataset) -> Sequence[str]:
        value = ds[SPECIFIC_CHARACTER_SET].value
        names = [value] if isinstance(value, str) else list(value or [])
        return convert_encodings([str(n).strip() for n in names] or None)

    # Fast path: explicit VR raw bytes that the tables cover. None means "not here".
    def _raw(self, raw: RawDataElement, encodings: Sequence[str]) -> dict[str, Any] | None:
        vr, value = raw.VR, raw.value
        if vr is None:
            vr = _implicit_vr(int(raw.tag))
        if vr is None or value is None:
            return None
        if not value:
            return {"vr": vr} if vr in _PLAIN_TEXT or vr in _STRUCT_CODES else None
        pad = _PLAIN_TEXT.get(vr)
        if pad is not None:
            text = value.decode("latin-1")
            if vr == "DS" or vr == "IS":
                return _decimal(vr, text.split("\\"))
            if "\\" in text:
                return _text(vr, text.split("\\"), pad)
            text = text.strip(pad)
            return {"vr": vr, "Value": [text]} if text else {"vr": vr}
        code = _STRUCT_CODES.get(vr)
        if code is not None:
            size = _STRUCT_SIZES[vr]
            if len(value) % size:
                return None
            order = "<" if raw.is_little_endian else ">"
            numbers = struct.unpack(f"{order}{len(value) // size}{code}", value)
            return {"vr": vr, "Value": _floats(numbers) if vr in _FLOATS else list(numbers)}
        left = _CHARSET_TEXT.get(vr)
        if left is not None:
            text = decode_bytes(value, encodings, _TEXT_DELIMITERS)
            return _text(vr, text.split("\\"), " \x00", left)
        if vr in _CHARSET_SINGLE:
            text = decode_bytes(value, encodings, _TEXT_DELIMITERS)
            return _text(vr, [text], " \x00", left=False)
        if vr == "PN":
            return _person_names(value, encodings)
        if vr in _BINARY and vr != "UN":
            tag = int(raw.tag)
            if tag in TABLE_TAGS and not raw.is_little_endian and vr == "OW":
                value = _little_endian_words(value)
            return self._binary(vr, tag, value)
        return None  # SQ, UN, AT, UR and anything odd: pydicom converts them

    # Slow path: any DataElement pydicom has converted.
    def _element(self, elem: DataElement, encodings: Sequence[str]) -> dict[str, Any]:
        vr = str(elem.VR).split(" or ")[0]
        value = elem.value
        if vr == "SQ":
            return {"vr": vr, "Value": [self.dataset(item, encodings) for item in value or []]}
        if value is None or (not isinstance(value, (int, float)) and len(value) == 0):
            return {"vr": vr}
        if vr in _BINARY:
            data = value if isinstance(value, bytes) else bytes(value)
            return self._binary(vr, int(elem.tag), data)
        many = list(value) if elem.VM > 1 or isinstance(value, list) else [value]
        if vr == "PN":
            return {"vr": vr, "Value": [_name_groups([str(c) for c in v.components]) for v in many]}
        if vr == "AT":
            return {"vr": vr, "Value": [f"{int(v):08X}" for v in many]}
        if vr in ("DS", "IS"):
            return _decimal(vr, [_number_text(v) for v in many])
        if vr in _STRUCT_CODES:
            return {"vr": vr, "Value": _floats(many) if vr in _FLOATS else many}
        pad = _PLAIN_TEXT.get(vr)
        if pad is not None:
            return _text(vr, [str(v) for v in many], pad)
        left = _CHARSET_TEXT.get(vr)
        if left is not None:
            return _text(vr, [str(v) for v in many], " \x00", left)
        return _text(vr, [str(v) for v in many], " \x00", left=False)

    def _binary(self, vr: str, tag: int, data: bytes) -> dict[str, Any]:
        if tag == ENCAPSULATED_DOCUMENT:
            inline = self.bulk.inline_documents
        elif tag in TABLE_TAGS:
            inline = True  # OHIF reads palettes from InlineBinary only (converter.mapping.palette)
        else:
            inline = len(data) <= self.limit
        if not inline:
            return {"vr": vr, "BulkDataURI": self.bulk.uri}
        return {"vr": vr, "InlineBinary": base64.b64encode(data).decode("ascii")}


def _little_endian_words(value: bytes) -> bytes:
    """OW words of a big endian file in little endian order, as OHIF decodes InlineBinary."""
    count = len(value) // 2
    return struct.pack(f"<{count}H", *struct.unpack(f">{count}H", value[: 2 * count]))


def _check_length(raw: RawDataElement) -> None:
    """pydicom reads a value cut short by the end of the file without a word: say so."""
    value = raw.value
    if value is not None and raw.length != _UNDEFINED_LENGTH and len(value) != raw.length:
        tag = int(raw.tag)
        raise UnreadableFileError(
            f"truncated: element ({tag >> 16:04X},{tag & 0xFFFF:04X}) declares "
            f"{raw.length} bytes, the file holds {len(value)}"
        )


def _text(vr: str, parts: list[str], pad: str, left: bool = True) -> dict[str, Any]:
    """Strip padding (PS3.5 6.2: trailing, and leading where not significant); '' -> null."""
    values: list[str | None] = []
    for part in parts:
        part = part.strip(pad) if left else part.rstrip(pad)
        values.append(part or None)
    if len(values) == 1 and values[0] is None:
        return {"vr": vr}
    return {"vr": vr, "Value": values}


def _floats(values: Sequence[float]) -> list[float | int | None]:
    """FL/FD values as a DICOMweb server writes them: ``64`` not ``64.0``; no NaN in JSON.

    JSON has one number type, and servers (Orthanc among them) print whole
    floats without a fraction; writing the same keeps ``folder`` and
    ``snapshot`` output byte-identical. NaN and infinities have no JSON form
    (RFC 8259 6): they become null, with a warning.
    """
    return [_json_number(v, "FL/FD") for v in values]


def _json_number(v: float, vr: str) -> float | int | None:
    if v.is_integer() and abs(v) < _EXACT_INTEGERS:
        return int(v)
    if math.isfinite(v):
        return v
    warnings.warn(f"{vr} value {v} has no JSON form; written as null", stacklevel=3)
    return None


def _decimal(vr: str, parts: list[str]) -> dict[str, Any]:
    """DS/IS text -> JSON numbers, as a DICOMweb server sends them (PS3.18 F.2.3).

    Values in PS3.5 6.2's grammar become numbers (whole ones without a
    fraction, as Orthanc prints them: ``"1.0"`` -> ``1``); anything else stays
    the string it is, for the mapper to keep and warn about.
    """
    values: list[Any] = []
    for part in parts:
        part = part.strip(" ")
        if not part:
            values.append(None)
        elif vr == "IS" and _IS_RE.match(part):
            values.append(int(part))
        elif vr == "DS" and _DS_RE.match(part):
            values.append(_json_number(float(part), "DS"))
        else:
            values.append(part)
    if len(values) == 1 and values[0] is None:
        return {"vr": vr}
    return {"vr": vr, "Value": values}


def _number_text(value: Any) -> str:
    """The DS/IS text pydicom read (its original string when it kept one)."""
    original = getattr(value, "original_string", None)
    return original if isinstance(original, str) else str(value)


def _name_groups(groups: list[str]) -> dict[str, str]:
    """PS3.18 F.2.2 PN object from up to three component groups (empty trailing ones left out)."""
    while groups and not groups[-1]:
        groups.pop()
    return dict(zip(("Alphabetic", "Ideographic", "Phonetic"), groups, strict=False))


def _person_names(value: bytes, encodings: Sequence[str]) -> dict[str, Any]:
    """PN bytes -> PS3.18 PN objects, each group decoded on its own (PS3.5 6.1.2.5.3)."""
    names = []
    for name in value.rstrip(b" \x00").split(b"\\"):
        groups = [decode_bytes(g, encodings, _PN_DELIMITERS).rstrip(" ") for g in name.split(b"=")]
        names.append(_name_groups(groups) or None)
    if len(names) == 1 and names[0] is None:
        return {"vr": "PN"}
    return {"vr": "PN", "Value": names}
