"""Tag-keyed DICOM JSON (PS3.18 Annex F) -> naturalized keyword JSON (OHIF/dcmjs form).

Pure: no I/O, no printing. Problems in a usable answer are reported through the
optional ``warn`` callback and the element is converted as well as it can be;
an unusable element raises :class:`~converter.errors.MappingError` naming it.

The result agrees with dcmjs ``DicomMetaDictionary.naturalizeDataset`` (keys,
scalars vs arrays, nesting) except for the deliberate differences of the
project's FORMAT.md:

* empty elements are ``""`` for text VRs, ``None`` for numeric and binary VRs and
  ``[]`` for SQ (dcmjs: always ``null``);
* PN is a plain string ``Alphabetic=Ideographic=Phonetic`` (dcmjs keeps the
  object form, which OHIF shows badly, OHIF issue #3099);
* DS/IS strings that are valid numbers become JSON numbers;
* pixel and waveform bulk data is dropped, private tags are dropped unless asked
  for, and no ``_vrMap`` is written.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from converter.errors import MappingError
from converter.keywords import describe_tag, keyword_for

Warn = Callable[[str], None]
"""Receives one human-readable sentence per problem found in a usable answer."""

# --- VR tables (PS3.5 6.2, PS3.18 F.2.3) ------------------------------------

TEXT_VRS = frozenset(
    {"AE", "AS", "AT", "CS", "DA", "DT", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI", "UR", "UT"}
)
"""VRs whose empty value is written as ``""``."""

NUMERIC_VRS = frozenset({"DS", "FD", "FL", "IS", "SL", "SS", "SV", "UL", "US", "UV"})
"""VRs whose empty value is written as ``null``."""

BINARY_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})
"""VRs that PS3.18 F.2.7 carries as ``InlineBinary`` or ``BulkDataURI``."""

ALL_VRS = TEXT_VRS | NUMERIC_VRS | BINARY_VRS | {"SQ"}

# Bulk data that a launch file never carries: the viewer reads it from the
# Part 10 object behind the instance url (PS3.3 C.7.6.3, C.10.9, C.11.1).
PIXEL_AND_WAVEFORM_TAGS = frozenset(
    {
        "7FE00001",  # ExtendedOffsetTable
        "7FE00002",  # ExtendedOffsetTableLengths
        "7FE00008",  # FloatPixelData
        "7FE00009",  # DoubleFloatPixelData
        "7FE00010",  # PixelData
        "54001010",  # WaveformData
        "56000020",  # SpectroscopyData
    }
)
ENCAPSULATED_DOCUMENT_TAG = "00420011"

_DS_RE = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$")
_IS_RE = re.compile(r"^\s*[+-]?\d+\s*$")
_TAG_RE = re.compile(r"^[0-9A-Fa-f]{8}$")


# --- values -------------------------------------------------------------------


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
        groups = (
            value.get("Alphabetic") or "",
            value.get("Ideographic") or "",
            value.get("Phonetic") or "",
        )
        return "=".join(groups).rstrip("=")
    if value is None:
        return ""
    return value


def _number(text: str, integer: bool) -> int | float | None:
    """Parse a DS/IS string (PS3.5 6.2 grammar) or return None when it is not one."""
    if integer:
        return int(text) if _IS_RE.match(text) else None
    if not _DS_RE.match(text):
        return None
    if _IS_RE.match(text):
        return int(text)
    return float(text)


class _Mapper:
    """One mapping run: its options and where warnings go."""

    __slots__ = ("keep_private", "warn")

    def __init__(self, keep_private: bool, warn: Warn | None) -> None:
        self.keep_private = keep_private
        self.warn = warn

    def _warn(self, path: str, message: str) -> None:
        if self.warn is not None:
            self.warn(f"{path}: {message}")

    def dataset(self, dataset: Mapping[str, Any], path: str = "") -> dict[str, Any]:
        if dataset.__class__ is not dict and not isinstance(dataset, Mapping):
            raise MappingError(
                f"{path or 'dataset'}: expected a JSON object of tag-keyed elements, "
                f"got {type(dataset).__name__}"
            )
        out: dict[str, Any] = {}
        keep_private = self.keep_private
        tag_info = _TAG_INFO
        plain = _PLAIN_VRS
        for tag, element in dataset.items():
            info = tag_info.get(tag)
            if info is None:
                info = _classify(tag)
                if info is None:
                    self._warn(path or "dataset", f"key {tag!r} is not an 8-hex DICOM tag; dropped")
                    continue
            key, dict_vr, private, dropped = info
            if dropped or (private and not keep_private):
                continue
            # Fast path: the common well-formed element of a VR without conversion.
            if element.__class__ is dict:
                values = element.get("Value")
                if values.__class__ is list and values:
                    vr = element.get("vr")
                    if vr in plain:
                        if len(values) > 1:
                            out[key] = values
                        else:
                            single = values[0]
                            out[key] = empty_value(vr) if single is None else single
                        continue
                    if vr == "DS" or vr == "IS":
                        # Servers send numbers (PS3.18 F.2.3); strings take the slow path.
                        if len(values) == 1:
                            single = values[0]
                            if single.__class__ is not str:
                                out[key] = single
                                continue
                        elif not any(v.__class__ is str for v in values):
                            out[key] = values
                            continue
                    elif vr == "SQ":
                        where = f"{path}{key}"
                        out[key] = [self._item(item, f"{where}[{i}].")
                                    for i, item in enumerate(values)]
                        continue
            where = f"{path}{key}"
            if not isinstance(element, Mapping):
                raise MappingError(
                    f"{where} ({tag}): element is {type(element).__name__}, not a JSON object",
                    tag=tag,
                )
            out[key] = self.element(key, dict_vr, element, where)
        return out

    def element(self, key: str, dict_vr: str | None, element: Mapping[str, Any], where: str) -> Any:
        """The slow path: conversions, empty values, binary data and broken elements."""
        vr = element.get("vr")
        if vr not in ALL_VRS:
            fallback = dict_vr if dict_vr in ALL_VRS else "UN"
            problem = "has no vr" if vr is None else f"has unknown vr {vr!r}"
            self._warn(where, f"{problem}; read as {fallback}")
            vr = fallback
        values = element.get("Value")
        if values is None or values == []:
            if "InlineBinary" in element:
                return {"InlineBinary": element["InlineBinary"]}
            if "BulkDataURI" in element:
                return {"BulkDataURI": element["BulkDataURI"]}
            return empty_value(vr)
        if not isinstance(values, list):
            self._warn(where, f"Value is {type(values).__name__}, not an array; read as one value")
            values = [values]
        if vr == "SQ":
            return [self._item(item, f"{where}[{i}].") for i, item in enumerate(values)]
        convert = _CONVERTERS.get(vr)
        if convert is not None:
            values = convert(self, values, where)
        if len(values) == 1:
            single = values[0]
            return empty_value(vr) if single is None else single
        return values

    def _item(self, item: Any, path: str) -> dict[str, Any]:
        if item is None:
            self._warn(path.rstrip("."), "sequence item is null; written as an empty item")
            return {}
        return self.dataset(item, path)

    def pn(self, values: list[Any], where: str) -> list[Any]:
        return [person_name(v) for v in values]

    def _numbers(self, values: list[Any], where: str, integer: bool, vr: str) -> list[Any]:
        out: list[Any] = []
        for v in values:
            if isinstance(v, str):
                parsed = _number(v, integer)
                if parsed is None:
                    self._warn(where, f"{vr} value {v[:40]!r} is not a valid number; kept as text")
                    out.append(v)
                else:
                    out.append(parsed)
            else:
                out.append(v)
        return out

    def ds(self, values: list[Any], where: str) -> list[Any]:
        if all(type(v) is not str for v in values):
            return values
        return self._numbers(values, where, False, "DS")

    def is_(self, values: list[Any], where: str) -> list[Any]:
        if all(type(v) is not str for v in values):
            return values
        return self._numbers(values, where, True, "IS")


_PLAIN_VRS = ALL_VRS - {"SQ", "PN", "DS", "IS"}
"""VRs whose PS3.18 values are written as they are (the mapper's fast path)."""

_TAG_INFO: dict[str, tuple[str, str | None, bool, bool]] = {}


def _classify(tag: Any) -> tuple[str, str | None, bool, bool] | None:
    """(key, dictionary VR, private, dropped) of a tag, cached; None if not an 8-hex tag."""
    if not isinstance(tag, str) or not _TAG_RE.match(tag):
        return None
    key, dict_vr, private = describe_tag(tag)
    upper = tag.upper()
    dropped = upper in PIXEL_AND_WAVEFORM_TAGS or (
        upper[:2] in ("50", "60") and upper[4:] == "3000"
    )
    info = (key, dict_vr, private, dropped)
    _TAG_INFO[tag] = info
    return info

_CONVERTERS: dict[str, Callable[[_Mapper, list[Any], str], list[Any]]] = {
    "PN": _Mapper.pn,
    "DS": _Mapper.ds,
    "IS": _Mapper.is_,
}
"""Per-VR value conversions; every other VR keeps its PS3.18 values as they are."""

__all__ = ["describe_tag", "empty_value", "keyword_for", "map_dataset", "map_datasets"]


def map_dataset(
    dataset: Mapping[str, Any], *, keep_private: bool = False, warn: Warn | None = None
) -> dict[str, Any]:
    """Map one PS3.18 F.2 dataset (one instance's metadata) to keyword form.

    Parameters
    ----------
    dataset:
        A tag-keyed object as a DICOMweb server returns it, e.g. one item of
        ``GET .../series/{uid}/metadata``.
    keep_private:
        Keep private (odd-group) elements under their 8-hex tag.
    warn:
        Called with one sentence for every problem that was worked around.

    Raises
    ------
    MappingError
        When an element is not a JSON object or the dataset is not one.
    """
    return _Mapper(keep_private, warn).dataset(dataset)


def map_datasets(
    datasets: Iterable[Mapping[str, Any]], *, keep_private: bool = False, warn: Warn | None = None
) -> list[dict[str, Any]]:
    """Map a PS3.18 JSON array of datasets (what ``.../metadata`` returns)."""
    mapper = _Mapper(keep_private, warn)
    out = []
    for i, ds in enumerate(datasets):
        if not isinstance(ds, Mapping):
            raise MappingError(
                f"item {i} of the metadata array is {type(ds).__name__}, not a dataset object"
            )
        out.append(mapper.dataset(ds))
    return out
