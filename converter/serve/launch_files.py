"""Finding and reading launch files for ``serve``: a folder, a snapshot folder, one file.

A launch file is ``{"studies": [...]}`` with a ``series`` list in every study
(``.json``, or ``.json.gz`` as ``snapshot --gzip`` writes it). A snapshot
folder's ``index.json`` (no series, a ``file`` per study) lists its files.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from converter.serve.proxy import instance_origins

Log = Callable[[str], None]


@dataclass(frozen=True)
class LaunchFile:
    """A launch file found in the served folder: its path relative to it and its studies."""

    relative: str
    studies: tuple[dict[str, Any], ...]
    origins: dict[str, int]


def read_launch(path: Path) -> Any:
    raw = path.read_bytes()
    return json.loads(gzip.decompress(raw) if path.name.endswith(".gz") else raw)


def _is_index(document: Any) -> bool:
    """A snapshot folder's ``index.json``: a studies list of ``file`` entries, no series."""
    studies = document.get("studies") if isinstance(document, dict) else None
    return (
        isinstance(studies, list)
        and bool(studies)
        and all(isinstance(s, dict) and "file" in s and "series" not in s for s in studies)
    )


def _launch_studies(document: Any) -> list[dict[str, Any]] | None:
    studies = document.get("studies") if isinstance(document, dict) else None
    if not isinstance(studies, list) or not all(
        isinstance(s, dict)
        and isinstance(s.get("StudyInstanceUID"), str)
        and isinstance(s.get("series"), list)
        for s in studies
    ):
        return None
    return studies


def find_launch_files(
    folder: Path, only: tuple[str, ...] = (), warn: Log = lambda m: None
) -> list[LaunchFile]:
    """The launch files (``*.json``/``*.json.gz`` with a ``studies`` list) below ``folder``.

    ``only`` limits the result to these paths (relative to ``folder``). A
    snapshot folder's ``index.json`` is used for the study list when present
    (reading thousands of per-study files at start-up would be slow); other
    JSON files that are no launch files are skipped with a warning.
    """
    if only:
        candidates = [folder / o for o in only]
    else:
        candidates = sorted(
            p for p in folder.rglob("*") if p.is_file() and p.name.endswith((".json", ".json.gz"))
        )
    found = []
    for path in candidates:
        relative = path.relative_to(folder).as_posix()
        try:
            document = read_launch(path)
        except (OSError, ValueError, EOFError) as exc:
            warn(f"skipped {relative}: not readable JSON ({exc})")
            continue
        if _is_index(document):
            listed = _from_index(path, document, folder)
            if listed is not None and not only:
                return listed
            continue
        studies = _launch_studies(document)
        if studies is None:
            warn(f"skipped {relative}: not a launch file (no studies with series)")
            continue
        found.append(LaunchFile(relative, tuple(studies), instance_origins(document)))
    return found


def _from_index(index: Path, document: dict[str, Any], folder: Path) -> list[LaunchFile] | None:
    """The launch files an ``index.json`` lists (origins read from the first one only)."""
    base = index.parent
    files = []
    for entry in document["studies"]:
        path = (base / str(entry["file"])).resolve()
        if not path.is_relative_to(folder) or not path.is_file():
            continue
        summary = {k: v for k, v in entry.items() if k != "file"}
        summary.setdefault("StudyInstanceUID", "")
        files.append(LaunchFile(path.relative_to(folder).as_posix(), (summary,), {}))
    if not files:
        return None
    try:
        first = files[0]
        origins = instance_origins(read_launch(folder / first.relative))
        files[0] = LaunchFile(first.relative, first.studies, origins)
    except (OSError, ValueError, EOFError):
        pass
    return files


def one_study(document: Any, study_uid: str) -> dict[str, Any] | None:
    """The launch document with only the study ``study_uid`` (None if it has none)."""
    studies = (
        [
            s
            for s in document.get("studies", [])
            if isinstance(s, dict) and s.get("StudyInstanceUID") == study_uid
        ]
        if isinstance(document, dict)
        else []
    )
    return {**document, "studies": studies} if studies else None


def first_url(document: Any) -> str | None:
    """The first instance URL of a launch document, with its loader prefix."""
    for study in document.get("studies", []) if isinstance(document, dict) else []:
        for series in study.get("series", []):
            for entry in series.get("instances", []):
                url = entry.get("url")
                if isinstance(url, str):
                    return url
    return None
