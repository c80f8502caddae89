"""Snapshot: select studies on a server, fetch and map their metadata, store launch files.

The library entry point of ``dicomweb2ohif snapshot``. Data flows one way,
client -> mapper -> launch model -> store: the selection is planned by
:mod:`converter.snapshot.selection`, fetched and mapped by the worker pool of
:mod:`converter.snapshot.pool` and reported by :mod:`converter.snapshot.report`.
Nothing here prints: problems go to ``warn`` and progress to an
:class:`~converter.snapshot.report.Events` object.
"""

from __future__ import annotations

from converter.defaults import DEFAULT_WORKERS
from converter.launch.urls import AutoUrls, InstanceUrls
from converter.mapping.mapper import Warn
from converter.output.store import Store
from converter.snapshot.pool import StudyPool
from converter.snapshot.report import Events, SnapshotReport
from converter.snapshot.selection import (
    PlannedStudy,
    Selection,
    plan,
)
from converter.source.client import DicomWebSource


def snapshot(
    source: DicomWebSource,
    selection: Selection,
    urls: InstanceUrls | AutoUrls,
    store: Store,
    *,
    workers: int = DEFAULT_WORKERS,
    keep_private: bool = False,
    warn: Warn | None = None,
    events: Events | None = None,
    studies: list[PlannedStudy] | None = None,
    by_study: bool | None = None,
) -> SnapshotReport:
    """Fetch, map, build and store every selected study; returns the summary.

    A study that fails (server error after retries, unusable metadata, a UID
    unsafe in a file name or URL, :mod:`converter.uids`) is reported in
    ``SnapshotReport.failures`` with its typed error and gets no output; the run
    goes on. ``studies`` skips
    the planning step when already known.
    ``by_study`` asks for each study's metadata in one request where it can
    (see :data:`STUDY_REQUEST_MAX`); by default when there are at least twice
    as many studies as workers, so that the workers still share the work.
    :class:`~converter.launch.urls.AutoUrls` are resolved once, with the first
    study fetched (:func:`converter.snapshot.url_probe.resolve_auto`).
    """
    planned = studies if studies is not None else plan(source, selection)
    if events:
        events.planned(planned)
    workers = max(1, workers)
    if by_study is None:
        by_study = len(planned) >= 2 * workers
    run = StudyPool(
        source,
        urls,
        store,
        workers=workers,
        keep_private=keep_private,
        warn=warn,
        events=events,
        by_study=by_study,
    )
    try:
        report = run.run(planned)
    except BaseException:
        store.abort()  # keep what is complete, write nothing partial
        raise
    report.bytes += store.close()
    return report
