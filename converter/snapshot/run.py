"""Snapshot: select studies on a server, fetch and map their metadata, store launch files.

The library entry point of ``dicomweb2ohif snapshot``. Data flows one way,
client -> mapper -> writer -> store. Metadata is fetched by a bounded pool of
worker threads (each with its own HTTP session), a study at once or series by
series (see :data:`STUDY_REQUEST_MAX`); at most a few studies are in flight at
once, so memory does not grow with the number of studies in folder mode. A study
that fails is reported and skipped; the others go on. Nothing here prints:
problems go to ``warn`` and progress to an :class:`Events` object.
"""

from __future__ import annotations

import gc
import hashlib
import time
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from converter.errors import (
    ConverterError,
    MappingError,
    NotFoundError,
    ServerError,
    UsageError,
)
from converter.launch.writer import InstanceUrls, Study, build_study
from converter.mapping.integrity import check_series, check_study, listed_series, series_not_found
from converter.mapping.mapper import Warn, map_datasets
from converter.mapping.ps3_18 import first_value
from converter.output.store import Store
from converter.snapshot.palette_fetch import repair_palettes
from converter.source.client import DicomWebSource, StudyFilter
from converter.uids import RULE, UNSAFE, is_safe_uid, shown

DEFAULT_WORKERS = 4
"""Concurrent metadata requests (chosen by measurement, see benchmarks/)."""

STUDY_REQUEST_MAX = 2000
"""The largest study (in instances, as the search counts them) asked for in one request.

A run of many studies asks for each study's metadata at once (PS3.18 10.4.1.1.2):
one request instead of a series search plus one per series. Measured on Orthanc
1.10 (50 studies of 200 instances, 4 workers), the server then spends 10-15 %
less CPU on the same metadata. Bigger studies, and runs of a few studies, are
fetched series by series, so that the workers share one study's work.
"""


@dataclass(frozen=True)
class Shard:
    """Part ``index`` of ``count`` of a study list split by a stable hash of the study UID.

    N workers started with index 0..N-1 together take every study exactly once,
    whatever order the server lists them in: membership depends on the UID only
    (the first 8 bytes of its SHA-256, modulo N).
    """

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise UsageError(f"shard {self.index}/{self.count}: need 0 <= K < N")

    def owns(self, study_uid: str) -> bool:
        if self.count == 1:
            return True
        digest = hashlib.sha256(study_uid.encode("utf-8")).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index

    @property
    def label(self) -> str:
        return f"shard {self.index} of {self.count}"

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``K/N`` as given to ``--shard``."""
        index, sep, count = text.partition("/")
        if not sep or not index.isdigit() or not count.isdigit():
            raise UsageError(f"--shard {text!r}: give K/N, e.g. 0/4")
        return cls(int(index), int(count))

    @classmethod
    def from_environment(cls, environ: Mapping[str, str],
                         count: int | None = None) -> tuple[Shard, str] | None:
        """The shard a batch engine assigned, and the variable it came from.

        Kubernetes Indexed Jobs set ``JOB_COMPLETION_INDEX`` (the count comes from
        ``count`` or ``DICOMWEB2OHIF_SHARDS``); Slurm job arrays set
        ``SLURM_ARRAY_TASK_ID``/``SLURM_ARRAY_TASK_COUNT`` (and ``_MIN`` when the
        array does not start at 0).
        """
        if "JOB_COMPLETION_INDEX" in environ:
            total = count or _env_int(environ, "DICOMWEB2OHIF_SHARDS")
            if total is None:
                raise UsageError("JOB_COMPLETION_INDEX is set: give --shard-count N "
                                 "(or DICOMWEB2OHIF_SHARDS) with the Job's completions")
            return cls(_env_int(environ, "JOB_COMPLETION_INDEX") or 0, total), \
                "JOB_COMPLETION_INDEX"
        if "SLURM_ARRAY_TASK_ID" in environ:
            task = _env_int(environ, "SLURM_ARRAY_TASK_ID") or 0
            total = count or _env_int(environ, "SLURM_ARRAY_TASK_COUNT")
            if total is None:
                raise UsageError("SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not")
            first = _env_int(environ, "SLURM_ARRAY_TASK_MIN") or 0
            return cls(task - first, total), "SLURM_ARRAY_TASK_ID"
        return None


def _env_int(environ: Mapping[str, str], name: str) -> int | None:
    value = environ.get(name)
    if value is None:
        return None
    if not value.strip().isdigit():
        raise UsageError(f"${name}={value!r} is not a whole number")
    return int(value)


@dataclass(frozen=True)
class Selection:
    """Which studies to take: explicit UIDs, else a QIDO filter, else every study;
    then this shard's part of them, at most ``limit``."""

    study_uids: tuple[str, ...] = ()
    study_filter: StudyFilter = field(default_factory=StudyFilter)
    limit: int | None = None
    shard: Shard = field(default_factory=Shard)

    def __post_init__(self) -> None:
        for uid in self.study_uids:
            if not is_safe_uid(uid):
                raise UsageError(f"--study {uid!r} is {UNSAFE} (a study UID here has {RULE})")
        if self.study_uids and not self.study_filter.is_empty():
            raise UsageError("give either --study UIDs or filters, not both")
        if self.limit is not None and self.limit < 1:
            raise UsageError("--limit must be at least 1")


@dataclass(frozen=True)
class PlannedStudy:
    """A selected study: its UID and what QIDO said about it (for resume and progress)."""

    uid: str
    instances: int | None
    date: str = ""
    time: str = ""


class Events(Protocol):
    """Progress of a run (the CLI draws it; tests record it)."""

    def planned(self, studies: list[PlannedStudy]) -> None: ...

    def study(self, uid: str, status: str, instances: int, message: str = "") -> None:
        """``status`` is ``written``, ``skipped`` or ``failed``."""
        ...


@dataclass
class Report:
    """What a run did: the final summary."""

    written: int = 0
    skipped: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    instances: int = 0
    bytes: int = 0
    seconds: float = 0.0


def _as_count(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _planned(record: dict[str, Any]) -> PlannedStudy | None:
    uid = first_value(record, "0020000D")
    if not isinstance(uid, str) or not uid:
        return None
    return PlannedStudy(uid, _as_count(first_value(record, "00201208")),
                        str(first_value(record, "00080020") or ""),
                        str(first_value(record, "00080030") or ""))


def plan(source: DicomWebSource, selection: Selection, *,
         page_size: int = 500) -> list[PlannedStudy]:
    """The selected studies in a deterministic order.

    Explicit UIDs keep the user's order (duplicates dropped) and must all exist;
    QIDO results (paged) are ordered by StudyDate, StudyTime, then UID.
    """
    shard = selection.shard
    if selection.study_uids:
        studies = []
        for uid in dict.fromkeys(selection.study_uids):
            found = _planned(source.find_study(uid))
            studies.append(found or PlannedStudy(uid, None))
        studies = [s for s in studies if shard.owns(s.uid)]
        return studies[: selection.limit] if selection.limit else studies
    repeated: set[str] = set()
    records = source.iter_studies(selection.study_filter, page_size=page_size, repeated=repeated)
    planned = {}
    for record in records:
        study = _planned(record)
        if study is not None and study.uid not in planned:
            planned[study.uid] = study
    for uid in repeated & planned.keys():
        # Listed twice (Orthanc splits a study whose files disagree on the
        # patient): neither record's count is the study's.
        planned[uid] = replace(planned[uid], instances=None)
    ordered = sorted(planned.values(), key=lambda s: (s.date, s.time, s.uid))
    if not ordered:
        what = " matching the filters" if not selection.study_filter.is_empty() else ""
        raise NotFoundError(f"no study{what} on {source.root}")
    ordered = [s for s in ordered if shard.owns(s.uid)]
    return ordered[: selection.limit] if selection.limit else ordered


_LIST = -1
"""Index of a study's series search among the requests in flight (series count from 0)."""
_WHOLE = -2
"""Index of a study's study-level metadata request."""


@dataclass
class _Job:
    """One study in flight: its series and their mapped metadata as they arrive."""

    study: PlannedStudy
    series: list[str] = field(default_factory=list)
    results: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    pending: int = 0
    listed: bool = False
    queued: bool = False
    error: str | None = None


class _Run:
    """The scheduling loop: a window of studies, their series fetched by the pool."""

    def __init__(self, source: DicomWebSource, urls: InstanceUrls, store: Store, *,
                 workers: int, keep_private: bool, warn: Warn | None,
                 events: Events | None, by_study: bool = False) -> None:
        self.source = source
        self.by_study = by_study
        self.urls = urls
        self.store = store
        self.workers = workers
        self.keep_private = keep_private
        self.warn = warn
        self.events = events
        self.report = Report()
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

    def _map_series(self, job: _Job, series_uid: str,
                    datasets: list[dict[str, Any]]) -> list[dict[str, Any]]:
        where = f"study {job.study.uid} series {series_uid}"

        def series_warn(message: str) -> None:
            if self.warn:
                self.warn(f"{where}: {message}")

        repair_palettes(self.source, job.study.uid, series_uid, datasets, series_warn)
        try:
            mapped = map_datasets(datasets, keep_private=self.keep_private, warn=series_warn)
        except MappingError as exc:
            raise MappingError(f"series {series_uid}: {exc}", tag=exc.tag, vr=exc.vr) from exc
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
        except ServerError:  # after its retries: a gateway timing out on a big answer...
            return None
        if len(datasets) != job.study.instances:
            return None
        grouped: dict[str, list[dict[str, Any]]] = {}
        for dataset in datasets:
            series_uid = first_value(dataset, "0020000E")
            if not isinstance(series_uid, str) or not is_safe_uid(series_uid) \
                    or first_value(dataset, "00080016") is None:
                return None
            grouped.setdefault(series_uid, []).append(dataset)
        return [(series_uid, self._map_series(job, series_uid, group))
                for series_uid, group in grouped.items()]

    def _submit_series(self, pool: ThreadPoolExecutor, job: _Job,
                       records: list[dict[str, Any]]) -> None:
        def study_warn(message: str) -> None:
            if self.warn:
                self.warn(f"study {job.study.uid}: {message}")

        try:
            job.series = listed_series(records, job.study.uid, study_warn)
        except ConverterError as exc:  # a series that cannot be asked for: study incomplete
            job.error = str(exc)
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
            job.error = "no instance metadata on the server"
        if job.error is not None:
            return None, 0
        try:
            check_study(groups, uid, self.warn)
            study = build_study(groups, self.urls, study_uid=uid)
            return study, self.store.write(study)
        except ConverterError as exc:
            job.error = str(exc)
            return None, 0

    def _finish(self, job: _Job, outcome: tuple[Study | None, int] = (None, 0)) -> None:
        """Account for a study (main thread): written, or failed with its reason."""
        uid = job.study.uid
        study, written = outcome
        self.report.bytes += written
        if job.error is not None or study is None:
            job.error = job.error or "not written"
            self.report.failed.append((uid, job.error))
            if self.events:
                self.events.study(uid, "failed", 0, job.error)
            return
        count = int(study.fields["NumInstances"])
        if job.study.instances is not None and count != job.study.instances and self.warn:
            self.warn(f"study {uid}: {count} instances fetched but the server's study list said "
                      f"{job.study.instances} (changed during the run?)")
        self.report.written += 1
        self.report.instances += count
        if self.events:
            self.events.study(uid, "written", count)

    def run(self, studies: Iterable[PlannedStudy]) -> Report:
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
                        job.error = (f"the server lists a study whose UID {shown(study.uid)} is "
                                     f"{UNSAFE}; skipped")
                        self._finish(job)
                        continue
                    active.append(job)
                    instances = study.instances or 0
                    if self.by_study and 0 < instances <= STUDY_REQUEST_MAX:
                        self.inflight[pool.submit(self._study_task, job)] = (job, _WHOLE)
                    else:
                        self.inflight[pool.submit(self.source.search_series, study.uid)] = \
                            (job, _LIST)
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

    def _collect(self, pool: ThreadPoolExecutor, job: _Job, index: int,
                 future: Future[Any]) -> None:
        try:
            result = future.result()
        except ConverterError as exc:
            if job.error is None:
                job.error = str(exc)
            if index >= 0:
                job.pending -= 1
            job.listed = True
            return
        if index == _WHOLE:
            if result is None:  # not taken whole: search and fetch its series
                self.inflight[pool.submit(self.source.search_series, job.study.uid)] = \
                    (job, _LIST)
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


def snapshot(
    source: DicomWebSource,
    selection: Selection,
    urls: InstanceUrls,
    store: Store,
    *,
    workers: int = DEFAULT_WORKERS,
    keep_private: bool = False,
    warn: Warn | None = None,
    events: Events | None = None,
    studies: list[PlannedStudy] | None = None,
    by_study: bool | None = None,
) -> Report:
    """Fetch, map, build and store every selected study; returns the summary.

    A study that fails (server error after retries, unusable metadata, a UID
    unsafe in a file name or URL, :mod:`converter.uids`) is reported in
    ``Report.failed`` and gets no output; the run goes on. ``studies`` skips
    the planning step when already known.
    ``by_study`` asks for each study's metadata in one request where it can
    (see :data:`STUDY_REQUEST_MAX`); by default when there are at least twice
    as many studies as workers, so that the workers still share the work.
    """
    planned = studies if studies is not None else plan(source, selection)
    if events:
        events.planned(planned)
    workers = max(1, workers)
    if by_study is None:
        by_study = len(planned) >= 2 * workers
    run = _Run(source, urls, store, workers=workers, keep_private=keep_private,
               warn=warn, events=events, by_study=by_study)
    with _few_collections():
        try:
            report = run.run(planned)
        except BaseException:
            store.abort()  # keep what is complete, write nothing partial
            raise
        report.bytes += store.close()
    return report


@contextmanager
def _few_collections() -> Iterator[None]:
    """Run the cyclic garbage collector rarely while metadata streams through.

    A study's metadata is millions of small acyclic dicts and lists, freed by
    reference counting; the default thresholds make the collector rescan them
    over and over (measured: half of the parse time). Restored afterwards.
    """
    before = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(100_000, 50, 50)
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()
