"""Tag -> key naming, as dcmjs ``naturalizeDataset`` names tags (FORMAT.md).

The runtime table is pydicom's data dictionary (PS3.6), retired attributes with
dcmjs' ``RETIRED_`` prefix, repeating groups (PS3.5 7.6: curves ``50xx``,
overlays ``60xx``) expanded, and a small generated table of the entries where
dcmjs' dictionary says otherwise. Private and unknown tags keep their
upper-case 8-hex tag.
"""

from __future__ import annotations

from pydicom.datadict import DicomDictionary, RepeatersDictionary

from converter.keyword_overrides import DCMJS_OVERRIDES


def _name(entry: tuple[str, str, str, str, str]) -> str:
    keyword, retired = entry[4], entry[3]
    return f"RETIRED_{keyword}" if retired == "Retired" else keyword


def _vr(entry: tuple[str, str, str, str, str]) -> str:
    return entry[0].split(" ")[0]  # "US or SS" -> "US"


_EXACT: dict[str, tuple[str, str]] = {
    f"{tag:08X}": (_name(entry), _vr(entry)) for tag, entry in DicomDictionary.items() if entry[4]
}
# Repeating groups only where the group repeats ("50xx", "60xx"); dcmjs does the same.
_GROUP_REPEATERS: dict[tuple[str, str], tuple[str, str]] = {
    (mask[:2].upper(), mask[4:].upper()): (_name(entry), _vr(entry))
    for mask, entry in RepeatersDictionary.items()
    if entry[4] and mask[2:4].lower() == "xx" and "x" not in mask[4:].lower()
}


def base_keyword(tag: str) -> str | None:
    """pydicom's name for an upper-case even-group tag (before dcmjs overrides), or None."""
    hit = _EXACT.get(tag) or _GROUP_REPEATERS.get((tag[:2], tag[4:]))
    return hit[0] if hit else None


def _dictionary_vr(tag: str) -> str | None:
    hit = _EXACT.get(tag) or _GROUP_REPEATERS.get((tag[:2], tag[4:]))
    return hit[1] if hit else None


_VRS: dict[str, frozenset[str]] = {
    f"{tag:08X}": frozenset(entry[0].split(" or ")) for tag, entry in DicomDictionary.items()
}
_GROUP_REPEATER_VRS: dict[tuple[str, str], frozenset[str]] = {
    (mask[:2].upper(), mask[4:].upper()): frozenset(entry[0].split(" or "))
    for mask, entry in RepeatersDictionary.items()
    if entry[4] and mask[2:4].lower() == "xx" and "x" not in mask[4:].lower()
}


def dictionary_vrs(tag: str) -> frozenset[str] | None:
    """Every VR the data dictionary gives an upper-case tag (``US or SS``), or None if unknown.

    For the mapper's check of an element's ``vr`` against PS3.6.
    """
    if _dictionary_vr(tag) is None:
        return None
    return _VRS.get(tag) or _GROUP_REPEATER_VRS.get((tag[:2], tag[4:]))


_CACHE: dict[str, tuple[str, str | None, bool]] = {}


def describe_tag(tag: str) -> tuple[str, str | None, bool]:
    """Return ``(key, dictionary VR or None, is_private)`` for an 8-hex tag.

    Cached: a study repeats the same few hundred tags thousands of times.
    """
    hit = _CACHE.get(tag)
    if hit is not None:
        return hit
    upper = tag.upper()
    if int(upper[3], 16) % 2 == 1:
        result: tuple[str, str | None, bool] = (upper, None, True)
    else:
        name = DCMJS_OVERRIDES[upper] if upper in DCMJS_OVERRIDES else base_keyword(upper)
        result = (name or upper, _dictionary_vr(upper), False)
    _CACHE[tag] = result
    return result


def keyword_for(tag: str) -> str:
    """The key under which ``tag`` is written (keyword, or 8-hex when dcmjs has no name)."""
    return describe_tag(tag)[0]
