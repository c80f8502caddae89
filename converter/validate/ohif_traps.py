"""Objects that take OHIF's viewer down: what ``validate`` names besides palette colour.

OHIF opens every study of a launch file at once, and an exception in a React
component replaces the whole page with its error boundary ("Something went wrong"),
so one such object can blank every study of the file. The rules below are the ones
the parity run (``tests/e2e/test_parity.py``) found on real-world objects, the same
in OHIF 3.13.2 and 3.14.0-beta.6, from a launch file and from OHIF's own live
DICOMweb source alike; they are judged on the keyword metadata of one instance.
Palette colour has its own module (:mod:`converter.palette`), since there the
launch file can be repaired.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["WAVEFORM_CLASS_PREFIX", "traps"]

SR_CLASS_PREFIX = "1.2.840.10008.5.1.4.1.1.88."
"""Structured Report storage SOP classes (PS3.4 B.5: Basic/Enhanced/Comprehensive SR, ...)."""
WAVEFORM_CLASS_PREFIX = "1.2.840.10008.5.1.4.1.1.9."
"""Waveform storage SOP classes (PS3.4 B.5: 12-lead ECG, General ECG, Hemodynamic, ...)."""
RT_STRUCTURE_SET = "1.2.840.10008.5.1.4.1.1.481.3"
"""RT Structure Set Storage (PS3.4 B.5)."""
_MAX_DEPTH = 64


def traps(instance: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """What in this instance makes OHIF throw when it shows it: (the attribute's path
    in the instance, e.g. ``ContentSequence[2]``, what happens), one pair each."""
    sop_class = instance.get("SOPClassUID")
    if not isinstance(sop_class, str):
        return
    if sop_class.startswith(SR_CLASS_PREFIX):
        where = _item_without_concept_name(instance.get("ContentSequence"), "ContentSequence", 0)
        if where is not None:
            yield (
                where,
                (
                    "this content item has no ConceptNameCodeSequence (PS3.3 C.17.3: "
                    "Type 1C); OHIF's SR viewport throws on it when it shows the report"
                ),
            )
    elif sop_class == RT_STRUCTURE_SET:
        where = _reference_without_items(instance)
        if where is not None:
            yield (
                where,
                (
                    "absent (PS3.3 C.8.8.5: Type 3), and the object has no "
                    "ReferencedSeriesSequence; OHIF throws deriving one, so the structure "
                    "set gets no display set (the other series are shown)"
                ),
            )
    elif sop_class.startswith(WAVEFORM_CLASS_PREFIX):
        yield (
            "WaveformSequence",
            (
                "a waveform: OHIF's ECG viewport throws on it when it shows it "
                "(reading 'baseline'; "
                "a launch file carries no WaveformData, and OHIF's live source fails as well)"
            ),
        )


def _reference_without_items(instance: Mapping[str, Any]) -> str | None:
    """Where OHIF's RT handler meets an absent sequence while it derives the referenced
    series from ``ReferencedFrameOfReferenceSequence`` (it does when the object has no
    ``ReferencedSeriesSequence``): the path of the first absent one, else None."""
    frames = instance.get("ReferencedFrameOfReferenceSequence")
    if (
        instance.get("ReferencedSeriesSequence") is not None
        or not isinstance(frames, list)
        or not frames
        or not isinstance(frames[0], Mapping)
        or frames[0].get("RTReferencedStudySequence") is None
    ):
        return None
    levels = ("RTReferencedStudySequence", "RTReferencedSeriesSequence", "ContourImageSequence")
    items: list[tuple[str, Any]] = [
        (f"ReferencedFrameOfReferenceSequence[{i}]", item) for i, item in enumerate(frames)
    ]
    for level in levels:
        deeper: list[tuple[str, Any]] = []
        for path, item in items:
            children = item.get(level) if isinstance(item, Mapping) else None
            if not isinstance(children, list):
                return f"{path}.{level}"
            deeper.extend((f"{path}.{level}[{i}]", child) for i, child in enumerate(children))
        items = deeper
    return None


def _item_without_concept_name(items: Any, path: str, depth: int) -> str | None:
    """The path of the first content item OHIF renders as an item (anything but a
    CONTAINER, by-reference items included) that has no concept name; CONTAINER
    items are rendered as containers, which cope, and their children are searched."""
    if not isinstance(items, list) or depth > _MAX_DEPTH:
        return None
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            continue
        here = f"{path}[{index}]"
        if item.get("ValueType") == "CONTAINER":
            found = _item_without_concept_name(
                item.get("ContentSequence"), f"{here}.ContentSequence", depth + 1
            )
            if found is not None:
                return found
        elif not item.get("ConceptNameCodeSequence"):
            return here
    return None
