"""Where a folder of launch files lives: a local directory or an fsspec URL.

Both give the same guarantee: a file (object) appears whole or not at all.
Locally that is a temporary file and a rename; on object storage (``s3://``,
``gs://``, ``az://``) a single PUT is atomic by the store's own contract, so
nothing else is needed. Credentials come from the storage library's usual
sources (environment, config files, instance roles), never from our flags.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from converter.errors import OutputError, UsageError
from converter.output.atomic import is_stale, write_atomic


class Target(Protocol):
    """A flat folder of named files."""

    description: str

    def names(self) -> list[str]: ...

    def read(self, name: str) -> bytes | None: ...

    def write(
        self, name: str, data: bytes, *, content_type: str, content_encoding: str | None
    ) -> None: ...

    def remove(self, name: str) -> None: ...

    def exists(self, name: str) -> bool: ...


class LocalTarget:
    """A directory on this machine; files written via temporary file + rename."""

    def __init__(self, folder: Path) -> None:
        if folder.exists() and not folder.is_dir():
            raise OutputError(f"{folder} exists and is not a folder")
        if not folder.resolve().parent.is_dir():
            raise OutputError(f"cannot create {folder}: folder {folder.parent} does not exist")
        try:
            folder.mkdir(exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create {folder}: {exc.strerror}") from exc
        self.folder = folder
        self.description = str(folder.resolve())
        for temporary in folder.glob(".*.part"):  # left by a hard-killed run (see write_atomic)
            if temporary.is_file() and is_stale(temporary):
                temporary.unlink(missing_ok=True)

    def names(self) -> list[str]:
        return sorted(p.name for p in self.folder.iterdir() if p.is_file())

    def read(self, name: str) -> bytes | None:
        try:
            return (self.folder / name).read_bytes()
        except OSError:
            return None

    def write(
        self, name: str, data: bytes, *, content_type: str, content_encoding: str | None
    ) -> None:
        write_atomic(self.folder / name, data)

    def remove(self, name: str) -> None:
        (self.folder / name).unlink(missing_ok=True)

    def exists(self, name: str) -> bool:
        return (self.folder / name).is_file()


class FsspecTarget:
    """Object storage through fsspec (``s3://bucket/prefix/``, ``gs://``, ``az://``, ``memory://``).

    On S3 each object gets ``Content-Type`` and, for gzip, ``Content-Encoding: gzip``
    so that a browser reads it directly.
    """

    def __init__(self, url: str) -> None:
        try:
            import fsspec
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise UsageError(
                f"{url}: object storage needs fsspec (pip install 'dicomweb2ohif[storage]')"
            ) from exc
        try:
            fs, root = fsspec.core.url_to_fs(url)
        except (ImportError, ValueError) as exc:
            raise UsageError(
                f"{url}: {exc} (for s3:// install s3fs, gs:// gcsfs, az:// adlfs)"
            ) from exc
        self.fs: Any = fs
        self.root = root.rstrip("/")
        self.description = url
        protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
        self.is_s3 = protocol in ("s3", "s3a")

    def _path(self, name: str) -> str:
        return f"{self.root}/{name}"

    def names(self) -> list[str]:
        try:
            listed = self.fs.ls(self.root, detail=False, refresh=True)
        except FileNotFoundError:
            return []
        except Exception as exc:
            raise OutputError(f"cannot list {self.description}: {_reason(exc)}") from exc
        return sorted(str(p).rsplit("/", 1)[-1] for p in listed)

    def read(self, name: str) -> bytes | None:
        try:
            return bytes(self.fs.cat_file(self._path(name)))
        except FileNotFoundError:
            return None
        except Exception as exc:
            raise OutputError(f"cannot read {self.description}{name}: {_reason(exc)}") from exc

    def write(
        self, name: str, data: bytes, *, content_type: str, content_encoding: str | None
    ) -> None:
        extra: dict[str, str] = {}
        if self.is_s3:
            extra["ContentType"] = content_type
            if content_encoding:
                extra["ContentEncoding"] = content_encoding
        try:
            self.fs.pipe_file(self._path(name), data, **extra)
        except Exception as exc:
            raise OutputError(f"cannot write {self.description}{name}: {_reason(exc)}") from exc

    def remove(self, name: str) -> None:
        try:
            self.fs.rm_file(self._path(name))
        except FileNotFoundError:
            pass

    def exists(self, name: str) -> bool:
        try:
            return bool(self.fs.exists(self._path(name)))
        except Exception as exc:
            raise OutputError(f"cannot reach {self.description}: {_reason(exc)}") from exc


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:160]


def is_remote(output: str) -> bool:
    """True for ``scheme://`` outputs other than local files."""
    return "://" in output and not output.startswith("file://")


def open_target(output: str) -> Target:
    """A target for ``-o``: ``file://`` and plain paths are local, other URLs fsspec."""
    if output.startswith("file://"):
        return LocalTarget(Path(output.removeprefix("file://")))
    if is_remote(output):
        return FsspecTarget(output)
    return LocalTarget(Path(output))
