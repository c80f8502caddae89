"""Snapshot: select studies on a server, fetch and map their metadata, build the model.

The library entry point of ``dicomweb2ohif snapshot``; data flows one way,
client -> mapper -> writer. Nothing here prints: problems go to ``warn`` and
progress to ``progress``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from converter.client import DicomWebSource, StudyFilter, first_value
from converter.errors import NotFoundError, UsageError
from converter.mapper import Warn, map_datasets
from converter.writer import InstanceUrls, Study, build_study, is_valid_uid

Progress = Callable[[int, int, str, int], None]
"""Called after each study: (done, total, study UID, instances in it)."""


@dataclass(frozen=True)
class Selection:
    """Which studies to take: explicit UIDs, else a QIDO filter, else every study."""

    study_uids: tuple[str, ...] = ()
    study_filter: StudyFilter = field(default_factory=StudyFilter)

    def __post_init__(self) -> None:
        for uid in self.study_uids:
            if not is_valid_uid(uid):
                raise UsageError(
                    f"--study {uid!r} is not a DICOM UID (digits and dots, at most 64 characters)"
                )
        if self.study_uids and not self.study_filter.is_empty():
            raise UsageError("give either --study UIDs or filters, not both")


def _study_sort_key(record: dict[str, Any]) -> tuple[str, str, str]:
    return (
        str(first_value(record, "00080020") or ""),
        str(first_value(record, "00080030") or ""),
        str(first_value(record, "0020000D") or ""),
    )


def select_studies(source: DicomWebSource, selection: Selection) -> list[str]:
    """The UIDs of the selected studies, in a deterministic order.

    Explicit UIDs keep the user's order (duplicates dropped) and must all exist;
    QIDO results are ordered by StudyDate, StudyTime, then UID.
    """
    if selection.study_uids:
        uids = list(dict.fromkeys(selection.study_uids))
        for uid in uids:
            source.find_study(uid)
        return uids
    records = source.search_studies(selection.study_filter)
    uids = []
    for record in sorted(records, key=_study_sort_key):
        uid = first_value(record, "0020000D")
        if isinstance(uid, str) and uid and uid not in uids:
            uids.append(uid)
    if not uids:
        what = "matching the filters" if not selection.study_filter.is_empty() else ""
        raise NotFoundError(f"no study {what} on {source.root}".replace("  ", " "))
    return uids


def fetch_study(
    source: DicomWebSource, study_uid: str, *, keep_private: bool = False, warn: Warn | None = None
) -> list[list[dict[str, Any]]]:
    """The mapped metadata of every instance of one study, grouped by series."""
    groups = []
    for record in source.search_series(study_uid):
        series_uid = first_value(record, "0020000E")
        if not isinstance(series_uid, str) or not series_uid:
            if warn:
                warn(f"study {study_uid}: a series record has no SeriesInstanceUID; skipped")
            continue
        where = f"study {study_uid} series {series_uid}"

        def series_warn(message: str, where: str = where) -> None:
            if warn:
                warn(f"{where}: {message}")

        datasets = source.series_metadata(study_uid, series_uid)
        mapped = map_datasets(datasets, keep_private=keep_private, warn=series_warn)
        if not mapped:
            series_warn("the server lists this series but returned no instance metadata; skipped")
            continue
        groups.append(mapped)
    return groups


def snapshot(
    source: DicomWebSource,
    selection: Selection,
    urls: InstanceUrls,
    *,
    keep_private: bool = False,
    warn: Warn | None = None,
    progress: Progress | None = None,
) -> list[Study]:
    """Fetch, map and build every selected study (in selection order)."""
    uids = select_studies(source, selection)
    studies: list[Study] = []
    for done, uid in enumerate(uids, start=1):
        groups = fetch_study(source, uid, keep_private=keep_private, warn=warn)
        if not groups:
            if warn:
                warn(f"study {uid}: no instance metadata on the server; left out")
            continue
        study = build_study(groups, urls, study_uid=uid)
        studies.append(study)
        if progress:
            progress(done, len(uids), uid, int(study.fields["NumInstances"]))
    if not studies:
        raise NotFoundError(f"none of the selected studies has instances on {source.root}")
    return studies


def count_instances(studies: Sequence[Study]) -> int:
    """SOP instances across studies (not frame entries)."""
    return sum(int(s.fields["NumInstances"]) for s in studies)
