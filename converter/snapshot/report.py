"""What a snapshot tells its caller while it runs (:class:`Events`) and when it is done
(:class:`SnapshotReport`); nothing here prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from converter.errors import ConverterError
from converter.snapshot.selection import (
    PlannedStudy,
)


class Events(Protocol):
    """Progress of a run (the CLI draws it; tests record it)."""

    def planned(self, studies: list[PlannedStudy]) -> None: ...

    def study(self, uid: str, status: str, instances: int, message: str = "") -> None:
        """``status`` is ``written``, ``skipped`` or ``failed``."""
        ...


@dataclass(frozen=True)
class StudyFailure:
    """A study that got no output, and why.

    ``error`` keeps its kind: :class:`~converter.errors.ServerError` (the server
    failed after retries, or its answer was unusable, e.g. a series listed and
    then not found), :class:`~converter.errors.MappingError` (an element that
    cannot be mapped), :class:`~converter.errors.UnsafeUidError` (a UID that
    cannot go into a file name or URL), :class:`~converter.errors.NotFoundError`
    (no instance metadata at all), :class:`~converter.errors.OutputError`.
    """

    uid: str
    error: ConverterError

    @property
    def message(self) -> str:
        return str(self.error)


@dataclass
class SnapshotReport:
    """What a run did: studies written, skipped (up to date in a folder) and failed.

    ``document`` is the launch file itself (``{"studies": [...]}``) when the run
    kept it in memory (:func:`converter.snapshot_server` without ``output``).
    """

    written: int = 0
    skipped: int = 0
    failures: list[StudyFailure] = field(default_factory=list)
    instances: int = 0
    bytes: int = 0
    seconds: float = 0.0
    document: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        """No study failed and at least one was written or already up to date."""
        return not self.failures and self.written + self.skipped > 0
