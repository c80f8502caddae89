"""Where launch files go: one file, or a folder of per-study files with an index.

A folder holds ``<StudyInstanceUID>.json`` (or ``.json.gz``) per study and
``index.json``, the study list a worklist or static site reads. Every file is
written atomically (temporary file + rename), so an interrupted run leaves only
complete files, and the next run skips the studies that are done.
"""

from __future__ import annotations

import gzip
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from converter.errors import OutputError
from converter.launch.encoding import dumps, launch_file
from converter.launch.model import Study
from converter.output.atomic import write_atomic
from converter.output.study_list import INDEX_FIELDS, write_study_list
from converter.output.targets import LocalTarget, Target
from converter.uids import UNSAFE, is_safe_uid, shown

INDEX_NAME = "index.json"
FLUSH_SECONDS = 2.0
"""How often the index is rewritten during a run (and always at the end)."""


class Store(Protocol):
    """What the snapshot run writes into."""

    def up_to_date(self, study_uid: str, server_instances: int | None) -> bool:
        """True when this study was written before with the same instance count."""
        ...

    def write(self, study: Study) -> int:
        """Store one finished study; returns the bytes written (0 if kept for later)."""
        ...

    def close(self) -> int:
        """Finish (write what is pending); returns bytes written by the close."""
        ...

    def abort(self) -> None:
        """The run was interrupted: keep what is complete, write nothing partial."""
        ...


def gzip_bytes(data: bytes) -> bytes:
    """Deterministic gzip (no file name, mtime 0): same input, same bytes."""
    return gzip.compress(data, compresslevel=6, mtime=0)


@dataclass
class InMemory:
    """Every study kept in memory until the end, in selection order: the launch file as a
    document (``{"studies": [...]}``) for a caller that wants it, not a file."""

    order: list[str]
    studies: dict[str, Study] = field(default_factory=dict)

    def up_to_date(self, study_uid: str, server_instances: int | None) -> bool:
        return False

    def write(self, study: Study) -> int:
        self.studies[study.uid] = study
        return 0

    def ordered(self) -> list[Study]:
        return [self.studies[u] for u in self.order if u in self.studies]

    def document(self) -> dict[str, Any]:
        return launch_file(self.ordered())

    def close(self) -> int:
        return 0

    def abort(self) -> None:
        """Nothing was written anywhere."""


@dataclass
class SingleFile(InMemory):
    """All studies in one launch file (or stdout), written once at the end in selection order."""

    path: Path | None = None
    indent: int | None = None
    sink: Callable[[bytes], None] | None = None

    def close(self) -> int:
        ordered = self.ordered()
        if not ordered:
            return 0  # every study failed: no file rather than an empty one
        data = dumps(launch_file(ordered), indent=self.indent)
        del ordered
        self.studies.clear()  # written: nothing holds the studies any longer
        if self.path is None:
            if self.sink is not None:
                self.sink(data)
        else:
            write_atomic(self.path, data)
        return len(data)

    def abort(self) -> None:
        """One file holds every study: an interrupted run writes none of it."""


class StudyFolder:
    """A folder (local or object storage) of per-study launch files plus an index (resumable).

    Parameters
    ----------
    target:
        Where the files go (:mod:`converter.output.targets`).
    compress:
        Write ``.json.gz`` (deterministic gzip) instead of ``.json``.
    force:
        Rewrite studies even when they are up to date.
    index_name:
        ``index.json``, or ``index-K-of-N.json`` for shard K of N.
    owns:
        Which study UIDs belong to this run (a shard); others' files are left alone.
    study_list:
        The viewer base of the study list page (``index.html``, written with the
        index when the run ends, :mod:`converter.output.study_list`); None: no page.
    warn:
        Told about index entries recovered from files (after a hard kill).
    """

    def __init__(
        self,
        target: Target | Path,
        *,
        compress: bool = False,
        force: bool = False,
        indent: int | None = None,
        index_name: str = INDEX_NAME,
        owns: Callable[[str], bool] | None = None,
        study_list: str | None = None,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        if isinstance(target, Path):
            target = LocalTarget(target)
        self.target = target
        self.compress = compress
        self.force = force
        self.indent = indent
        self.index_name = index_name
        self.owns = owns or (lambda uid: True)
        self.study_list = study_list
        self.warn = warn
        self._dirty = False
        self.entries: dict[str, dict[str, Any]] = read_index(target, index_name, warn)
        self._recover()
        self._flushed = time.monotonic()

    # -- names -----------------------------------------------------------------

    def file_name(self, study_uid: str) -> str:
        """``<uid>.json[.gz]`` for a safe UID; anything else is refused (path safety).

        A safe UID (:func:`converter.uids.is_safe_uid`) has no separator, no
        ``..``, no leading dot and is not an index file's stem, so the name
        stays inside the folder and never replaces the index.
        """
        if not is_safe_uid(study_uid):
            raise OutputError(
                f"study UID {shown(study_uid)} is {UNSAFE}; not used as a file name, study skipped"
            )
        return f"{study_uid}.json.gz" if self.compress else f"{study_uid}.json"

    # -- index -----------------------------------------------------------------

    def _recover(self) -> None:
        """Add entries for this run's study files the index lacks (a kill before a flush)."""
        for name in self.target.names():
            uid = study_uid_of(name)
            if uid is None or not self.owns(uid):
                continue
            entry = self.entries.get(uid)
            if entry is not None and entry.get("file") == name:
                continue
            recovered = entry_from_file(self.target, name)
            if recovered is None:
                continue  # not ours, or damaged: it will be rewritten
            self.entries[uid] = recovered
            if self.warn:
                self.warn(f"index entry for {name} recovered from the file")
            self._dirty = True

    def flush(self) -> None:
        """Rewrite the index atomically."""
        write_index(self.target, self.index_name, self.entries)
        self._dirty = False
        self._flushed = time.monotonic()

    # -- Store -----------------------------------------------------------------

    def up_to_date(self, study_uid: str, server_instances: int | None) -> bool:
        if self.force or server_instances is None:
            return False
        entry = self.entries.get(study_uid)
        if entry is None or entry.get("NumInstances") != server_instances:
            return False
        return self.target.exists(str(entry.get("file")))

    def write(self, study: Study) -> int:
        name = self.file_name(study.uid)
        data = dumps(launch_file([study]), indent=self.indent)
        if self.compress:
            data = gzip_bytes(data)
        self.target.write(
            name,
            data,
            content_type="application/json",
            content_encoding="gzip" if self.compress else None,
        )
        old = self.entries.get(study.uid)
        if old is not None and old.get("file") != name:
            self.target.remove(str(old.get("file")))
        fields = {**study.fields, "NumSeries": len(study.series)}
        self.entries[study.uid] = make_entry(fields, name, time.time())
        self._dirty = True
        if time.monotonic() - self._flushed >= FLUSH_SECONDS:
            self.flush()
        return len(data)

    def close(self) -> int:
        if self._dirty or not self.target.exists(self.index_name):
            self.flush()
        self._write_study_list()
        return 0  # like the index, the page is not counted as launch file bytes

    def abort(self) -> None:
        """Index the studies completed so far, so a re-run skips them."""
        if self._dirty:
            self.flush()
            self._write_study_list()

    def _write_study_list(self) -> None:
        """The page of the index as written (once per run: at 100,000 studies it is large)."""
        if self.study_list is not None:
            write_study_list(self.target, self.entries.values(), self.study_list)


# -- index files (shared by runs, shards and the `index` command) -------------

_PARTIAL_INDEX = re.compile(r"^index-(\d+)-of-(\d+)\.json$")


def study_uid_of(name: str) -> str | None:
    """The study UID a launch file name stands for, or None for other files.

    The inverse of :meth:`StudyFolder.file_name`: any safe UID, conformant to
    PS3.5 9.1 or not; never an index file (``index.json``, ``index-K-of-N.json``).
    """
    for suffix in (".json.gz", ".json"):
        if name.endswith(suffix):
            uid = name[: -len(suffix)]
            return uid if is_safe_uid(uid) else None
    return None


def make_entry(fields: dict[str, Any], name: str, when: float) -> dict[str, Any]:
    """One study's line of the index: its summary fields, file name and write time."""
    entry = {k: fields.get(k) for k in INDEX_FIELDS}
    entry["file"] = name
    entry["written"] = datetime.fromtimestamp(when, UTC).isoformat(timespec="seconds")
    return entry


def entry_from_file(target: Target, name: str) -> dict[str, Any] | None:
    """Rebuild an index entry from a launch file, or None if it is not one study's file.

    The file must hold exactly the study its name stands for: a launch file of
    several studies (``all.json``) next to the study files is not indexed as a
    study called ``all``.
    """
    raw = target.read(name)
    if raw is None:
        return None
    try:
        document = json.loads(gzip.decompress(raw) if name.endswith(".gz") else raw)
        studies = document["studies"]
        if len(studies) != 1 or studies[0]["StudyInstanceUID"] != study_uid_of(name):
            return None
        series = studies[0].get("series")
        fields = {**studies[0], "NumSeries": len(series) if isinstance(series, list) else None}
        return make_entry(fields, name, time.time())
    except (ValueError, KeyError, IndexError, TypeError, EOFError, OSError):
        return None


def read_index(
    target: Target, name: str, warn: Callable[[str], None] | None = None
) -> dict[str, dict[str, Any]]:
    """The entries of one index file (empty if missing; warned about if damaged)."""
    raw = target.read(name)
    if raw is None:
        return {}
    try:
        studies = json.loads(raw)["studies"]
        return {str(e["StudyInstanceUID"]): e for e in studies if isinstance(e, dict)}
    except (ValueError, KeyError, TypeError):
        if warn:
            warn(f"{name} in {target.description} is not a valid index; rebuilding it")
        return {}


def write_index(target: Target, name: str, entries: dict[str, dict[str, Any]]) -> None:
    """Write an index atomically, studies ordered by date, time and UID."""
    ordered = sorted(
        entries.values(),
        key=lambda e: (
            str(e.get("StudyDate") or ""),
            str(e.get("StudyTime") or ""),
            str(e.get("StudyInstanceUID")),
        ),
    )
    data = json.dumps({"studies": ordered}, ensure_ascii=False, indent=1) + "\n"
    target.write(name, data.encode("utf-8"), content_type="application/json", content_encoding=None)


def merge_indexes(
    target: Target, warn: Callable[[str], None] | None = None, study_list: str | None = None
) -> int:
    """Merge ``index.json``, every ``index-K-of-N.json`` and unindexed study files.

    Entries whose file is gone are dropped; the newest entry of a study wins.
    With ``study_list`` (a viewer base), the study list page is written after it.
    Returns the number of studies in the merged ``index.json``.
    """
    names = target.names()
    merged: dict[str, dict[str, Any]] = {}
    for name in [INDEX_NAME, *sorted(n for n in names if _PARTIAL_INDEX.match(n))]:
        for uid, entry in read_index(target, name, warn).items():
            if uid not in merged or str(entry.get("written")) > str(merged[uid].get("written")):
                merged[uid] = entry
    present = set(names)
    merged = {u: e for u, e in merged.items() if e.get("file") in present}
    for file_name in names:
        file_uid = study_uid_of(file_name)
        if file_uid is not None and (
            file_uid not in merged or merged[file_uid].get("file") != file_name
        ):
            recovered = entry_from_file(target, file_name)
            if recovered is not None:
                merged[file_uid] = recovered
                if warn:
                    warn(f"{file_name} had no index entry; added")
    write_index(target, INDEX_NAME, merged)
    if study_list is not None:
        write_study_list(target, merged.values(), study_list)
    return len(merged)
