"""The worker pool of a snapshot: a bounded pool of threads (each with its own HTTP
session) fetches a study's metadata at once or series by series (PS3.18 10.4.1 WADO-RS
metadata), maps and checks it, and hands finished studies to the store in order.

At most a few studies are in flight at once, so memory does not grow with the number of
studies in folder mode. A study that fails is reported and skipped; the others go on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from converter.defaults import STUDY_REQUEST_MAX
from converter.errors import (
    ConverterError,
    MappingError,
    NotFoundError,
    OutputError,
    ServerError,
    SignInError,
    UnsafeUidError,
)
from converter.launch.model import Study, build_study
from converter.launch.urls import AutoUrls, InstanceUrls
from converter.mapping.integrity import check_series, check_study, listed_series, series_not_found
from converter.mapping.mapper import Warn, map_datasets
from converter.mapping.ps3_18 import first_value
from converter.output.store import Store
from converter.snapshot.palette_fetch import repair_palettes
from converter.snapshot.report import Events, SnapshotReport, StudyFailure
from converter.snapshot.selection import PlannedStudy
from converter.snapshot.url_probe import resolve_auto
from converter.source.client import DicomWebSource
from converter.uids import UNSAFE, is_safe_uid, shown

_LIST = -1
"""Index of a study's series search among the requests in flight (series count from 0)."""


_WHOLE = -2
"""Index of a study's study-level metadata request."""


STUDY_LEVEL_REFUSED = frozenset({400, 403, 404, 405, 406, 501})
"""Answers to a study-level metadata request that mean the server does not offer it
(AWS HealthImaging has WADO-RS metadata at series and instance level only)."""


@dataclass
class _Job:
    """One study in flight: its series and their mapped metadata as they arrive."""

    study: PlannedStudy
    series: list[str] = field(default_factory=list)
    results: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    pending: int = 0
    listed: bool = False
    queued: bool = False
    error: ConverterError | None = None


class StudyPool:
    """The scheduling loop: a window of studies, their series fetched by the pool."""

    def __init__(
        self,
        source: DicomWebSource,
        urls: InstanceUrls | AutoUrls,
        store: Store,
        *,
        workers: int,
        keep_private: bool,
        warn: Warn | None,
        events: Events | None,
        by_study: bool = False,
    ) -> None:
        self.source = source
        self.by_study = by_study
        self.urls = urls
        self._choosing = threading.Lock()
        self.store = store
        self.workers = workers
        self.keep_private = keep_private
        self.warn = warn
        self.events = events
        self.report = SnapshotReport()
        self.inflight: dict[Future[Any], tuple[_Job, int]] = {}
        self.writing: dict[Future[tuple[Study | None, int]], _Job] = {}

    def _series_task(self, job: _Job, series_uid: str) -> list[dict[str, Any]]:
        try:
            datasets = self.source.series_metadata(job.study.uid, series_uid)
        except ServerError as exc:
            if exc.status == 404:  # listed, then not found: the study would be incomplete
                raise series_not_found(exc, series_uid) from exc
            raise
        return self._map_series(job, series_uid, datasets)

    def _map_series(
        self, job: _Job, series_uid: str, datasets: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        where = f"study {job.study.uid} series {series_uid}"

        def series_warn(message: str) -> None:
            if self.warn:
                self.warn(f"{where}: {message}")

        repair_palettes(self.source, job.study.uid, series_uid, datasets, series_warn)
        try:
            mapped = map_datasets(datasets, keep_private=self.keep_private, warn=series_warn)
        except MappingError as exc:
            raise MappingError(
                f"series {series_uid}: {exc.message}", tag=exc.tag, vr=exc.vr
            ) from exc
        if not mapped:
            series_warn("the server lists this series but returned no instance metadata; skipped")
        # Identity, duplicates: see converter/mapping/integrity.py.
        return check_series(mapped, job.study.uid, series_uid, series_warn)

    def _study_task(self, job: _Job) -> list[tuple[str, list[dict[str, Any]]]] | None:
        """The whole study in one request, as (series UID, mapped instances) pairs;
        None when it has to be fetched series by series after all.

        The one answer is taken only when it is plainly whole: as many instances
        as the search counted, each with a safe SeriesInstanceUID and a
        SOPClassUID (PS3.3 C.12.1, Type 1; Orthanc configured to build study
        metadata from its index, ``StudiesMetadata`` ``MainDicomTags`` or
        ``Extrapolate``, leaves it out with most other attributes). Otherwise,
        or when the study-level request fails (not offered, or a gateway timing
        out on the big answer), the series are searched and fetched one by one,
        where every gap is named.
        """
        try:
            datasets = self.source.study_metadata(job.study.uid)
        except ServerError as exc:  # after its retries: a gateway timing out on a big answer...
            if exc.status in STUDY_LEVEL_REFUSED and self.by_study:
                self.by_study = False  # not offered (AWS HealthImaging): stop asking
                if self.warn:
                    self.warn(
                        f"the server refuses study-level metadata (HTTP {exc.status}); "
                        "every study is fetched series by series"
                    )
            return None
        if len(datasets) != job.study.instances:
            return None
        grouped: dict[str, list[dict[str, Any]]] = {}
        for dataset in datasets:
            series_uid = first_value(dataset, "0020000E")
            if (
                not isinstance(series_uid, str)
                or not is_safe_uid(series_uid)
                or first_value(dataset, "00080016") is None
            ):
                return None
            grouped.setdefault(series_uid, []).append(dataset)
        return [
            (series_uid, self._map_series(job, series_uid, group))
            for series_uid, group in grouped.items()
        ]

    def _submit_series(
        self, pool: ThreadPoolExecutor, job: _Job, records: list[dict[str, Any]]
    ) -> None:
        def study_warn(message: str) -> None:
            if self.warn:
                self.warn(f"study {job.study.uid}: {message}")

        try:
            job.series = listed_series(records, job.study.uid, study_warn)
        except ConverterError as exc:  # a series that cannot be asked for: study incomplete
            job.error = exc
            return
        job.pending = len(job.series)
        for index, series_uid in enumerate(job.series):
            self.inflight[pool.submit(self._series_task, job, series_uid)] = (job, index)

    def _complete(self, job: _Job) -> tuple[Study | None, int]:
        """Build and store one fetched study (on the writer thread, so that the
        scheduling loop keeps the workers busy while files are serialised and synced)."""
        uid = job.study.uid
        groups = [job.results[i] for i in range(len(job.series)) if job.results.get(i)]
        if job.error is None and not groups:
            job.error = NotFoundError("no instance metadata on the server")
        if job.error is not None:
            return None, 0
        try:
            check_study(groups, uid, self.warn)
            study = build_study(groups, self._chosen_urls(uid, groups), study_uid=uid)
            return study, self.store.write(study)
        except ConverterError as exc:
            job.error = exc
            return None, 0

    def _chosen_urls(self, study_uid: str, groups: list[list[dict[str, Any]]]) -> InstanceUrls:
        """The URLs to write; ``auto`` is decided once, on the first study's first instance."""
        with self._choosing:
            if isinstance(self.urls, AutoUrls):
                first = groups[0][0]
                self.urls = resolve_auto(
                    self.source,
                    self.urls,
                    (
                        study_uid,
                        str(first.get("SeriesInstanceUID", "")),
                        str(first.get("SOPInstanceUID", "")),
                    ),
                    self.warn,
                )
            return self.urls

    def _finish(self, job: _Job, outcome: tuple[Study | None, int] = (None, 0)) -> None:
        """Account for a study (main thread): written, or failed with its reason."""
        uid = job.study.uid
        study, written = outcome
        self.report.bytes += written
        if job.error is not None or study is None:
            error = job.error or OutputError("not written")
            self.report.failures.append(StudyFailure(uid, error))
            if self.events:
                self.events.study(uid, "failed", 0, str(error))
            return
        count = int(study.fields["NumInstances"])
        if job.study.instances is not None and count != job.study.instances and self.warn:
            self.warn(
                f"study {uid}: {count} instances fetched but the server's study list said "
                f"{job.study.instances} (changed during the run?)"
            )
        self.report.written += 1
        self.report.instances += count
        if self.events:
            self.events.study(uid, "written", count)

    def run(self, studies: Iterable[PlannedStudy]) -> SnapshotReport:
        started = time.monotonic()
        todo: Iterator[PlannedStudy] = iter(studies)
        window = max(2, self.workers * 2)  # studies in flight: bounds memory in folder mode
        active: list[_Job] = []
        pool = ThreadPoolExecutor(self.workers, thread_name_prefix="dicomweb2ohif")
        writer = ThreadPoolExecutor(1, thread_name_prefix="dicomweb2ohif-writer")
        interrupted = True
        try:
            exhausted = False
            while True:
                while not exhausted and len(active) < window:
                    study = next(todo, None)
                    if study is None:
                        exhausted = True
                        break
                    if self.store.up_to_date(study.uid, study.instances):
                        self.report.skipped += 1
                        if self.events:
                            self.events.study(study.uid, "skipped", study.instances or 0)
                        continue
                    job = _Job(study)
                    if not is_safe_uid(study.uid):
                        # Never put it into a request path or a file name (converter.uids).
                        job.error = UnsafeUidError(
                            f"the server lists a study whose UID {shown(study.uid)} is "
                            f"{UNSAFE}; skipped",
                            uid=study.uid,
                        )
                        self._finish(job)
                        continue
                    active.append(job)
                    instances = study.instances or 0
                    if self.by_study and 0 < instances <= STUDY_REQUEST_MAX:
                        self.inflight[pool.submit(self._study_task, job)] = (job, _WHOLE)
                    else:
                        self.inflight[pool.submit(self.source.search_series, study.uid)] = (
                            job,
                            _LIST,
                        )
                if not self.inflight and not self.writing:
                    break
                waiting: list[Future[Any]] = [*self.inflight, *self.writing]
                done, _ = wait(waiting, return_when=FIRST_COMPLETED)
                for future in done:
                    if future in self.writing:
                        job = self.writing.pop(future)
                        active.remove(job)
                        self._finish(job, future.result())
                        continue
                    job, index = self.inflight.pop(future)
                    self._collect(pool, job, index, future)
                for job in active:
                    if job.listed and job.pending == 0 and not job.queued:
                        job.queued = True
                        self.writing[writer.submit(self._complete, job)] = job
            interrupted = False
        finally:
            # On Ctrl-C do not wait for requests in flight; they end with the process.
            # A file being written is finished (it appears whole) and the index kept
            # consistent with it.
            pool.shutdown(wait=not interrupted, cancel_futures=True)
            writer.shutdown(wait=True, cancel_futures=True)
        self.report.seconds = time.monotonic() - started
        return self.report

    def _collect(
        self, pool: ThreadPoolExecutor, job: _Job, index: int, future: Future[Any]
    ) -> None:
        try:
            result = future.result()
        except SignInError:
            raise  # no token: every other study would fail the same way
        except ConverterError as exc:
            if job.error is None:
                job.error = exc
            if index >= 0:
                job.pending -= 1
            job.listed = True
            return
        if index == _WHOLE:
            if result is None:  # not taken whole: search and fetch its series
                self.inflight[pool.submit(self.source.search_series, job.study.uid)] = (job, _LIST)
                return
            job.listed = True
            job.series = [series_uid for series_uid, _ in result]
            job.results = {i: group for i, (_, group) in enumerate(result)}
            return
        if index == _LIST:
            job.listed = True
            self._submit_series(pool, job, result)
            return
        job.pending -= 1
        job.results[index] = result
