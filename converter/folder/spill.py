"""Mapped metadata parked on disk, study by study, so that ``folder`` into a directory keeps
one study in memory at a time however big the archive is.

A folder's files come in any order (a study's instances may be spread over the whole
tree), so no study is known to be complete before the last file is read. Each mapped
instance is appended to one temporary file as it arrives (pickle: Python values back
exactly as they went in, big integers and float bits included); what stays in memory
is where each study's records are and the identity UIDs (for duplicates, URLs and the
non-conformant-UID note). Afterwards each study is read back, built and handed over,
in the order its first file was read.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from array import array
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any


class Spill:
    """An append-only record file in a private temporary folder, removed on :meth:`close`."""

    def __init__(self, folder: Path | None = None) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="dicomweb2ohif-folder-", dir=folder)
        self._file = open(Path(self._folder.name, "metadata.pickle"), "w+b")
        # Per study: each record's series UID (the caller's string, shared) and, in an
        # array of 8-byte integers, its end offset: about 16 bytes of memory a record.
        self._series: dict[str, list[str]] = {}
        self._ends: dict[str, array[int]] = {}
        self._end = 0

    def add(self, study_uid: str, series_uid: str, metadata: dict[str, Any]) -> None:
        data = pickle.dumps(metadata, protocol=pickle.HIGHEST_PROTOCOL)
        self._file.write(data)
        start = self._end
        self._end += len(data)
        if study_uid not in self._ends:
            self._series[study_uid], self._ends[study_uid] = [], array("q")
        self._series[study_uid].append(series_uid)
        self._ends[study_uid].extend((start, self._end))

    def study_uids(self) -> list[str]:
        """Every study, in the order its first instance was added."""
        return list(self._ends)

    def series_of(self, study_uid: str) -> list[list[dict[str, Any]]]:
        """One study's instances read back, grouped by series in the order they were added."""
        self._file.flush()
        fd = self._file.fileno()
        groups: dict[str, list[dict[str, Any]]] = {}
        ends = self._ends[study_uid]
        for n, series_uid in enumerate(self._series[study_uid]):
            start, end = ends[2 * n], ends[2 * n + 1]
            record = pickle.loads(os.pread(fd, end - start, start))  # our own file
            groups.setdefault(series_uid, []).append(record)
        return list(groups.values())

    def studies(self) -> Iterator[tuple[str, list[list[dict[str, Any]]]]]:
        for uid in self.study_uids():
            yield uid, self.series_of(uid)

    def close(self) -> None:
        self._file.close()
        self._folder.cleanup()

    def __enter__(self) -> Spill:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
