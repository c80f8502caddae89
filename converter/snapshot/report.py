"""What a snapshot tells its caller while it runs (:class:`Events`) and when it is done
(:class:`Report`); nothing here prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from converter.snapshot.selection import (
    PlannedStudy,
)


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
