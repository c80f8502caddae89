"""What OHIF needs per kind of object: the FAQ's required metadata as tables.

Source: OHIF docs ``faq/technical.md``, "What are the list of required metadata
for the OHIF Viewer to work?" (and docs/format.md, "Validation"). The FAQ lists
PixelSpacing as mandatory for every modality; DICOM does not always have it, so
the tables ask for it only where the IOD makes it Type 1 (Image Plane module,
PS3.3 C.7.6.2: CT, MR, PET, RT Dose; Pixel Measures macro for SEG and enhanced
images) and for ultrasound a calibration of either kind (PixelSpacing or
SequenceOfUltrasoundRegions, PS3.3 C.8.5.5). Secondary Capture and projection
images (CR, DX, XA ...) may have no spacing at all; OHIF then measures in pixels.

From the FAQ's SR list only ConceptNameCodeSequence and ContentSequence are
required: ContentTemplateSequence and CurrentRequestedProcedureEvidenceSequence
are conditional (PS3.3 C.17.2, C.17.2.3: only with a template, only with
evidence) and CodingSchemeIdentificationSequence is Type 3 (C.12.1), so a
valid report may lack them. The US list's NumberOfFrames and FrameTime are not
asked for: a single-frame ultrasound image has no NumberOfFrames (the multi-frame
checks of :mod:`converter.validate.validator` ask for it where there are frames) and
FrameTime is "if specified".
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from enum import Enum
from typing import Any

STORAGE = "1.2.840.10008.5.1.4.1.1."
SEGMENTATION_CLASSES = frozenset({STORAGE + "66.4", STORAGE + "66.7"})
RT_STRUCTURE_SET = STORAGE + "481.3"
PDF_CLASS = STORAGE + "104.1"
# Storage SOP classes without pixel data (PS3.4 B.5): SR and key objects,
# encapsulated documents, waveforms, presentation states, RT non-image objects,
# registrations, fiducials, surfaces, meshes, real world value maps, protocols.
_NON_IMAGE_PREFIXES = (
    *(
        STORAGE + p
        for p in (
            "88.",
            "104.",
            "9.",
            "11.",
            "481.3",
            "481.4",
            "481.5",
            "481.6",
            "481.7",
            "481.8",
            "481.9",
            "481.10",
            "481.11",
            "66.1",
            "66.2",
            "66.3",
            "66.5",
            "66.6",
            "67",
            "68.",
            "90.",
            "200.",
        )
    ),
    "1.2.840.10008.5.1.4.34.",
)
_NON_IMAGE_EXACT = frozenset({STORAGE + "66"})
_NON_IMAGE_MODALITIES = frozenset(
    {
        "SR",
        "KO",
        "DOC",
        "PR",
        "RTSTRUCT",
        "RTPLAN",
        "RTRECORD",
        "ECG",
        "HD",
        "AU",
        "REG",
        "FID",
        "PLAN",
        "RWV",
        "RESP",
    }
)


class Kind(Enum):
    """What an entry is, as far as OHIF's requirements go."""

    IMAGE = "image"
    SEGMENTATION = "segmentation"
    RT_STRUCTURE_SET = "RT structure set"
    REPORT = "structured report"
    DOCUMENT = "encapsulated PDF"
    OTHER = "object without pixel data"

    @classmethod
    def of(cls, md: Mapping[str, Any]) -> Kind:
        """By SOP Class UID (PS3.4 B.5), by Modality when the class says nothing."""
        sop = md.get("SOPClassUID")
        sop = sop if isinstance(sop, str) else ""
        modality = md.get("Modality")
        if sop in SEGMENTATION_CLASSES or modality == "SEG":
            return cls.SEGMENTATION
        if sop == RT_STRUCTURE_SET or modality == "RTSTRUCT":
            return cls.RT_STRUCTURE_SET
        if sop == PDF_CLASS:
            return cls.DOCUMENT
        if sop.startswith(STORAGE + "88.") and sop != STORAGE + "88.59":
            return cls.REPORT
        if sop.startswith(_NON_IMAGE_PREFIXES) or sop in _NON_IMAGE_EXACT:
            return cls.OTHER
        if sop.startswith(STORAGE) or "Rows" in md:
            return cls.IMAGE
        return cls.OTHER if sop or modality in _NON_IMAGE_MODALITIES else cls.IMAGE


ALL = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID", "Modality")
IMAGE_PIXEL = (
    "Rows",
    "Columns",
    "PhotometricInterpretation",
    "BitsAllocated",
    "PixelRepresentation",
)
BY_KIND: dict[Kind, tuple[str, ...]] = {
    Kind.IMAGE: IMAGE_PIXEL,
    Kind.SEGMENTATION: (
        *IMAGE_PIXEL,
        "FrameOfReferenceUID",
        "ReferencedSeriesSequence",
        "SharedFunctionalGroupsSequence",
        "PerFrameFunctionalGroupsSequence",
        "PixelSpacing",
    ),
    Kind.RT_STRUCTURE_SET: (
        "ROIContourSequence",
        "StructureSetROISequence",
        "ReferencedFrameOfReferenceSequence",
        "FrameOfReferenceUID",
    ),
    Kind.REPORT: ("ConceptNameCodeSequence", "ContentSequence"),
    Kind.DOCUMENT: ("EncapsulatedDocument",),
    Kind.OTHER: (),
}
BY_MODALITY: dict[str, tuple[str, ...]] = {
    "CT": ("PixelSpacing",),
    "MR": ("PixelSpacing",),
    "RTDOSE": ("PixelSpacing",),
    "PT": (
        "PixelSpacing",
        "RadiopharmaceuticalInformationSequence",
        "SeriesDate",
        "SeriesTime",
        "CorrectedImage",
        "Units",
        "DecayCorrection",
        "AcquisitionDate",
        "AcquisitionTime",
        "PatientWeight",
    ),
    "US": ("PixelSpacing|SequenceOfUltrasoundRegions",),
}
_WHY = {
    "PT": "PT needs it for SUV",
    "US": "ultrasound needs a calibration",
}


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def find(md: Mapping[str, Any], name: str) -> tuple[bool, Any]:
    """(present, value) of ``name`` at the top level or in the functional groups.

    Enhanced objects keep geometry in functional-group macros (PS3.3 C.7.6.16);
    OHIF lifts them itself, so an attribute there counts as present.
    """
    if name in md:
        return True, md[name]
    for group in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        items = md.get(group)
        if not isinstance(items, list) or not items or not isinstance(items[0], Mapping):
            continue
        for macro in items[0].values():
            if (
                isinstance(macro, list)
                and macro
                and isinstance(macro[0], Mapping)
                and name in macro[0]
            ):
                return True, macro[0][name]
    if name == "FrameOfReferenceUID":  # RT Structure Sets name it per referenced frame
        for item in md.get("ReferencedFrameOfReferenceSequence") or []:
            if isinstance(item, Mapping) and not _empty(item.get(name)):
                return True, item[name]
    return False, None


def missing_attributes(md: Mapping[str, Any], kind: Kind) -> Iterator[tuple[str, str]]:
    """(attribute, "missing"/"empty" with why) for each requirement ``md`` does not meet."""
    modality = md.get("Modality")
    names = [*ALL, *BY_KIND[kind]]
    if kind is Kind.IMAGE and isinstance(modality, str):
        names += [n for n in BY_MODALITY.get(modality, ()) if n not in names]
    for requirement in names:
        alternatives = requirement.split("|")
        found = [find(md, n) for n in alternatives]
        if any(present and not _empty(value) for present, value in found):
            continue
        state = "empty" if any(present for present, _ in found) else "missing"
        either = f" (nor {', '.join(alternatives[1:])})" if len(alternatives) > 1 else ""
        why = _WHY.get(str(modality), "") if requirement not in (*ALL, *IMAGE_PIXEL) else ""
        suffix = f"; {why}" if why else ""
        whom = "every instance" if requirement in ALL else _article(kind, modality)
        yield alternatives[0], f"{state}{either}: required for {whom}{suffix}"
    if kind is Kind.DOCUMENT:
        yield from _document(md)
    samples = md.get("SamplesPerPixel")
    if (
        kind is Kind.IMAGE
        and isinstance(samples, int)
        and samples > 1
        and _empty(md.get("PlanarConfiguration"))
    ):
        yield "PlanarConfiguration", "missing: required for colour images (SamplesPerPixel > 1)"


def _article(kind: Kind, modality: Any) -> str:
    if kind is Kind.IMAGE and isinstance(modality, str) and modality:
        return f"{modality} images"
    return f"every {kind.value}"


def _document(md: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """OHIF's DICOM JSON source opens a PDF from a DirectRetrieveURL or InlineBinary only."""
    value = md.get("EncapsulatedDocument")
    if _empty(value):
        return
    if not isinstance(value, Mapping) or not (
        value.get("DirectRetrieveURL") or value.get("InlineBinary")
    ):
        yield (
            "EncapsulatedDocument",
            (
                "OHIF can open the PDF only from a DirectRetrieveURL "
                "or InlineBinary, not a BulkDataURI"
            ),
        )


def value_problem(name: str, value: Any) -> str | None:
    """Why a value of the right JSON type still cannot be used (PS3.3 C.7.6.2, C.7.6.3)."""
    check = _VALUE_CHECKS.get(name)
    return check(value) if check is not None else None


def _numbers(count: int, positive: bool = False) -> Any:
    def check(value: Any) -> str | None:
        ok = len(value) == count and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and (v > 0 or not positive)
            for v in value
        )
        if ok:
            return None
        return f"expected {count} {'positive ' if positive else ''}numbers, got {value!r}"[:200]

    return check


def _at_least_one(value: Any) -> str | None:
    return None if value >= 1 else f"{value}: must be at least 1"


_VALUE_CHECKS: dict[str, Any] = {
    "PixelSpacing": _numbers(2, positive=True),
    "ImagePositionPatient": _numbers(3),
    "ImageOrientationPatient": _numbers(6),
    "Rows": _at_least_one,
    "Columns": _at_least_one,
    "SamplesPerPixel": _at_least_one,
    "BitsAllocated": lambda v: (
        None if v in (1, 8, 16, 32, 64) else f"{v}: not a bits-allocated value (1, 8, 16, 32, 64)"
    ),
    "PixelRepresentation": lambda v: None if v in (0, 1) else f"{v}: must be 0 or 1",
}
