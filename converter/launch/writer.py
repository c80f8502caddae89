"""The OHIF DICOM JSON launch file: its model, instance URLs, and atomic writing.

The reader is OHIF Viewer's ``dicomjson`` data source; the shape follows the
example in OHIF's docs and ``.scripts/dicom-json-generator.js``::

    {"studies": [{StudyInstanceUID, StudyDate, ..., NumInstances, Modalities,
                  "series": [{SeriesInstanceUID, ..., "instances": [
                      {"metadata": {...keyword form...}, "url": "dicomweb:<URL>"}]}]}]}

The writer never talks HTTP: it gets mapped (keyword-form) instance metadata and
an :class:`InstanceUrls` that knows where a viewer will fetch each object from.
"""

from __future__ import annotations

import json
import os
import re
import socket
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import orjson

from converter.errors import OutputError, UsageError
from converter.mapping.mapper import empty_value
from converter.uids import quote_uid

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

# --- instance URLs ------------------------------------------------------------


class InstanceUrls(Protocol):
    """Where a viewer fetches an instance (as a whole Part 10 object) and its document."""

    def instance(self, study: str, series: str, instance: str) -> str:
        """The URL (without the ``dicomweb:`` scheme) of the Part 10 object."""
        ...

    def document(self, study: str, series: str, instance: str) -> str | None:
        """A URL that returns an encapsulated document's bytes, or None if there is none."""
        ...


def default_wado_uri_root(dicomweb_root: str) -> str:
    """The WADO-URI root next to a DICOMweb root: last path segment -> ``wado``.

    Orthanc ``/dicom-web`` -> ``/wado``; dcm4chee ``.../aets/AET/rs`` -> ``.../aets/AET/wado``.
    Credentials in the root are dropped.
    """
    parts = urlsplit(dicomweb_root.rstrip("/"))
    head, _, _last = parts.path.rpartition("/")
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, f"{head}/wado", "", ""))


@dataclass(frozen=True)
class WadoUriUrls:
    """WADO-URI links (PS3.18 9): ``<root>?requestType=WADO&studyUID=..&contentType=...``.

    ``contentType`` is written with a literal ``/``: Orthanc 1.10 answers 400 to
    ``application%2Fdicom``. UIDs are percent-encoded (:func:`converter.uids.quote_uid`):
    a conformant one (PS3.5 9.1: digits and dots) reads as it is.
    """

    root: str

    def __post_init__(self) -> None:
        parts = urlsplit(self.root)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise UsageError(f"--wado-uri-root {self.root!r} is not an http(s) URL")
        if parts.username or parts.password:
            raise UsageError(
                "--wado-uri-root must not contain credentials: they would be written "
                "into the launch file for every viewer to read"
            )

    def _query(self, study: str, series: str, instance: str, content_type: str) -> str:
        joiner = "&" if "?" in self.root else "?"
        return (
            f"{self.root}{joiner}requestType=WADO&studyUID={quote_uid(study)}"
            f"&seriesUID={quote_uid(series)}&objectUID={quote_uid(instance)}"
            f"&contentType={content_type}"
        )

    def instance(self, study: str, series: str, instance: str) -> str:
        return self._query(study, series, instance, "application/dicom")

    def document(self, study: str, series: str, instance: str) -> str | None:
        # PS3.18 9.1.2.1: an Encapsulated PDF may be asked for as application/pdf.
        return self._query(study, series, instance, "application/pdf")


@dataclass(frozen=True)
class TemplateUrls:
    """URLs from a template with ``{study}``, ``{series}`` and ``{instance}`` placeholders.

    For static Part 10 files on a bucket, e.g.
    ``https://bucket.example/dicom/{study}/{series}/{instance}.dcm``.
    """

    template: str
    document_template: str | None = None

    def __post_init__(self) -> None:
        for name, text in (("--url-template", self.template),
                           ("--document-url-template", self.document_template)):
            if text is None:
                continue
            if "{instance}" not in text:
                raise UsageError(f"{name} {text!r} needs an {{instance}} placeholder")
            try:
                text.format(study="1", series="2", instance="3")
            except (KeyError, IndexError, ValueError) as exc:
                raise UsageError(
                    f"{name} {text!r}: only {{study}}, {{series}} and {{instance}} "
                    f"placeholders are allowed ({exc})"
                ) from exc
            if urlsplit(text).username:
                raise UsageError(f"{name} must not contain credentials")

    def instance(self, study: str, series: str, instance: str) -> str:
        return self.template.format(
            study=quote_uid(study), series=quote_uid(series), instance=quote_uid(instance)
        )

    def document(self, study: str, series: str, instance: str) -> str | None:
        if self.document_template is None:
            return None
        return self.document_template.format(
            study=quote_uid(study), series=quote_uid(series), instance=quote_uid(instance)
        )


def frame_url(url: str, frame: int) -> str:
    """Append the one-based ``frame=N`` parameter the cornerstone loader reads."""
    return f"{url}{'&' if '?' in url else '?'}frame={frame}"


# --- the model ----------------------------------------------------------------


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


# --- building -----------------------------------------------------------------


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


def frame_entries(metadata: Mapping[str, Any], url: str) -> list[Instance]:
    """Entries for one instance: one per frame for multi-frame images, else one.

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
    frames = _as_int(metadata.get("NumberOfFrames"))
    if frames <= 1 or metadata.get("SOPClassUID") in WHOLE_MULTIFRAME_SOP_CLASSES:
        return [Instance(metadata, url)]
    per_frame = metadata.get("PerFrameFunctionalGroupsSequence")
    per_frame = per_frame if isinstance(per_frame, list) else []
    shared = metadata.get("SharedFunctionalGroupsSequence")
    shared_lifted = _lift(shared[0] if isinstance(shared, list) and shared else {})
    base = {k: v for k, v in metadata.items() if k not in FUNCTIONAL_GROUPS}
    base.update(shared_lifted)
    entries = [Instance({**metadata, **shared_lifted}, frame_url(url, 1))]
    for frame in range(2, frames + 1):
        entry = dict(base)
        if frame <= len(per_frame):
            entry.update(_lift(per_frame[frame - 1]))
        entries.append(Instance(entry, frame_url(url, frame)))
    return entries


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


def build_series(ordered: Sequence[Mapping[str, Any]], study_uid: str,
                 urls: InstanceUrls) -> Series:
    """A series from the mapped metadata of its instances, already in instance order."""
    entries: list[Instance] = []
    for md in ordered:
        series_uid = str(md.get("SeriesInstanceUID", ""))
        sop_uid = str(md.get("SOPInstanceUID", ""))
        url = urls.instance(study_uid, series_uid, sop_uid)
        document = md.get("EncapsulatedDocument")
        if isinstance(document, Mapping) and "BulkDataURI" in document:
            direct = urls.document(study_uid, series_uid, sop_uid)
            if direct is not None:
                md = {**md, "EncapsulatedDocument": {"DirectRetrieveURL": direct}}
        entries.extend(frame_entries(md, "dicomweb:" + url))
    # From the first entry: for an enhanced multi-frame object that is frame 1
    # with its functional groups lifted, so SliceThickness is there too.
    return Series(_pick(entries[0].metadata, SERIES_FIELDS), tuple(entries))


def build_study(series_instances: Iterable[Sequence[Mapping[str, Any]]],
                urls: InstanceUrls, study_uid: str | None = None) -> Study:
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
    groups.sort(key=lambda g: (_number_key(g[0].get("SeriesNumber")),
                               str(g[0].get("SeriesInstanceUID", ""))))
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
    text = json.dumps(document, ensure_ascii=False, allow_nan=False, indent=indent,
                      separators=separators)
    return (text + "\n").encode("utf-8")


def temporary_owner() -> str:
    """``host-pid`` of this process, written into temporary names (see :func:`is_stale`)."""
    return f"{socket.gethostname()}-{os.getpid()}"


def is_stale(temporary: Path, max_age: float = 3600.0) -> bool:
    """Whether a ``write_atomic`` temporary was left by a process that is gone.

    Its owner is in the name: one on this host is checked directly (several
    shards may be writing into the same folder right now); one from another
    host (a shared file system) counts as gone once the file is an hour old.
    """
    mine = re.search(re.escape(f".{socket.gethostname()}-") + r"(\d+)\.[A-Za-z0-9_]+\.part$",
                     temporary.name)
    if mine:
        try:
            os.kill(int(mine.group(1)), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False
    try:
        return time.time() - temporary.stat().st_mtime > max_age
    except OSError:
        return False


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and a rename.

    A reader (or a viewer) sees the old file or the whole new one, never a
    truncated one, even if the process is killed mid-write.
    """
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"cannot write {path}: folder {folder} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{temporary_owner()}.", suffix=".part",
                                   dir=folder)
    except OSError as exc:
        raise OutputError(f"cannot write into {folder}: {exc.strerror}") from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
