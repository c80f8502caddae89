"""Which studies a snapshot takes: the selection (UIDs or a QIDO-RS filter, PS3.18
10.6), this shard's share of them, and the plan paged from the server's study list.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from converter.errors import (
    NotFoundError,
    UsageError,
    arg,
)
from converter.mapping.ps3_18 import first_value
from converter.output.store import INDEX_NAME
from converter.source.client import DicomWebSource
from converter.source.query import StudyFilter
from converter.uids import RULE, UNSAFE, is_safe_uid


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
    def index_name(self) -> str:
        """The study list this shard writes (``index.json`` when there is one shard)."""
        return INDEX_NAME if self.count == 1 else f"index-{self.index}-of-{self.count}.json"

    @property
    def label(self) -> str:
        return f"shard {self.index} of {self.count}"

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``"K/N"``: shard K of N (the command line's ``--shard``)."""
        index, sep, count = text.partition("/")
        if not sep or not index.isdigit() or not count.isdigit():
            raise UsageError(f"{arg('shard')} {text!r}: give K/N, e.g. 0/4")
        return cls(int(index), int(count))

    @classmethod
    def from_environment(
        cls, environ: Mapping[str, str], count: int | None = None
    ) -> tuple[Shard, str] | None:
        """The shard a batch engine assigned, and the variable it came from.

        Kubernetes Indexed Jobs set ``JOB_COMPLETION_INDEX`` (the count comes from
        ``count`` or ``DICOMWEB2OHIF_SHARDS``); Slurm job arrays set
        ``SLURM_ARRAY_TASK_ID``/``SLURM_ARRAY_TASK_COUNT`` (and ``_MIN`` when the
        array does not start at 0).
        """
        if "JOB_COMPLETION_INDEX" in environ:
            total = count or _env_int(environ, "DICOMWEB2OHIF_SHARDS")
            if total is None:
                raise UsageError(
                    f"JOB_COMPLETION_INDEX is set: give {arg('count=N')} "
                    "(or DICOMWEB2OHIF_SHARDS) with the Job's completions"
                )
            return cls(
                _env_int(environ, "JOB_COMPLETION_INDEX") or 0, total
            ), "JOB_COMPLETION_INDEX"
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
                raise UsageError(
                    f"{arg('studies')} {uid!r} is {UNSAFE} (a study UID here has {RULE})"
                )
        if self.study_uids and not self.study_filter.is_empty():
            raise UsageError(f"give either {arg('studies=UIDs')} or filters, not both")
        if self.limit is not None and self.limit < 1:
            raise UsageError(f"{arg('limit')} must be at least 1")


@dataclass(frozen=True)
class PlannedStudy:
    """A selected study: its UID and what QIDO said about it (for resume and progress)."""

    uid: str
    instances: int | None
    date: str = ""
    time: str = ""


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
    return PlannedStudy(
        uid,
        _as_count(first_value(record, "00201208")),
        str(first_value(record, "00080020") or ""),
        str(first_value(record, "00080030") or ""),
    )


def plan(
    source: DicomWebSource, selection: Selection, *, page_size: int = 500
) -> list[PlannedStudy]:
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
