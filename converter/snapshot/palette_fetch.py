"""Fetching the palette colour tables a server's metadata leaves out, for those instances only.

Orthanc (1.10, DICOMweb plugin) answers ``.../metadata`` with palette lookup
table data as a ``BulkDataURI`` and, for some files (measured on pydicom-data's
``OT-PAL-8-face.dcm``, implicit VR without File Meta Information), without the
descriptors at all, although the file holds them; segmented
tables (PS3.3 C.7.9.2) come only as ``BulkDataURI``. OHIF cannot use any of
that (see :mod:`converter.mapping.palette`). For each instance whose metadata lacks a
usable palette, the instance's own Part 10 object is asked for (WADO-RS
``.../instances/{uid}``, PS3.18 10.4.1.1.1, ``transfer-syntax=*``: as stored)
through the source's retrying session, read as it arrives with the Part 10
reader that ``folder`` uses, and the download stops as soon as the header holds
the three tables: the pixel data is not downloaded (for one small image it may
come in the same chunks). One request per such instance, none for the others.
An instance that cannot be repaired is named in one warning and kept as it is.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote

import requests

from converter.errors import ConverterError, PaletteError, ServerError, UnreadableFileError
from converter.mapping.palette import (
    DATA_TAGS,
    DESCRIPTOR_TAGS,
    SEGMENTED_TAGS,
    repair,
    tagged_problem,
)
from converter.mapping.ps3_18 import first_value
from converter.source.client import DicomWebSource

ACCEPT_PART10 = (
    {"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'},
    {"Accept": 'multipart/related; type="application/dicom"'},
)
"""PS3.18 8.7.3.5.2: the instance as stored (no transcoding); from a server that refuses
that, in its default transfer syntax (explicit VR little endian)."""
REFUSED = frozenset({400, 406, 415})

CHUNK = 1 << 16
HEADERS_MAX = 1 << 16
"""Bytes of multipart part headers (PS3.18 8.6.1.2) accepted before the Part 10 object."""


def repair_palettes(
    source: DicomWebSource,
    study_uid: str,
    series_uid: str,
    datasets: Iterable[dict[str, Any]],
    warn: Callable[[str], None],
) -> None:
    """Give every instance of a series' metadata that OHIF could not show, or would throw
    on, its palette tables inline (in place); ``warn`` gets one line per failure."""
    for dataset in datasets:
        problem = tagged_problem(dataset)
        if problem is None:
            continue
        sop_uid = first_value(dataset, "00080018")
        if not isinstance(sop_uid, str) or not sop_uid:
            continue  # the mapper and the integrity checks name it
        try:
            failure = repair(dataset, fetch_header(source, study_uid, series_uid, sop_uid))
        except ConverterError as exc:
            failure = str(exc)
        if failure:
            warn(
                f"instance {sop_uid}: the metadata's {problem}, and its own header gave none "
                f"({failure}); written as it is, but OHIF cannot show it and may show an "
                "error for every study of the launch file (open it one study at a time)"
            )


def fetch_header(
    source: DicomWebSource, study_uid: str, series_uid: str, sop_uid: str
) -> dict[str, Any]:
    """The instance's Part 10 header as PS3.18 JSON, palette tables inline and little endian."""
    study, series, sop = (quote(uid, safe="") for uid in (study_uid, series_uid, sop_uid))
    url = f"{source.root}/studies/{study}/series/{series}/instances/{sop}"

    def fetch(accept: dict[str, str]) -> dict[str, Any]:
        with source.session().get(
            url, headers=accept, timeout=source.timeout, stream=True
        ) as answer:
            answer.raise_for_status()
            return _read_streamed(answer)

    try:
        return source.retrying(url, lambda: fetch(ACCEPT_PART10[0]))
    except ServerError as exc:
        if exc.status not in REFUSED:
            raise
    return source.retrying(url, lambda: fetch(ACCEPT_PART10[1]))


def _read_streamed(answer: requests.Response) -> dict[str, Any]:
    """Read the first part of a multipart answer (or a bare object) until its header
    holds the palette tables, then stop reading."""
    multipart = answer.headers.get("Content-Type", "").lower().startswith("multipart/")
    buffer = bytearray()
    start: int | None = None if multipart else 0
    for chunk in answer.iter_content(CHUNK):
        buffer += chunk
        if start is None:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > HEADERS_MAX:
                    raise PaletteError("the server's answer holds no DICOM part")
                continue
            start = end + 4
        header = _parse(bytes(buffer[start:]), final=False)
        if header is not None:
            return header
    if start is None:
        raise PaletteError("the server's answer holds no DICOM part")
    header = _parse(bytes(buffer[start:]), final=True)
    assert header is not None
    return header


def _parse(data: bytes, *, final: bool) -> dict[str, Any] | None:
    """The header once it holds every colour's descriptor and table; None: read on."""
    # pydicom is loaded only here, when an instance needs it (snapshot starts without it).
    from converter.folder.part10 import BulkData, read_header

    try:
        dataset = read_header(io.BytesIO(data), BulkData(""), keep_private=False).dataset
    except UnreadableFileError as exc:  # cut inside an element: more is coming
        if final:
            raise PaletteError(f"the instance cannot be read: {exc}") from exc
        return None
    complete = all(
        d in dataset and (t in dataset or s in dataset)
        for d, t, s in zip(DESCRIPTOR_TAGS, DATA_TAGS, SEGMENTED_TAGS, strict=True)
    )
    return dataset if complete or final else None
