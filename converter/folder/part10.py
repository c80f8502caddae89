"""One local DICOM file's header -> a PS3.18 F.2 JSON dataset, what the mapper takes.

``dicomweb2ohif folder`` reads Part 10 files (PS3.10 7) instead of asking a server.
Each header becomes the same tag-keyed DICOM JSON Model (PS3.18 Annex F) that a
DICOMweb server answers to ``.../metadata`` (:mod:`converter.folder.ps3_18_json`), so the
mapper and the writer are the same code for both sources (docs/format.md) and every
mapping rule -- DS/IS numbers, person names, empty values, dropped pixel data,
private tags, the PDF link -- is applied in one place.

The header is read with pydicom, never the pixel data: its ``read_dataset`` on
the first 64 KiB (the whole header of most files) stops at the pixel data, and
``dcmread(stop_before_pixels=True)`` reads what that does not cover (deflate,
no preamble, private transfer syntaxes). What pydicom says while reading (it
warns and logs) is collected per file instead of printed.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import pydicom
from pydicom.dataset import Dataset
from pydicom.filereader import read_dataset
from pydicom.uid import UID

from converter.errors import UnreadableFileError
from converter.folder.ps3_18_json import ENCAPSULATED_DOCUMENT, BulkData, dataset_json

__all__ = ["ENCAPSULATED_DOCUMENT", "BulkData", "Header", "dataset_json", "read_header"]

MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"
_CHUNK = 1 << 16
_PIXEL_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})  # PS3.5 A.4: pydicom stops there


@dataclass(frozen=True)
class Header:
    """A file's header as PS3.18 JSON, and what pydicom had to say while reading it."""

    dataset: dict[str, Any]
    warnings: tuple[str, ...]


# --- reading ------------------------------------------------------------------------


def _looks_like_dataset(head: bytes) -> bool:
    """A file without the Part 10 preamble that starts with a group 0002/0008 element."""
    return head[:2] in (b"\x02\x00", b"\x08\x00", b"\x00\x02", b"\x00\x08")


@contextlib.contextmanager
def _captured(messages: list[str]) -> Iterator[None]:
    """Collect pydicom's warnings (it both logs and warns them) instead of printing them.

    Nested uses collect apart: the innermost one alone gets what is said meanwhile.
    """
    logger = logging.getLogger("pydicom")
    handlers, propagate = logger.handlers, logger.propagate
    logger.handlers = [_ListHandler(messages)]
    logger.propagate = False
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
        for item in caught:
            text = str(item.message)
            if text not in messages:
                messages.append(text)
    finally:
        logger.handlers, logger.propagate = handlers, propagate


class _ListHandler(logging.Handler):
    def __init__(self, messages: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.messages = messages

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if text not in self.messages:
            self.messages.append(text)


def read_header(
    path: Path | BinaryIO, bulk: BulkData, *, keep_private: bool = True, fast: bool = True
) -> Header:
    """Read ``path``'s header (never its pixel data) as a PS3.18 F.2 dataset.

    ``path`` may also be an open binary file (a Part 10 object received from a
    server, :mod:`converter.snapshot.palette_fetch`).

    Files without the Part 10 preamble (PS3.10 7.1) are read when they start
    like a dataset. pydicom reads a truncated file without complaint, so a
    value shorter than its declared length is reported here. (A file cut
    exactly between two elements cannot be told from a complete one: some
    real files, such as Clunie's character set samples, are images without
    pixel data.)

    Raises
    ------
    UnreadableFileError
        ``not_dicom`` set for files that are not DICOM instances (a JPEG, a
        DICOMDIR); unset for broken DICOM files.
    """
    messages: list[str] = []
    try:
        with _captured(messages):
            dataset = _read(path, bulk, keep_private, fast, messages)
    except UnreadableFileError:
        raise
    except OSError as exc:
        raise UnreadableFileError(f"cannot read: {exc.strerror or exc}") from exc
    except Exception as exc:  # pydicom raises many kinds of error on broken input
        raise UnreadableFileError(f"{type(exc).__name__}: {exc}") from exc
    return Header(dataset, tuple(messages))


def _read(
    path: Path | BinaryIO, bulk: BulkData, keep_private: bool, fast: bool, messages: list[str]
) -> dict[str, Any]:
    opened = open(path, "rb") if isinstance(path, Path) else contextlib.nullcontext(path)
    with opened as fh:
        head = fh.read(_CHUNK)
        part10 = len(head) >= 132 and head[128:132] == b"DICM"
        if not part10 and not _looks_like_dataset(head):
            raise UnreadableFileError("not a DICOM file", not_dicom=True)
        read = _read_part10(fh, head, messages) if part10 and fast else None
        ds: Dataset
        if read is None:
            fh.seek(0)
            ds = pydicom.dcmread(fh, stop_before_pixels=True, force=not part10)
            sop_class = ds.file_meta.get("MediaStorageSOPClassUID") if part10 else None
        else:
            sop_class, ds = read
    if sop_class == MEDIA_STORAGE_DIRECTORY or 0x00041220 in ds:
        raise UnreadableFileError("a DICOMDIR (media directory), not an instance", not_dicom=True)
    if len(ds) == 0:
        raise UnreadableFileError("no data elements (empty or truncated file)")
    return dataset_json(ds, bulk, keep_private=keep_private, fast=fast)


def _stop_at_pixels(tag: int, vr: str | None, length: int) -> bool:
    return tag in _PIXEL_TAGS


def _after_meta(tag: int, vr: str | None, length: int) -> bool:
    return tag >> 16 != 2


def _raw_text(ds: Dataset, tag: int) -> str | None:
    elem = ds.get_item(tag)
    value = elem.value if elem is not None else None
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    return value.rstrip("\x00 ") if isinstance(value, str) else None


def _read_part10(
    fh: BinaryIO, head: bytes, messages: list[str]
) -> tuple[str | None, Dataset] | None:
    """The common case without ``dcmread``'s overhead (40% of a header's reading time).

    A Part 10 file whose File Meta Information (PS3.10 7.1) names a plain or
    compressed transfer syntax is read with pydicom's ``read_dataset`` from the
    first 64 KiB in memory, and from the file itself when the header is longer
    (what pydicom said about the cut copy is then forgotten). None for anything
    else (deflate, private transfer syntaxes), which ``dcmread`` then reads.
    """
    chunk = io.BytesIO(head)
    chunk.seek(132)
    meta = read_dataset(chunk, False, True, stop_when=_after_meta)
    syntax = _raw_text(meta, 0x00020010)
    if not syntax:
        return None
    uid = UID(syntax)
    if not uid.is_transfer_syntax or uid.is_deflated:
        return None
    start = chunk.tell()
    implicit, little = uid.is_implicit_VR, uid.is_little_endian
    whole = len(head) < _CHUNK  # the chunk holds the whole file
    ds = None
    said: list[str] = []
    with _captured(said):
        try:
            ds = read_dataset(chunk, implicit, little, stop_when=_stop_at_pixels)
        except Exception:
            if whole:
                raise
    if ds is None or (not whole and chunk.tell() >= len(head)):
        fh.seek(start)  # the header runs past the chunk: read it from the file
        ds = read_dataset(fh, implicit, little, stop_when=_stop_at_pixels)
    else:
        messages.extend(m for m in said if m not in messages)
    return _raw_text(meta, 0x00020002), ds
