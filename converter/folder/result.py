"""What reading a folder gave (:class:`FolderResult`): its studies, in memory or parked on
disk (:mod:`converter.folder.spill`), and every file that is not in them, and why.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from converter.folder.spill import Spill
from converter.launch.encoding import launch_file
from converter.launch.model import Study, build_study
from converter.launch.urls import InstanceUrls


@dataclass(frozen=True)
class Skipped:
    """A file that is not in the launch file, and why."""

    path: str
    reason: str
    not_dicom: bool = False


@dataclass(frozen=True)
class Duplicate:
    """A file holding an SOP instance that an earlier file (kept) holds too."""

    path: str
    kept: str
    sop_instance_uid: str


@dataclass
class FolderResult:
    """What a folder gave: the studies, and every file that is not in them."""

    studies: list[Study]
    files: int
    instances: int
    skipped: list[Skipped] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)
    warnings: dict[str, list[str]] = field(default_factory=dict)
    """Warning text -> the files it was raised for (in file order)."""

    spill: Spill | None = None
    """Where the studies are when they were parked on disk (then ``studies`` is empty)."""
    urls: InstanceUrls | None = None
    study_uids: list[str] = field(default_factory=list)
    """Every study read, in order (by date, time and UID; parked: as first read)."""

    def iter_studies(self) -> Iterator[Study]:
        """Each study in turn; parked studies are read back and built one at a time."""
        if self.spill is None or self.urls is None:
            yield from self.studies
            return
        for uid, series in self.spill.studies():
            yield build_study(series, self.urls, uid)

    def document(self) -> dict[str, Any]:
        """The launch file of these studies: ``{"studies": [...]}``."""
        return launch_file(self.iter_studies())


def describe_skipped(skipped: list[Skipped], files: int, names: int = 5) -> str:
    """One line: how many files were skipped and why, naming the first few of each kind."""
    if not files:
        return "the folder holds no files"
    parts = []
    for not_dicom, what in ((True, "not DICOM"), (False, "unreadable")):
        group = [s for s in skipped if s.not_dicom is not_dicom]
        if not group:
            continue
        shown = ", ".join(f"{s.path} ({s.reason})" for s in group[:names])
        more = f" and {len(group) - names} more" if len(group) > names else ""
        parts.append(f"{len(group)} {what}: {shown}{more}")
    return f"{files} files, " + "; ".join(parts) if parts else f"{files} files"
