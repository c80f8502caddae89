"""Is a launch file complete? Checks before a viewer shows a black screen.

A launch file passes when OHIF's ``dicomjson`` data source can show every entry:

* **structure and types** of OHIF's docs example (``configuration/dataSources/
  dicom-json.md``, LIDC-IDRI-0001): :data:`DOCS_STUDY`, :data:`DOCS_SERIES`,
  :data:`DOCS_INSTANCE`;
* the **required attributes** of OHIF's FAQ (``faq/technical.md``, "What are the
  list of required metadata"), per kind of object (:mod:`converter.validate.ohif_requirements`);
* **UIDs** safe in file names and URLs (:mod:`converter.uids`; PS3.5 9.1
  conformance is not required, as it is not by the viewer) that agree with the
  study and series they are listed under;
* no **duplicate entries** (the same SOP instance and frame twice);
* **urls**: ``dicomweb:`` + an http(s) or relative URL without credentials;
* **palette colour** tables as OHIF 3.13.2 reads them (:mod:`converter.mapping.palette`):
  an instance it would throw on blanks every study of the file;
* other objects OHIF is known to **throw on** when it shows them
  (:mod:`converter.validate.ohif_traps`: SR content items without a concept name, waveforms);
* **multi-frame** images as OHIF 3.13 reads them (see
  :func:`converter.launch.model.frame_entries`): one entry per frame, in order, with
  ``frame=1..N`` (one-based), N equal to the ``NumberOfFrames`` of the instance's
  first entry (the one OHIF keeps); segmentations and RT Dose whole, in one entry.

Problems come back with the JSON path of the offending value, e.g.
``studies[0].series[1].instances[3].metadata.Rows: missing``. Pure: the CLI
reads files and prints.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from converter.errors import InputError
from converter.uids import RULE, UNSAFE, is_safe_uid, shown
from converter.validate.entries import (
    FrameEntry,
    instance_where,
    multiframe_problems,
    palette_problems,
    url_problem,
)
from converter.validate.ohif_requirements import Kind, missing_attributes, value_problem
from converter.validate.ohif_traps import traps
from converter.validate.problem import Problem, json_type

Types = type | tuple[type, ...]


# OHIF docs, configuration/dataSources/dicom-json.md (LIDC-IDRI-0001): each field, its JSON type.
DOCS_STUDY: dict[str, Types] = {
    "StudyInstanceUID": str,
    "StudyDate": str,
    "StudyTime": str,
    "PatientName": str,
    "PatientID": str,
    "AccessionNumber": str,
    "PatientAge": str,
    "PatientSex": str,
    "series": list,
    "NumInstances": int,
    "Modalities": str,
}


DOCS_SERIES: dict[str, Types] = {
    "SeriesInstanceUID": str,
    "SeriesNumber": int,
    "Modality": str,
    "SliceThickness": (int, float),
    "instances": list,
}


DOCS_INSTANCE: dict[str, Types] = {
    "Columns": int,
    "Rows": int,
    "InstanceNumber": int,
    "SOPClassUID": str,
    "PhotometricInterpretation": str,
    "BitsAllocated": int,
    "BitsStored": int,
    "PixelRepresentation": int,
    "SamplesPerPixel": int,
    "PixelSpacing": list,
    "HighBit": int,
    "ImageOrientationPatient": list,
    "ImagePositionPatient": list,
    "FrameOfReferenceUID": str,
    "ImageType": list,
    "Modality": str,
    "SOPInstanceUID": str,
    "SeriesInstanceUID": str,
    "StudyInstanceUID": str,
    "WindowCenter": (int, float),
    "WindowWidth": (int, float),
    "SeriesDate": str,
}


# Series fields DICOM lets be empty (Type 2: SeriesNumber; Type 2/3: SliceThickness):
# null is how the writer says so, and OHIF copes with it.
_NULLABLE_SERIES = frozenset({"SeriesNumber", "SliceThickness"})


# Attributes of value multiplicity 1-n: one value is written as a scalar, several
# as an array (docs/format.md, as dcmjs naturalizes them), whichever the docs example
# happens to show. Their item type.
_MULTI_VALUED: dict[str, Types] = {
    "ImageType": str,
    "WindowCenter": (int, float),
    "WindowWidth": (int, float),
}


# Beyond the docs example: attributes whose JSON type OHIF relies on.
_MORE_TYPES: dict[str, Types] = {"NumberOfFrames": int}


_UID_FIELDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID")


def uid_problem(value: Any) -> str | None:
    """Why ``value`` cannot be a UID of a launch file, or None.

    The rule of :mod:`converter.uids`: a UID that is not conformant to PS3.5
    9.1 (hex hashes, leading zeros, letters, longer than 64 characters) is
    accepted, as ``snapshot`` and ``folder`` write it and OHIF shows it; one
    that is unsafe in a file name, a request path or a query is a problem.
    """
    if not isinstance(value, str):
        return f"expected a UID string, got {json_type(value)}"
    if not value:
        return "empty"
    if not is_safe_uid(value):
        return f"{shown(value)} is {UNSAFE} (a UID here has {RULE})"
    return None


def _is(value: Any, kind: Types) -> bool:
    """isinstance for JSON values: booleans are not numbers, integral floats not ints."""
    if isinstance(value, bool):
        return False
    return isinstance(value, kind)


def _type_name(kind: Types) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {str: "string", int: "integer", float: "number", list: "array", dict: "object"}
    return " or ".join(dict.fromkeys(names.get(k, k.__name__) for k in kinds)).replace(
        "integer or number", "number"
    )


def load_launch_file(path: Path) -> Any:
    """The JSON document in ``path`` (plain or gzip-compressed, by its first bytes).

    Raises
    ------
    InputError
        The file cannot be read, or is not (gzipped) JSON; the message does not
        repeat the file name (the caller puts it in front).
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}") from exc
    return parse_launch_file(raw)


def parse_launch_file(raw: bytes) -> Any:
    """Launch file bytes (plain or gzip) -> JSON (:class:`InputError` if they are not)."""
    try:
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        return json.loads(raw)
    except (OSError, EOFError) as exc:
        raise InputError(f"not a readable gzip file: {exc}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"not JSON: {exc}") from exc


def validate(document: Any) -> list[Problem]:
    """Every problem in a launch file, in document order."""
    return list(_Checker().document(document))


class _Checker:
    """One validation run: remembers SOP instances and frames seen so far."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, int | None], str] = {}
        self.frames: dict[str, list[FrameEntry]] = {}
        self.studies: dict[str, str] = {}

    def document(self, document: Any) -> Iterator[Problem]:
        if not isinstance(document, dict):
            yield Problem("", f"expected a JSON object with 'studies', got {json_type(document)}")
            return
        studies = document.get("studies")
        if not isinstance(studies, list):
            yield Problem(
                "studies",
                "missing" if studies is None else f"expected an array, got {json_type(studies)}",
            )
            return
        if not studies:
            yield Problem("studies", "empty: OHIF has nothing to show")
        for i, study in enumerate(studies):
            yield from self.study(study, f"studies[{i}]")
        yield from self._frame_numbers()

    # --- study and series level ---------------------------------------------------

    def _fields(
        self,
        obj: Mapping[str, Any],
        fields: Mapping[str, Types],
        path: str,
        nullable: frozenset[str] = frozenset(),
    ) -> Iterator[Problem]:
        for name, kind in fields.items():
            if name not in obj:
                yield Problem(f"{path}.{name}", "missing")
            elif obj[name] is None and name in nullable:
                continue
            elif not _is(obj[name], kind):
                yield Problem(
                    f"{path}.{name}",
                    f"expected {_type_name(kind)} "
                    f"(as in OHIF's docs example), got {json_type(obj[name])}",
                )

    def study(self, study: Any, path: str) -> Iterator[Problem]:
        if not isinstance(study, dict):
            yield Problem(path, f"expected an object, got {json_type(study)}")
            return
        yield from self._fields(study, DOCS_STUDY, path)
        uid = study.get("StudyInstanceUID")
        if isinstance(uid, str):
            if (problem := uid_problem(uid)) is not None:
                yield Problem(f"{path}.StudyInstanceUID", problem)
            elif uid in self.studies:
                yield Problem(path, f"study {uid} is listed twice (also {self.studies[uid]})")
            else:
                self.studies[uid] = path
        count = study.get("NumInstances")
        if isinstance(count, int) and not isinstance(count, bool) and count < 1:
            yield Problem(f"{path}.NumInstances", f"{count}: a study has at least one instance")
        series = study.get("series")
        if not isinstance(series, list):
            return
        if not series:
            yield Problem(f"{path}.series", "empty: the study has no series")
        seen: dict[str, str] = {}
        for j, one in enumerate(series):
            where = f"{path}.series[{j}]"
            yield from self.series(one, where, uid if isinstance(uid, str) else None)
            series_uid = one.get("SeriesInstanceUID") if isinstance(one, dict) else None
            if isinstance(series_uid, str) and series_uid:
                if series_uid in seen:
                    yield Problem(
                        where,
                        f"series {series_uid} is listed twice in this study "
                        f"(also {seen[series_uid]})",
                    )
                seen.setdefault(series_uid, where)

    def series(self, series: Any, path: str, study_uid: str | None) -> Iterator[Problem]:
        if not isinstance(series, dict):
            yield Problem(path, f"expected an object, got {json_type(series)}")
            return
        yield from self._fields(series, DOCS_SERIES, path, _NULLABLE_SERIES)
        uid = series.get("SeriesInstanceUID")
        if isinstance(uid, str) and (problem := uid_problem(uid)) is not None:
            yield Problem(f"{path}.SeriesInstanceUID", problem)
        if series.get("Modality") == "":
            yield Problem(f"{path}.Modality", "empty (Modality is required, PS3.3 C.7.3.1)")
        instances = series.get("instances")
        if not isinstance(instances, list):
            return
        if not instances:
            yield Problem(f"{path}.instances", "empty: the series has no instances")
        parents = {
            "StudyInstanceUID": study_uid,
            "SeriesInstanceUID": uid if isinstance(uid, str) else None,
        }
        for k, entry in enumerate(instances):
            yield from self.entry(entry, f"{path}.instances[{k}]", parents)

    # --- entries -------------------------------------------------------------------

    def entry(self, entry: Any, path: str, parents: Mapping[str, str | None]) -> Iterator[Problem]:
        if not isinstance(entry, dict):
            yield Problem(path, f"expected an object with metadata and url, got {json_type(entry)}")
            return
        md = entry.get("metadata")
        if not isinstance(md, dict):
            yield Problem(
                f"{path}.metadata",
                "missing" if md is None else f"expected an object, got {json_type(md)}",
            )
            md = {}
        frame, url_problems = url_problem(entry.get("url"), f"{path}.url")
        yield from url_problems
        meta = f"{path}.metadata"
        yield from self._metadata(md, meta, parents)
        sop = md.get("SOPInstanceUID")
        if not isinstance(sop, str) or not sop:
            return
        key = (sop, frame)
        if key in self.entries:
            what = f"frame {frame}" if frame is not None else "no frame parameter"
            yield Problem(
                path, f"duplicate: the same SOP instance ({sop}, {what}) as {self.entries[key]}"
            )
        else:
            self.entries[key] = path
        self.frames.setdefault(sop, []).append(
            FrameEntry(
                frame,
                path,
                md.get("NumberOfFrames"),
                md.get("SOPClassUID"),
                str(entry.get("url", "")).startswith("wadors:"),
            )
        )

    def _metadata(
        self, md: Mapping[str, Any], path: str, parents: Mapping[str, str | None]
    ) -> Iterator[Problem]:
        for name in _UID_FIELDS:
            if md.get(name) in (None, ""):
                continue  # reported with the required attributes
            if (problem := uid_problem(md[name])) is not None:
                yield Problem(f"{path}.{name}", problem)
        for name, parent in parents.items():
            value = md.get(name)
            if parent and isinstance(value, str) and value and value != parent:
                yield Problem(
                    f"{path}.{name}",
                    f"{value} differs from the {name} it is listed under ({parent})",
                )
        for name, kind in (*DOCS_INSTANCE.items(), *_MORE_TYPES.items()):
            value = md.get(name)
            if value is None or value == "":
                continue
            item = _MULTI_VALUED.get(name)
            if item is not None:
                # PS3.18 F.2.5: an empty value among several is null.
                if not (
                    _is(value, item)
                    or (
                        isinstance(value, list)
                        and value
                        and all(v is None or _is(v, item) for v in value)
                    )
                ):
                    yield Problem(
                        f"{path}.{name}",
                        f"expected {_type_name(item)} or an array of them, got {json_type(value)}",
                    )
                continue
            if not _is(value, kind):
                source = " (as in OHIF's docs example)" if name in DOCS_INSTANCE else ""
                yield Problem(
                    f"{path}.{name}", f"expected {_type_name(kind)}{source}, got {json_type(value)}"
                )
            elif (problem := value_problem(name, value)) is not None:
                yield Problem(f"{path}.{name}", problem)
        kind_ = Kind.of(md)
        for name, message in missing_attributes(md, kind_):
            yield Problem(f"{path}.{name}", message)
        yield from palette_problems(md, path, parents)
        for where, trap in traps(md):
            yield Problem(
                f"{path}.{where}",
                f"{instance_where(md, parents)}: {trap}. OHIF's error "
                "boundary then blanks the page: open such a study on its own "
                "(serve's per-study URLs)",
            )

    def _frame_numbers(self) -> Iterator[Problem]:
        for sop, frames in self.frames.items():
            yield from multiframe_problems(sop, frames)
