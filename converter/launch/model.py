"""The OHIF DICOM JSON launch file's model: studies, series and instance entries.

The reader is OHIF Viewer's ``dicomjson`` data source; the shape follows the
example in OHIF's docs and ``.scripts/dicom-json-generator.js``::

    {"studies": [{StudyInstanceUID, StudyDate, ..., NumInstances, Modalities,
                  "series": [{SeriesInstanceUID, ..., "instances": [
                      {"metadata": {...keyword form...}, "url": "dicomweb:<URL>"}]}]}]}

The model never talks HTTP: it gets mapped (keyword-form) instance metadata and
an :class:`~converter.launch.urls.InstanceUrls` that knows where a viewer will fetch each
object from. A multi-frame image becomes one entry per frame (PS3.3 C.7.6.6
NumberOfFrames), see :func:`frame_entries`; the spec is docs/format.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from converter.launch.urls import (
    EntryUrl,
    InstanceUrls,
    entry_urls,
    frame_url,
)
from converter.mapping.mapper import empty_value

# Study and series fields of OHIF's docs example (plus the generator's extras),
# with the VR that decides their empty value.
STUDY_FIELDS: tuple[tuple[str, str], ...] = (
    ("StudyInstanceUID", "UI"),
    ("StudyDate", "DA"),
    ("StudyTime", "TM"),
    ("StudyDescription", "LO"),
    ("PatientName", "PN"),
    ("PatientID", "LO"),
    ("AccessionNumber", "SH"),
    ("PatientAge", "AS"),
    ("PatientSex", "CS"),
    ("PatientWeight", "DS"),
)


SERIES_FIELDS: tuple[tuple[str, str], ...] = (
    ("SeriesInstanceUID", "UI"),
    ("SeriesNumber", "IS"),
    ("SeriesDescription", "LO"),
    ("Modality", "CS"),
    ("SliceThickness", "DS"),
    ("SeriesDate", "DA"),
    ("SeriesTime", "TM"),
)


# Multi-frame objects that OHIF reads whole (their frames are not a stack of
# images): Segmentation, Label Map Segmentation, RT Dose, Parametric Map.
WHOLE_MULTIFRAME_SOP_CLASSES = frozenset(
    {
        "1.2.840.10008.5.1.4.1.1.66.4",
        "1.2.840.10008.5.1.4.1.1.66.7",
        "1.2.840.10008.5.1.4.1.1.481.2",
        "1.2.840.10008.5.1.4.1.1.30",
    }
)


@dataclass(frozen=True)
class Instance:
    """One entry of ``series.instances``: an image (or one frame of one) and its URL."""

    metadata: Mapping[str, Any]
    url: str

    def to_json(self) -> dict[str, Any]:
        return {"metadata": self.metadata, "url": self.url}


@dataclass(frozen=True)
class Series:
    """One series: its summary fields (from metadata) and its instance entries."""

    fields: Mapping[str, Any]
    instances: tuple[Instance, ...]

    def to_json(self) -> dict[str, Any]:
        return {**self.fields, "instances": [i.to_json() for i in self.instances]}


@dataclass(frozen=True)
class Study:
    """One study with ``NumInstances`` (SOP instances) and ``Modalities`` (``/``-joined)."""

    fields: Mapping[str, Any]
    series: tuple[Series, ...]

    @property
    def uid(self) -> str:
        return str(self.fields["StudyInstanceUID"])

    def to_json(self) -> dict[str, Any]:
        return {**self.fields, "series": [s.to_json() for s in self.series]}


def _number_key(value: Any) -> tuple[int, float]:
    """Sort key that puts numbers first, in order, and missing/odd values last."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, float(value))
    return (1, 0.0)


def _pick(metadata: Mapping[str, Any], fields: Iterable[tuple[str, str]]) -> dict[str, Any]:
    return {name: metadata.get(name, empty_value(vr)) for name, vr in fields}


def _as_int(value: Any) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return 0


FUNCTIONAL_GROUPS = ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence")


def frame_entries(metadata: Mapping[str, Any], url: str | EntryUrl) -> list[Instance]:
    """Entries for one instance: one per frame for multi-frame images, else one.

    ``url`` is the instance's url, to which entry N adds ``frame=N``, or a function
    giving entry N's url (N None for an instance's only entry; see
    :func:`converter.launch.urls.entry_urls`).

    What OHIF Viewer 3.13.2 does with them (read in its source, measured in the
    real viewer by ``tests/e2e``):

    * its DicomMetadataStore keeps only the *first* entry of each
      SOPInstanceUID, and its display set has ``NumberOfFrames`` images only if
      that entry says so; ``getImageIdsForDisplaySet`` then takes the url of
      the i-th entry with that SOPInstanceUID as the imageId of frame i. So
      every entry keeps ``NumberOfFrames`` (without it the viewer shows frame 1
      only) and has its own one-based ``frame=N`` url (``frame=0`` fails to load);
    * the metadata of frame N is ``combineFrameInstance(N, first entry)``: the
      first entry's top level, then its shared functional-group item, then its
      N-th per-frame item (PS3.3 C.7.6.16) -- except that a top-level
      ``ImagePositionPatient`` wins over the per-frame one. So the first entry
      carries both functional-group sequences and nothing lifted from a
      per-frame item: lifting frame 1's position would put every frame there.

    Entries 2..N carry the instance's attributes without the functional-group
    sequences, with their own shared and per-frame items lifted to the top
    level, so each still says which frame it is and where. The sequences are
    written once per instance, so the file grows linearly with frames (OHIF
    issue #4259 is the quadratic copy of them into every entry).
    """
    if isinstance(url, str):
        whole = url
        url_of: EntryUrl = lambda frame: whole if frame is None else frame_url(whole, frame)  # noqa: E731
    else:
        url_of = url
    frames = _as_int(metadata.get("NumberOfFrames"))
    if frames <= 1 or reads_whole(metadata):
        return [Instance(metadata, url_of(None))]
    per_frame = metadata.get("PerFrameFunctionalGroupsSequence")
    per_frame = per_frame if isinstance(per_frame, list) else []
    shared = metadata.get("SharedFunctionalGroupsSequence")
    shared_lifted = _lift(shared[0] if isinstance(shared, list) and shared else {})
    base = {k: v for k, v in metadata.items() if k not in FUNCTIONAL_GROUPS}
    base.update(shared_lifted)
    entries = [Instance({**metadata, **shared_lifted}, url_of(1))]
    for frame in range(2, frames + 1):
        entry = dict(base)
        if frame <= len(per_frame):
            entry.update(_lift(per_frame[frame - 1]))
        entries.append(Instance(entry, url_of(frame)))
    return entries


def reads_whole(metadata: Mapping[str, Any]) -> bool:
    """An object OHIF reads whole (a segmentation, an RT dose, a parametric map)."""
    return metadata.get("SOPClassUID") in WHOLE_MULTIFRAME_SOP_CLASSES


SEGMENTATION_SOP_CLASSES = frozenset(
    {"1.2.840.10008.5.1.4.1.1.66.4", "1.2.840.10008.5.1.4.1.1.66.7"}
)
"""Segmentation and Label Map Segmentation: read whole, but frame by frame."""


def has_frames(metadata: Mapping[str, Any]) -> bool:
    """An object whose frames a loader fetches one by one: an image (it has ``Rows``,
    Type 1 in the Image Pixel module, PS3.3 C.7.6.3) that is not read whole, or a
    segmentation, whose frames OHIF's SEG loader derives from its first frame's
    WADO-RS URL (``.../frames/1`` -> ``.../frames/N``, read in OHIF 3.13.2; measured in
    3.13.2 and 3.14.0-beta.6). SR, encapsulated documents, RT structure sets and
    waveforms have none."""
    if not metadata.get("Rows"):
        return False
    return not reads_whole(metadata) or metadata.get("SOPClassUID") in SEGMENTATION_SOP_CLASSES


def _lift(group_item: Any) -> dict[str, Any]:
    """Attributes of every macro item in one functional-group item, flattened."""
    lifted: dict[str, Any] = {}
    if not isinstance(group_item, Mapping):
        return lifted
    for value in group_item.values():
        if isinstance(value, list) and value and isinstance(value[0], Mapping):
            lifted.update(value[0])
    return lifted


def _instance_key(md: Mapping[str, Any]) -> tuple[tuple[int, float], str]:
    return (_number_key(md.get("InstanceNumber")), str(md.get("SOPInstanceUID", "")))


def _with_document(md: Mapping[str, Any], value: dict[str, str]) -> dict[str, Any]:
    """``md`` with ``EncapsulatedDocument`` set to ``value``, in its place: where it was,
    else in tag order, (0042,0011) before MIMETypeOfEncapsulatedDocument (0042,0012)."""
    if "EncapsulatedDocument" in md or "MIMETypeOfEncapsulatedDocument" not in md:
        return {**md, "EncapsulatedDocument": value}
    out: dict[str, Any] = {}
    for key, item in md.items():
        if key == "MIMETypeOfEncapsulatedDocument":
            out["EncapsulatedDocument"] = value
        out[key] = item
    return out


def build_series(
    ordered: Sequence[Mapping[str, Any]], study_uid: str, urls: InstanceUrls
) -> Series:
    """A series from the mapped metadata of its instances, already in instance order."""
    entries: list[Instance] = []
    for md in ordered:
        series_uid = str(md.get("SeriesInstanceUID", ""))
        sop_uid = str(md.get("SOPInstanceUID", ""))
        document = md.get("EncapsulatedDocument")
        inline = isinstance(document, Mapping) and "InlineBinary" in document
        if not inline and (document is not None or "MIMETypeOfEncapsulatedDocument" in md):
            # A BulkDataURI, or a document the server sent another way or left out
            # (Azure's metadata has no OB values): the viewer fetches it by its UIDs.
            direct = urls.document(study_uid, series_uid, sop_uid)
            if direct is not None:
                md = _with_document(md, {"DirectRetrieveURL": direct})
        entries.extend(
            frame_entries(
                md, entry_urls(urls, study_uid, series_uid, sop_uid, image=has_frames(md))
            )
        )
    # From the first entry: for an enhanced multi-frame object that is frame 1
    # with its functional groups lifted, so SliceThickness is there too.
    return Series(_pick(entries[0].metadata, SERIES_FIELDS), tuple(entries))


def build_study(
    series_instances: Iterable[Sequence[Mapping[str, Any]]],
    urls: InstanceUrls,
    study_uid: str | None = None,
) -> Study:
    """A study from the mapped instance metadata of each of its series.

    Series are ordered by SeriesNumber then UID, instances by InstanceNumber
    then UID, so two runs give byte-identical files. Study fields come from the
    first instance of the first series: WADO-RS metadata keeps person names
    whole where QIDO answers may not. ``study_uid`` (the UID the study was
    fetched under) is used for the URLs and the study's UID when given.
    """
    groups = [sorted(g, key=_instance_key) for g in series_instances if g]
    if not groups:
        raise ValueError("a study needs at least one instance")
    groups.sort(
        key=lambda g: (
            _number_key(g[0].get("SeriesNumber")),
            str(g[0].get("SeriesInstanceUID", "")),
        )
    )
    study_uid = study_uid or str(groups[0][0].get("StudyInstanceUID", ""))
    built = [build_series(g, study_uid, urls) for g in groups]
    fields = _pick(groups[0][0], STUDY_FIELDS)
    fields["StudyInstanceUID"] = study_uid
    modalities: list[str] = []
    for s in built:
        modality = s.fields.get("Modality")
        if isinstance(modality, str) and modality and modality not in modalities:
            modalities.append(modality)
    fields["NumInstances"] = sum(len(g) for g in groups)
    fields["Modalities"] = "/".join(modalities)
    return Study(fields, tuple(built))
