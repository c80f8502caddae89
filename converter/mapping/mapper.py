"""Tag-keyed DICOM JSON (PS3.18 Annex F) -> naturalized keyword JSON (OHIF/dcmjs form).

Pure: no I/O, no printing. Problems in a usable answer are reported through the
optional ``warn`` callback and the element is converted as well as it can be;
an unusable element raises :class:`~converter.errors.MappingError` naming it.

The result agrees with dcmjs ``DicomMetaDictionary.naturalizeDataset`` (keys,
scalars vs arrays, nesting) except for the deliberate differences of the
project's ``docs/format.md`` ("What differs from dcmjs"):

* empty elements are ``""`` for text VRs, ``None`` for numeric and binary VRs and
  ``[]`` for SQ (dcmjs: always ``null``);
* PN is a plain string ``Alphabetic=Ideographic=Phonetic`` (dcmjs keeps the
  object form, which OHIF shows badly, OHIF issue #3099);
* DS/IS strings that are valid numbers become JSON numbers;
* pixel and waveform bulk data is dropped, private tags are dropped unless asked
  for, and no ``_vrMap`` is written.

Hostile or broken answers (each case tested in ``tests/test_hostile.py``): an
element whose ``vr`` is missing, unknown, or not one the data dictionary allows
for its tag (PS3.6), that has ``Value`` together with ``BulkDataURI`` or
``InlineBinary`` (PS3.18 F.2.2 allows one), a PN component that is not a
string, a value over :data:`LARGE_VALUE` characters: warned about and converted
(by the element's own ``vr``, which PS3.18 F.2.3 makes authoritative; values
never cut). Sequences nested more than :data:`MAX_SEQUENCE_DEPTH` levels deep
raise :class:`~converter.errors.MappingError`. Each distinct warning is given
once per mapping run (one series), not once per instance.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson

from converter.errors import MappingError
from converter.mapping.keywords import describe_tag, keyword_for
from converter.mapping.palette import TABLE_KEYWORDS
from converter.mapping.tags import (
    TAG_INFO,
    classify,
)
from converter.mapping.values import (
    ALL_VRS,
    PN_GROUPS,
    empty_value,
    json_type,
    parse_number,
    person_name,
    short_repr,
)

Warn = Callable[[str], None]
"""Receives one human-readable sentence per problem found in a usable answer."""


ENCAPSULATED_DOCUMENT_TAG = "00420011"


MAX_SEQUENCE_DEPTH = 100
"""Sequence nesting refused beyond this: real SR content trees nest a few dozen
levels at most, and deeper input would exhaust Python's recursion limit."""


LARGE_VALUE = 65_536
"""Characters beyond which a value is warned about (kept whole): it is copied into
the launch file every viewer downloads. Longer than any VR's maximum (PS3.5 Table
6.2-1) except UC, UR, UT and LT's 10,240."""


class _Mapper:
    """One mapping run: its options and where warnings go."""

    __slots__ = ("keep_private", "seen", "warn")

    def __init__(self, keep_private: bool, warn: Warn | None) -> None:
        self.keep_private = keep_private
        self.warn = warn
        self.seen: set[str] = set()

    def _warn(self, path: str, message: str) -> None:
        if self.warn is not None:
            text = f"{path}: {message}"
            if text not in self.seen:  # the same problem in every instance: said once
                self.seen.add(text)
                self.warn(text)

    def dataset(self, dataset: Mapping[str, Any], path: str = "", depth: int = 0) -> dict[str, Any]:
        if dataset.__class__ is not dict and not isinstance(dataset, Mapping):
            raise MappingError(
                f"{path or 'dataset'}: expected a JSON object of tag-keyed elements, "
                f"got {type(dataset).__name__}"
            )
        out: dict[str, Any] = {}
        keep_private = self.keep_private
        tag_info = TAG_INFO
        for tag, element in dataset.items():
            info = tag_info.get(tag)
            if info is None:
                info = classify(tag)
                if info is None:
                    self._warn(
                        path or "dataset",
                        f"key {short_repr(tag)} is not an 8-hex DICOM tag; dropped",
                    )
                    continue
            key, dict_vr, private, dropped, allowed, fast, numbers, sequence = info
            if dropped or (private and not keep_private):
                continue
            # Fast path: the common well-formed element -- {"vr", "Value"} and nothing
            # else, a VR the dictionary allows for the tag -- of a VR without conversion.
            if element.__class__ is dict and len(element) == 2:
                values = element.get("Value")
                if values.__class__ is list and values:
                    vr = element.get("vr")
                    try:
                        as_is = vr in fast
                    except TypeError:  # an unhashable vr: the slow path says what is wrong
                        as_is, vr = False, None
                    # Values that are arrays or objects (not PS3.18 F.2.3 values) and
                    # enormous strings take the slow path, which says what is wrong.
                    if as_is:
                        if len(values) == 1:
                            single = values[0]
                            kind = single.__class__
                            if kind is str:
                                if len(single) <= LARGE_VALUE:
                                    out[key] = single
                                    continue
                            elif kind is not list and kind is not dict:
                                out[key] = empty_value(str(vr)) if single is None else single
                                continue
                        else:
                            for single in values:
                                kind = single.__class__
                                if (
                                    kind is list
                                    or kind is dict
                                    or (kind is str and len(single) > LARGE_VALUE)
                                ):
                                    break
                            else:
                                out[key] = values
                                continue
                    elif vr in numbers:
                        # Servers send numbers (PS3.18 F.2.3); strings take the slow path.
                        for single in values:
                            kind = single.__class__
                            if kind is not float and kind is not int:
                                break
                        else:
                            out[key] = values[0] if len(values) == 1 else values
                            continue
                    elif vr == "SQ" and sequence:
                        where = f"{path}{key}"
                        out[key] = [
                            self._item(item, f"{where}[{i}].", depth + 1)
                            for i, item in enumerate(values)
                        ]
                        continue
            where = f"{path}{key}"
            if not isinstance(element, Mapping):
                raise MappingError(
                    f"{where} ({tag}): element is {type(element).__name__}, not a JSON object",
                    tag=tag,
                )
            out[key] = self.element(dict_vr, allowed, element, where, depth)
        return out

    def element(
        self,
        dict_vr: str | None,
        allowed: frozenset[str] | None,
        element: Mapping[str, Any],
        where: str,
        depth: int = 0,
    ) -> Any:
        """The slow path: conversions, empty values, binary data and broken elements."""
        vr = element.get("vr")
        if vr.__class__ is not str or vr not in ALL_VRS:
            fallback = dict_vr if dict_vr in ALL_VRS else "UN"
            problem = "has no vr" if vr is None else f"has unknown vr {short_repr(vr)}"
            self._warn(where, f"{problem}; read as {fallback}")
            vr = fallback
        elif allowed is not None and vr not in allowed:
            expected = " or ".join(sorted(allowed - {"UN"}))
            self._warn(
                where,
                f"has vr {vr} where the data dictionary (PS3.6) says {expected}; read as {vr}",
            )
        values = element.get("Value")
        bulk = (
            "InlineBinary"
            if "InlineBinary" in element
            else ("BulkDataURI" if "BulkDataURI" in element else None)
        )
        if values is None or values == []:
            if bulk is None:
                return empty_value(vr)
            data = element[bulk]
            if data.__class__ is not str:  # F.2.7: a base64 string / a URI
                self._warn(
                    where, f"{bulk} is {json_type(data)}, not a string (PS3.18 F.2.7); dropped"
                )
                return empty_value(vr)
            if where not in TABLE_KEYWORDS:  # inline on purpose (converter.mapping.palette)
                self._large(where, data)
            return {bulk: data}
        if bulk is not None:
            self._warn(where, f"has both Value and {bulk} (PS3.18 F.2.2 allows one); Value used")
        if not isinstance(values, list):
            self._warn(where, f"Value is {type(values).__name__}, not an array; read as one value")
            values = [values]
        if vr == "SQ":
            return [self._item(item, f"{where}[{i}].", depth + 1) for i, item in enumerate(values)]
        convert = _CONVERTERS.get(vr)
        if convert is not None:
            values = convert(self, values, where)
        values = [self._value(where, vr, v) for v in values]
        if len(values) == 1:
            single = values[0]
            return empty_value(vr) if single is None else single
        return values

    def _value(self, where: str, vr: str, value: Any) -> Any:
        """One value as written: arrays and objects (which PS3.18 F.2.3 never puts in a
        ``Value`` but of SQ and PN) as their JSON text, warned about; a large one warned."""
        kind = value.__class__
        if kind is list or kind is dict:
            try:
                text = orjson.dumps(value).decode("utf-8")
            except orjson.JSONEncodeError as exc:  # nested too deep to be written at all
                raise MappingError(
                    f"{where}: a {vr} value is {json_type(value)} nested too "
                    "deep to be written (a broken or hostile answer)"
                ) from exc
            self._warn(
                where,
                f"a {vr} value is {json_type(value)} (PS3.18 F.2.3 allows none "
                "here); written as its JSON text",
            )
            return text
        self._large(where, value)
        return value

    def _large(self, where: str, value: Any) -> None:
        if value.__class__ is str and len(value) > LARGE_VALUE:
            self._warn(
                where,
                f"a value of {len(value):,} characters (over {LARGE_VALUE:,}); "
                "kept whole, and copied into the launch file every viewer downloads",
            )

    def _item(self, item: Any, path: str, depth: int) -> dict[str, Any]:
        if depth > MAX_SEQUENCE_DEPTH:
            head = path.split("[", 1)[0]
            raise MappingError(
                f"{head}: sequences nested more than {MAX_SEQUENCE_DEPTH} levels deep "
                "(a broken or hostile answer); the instance cannot be converted"
            )
        if item is None:
            self._warn(path.rstrip("."), "sequence item is null; written as an empty item")
            return {}
        return self.dataset(item, path, depth)

    def pn(self, values: list[Any], where: str) -> list[Any]:
        names = []
        for value in values:
            if value.__class__ is dict:
                a, i, p = value.get("Alphabetic"), value.get("Ideographic"), value.get("Phonetic")
                if (
                    (a is None or a.__class__ is str)
                    and (i is None or i.__class__ is str)
                    and (p is None or p.__class__ is str)
                ):
                    names.append(f"{a or ''}={i or ''}={p or ''}".rstrip("="))
                    continue
            self._check_pn(value, where)
            try:
                names.append(person_name(value))
            except MappingError as exc:
                raise MappingError(f"{where}: {exc}") from exc
        return names

    def _check_pn(self, value: Any, where: str) -> None:
        if not isinstance(value, Mapping):
            return
        for group in PN_GROUPS:
            part = value.get(group)
            if part is not None and part.__class__ is not str:
                self._warn(
                    where,
                    f"PN {group} is {type(part).__name__}, not a string "
                    "(PS3.18 F.2.2); written as its JSON text",
                )

    def _numbers(self, values: list[Any], where: str, integer: bool, vr: str) -> list[Any]:
        out: list[Any] = []
        for v in values:
            if isinstance(v, str):
                parsed = parse_number(v, integer)
                if parsed is None:
                    self._warn(where, f"{vr} value {v[:40]!r} is not a valid number; kept as text")
                    out.append(v)
                else:
                    out.append(parsed)
            else:
                out.append(v)
        return out

    def ds(self, values: list[Any], where: str) -> list[Any]:
        if all(type(v) is not str for v in values):
            return values
        return self._numbers(values, where, False, "DS")

    def is_(self, values: list[Any], where: str) -> list[Any]:
        if all(type(v) is not str for v in values):
            return values
        return self._numbers(values, where, True, "IS")


_CONVERTERS: dict[str, Callable[[_Mapper, list[Any], str], list[Any]]] = {
    "PN": _Mapper.pn,
    "DS": _Mapper.ds,
    "IS": _Mapper.is_,
}
"""Per-VR value conversions; every other VR keeps its PS3.18 values as they are."""


__all__ = ["describe_tag", "empty_value", "keyword_for", "map_dataset", "map_datasets"]


def map_dataset(
    dataset: Mapping[str, Any], *, keep_private: bool = False, warn: Warn | None = None
) -> dict[str, Any]:
    """Map one PS3.18 F.2 dataset (one instance's metadata) to keyword form.

    Parameters
    ----------
    dataset:
        A tag-keyed object as a DICOMweb server returns it, e.g. one item of
        ``GET .../series/{uid}/metadata``.
    keep_private:
        Keep private (odd-group) elements under their 8-hex tag.
    warn:
        Called with one sentence for every problem that was worked around.

    Raises
    ------
    MappingError
        When an element is not a JSON object or the dataset is not one.
    """
    return _Mapper(keep_private, warn).dataset(dataset)


def map_datasets(
    datasets: Iterable[Mapping[str, Any]], *, keep_private: bool = False, warn: Warn | None = None
) -> list[dict[str, Any]]:
    """Map a PS3.18 JSON array of datasets (what ``.../metadata`` returns)."""
    mapper = _Mapper(keep_private, warn)
    out = []
    for i, ds in enumerate(datasets):
        if not isinstance(ds, Mapping):
            raise MappingError(
                f"item {i} of the metadata array is {type(ds).__name__}, not a dataset object"
            )
        try:
            out.append(mapper.dataset(ds))
        except MappingError as exc:
            sop = ds.get("00080018")
            values = sop.get("Value") if isinstance(sop, Mapping) else None
            name = values[0] if isinstance(values, list) and values else None
            shown = name[:80] if isinstance(name, str) else f"number {i + 1}"
            raise MappingError(f"instance {shown}: {exc}", tag=exc.tag, vr=exc.vr) from exc
    return out
