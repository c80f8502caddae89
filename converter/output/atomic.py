"""Atomic file writes: a temporary beside the target, renamed over it (POSIX ``rename``),
so a reader never sees a partial launch file; temporaries left by a process that is
gone are recognised and cleaned.
"""

from __future__ import annotations

import os
import re
import socket
import tempfile
import time
from pathlib import Path

from converter.errors import OutputError


def temporary_owner() -> str:
    """``host-pid`` of this process, written into temporary names (see :func:`is_stale`)."""
    return f"{socket.gethostname()}-{os.getpid()}"


def is_stale(temporary: Path, max_age: float = 3600.0) -> bool:
    """Whether a ``write_atomic`` temporary was left by a process that is gone.

    Its owner is in the name: one on this host is checked directly (several
    shards may be writing into the same folder right now); one from another
    host (a shared file system) counts as gone once the file is an hour old.
    """
    mine = re.search(
        re.escape(f".{socket.gethostname()}-") + r"(\d+)\.[A-Za-z0-9_]+\.part$", temporary.name
    )
    if mine:
        try:
            os.kill(int(mine.group(1)), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False
    try:
        return time.time() - temporary.stat().st_mtime > max_age
    except OSError:
        return False


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and a rename.

    A reader (or a viewer) sees the old file or the whole new one, never a
    truncated one, even if the process is killed mid-write.
    """
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"cannot write {path}: folder {folder} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(
            prefix=f".{path.name}.{temporary_owner()}.", suffix=".part", dir=folder
        )
    except OSError as exc:
        raise OutputError(f"cannot write into {folder}: {exc.strerror}") from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
