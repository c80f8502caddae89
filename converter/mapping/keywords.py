"""Tag -> key naming, as dcmjs ``naturalizeDataset`` names tags (docs/format.md, "Keys").

The table (:mod:`converter.mapping.dictionary`) is PS3.6 as pydicom carries it, retired
attributes with dcmjs' ``RETIRED_`` prefix, repeating groups (PS3.5 7.6: curves
``50xx``, overlays ``60xx``) and dcmjs' own name wherever it differs; it is
generated (``python -m tests.update_dictionary``) so that naming a tag never
needs pydicom at run time. Private and unknown tags keep their upper-case
8-hex tag.
"""

from __future__ import annotations

from converter.mapping.dictionary import EXACT, GROUP_REPEATERS


def _entry(tag: str) -> tuple[str | None, str] | None:
    return EXACT.get(tag) or GROUP_REPEATERS.get((tag[:2], tag[4:]))


def _dictionary_vr(tag: str) -> str | None:
    entry = _entry(tag)
    return entry[1].split(" ")[0] if entry and entry[1] else None  # "US or SS" -> "US"


def dictionary_vrs(tag: str) -> frozenset[str] | None:
    """Every VR the data dictionary gives an upper-case tag (``US or SS``), or None if unknown.

    For the mapper's check of an element's ``vr`` against PS3.6.
    """
    entry = _entry(tag)
    if entry is None or not entry[1]:
        return None
    return frozenset(entry[1].split(" or "))


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
        entry = _entry(upper)
        name = entry[0] if entry else None
        result = (name or upper, _dictionary_vr(upper), False)
    _CACHE[tag] = result
    return result


def keyword_for(tag: str) -> str:
    """The key under which ``tag`` is written (keyword, or 8-hex when dcmjs has no name)."""
    return describe_tag(tag)[0]
