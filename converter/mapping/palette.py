"""Palette colour lookup tables in the form OHIF 3.13.2 reads: the pure rules.

A PALETTE COLOR image (PS3.3 C.7.6.3.1.2) is shown through three lookup tables,
each a descriptor (PS3.3 C.7.6.3.1.5: number of entries, 0 meaning 65536; first
value mapped; bits per entry) and its data (C.7.6.3.1.6), or a segmented form of
the data (C.7.9.2) that ultrasound devices write. Measured in the OHIF 3.13.2
build (``core/src/utils/metadataProvider/fetchPaletteColorLookupTableData.js``
and cornerstone's ``convertPALETTECOLOR``):

* OHIF's metadata provider builds the image pixel module of *every* instance
  and, for each colour whose ``...PaletteColorLookupTableData`` or whose
  ``PaletteColorLookupTableUID`` is present, reads ``descriptor[0]`` before
  anything else: a missing (or null) descriptor throws (:func:`throws_in_ohif`);
  that image never loads, and issue 12 reports the error boundary on every study
  of the launch file.
* The data is read from ``InlineBinary`` only (the ``dicomjson`` data source
  gives a ``BulkDataURI`` no way to be fetched): decoded into a native, that is
  little-endian, ``Uint16Array`` when it is two bytes per entry (or the
  descriptor says more than 8 bits), else a ``Uint8Array``.
* Nothing reads the segmented tables: they must be expanded into plain data.
* The descriptor is read as an array of three numbers.

So the launch file carries, for each colour, the descriptor as three numbers
and the data as ``InlineBinary`` of one little-endian 16-bit word per entry
(:func:`table_element`), whatever the file's byte order and the table's form.
This module works on PS3.18 F.2 (tag-keyed) datasets for the repair and on
mapped (keyword) instances for :mod:`converter.validate.validator`; no I/O.
"""

from __future__ import annotations

import base64
import binascii
import struct
from collections.abc import Mapping, Sequence
from typing import Any

from converter.errors import PaletteError

PALETTE_COLOR = "PALETTE COLOR"
PHOTOMETRIC = "00280004"
PALETTE_UID = "00281199"
COLOURS = ("Red", "Green", "Blue")
DESCRIPTOR_TAGS = ("00281101", "00281102", "00281103")
DATA_TAGS = ("00281201", "00281202", "00281203")
SEGMENTED_TAGS = ("00281221", "00281222", "00281223")

TABLE_TAGS = frozenset(int(tag, 16) for tag in (*DATA_TAGS, *SEGMENTED_TAGS))
"""Palette data elements that a launch file must carry inline, whatever their size."""

TABLE_KEYWORDS = frozenset(f"{c}PaletteColorLookupTableData" for c in COLOURS)
"""The tables as a launch file names them: large (128 KiB for 65536 entries) on purpose."""

MAX_ENTRIES = 65536


# --- reading either form ----------------------------------------------------------


def _tagged_value(dataset: Mapping[str, Any], tag: str) -> Any:
    """The value of a PS3.18 element: ``Value`` list, ``{"InlineBinary"|"BulkDataURI": ...}``,
    None when empty, or the missing marker ``...`` when absent."""
    element = dataset.get(tag)
    if not isinstance(element, Mapping):
        return ...
    for key in ("InlineBinary", "BulkDataURI"):
        if key in element:
            return {key: element[key]}
    values = element.get("Value")
    return values if isinstance(values, list) and values else None


def _keyword_value(instance: Mapping[str, Any], keyword: str) -> Any:
    return instance[keyword] if keyword in instance else ...


def _descriptor(value: Any) -> tuple[int, int, int] | None:
    """Three whole numbers (PS3.3 C.7.6.3.1.5), else None."""
    if (
        isinstance(value, list)
        and len(value) == 3
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        return value[0], value[1], value[2]
    return None


def entries(descriptor: Sequence[int]) -> int:
    """Number of table entries: 0 stands for 65536 (PS3.3 C.7.6.3.1.5)."""
    return descriptor[0] or MAX_ENTRIES


def _inline(value: Any) -> bytes | None:
    if not isinstance(value, Mapping) or not isinstance(value.get("InlineBinary"), str):
        return None
    try:
        return base64.b64decode(value["InlineBinary"], validate=True)
    except (binascii.Error, ValueError):
        return None


def _colour_problem(descriptor: Any, data: Any) -> str | None:
    """Why OHIF cannot use one colour's descriptor and data (None: it can)."""
    parsed = _descriptor(descriptor)
    if parsed is None:
        return (
            "no descriptor of three numbers"
            if descriptor in (..., None)
            else "a descriptor that is not three numbers"
        )
    if data is ...:
        return "no lookup table data"
    raw = _inline(data)
    if raw is None:
        if isinstance(data, Mapping) and "BulkDataURI" in data:
            return "its lookup table data only as a BulkDataURI, which OHIF does not fetch"
        return "no inline lookup table data"
    count = entries(parsed)
    if len(raw) == 2 * count or (len(raw) == count and parsed[2] <= 8):
        return None
    return f"{len(raw)} bytes of lookup table data for {count} entries"


def _problem(values: list[tuple[Any, Any]], photometric: Any, uid: Any) -> str | None:
    """The first reason OHIF cannot show (or even load) an instance's palette, or None."""
    throws = any(
        (data is not ... or uid is not ...) and descriptor in (..., None)
        for descriptor, data in values
    )
    if not throws and photometric != PALETTE_COLOR:
        return None
    for colour, (descriptor, data) in zip(COLOURS, values, strict=True):
        problem = _colour_problem(descriptor, data)
        if problem:
            return f"{colour.lower()} palette has {problem}"
    return None


def tagged_problem(dataset: Mapping[str, Any]) -> str | None:
    """:func:`_problem` for a PS3.18 F.2 dataset (a server's or a file's metadata)."""
    values = [
        (_tagged_value(dataset, d), _tagged_value(dataset, t))
        for d, t in zip(DESCRIPTOR_TAGS, DATA_TAGS, strict=True)
    ]
    photometric = _tagged_value(dataset, PHOTOMETRIC)
    photometric = photometric[0] if isinstance(photometric, list) else None
    return _problem(values, photometric, _tagged_value(dataset, PALETTE_UID))


def instance_problem(instance: Mapping[str, Any]) -> str | None:
    """:func:`_problem` for a launch file's (keyword) instance metadata."""
    values = [
        (
            _keyword_value(instance, f"{c}PaletteColorLookupTableDescriptor"),
            _keyword_value(instance, f"{c}PaletteColorLookupTableData"),
        )
        for c in COLOURS
    ]
    return _problem(
        values,
        instance.get("PhotometricInterpretation"),
        _keyword_value(instance, "PaletteColorLookupTableUID"),
    )


def throws_in_ohif(instance: Mapping[str, Any]) -> bool:
    """Whether OHIF 3.13.2's metadata provider throws on this (keyword) instance.

    It does for a colour whose data or ``PaletteColorLookupTableUID`` is present
    while its descriptor is missing or null (``lutDescriptor[0]`` of undefined).
    """
    uid = _keyword_value(instance, "PaletteColorLookupTableUID")
    for colour in COLOURS:
        descriptor = instance.get(f"{colour}PaletteColorLookupTableDescriptor")
        data = _keyword_value(instance, f"{colour}PaletteColorLookupTableData")
        if (data is not ... or uid is not ...) and descriptor is None:
            return True
    return False


# --- building the form OHIF reads ---------------------------------------------------


def _words(raw: bytes, one_byte: bool) -> tuple[int, ...]:
    """A little-endian OW value as entries: 16-bit words, or single bytes."""
    if one_byte:
        return tuple(raw)
    if len(raw) % 2:
        raise PaletteError(f"an odd number of bytes ({len(raw)}) of 16-bit table data")
    return struct.unpack(f"<{len(raw) // 2}H", raw)


def expand_segmented(words: Sequence[int], limit: int = MAX_ENTRIES) -> list[int]:
    """A segmented lookup table (PS3.3 C.7.9.2) as its plain entries.

    Segments are discrete (opcode 0: ``n`` values follow), linear (1: ``n``
    entries from the previous entry to the given end value, rounded) or
    indirect (2: ``n`` segments copied from an offset, a 32-bit value in two
    words, least significant first, counted in words as pydicom reads it).
    """
    out: list[int] = []
    _expand(words, 0, None, out, limit, depth=0)
    return out


def _expand(
    words: Sequence[int], start: int, count: int | None, out: list[int], limit: int, depth: int
) -> None:
    if depth > 8:
        raise PaletteError("indirect segments nested too deeply")
    position, done = start, 0
    while position + 1 < len(words) and (count is None or done < count):
        opcode, length = words[position], words[position + 1]
        position += 2
        if opcode == 0:
            if position + length > len(words):
                raise PaletteError("a discrete segment runs past the end of the data")
            out.extend(words[position : position + length])
            position += length
        elif opcode == 1:
            if not out or position >= len(words):
                raise PaletteError("a linear segment without a previous entry or end value")
            begin, end = out[-1], words[position]
            position += 1
            out.extend(round(begin + (end - begin) * (i + 1) / length) for i in range(length))
        elif opcode == 2:
            if not out or position + 1 >= len(words):
                raise PaletteError("an indirect segment without a previous entry or offset")
            offset = words[position] | words[position + 1] << 16
            position += 2
            _expand(words, offset, length, out, limit, depth + 1)
        else:
            raise PaletteError(f"unknown segment type {opcode} (PS3.3 C.7.9.2)")
        if len(out) > limit:
            raise PaletteError(f"the segments expand to more than {limit} entries")
        done += 1


def table_element(values: Sequence[int]) -> dict[str, Any]:
    """Entries as the PS3.18 element OHIF reads: OW ``InlineBinary``, 16-bit little endian."""
    raw = struct.pack(f"<{len(values)}H", *values)
    return {"vr": "OW", "InlineBinary": base64.b64encode(raw).decode("ascii")}


def table_entries(source: Mapping[str, Any], colour: int) -> list[int] | None:
    """One colour's plain entries from a PS3.18 dataset whose tables are inline and
    little endian (a Part 10 header read by :mod:`converter.folder.part10`), or None when
    the dataset has no inline table for it. Raises :class:`PaletteError` when the
    table is there but unusable."""
    descriptor = _descriptor(_tagged_value(source, DESCRIPTOR_TAGS[colour]))
    if descriptor is None:
        return None
    count, bits = entries(descriptor), descriptor[2]
    plain = _inline(_tagged_value(source, DATA_TAGS[colour]))
    segmented = _inline(_tagged_value(source, SEGMENTED_TAGS[colour]))
    if plain is not None:
        values = list(_words(plain, len(plain) == count))
    elif segmented is not None:  # 8-bit segments are bytes, as pydicom reads them
        values = expand_segmented(_words(segmented, bits <= 8))
    else:
        return None
    if len(values) != count:
        raise PaletteError(
            f"{COLOURS[colour].lower()} table has {len(values)} entries where "
            f"its descriptor says {count}"
        )
    return values


def repair(dataset: dict[str, Any], source: Mapping[str, Any]) -> str | None:
    """Put ``source``'s tables into ``dataset`` in the form OHIF reads; None when done,
    else why not (the dataset is then left as it was).

    ``source`` is the instance's own header with inline little-endian tables
    (or ``dataset`` itself when it already holds them). Segmented tables are
    replaced by the plain ones expanded from them, which is all OHIF reads.
    """
    tables: list[tuple[tuple[int, int, int], list[int]]] = []
    for colour in range(3):
        descriptor = _descriptor(_tagged_value(source, DESCRIPTOR_TAGS[colour]))
        try:
            values = table_entries(source, colour)
        except PaletteError as exc:
            return str(exc)
        if descriptor is None or values is None:
            return f"the object holds no usable {COLOURS[colour].lower()} palette"
        tables.append((descriptor, values))
    for colour, (descriptor, values) in enumerate(tables):
        vr = (source.get(DESCRIPTOR_TAGS[colour]) or {}).get("vr", "US")
        dataset[DESCRIPTOR_TAGS[colour]] = {"vr": vr, "Value": list(descriptor)}
        dataset[DATA_TAGS[colour]] = table_element(values)
        dataset.pop(SEGMENTED_TAGS[colour], None)
    return None
