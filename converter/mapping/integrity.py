"""Do a study's answers hang together? Checks across instances, before a launch file is built.

The mapper judges one element at a time; these checks judge what only the whole
answer shows. A launch file must never mix patients or lose instances without
saying so, so the rule is:

* an answer that contradicts itself -- an instance whose StudyInstanceUID or
  SeriesInstanceUID is not the one it was fetched under (it may belong to
  another patient), one SOP instance with two different contents, a UID that is
  unsafe in a file name, a request path or a query (:mod:`converter.uids`), a series
  the search lists but whose metadata is not found -- fails the study with a
  :class:`~converter.errors.ServerError` that names the series and instance;
* a gap that can be filled without guessing -- an instance without Study or
  Series Instance UID (the request said which), an exact duplicate of an
  instance, a series listed twice -- is filled or dropped, with a warning;
* odd but usable data -- a series or a study without Modality (PS3.3 C.7.3.1
  makes it Type 1), instances that disagree on PatientID, UIDs that are safe
  but not conformant to PS3.5 9.1 (hex hashes, leading zeros) -- is warned about.

Pure: no I/O; warnings go to a callback, errors are raised.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from converter.errors import ServerError, UnsafeUidError
from converter.mapping.ps3_18 import first_value
from converter.uids import UNSAFE, is_safe_uid, nonconformant_note, shown

Warn = Callable[[str], None]


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:79] + "…"


def listed_series(
    records: Sequence[Mapping[str, Any]], study_uid: str, warn: Warn | None
) -> list[str]:
    """The SeriesInstanceUIDs a QIDO-RS series search listed, each once, in the server's order.

    A record without a usable UID fails the study: that series could not be
    fetched, so the study would be incomplete. Orthanc lists a series twice
    when it split its study in two (files that disagree on the patient).
    """
    uids: list[str] = []
    for record in records:
        uid = first_value(record, "0020000E")
        if not isinstance(uid, str) or not uid:
            raise ServerError(
                f"the server lists a series of study {study_uid} without a "
                "SeriesInstanceUID; the study would be incomplete"
            )
        if not is_safe_uid(uid):
            raise UnsafeUidError(
                f"the server lists a series of study {study_uid} whose UID "
                f"{shown(uid)} is {UNSAFE}; it is not requested, and the study "
                "would be incomplete",
                uid=uid,
            )
        if uid in uids:
            if warn is not None:
                warn(f"series {uid} is listed twice by the server's search; fetched once")
            continue
        uids.append(uid)
    return uids


def series_not_found(error: ServerError, series_uid: str) -> ServerError:
    """The error for a listed series whose metadata answers 404 (never a silent gap)."""
    return ServerError(
        f"series {series_uid} is listed by the server's search but its metadata answers "
        "HTTP 404 (Orthanc does this when the files of a study disagree on the patient and it "
        f"splits the study); the study would be incomplete: {error}",
        url=error.url,
        status=error.status,
        body=error.body,
    )


def check_series(
    mapped: list[dict[str, Any]], study_uid: str, series_uid: str, warn: Warn | None
) -> list[dict[str, Any]]:
    """One series' mapped instances, identity checked; exact duplicates dropped.

    Raises :class:`ServerError` naming the instance when the answer contradicts
    the request or itself (see the module docstring).
    """
    seen: dict[str, dict[str, Any]] = {}
    filled = {"StudyInstanceUID": 0, "SeriesInstanceUID": 0}
    duplicates = 0
    for position, metadata in enumerate(mapped, start=1):
        sop = metadata.get("SOPInstanceUID")
        where = f"instance {position} of series {series_uid}"
        if not isinstance(sop, str) or not sop:
            raise ServerError(f"{where} has no SOPInstanceUID, so no URL can be written for it")
        if not is_safe_uid(sop):
            raise UnsafeUidError(
                f"{where} has SOPInstanceUID {shown(sop)}, {UNSAFE}; it is not written into a URL",
                uid=sop,
            )
        for keyword, expected in (
            ("StudyInstanceUID", study_uid),
            ("SeriesInstanceUID", series_uid),
        ):
            value = metadata.get(keyword)
            if value is None or value == "":
                metadata[keyword] = expected
                filled[keyword] += 1
            elif value != expected:
                level = "study" if keyword == "StudyInstanceUID" else "series"
                raise ServerError(
                    f"instance {sop} has {keyword} {_shown(value)} but was fetched under "
                    f"{level} {expected}: the server's answers disagree, and the instance may "
                    "belong to another patient"
                )
        first = seen.get(sop)
        if first is None:
            seen[sop] = metadata
        elif first == metadata:
            duplicates += 1
        else:
            raise ServerError(
                f"instance {sop} comes twice in series {series_uid} with different "
                "metadata; which one is right cannot be told"
            )
    if warn is not None:
        for keyword, count in filled.items():
            if count:
                warn(
                    f"{count} instance(s) have no {keyword}; written with the one they were "
                    "fetched under"
                )
        if duplicates:
            warn(
                f"{duplicates} exact duplicate(s) of instances in the server's answer; each "
                "instance written once"
            )
    return list(seen.values()) if duplicates else mapped


def check_study(groups: list[list[dict[str, Any]]], study_uid: str, warn: Warn | None) -> None:
    """Checks across the series of one study (each group already passed :func:`check_series`).

    Raises :class:`ServerError` when one SOP instance is in two series. Warns
    once for a study whose UIDs are kept although not conformant (PS3.5 9.1).
    """
    owner: dict[str, str] = {}
    for group in groups:
        for metadata in group:
            sop, series = metadata["SOPInstanceUID"], metadata["SeriesInstanceUID"]
            other = owner.setdefault(sop, series)
            if other != series:
                one, two = sorted((other, series))
                raise ServerError(
                    f"instance {sop} of study {study_uid} is in two series, "
                    f"{one} and {two}; which one is right cannot be told"
                )
    if warn is None:
        return
    note = nonconformant_note(study_uid, groups)
    if note is not None:
        warn(note)
    without = [g[0]["SeriesInstanceUID"] for g in groups if g and not g[0].get("Modality")]
    if without and len(without) == len(groups):
        warn(
            f"study {study_uid}: no series has a Modality (PS3.3 C.7.3.1, Type 1); "
            "Modalities is written empty and OHIF may not show the study as expected"
        )
    else:
        for series in without:
            warn(
                f"study {study_uid} series {series}: no Modality (PS3.3 C.7.3.1, Type 1); "
                "written empty, and OHIF may not show the series as expected"
            )
    patients = sorted({str(md.get("PatientID", "")) for g in groups for md in g})
    if len(patients) > 1:
        listed = ", ".join(_shown(p) for p in patients[:4])
        warn(
            f"study {study_uid}: its instances disagree on PatientID ({listed}); the launch "
            "file shows the first series' first instance's"
        )
