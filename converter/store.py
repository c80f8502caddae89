"""Where launch files go: one file, or a folder of per-study files with an index.

A folder holds ``<StudyInstanceUID>.json`` (or ``.json.gz``) per study and
``index.json``, the study list a worklist or static site reads. Every file is
written atomically (temporary file + rename), so an interrupted run leaves only
complete files, and the next run skips the studies that are done.
"""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from converter.errors import OutputError
from converter.writer import Study, dumps, is_valid_uid, launch_file, write_atomic

INDEX_NAME = "index.json"
INDEX_FIELDS = ("StudyInstanceUID", "PatientName", "PatientID", "StudyDate", "StudyTime",
                "StudyDescription", "AccessionNumber", "Modalities", "NumInstances")
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
class SingleFile:
    """All studies in one launch file (or stdout), written once at the end in selection order."""

    path: Path | None
    order: list[str]
    indent: int | None = None
    sink: Callable[[bytes], None] | None = None
    studies: dict[str, Study] = field(default_factory=dict)

    def up_to_date(self, study_uid: str, server_instances: int | None) -> bool:
        return False

    def write(self, study: Study) -> int:
        self.studies[study.uid] = study
        return 0

    def close(self) -> int:
        ordered = [self.studies[u] for u in self.order if u in self.studies]
        if not ordered:
            return 0  # every study failed: no file rather than an empty one
        data = dumps(launch_file(ordered), indent=self.indent)
        if self.path is None:
            if self.sink is not None:
                self.sink(data)
        else:
            write_atomic(self.path, data)
        return len(data)

    def abort(self) -> None:
        """One file holds every study: an interrupted run writes none of it."""


class StudyFolder:
    """A folder of per-study launch files plus ``index.json`` (resumable).

    Parameters
    ----------
    folder:
        Created if missing (its parent must exist).
    compress:
        Write ``.json.gz`` (deterministic gzip) instead of ``.json``.
    force:
        Rewrite studies even when they are up to date.
    warn:
        Told about index entries recovered from files (after a hard kill).
    """

    def __init__(self, folder: Path, *, compress: bool = False, force: bool = False,
                 indent: int | None = None, warn: Callable[[str], None] | None = None) -> None:
        self.folder = folder
        self.compress = compress
        self.force = force
        self.indent = indent
        self.warn = warn
        if folder.exists() and not folder.is_dir():
            raise OutputError(f"{folder} exists and is not a folder")
        if not folder.parent.is_dir():
            raise OutputError(f"cannot create {folder}: folder {folder.parent} does not exist")
        try:
            folder.mkdir(exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create {folder}: {exc.strerror}") from exc
        self._remove_stale_temporaries()
        self.entries: dict[str, dict[str, Any]] = self._load_index()
        self._recover()
        self._dirty = False
        self._flushed = time.monotonic()

    # -- names -----------------------------------------------------------------

    def file_name(self, study_uid: str) -> str:
        """``<uid>.json[.gz]`` for a valid UID; anything else is refused (path safety)."""
        if not is_valid_uid(study_uid):
            raise OutputError(
                f"study UID {study_uid[:80]!r} from the server is not a valid DICOM UID "
                "(PS3.5 9.1); not used as a file name, study skipped"
            )
        return f"{study_uid}.json.gz" if self.compress else f"{study_uid}.json"

    def _remove_stale_temporaries(self) -> None:
        """Delete ``.<name>.*.part`` files a hard-killed run left (see ``write_atomic``)."""
        for path in self.folder.glob(".*.part"):
            if path.is_file():
                path.unlink(missing_ok=True)

    # -- index -----------------------------------------------------------------

    def _load_index(self) -> dict[str, dict[str, Any]]:
        path = self.folder / INDEX_NAME
        if not path.exists():
            return {}
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            studies = document["studies"]
            return {str(e["StudyInstanceUID"]): e for e in studies if isinstance(e, dict)}
        except (OSError, ValueError, KeyError, TypeError):
            if self.warn:
                self.warn(f"{path} is not a valid index; rebuilding it from the study files")
            return {}

    def _recover(self) -> None:
        """Add entries for study files the index lacks (a run killed before its index flush)."""
        for path in sorted(self.folder.iterdir()):
            name = path.name
            uid = name.removesuffix(".gz").removesuffix(".json")
            if name == INDEX_NAME or name.startswith(".") or uid == name or not is_valid_uid(uid):
                continue
            entry = self.entries.get(uid)
            if entry is not None and entry.get("file") == name:
                continue
            try:
                raw = path.read_bytes()
                document = json.loads(gzip.decompress(raw) if name.endswith(".gz") else raw)
                study = document["studies"][0]
            except (OSError, ValueError, KeyError, IndexError, TypeError, EOFError):
                continue  # not ours, or damaged: it will be rewritten
            self.entries[uid] = self._entry(study, name, path.stat().st_mtime)
            if self.warn:
                self.warn(f"index entry for {name} recovered from the file")
            self._dirty = True

    @staticmethod
    def _entry(fields: dict[str, Any], name: str, when: float) -> dict[str, Any]:
        entry = {k: fields.get(k) for k in INDEX_FIELDS}
        entry["file"] = name
        entry["written"] = datetime.fromtimestamp(when, UTC).isoformat(timespec="seconds")
        return entry

    def flush(self) -> None:
        """Rewrite ``index.json`` atomically, studies ordered by date, time and UID."""
        ordered = sorted(self.entries.values(), key=lambda e: (
            str(e.get("StudyDate") or ""), str(e.get("StudyTime") or ""),
            str(e.get("StudyInstanceUID"))))
        data = json.dumps({"studies": ordered}, ensure_ascii=False, indent=1) + "\n"
        write_atomic(self.folder / INDEX_NAME, data.encode("utf-8"))
        self._dirty = False
        self._flushed = time.monotonic()

    # -- Store -----------------------------------------------------------------

    def up_to_date(self, study_uid: str, server_instances: int | None) -> bool:
        if self.force or server_instances is None:
            return False
        entry = self.entries.get(study_uid)
        if entry is None or entry.get("NumInstances") != server_instances:
            return False
        return (self.folder / str(entry.get("file"))).is_file()

    def write(self, study: Study) -> int:
        name = self.file_name(study.uid)
        data = dumps(launch_file([study]), indent=self.indent)
        if self.compress:
            data = gzip_bytes(data)
        write_atomic(self.folder / name, data)
        old = self.entries.get(study.uid)
        if old is not None and old.get("file") != name:
            (self.folder / str(old.get("file"))).unlink(missing_ok=True)
        self.entries[study.uid] = self._entry(dict(study.fields), name, time.time())
        self._dirty = True
        if time.monotonic() - self._flushed >= FLUSH_SECONDS:
            self.flush()
        return len(data)

    def close(self) -> int:
        if self._dirty or not (self.folder / INDEX_NAME).exists():
            self.flush()
        return 0

    def abort(self) -> None:
        """Index the studies completed so far, so a re-run skips them."""
        if self._dirty:
            self.flush()
