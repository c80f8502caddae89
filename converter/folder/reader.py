"""Folder mode: a tree of local DICOM files -> the studies of an OHIF launch file.

What OHIF's ``.scripts/dicom-json-generator.js`` does, on the same pipeline as
``snapshot``: each file's header becomes PS3.18 JSON (:mod:`converter.folder.part10`),
the mapper names and converts it, the writer builds studies, series and frame
entries. Each instance links to ``<URL prefix><its path under the folder>``,
every path segment URL-quoted. Unlike the generator, one broken file does not
lose the others: files that are not DICOM, are unreadable, lack a UID or have
one unsafe in a file name or URL (:mod:`converter.uids`) are skipped and
reported, and an instance found twice is kept once. A study whose UIDs are safe
but not conformant to PS3.5 9.1 is kept, with one warning.

Nothing here prints: per-file problems and warnings come back in
:class:`FolderResult`. Reading is spread over worker processes (pydicom is pure
Python, so threads would not help); the result does not depend on their number.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from converter.errors import InputError, UnreadableFileError, UsageError, arg
from converter.folder.part10 import BulkData, read_header
from converter.folder.result import Duplicate, FolderResult, Skipped, describe_skipped
from converter.folder.spill import Spill
from converter.launch.model import Study, build_study
from converter.mapping.mapper import map_dataset
from converter.mapping.palette import repair, tagged_problem
from converter.uids import IDENTITY, UNSAFE, is_safe_uid, nonconformant_note, shown

Progress = Callable[[int, int], None]
"""Called as files are read: (files done, files in all)."""

LARGE_DOCUMENT = 10 * 2**20
"""Bytes of an inline document above which a warning says how it weighs on the file."""
_MIN_FILES_PER_WORKER = 64


# --- URLs ---------------------------------------------------------------------


def check_prefix(prefix: str) -> str:
    """The ``url_prefix``: an http(s) URL or a relative path, ending with ``/``.

    A viewer fetches the files with XHR, so other schemes cannot work; a query
    or fragment would end up in front of the file path; credentials would be
    published in the launch file. ``""`` makes the paths themselves the URLs
    (relative to the viewer's page).
    """
    parts = urlsplit(prefix)
    if parts.scheme and parts.scheme not in ("http", "https"):
        raise UsageError(
            f"{arg('url_prefix')} {prefix!r}: use an http(s) URL or a relative path "
            "(the viewer fetches the files over HTTP)"
        )
    if parts.scheme and not parts.netloc:
        raise UsageError(f"{arg('url_prefix')} {prefix!r} has no host")
    if parts.username or parts.password:
        raise UsageError(
            f"{arg('url_prefix')} must not contain credentials: they would be written "
            "into the launch file for every viewer to read"
        )
    if parts.query or parts.fragment or "?" in prefix or "#" in prefix:
        raise UsageError(
            f"{arg('url_prefix')} {prefix!r}: no query or fragment; the file path is appended to it"
        )
    return prefix if not prefix or prefix.endswith("/") else prefix + "/"


def file_url(prefix: str, relative: str) -> str:
    """``prefix`` + the ``/``-separated relative path, each segment percent-encoded.

    Segments are quoted from their bytes on disk (RFC 3986 2.1), so spaces,
    ``#``, ``?``, ``%`` and non-UTF-8 names reach the server as they are stored.
    """
    return prefix + "/".join(quote(os.fsencode(part), safe="") for part in relative.split("/"))


@dataclass(frozen=True)
class FolderUrls:
    """:class:`~converter.launch.urls.InstanceUrls` for files under one folder (by SOP
    Instance UID).

    ``document`` is None: a static file host returns the Part 10 file, not the
    PDF, so the document travels inline instead (:class:`~converter.folder.part10.BulkData`).
    """

    prefix: str
    paths: Mapping[str, str]

    def instance(self, study: str, series: str, instance: str) -> str:
        return file_url(self.prefix, self.paths[instance])

    def document(self, study: str, series: str, instance: str) -> str | None:
        return None


# --- walking ------------------------------------------------------------------


def list_files(root: Path, exclude: Path | None = None) -> list[str]:
    """Every regular file under ``root`` as a ``/``-separated relative path, in a fixed order.

    Names are sorted at each level; hidden entries (``.DS_Store``, ``.git``) are
    left out, symbolic links to folders are not followed (no loops), and
    ``exclude`` (the launch file being written, when it is inside ``root``) is
    skipped.
    """
    skip = exclude.resolve() if exclude is not None else None
    out: list[str] = []

    def walk(folder: Path, prefix: str) -> None:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            raise InputError(f"cannot list {folder}: {exc.strerror}") from exc
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            if skip is not None and path.resolve() == skip:
                continue
            if entry.is_dir(follow_symlinks=False):
                walk(path, f"{prefix}{entry.name}/")
            elif entry.is_file():
                out.append(prefix + entry.name)

    walk(root, "")
    return out


# --- reading (in worker processes) ----------------------------------------------


@dataclass(frozen=True)
class _Job:
    root: str
    prefix: str
    keep_private: bool
    inline_documents: bool


@dataclass(frozen=True)
class _Loaded:
    path: str
    metadata: dict[str, Any] | None = None
    problem: str = ""
    not_dicom: bool = False
    warnings: tuple[str, ...] = ()


_JOB: _Job | None = None


def _init_worker(job: _Job) -> None:
    global _JOB
    _JOB = job
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C


def _load_in_worker(relative: str) -> _Loaded:
    assert _JOB is not None
    return load(_JOB, relative)


def load(job: _Job, relative: str) -> _Loaded:
    """Read, encode and map one file: the per-file work, the same in every process."""
    url = file_url(job.prefix, relative)
    bulk = BulkData(url, inline_documents=job.inline_documents)
    try:
        header = read_header(Path(job.root, relative), bulk, keep_private=job.keep_private)
    except UnreadableFileError as exc:
        return _Loaded(relative, problem=str(exc), not_dicom=exc.not_dicom)
    notes = list(header.warnings)
    problem = tagged_problem(header.dataset)
    if problem is not None:  # segmented tables, or a file without a usable palette
        failure = repair(header.dataset, header.dataset)
        if failure:
            notes.append(
                f"the {problem} ({failure}): OHIF cannot show this image and may "
                "show an error for every study of the launch file"
            )
    try:
        metadata = map_dataset(header.dataset, keep_private=job.keep_private, warn=notes.append)
    except Exception as exc:  # a file must never stop the run
        return _Loaded(relative, problem=f"{type(exc).__name__}: {exc}")
    missing = [k for k in IDENTITY if not isinstance(metadata.get(k), str) or not metadata[k]]
    if missing:
        return _Loaded(relative, problem=f"no {' or '.join(missing)}")
    unsafe = [k for k in IDENTITY if not is_safe_uid(metadata[k])]
    if unsafe:  # it would go into a file name (folder output) or a viewer's URL
        return _Loaded(relative, problem=f"{unsafe[0]} {shown(metadata[unsafe[0]])} is {UNSAFE}")
    document = metadata.get("EncapsulatedDocument")
    if isinstance(document, dict):
        if "BulkDataURI" in document:
            notes.append(
                "encapsulated document written as a BulkDataURI "
                "(documents not inlined): OHIF cannot open it"
            )
        elif len(document.get("InlineBinary") or "") * 3 // 4 > LARGE_DOCUMENT:
            notes.append(
                f"encapsulated document of more than {LARGE_DOCUMENT // 2**20} MiB "
                "carried inline: the launch file grows by a third more than that"
            )
    return _Loaded(relative, metadata, warnings=tuple(notes))


def _results(job: _Job, files: list[str], jobs: int) -> Iterator[_Loaded]:
    """Loaded files in ``files`` order, from ``jobs`` worker processes (1: this one)."""
    jobs = max(1, min(jobs, len(files) // _MIN_FILES_PER_WORKER))
    if jobs == 1:
        for relative in files:
            yield load(job, relative)
        return
    # Never plain fork: this process may have threads (a progress display, a
    # caller's), and a child forked while one holds a lock can hang forever.
    # A fork server starts clean, with this module already imported.
    context: multiprocessing.context.BaseContext
    if "forkserver" in multiprocessing.get_all_start_methods():
        server = multiprocessing.get_context("forkserver")
        server.set_forkserver_preload(["converter.folder.reader"])
        context = server
    else:
        context = multiprocessing.get_context("spawn")
    chunk = max(1, min(32, len(files) // (jobs * 8)))
    pool = ProcessPoolExecutor(jobs, mp_context=context, initializer=_init_worker, initargs=(job,))
    try:
        yield from pool.map(_load_in_worker, files, chunksize=chunk)
    except BrokenProcessPool as exc:  # a process killed, e.g. out of memory
        raise InputError(
            "a process reading files stopped unexpectedly; run again with "
            f"{arg('jobs=1')} to see which file stops it"
        ) from exc
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # Ctrl-C: no waiting for the rest


def _study_key(study: Study) -> tuple[str, str, str]:
    f = study.fields
    return (str(f.get("StudyDate") or ""), str(f.get("StudyTime") or ""), study.uid)


def read_folder(
    root: Path,
    prefix: str,
    *,
    keep_private: bool = False,
    inline_documents: bool = True,
    jobs: int = 1,
    exclude: Path | None = None,
    progress: Progress | None = None,
    spill: Spill | None = None,
) -> FolderResult:
    """Read every DICOM file under ``root`` into studies (ordered by date, time, UID).

    Parameters
    ----------
    prefix:
        Checked with :func:`check_prefix`; each url is ``prefix`` + the quoted path.
    inline_documents:
        Carry encapsulated PDFs inline (OHIF opens them from a ``blob:`` URL);
        without it they are a BulkDataURI naming the file, which OHIF cannot open.
    jobs:
        Worker processes for reading (files are spread only when there are many).
    spill:
        Park each mapped instance there instead of in memory: memory stays flat
        however many files there are, and :meth:`FolderResult.iter_studies`
        builds the studies one at a time (for writing each to its own file).

    Raises
    ------
    InputError
        ``root`` is not a folder, or no file under it is a usable DICOM instance
        (the message counts and names the skipped files).
    """
    if not root.is_dir():
        raise InputError(f"{root} is not a folder")
    prefix = check_prefix(prefix)
    files = list_files(root, exclude)
    job = _Job(str(root), prefix, keep_private, inline_documents)
    result = FolderResult([], len(files), 0)
    kept: dict[str, str] = {}
    groups: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    parked: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    step = max(1, len(files) // 200)
    for done, loaded in enumerate(_results(job, files, jobs), start=1):
        if progress is not None and (done % step == 0 or done == len(files)):
            progress(done, len(files))
        for text in loaded.warnings:
            result.warnings.setdefault(text, []).append(loaded.path)
        md = loaded.metadata
        if md is None:
            result.skipped.append(Skipped(loaded.path, loaded.problem, loaded.not_dicom))
            continue
        sop = md["SOPInstanceUID"]
        if sop in kept:
            result.duplicates.append(Duplicate(loaded.path, kept[sop], sop))
            continue
        kept[sop] = loaded.path
        study_uid, series_uid = md["StudyInstanceUID"], md["SeriesInstanceUID"]
        if spill is None:
            groups[study_uid][series_uid].append(md)
        else:  # only the identity stays in memory
            spill.add(study_uid, series_uid, md)
            parked[study_uid][series_uid].append(sop)
    if not kept:
        raise InputError(
            f"no DICOM instance could be read under {root}: "
            f"{describe_skipped(result.skipped, len(files))}"
        )
    urls = FolderUrls(prefix, kept)
    for study_uid in groups or parked:
        series = groups[study_uid] if spill is None else _identities(parked[study_uid])
        note = nonconformant_note(study_uid, series.values())
        if note is not None:
            result.warnings[note] = [
                kept[md["SOPInstanceUID"]] for group in series.values() for md in group
            ]
    result.instances = len(kept)
    if spill is not None:
        result.spill, result.urls, result.study_uids = spill, urls, list(parked)
        return result
    studies = [
        build_study(list(series.values()), urls, study_uid) for study_uid, series in groups.items()
    ]
    result.studies = sorted(studies, key=_study_key)
    result.study_uids = [study.uid for study in result.studies]
    return result


def _identities(by_series: Mapping[str, list[str]]) -> dict[str, list[dict[str, Any]]]:
    """A parked study's identity UIDs as instance metadata, for :func:`nonconformant_note`
    (built for the moment, one study at a time)."""
    return {
        series: [{"SeriesInstanceUID": series, "SOPInstanceUID": sop} for sop in sops]
        for series, sops in by_series.items()
    }
