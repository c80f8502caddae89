"""Which store an output names: ``-`` (stdout), a file, a folder (a path ending in ``/`` or an
existing directory) or object storage (``s3://...``), checked before any request is made.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from converter.errors import OutputError, UsageError, arg
from converter.output.store import INDEX_NAME, SingleFile, Store, StudyFolder
from converter.output.targets import LocalTarget, Target, is_remote, open_target

Kind = Literal["stdout", "file", "folder"]


@dataclass(frozen=True)
class Output:
    """A checked output: its kind, the local path (none for stdout and object storage) and,
    for a folder on object storage, its target."""

    kind: Kind
    path: Path | None = None
    target: Target | None = None


def resolve_output(output: str | Path, *, gzip: bool = False, sharded: bool = False) -> Output:
    """Check ``output`` (and the arguments that need a folder) before any work is done.

    Raises
    ------
    OutputError
        The folder to write into does not exist, or a file is where a folder should be.
    UsageError
        ``gzip`` or a shard without folder output.
    """
    text = str(output)
    if isinstance(output, str) and is_remote(output):
        chosen = Output("folder", None, open_target(output))
    else:
        chosen = _local(text, output if isinstance(output, Path) else None)
    if gzip and chosen.kind != "folder":
        raise UsageError(f"{arg('gzip')} goes with folder output ({arg('output=DIR/')})")
    if sharded and chosen.kind != "folder":
        raise UsageError(
            f"{arg('shard')} goes with folder output ({arg('output=DIR/')} or a storage URL): "
            "each shard writes its own study files and index"
        )
    return chosen


def _local(output: str, given: Path | None) -> Output:
    if output == "-" and given is None:
        return Output("stdout")
    path = given or Path(output)
    if output.endswith(("/", os.sep)) or path.is_dir():
        if path.exists() and not path.is_dir():
            raise OutputError(f"{path} exists and is not a folder")
        parent = path.resolve().parent
        if not parent.is_dir():
            raise OutputError(f"cannot create {path}: folder {parent} does not exist")
        return Output("folder", path)
    if not (path.parent if str(path.parent) else Path(".")).is_dir():
        raise OutputError(f"cannot write {path}: folder {path.parent} does not exist")
    return Output("file", path)


def open_output(
    output: Output,
    order: list[str],
    *,
    gzip: bool = False,
    force: bool = False,
    indent: int | None = None,
    index_name: str = INDEX_NAME,
    owns: Callable[[str], bool] | None = None,
    study_list: str | None = None,
    warn: Callable[[str], None] | None = None,
    sink: Callable[[bytes], None] | None = None,
) -> tuple[Store, str]:
    """The store for ``output`` and how to name it in messages.

    ``order`` is the study order of a single file; ``sink`` receives a stdout
    output's bytes; ``index_name`` and ``owns`` make a shard's folder store;
    ``study_list`` is the viewer a folder's ``index.html`` opens studies in (None: no page).
    """
    if output.kind != "folder":
        name = "stdout" if output.path is None else str(output.path.resolve())
        return SingleFile(order, path=output.path, indent=indent, sink=sink), name
    target = output.target
    if target is None:
        assert output.path is not None
        target = LocalTarget(output.path)
    store = StudyFolder(
        target,
        compress=gzip,
        force=force,
        indent=indent,
        index_name=index_name,
        owns=owns,
        study_list=study_list,
        warn=warn,
    )
    return store, target.description
