"""Property tests: random valid PS3.18 datasets against pydicom's reading of the same JSON.

Hypothesis builds datasets with every VR, nested sequences, empty elements,
several values, PN objects, InlineBinary and BulkDataURI, on tags of the data
dictionary (retired ones too), unknown public tags and private tags. For each:
the mapper raises nothing and warns about nothing (the data is valid), its
output is plain JSON, and it agrees with pydicom's ``Dataset.from_json`` on the
same input -- the same tags (by keyword), the same values -- once docs/format.md's
deliberate differences are applied: PN as one ``A=I=P`` string with trailing
empty groups dropped, DS/IS as numbers, empty values ``""``/``null``/``[]``, AT
as its 8-hex text, binary kept as given, pixel and waveform data and (by
default) private tags dropped.
"""

from __future__ import annotations

import base64
import json
import math
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom import Dataset, config
from pydicom.datadict import DicomDictionary
from pydicom.dataelem import DataElement
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence

from converter.launch.encoding import dumps
from converter.mapping.mapper import keyword_for, map_dataset
from converter.mapping.tags import PIXEL_AND_WAVEFORM_TAGS
from converter.mapping.values import ALL_VRS, BINARY_VRS, NUMERIC_VRS, empty_value

PROPERTIES = settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
"""Bounded so that the whole module runs in seconds in every CI run."""

_BY_VR: dict[str, list[str]] = {}
for _tag, _entry in DicomDictionary.items():
    _hex = f"{_tag:08X}"
    if (
        _entry[0] in ALL_VRS
        and _entry[4]
        and _hex not in PIXEL_AND_WAVEFORM_TAGS
        and _hex[:4] not in ("0000", "0002", "FFFE")
    ):
        _BY_VR.setdefault(_entry[0], []).append(_hex)
MULTI = sorted(ALL_VRS - BINARY_VRS - {"SQ", "LT", "ST", "UT", "UR"})
"""VRs that may have several values (PS3.5 6.4: not the long-text and binary ones)."""


@pytest.fixture(autouse=True)
def lenient_pydicom() -> Iterator[None]:
    """pydicom judges the values against PS3.5 on reading; here only the mapping is compared."""
    before = config.settings.reading_validation_mode
    config.settings.reading_validation_mode = config.IGNORE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
    config.settings.reading_validation_mode = before


_text = st.text(
    st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"), blacklist_characters="\\="),
    min_size=1,
    max_size=20,
)
_plain = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9 ._^-]{0,12}[A-Za-z0-9]", fullmatch=True)
_date = st.dates().map(lambda d: f"{d.year:04d}{d.month:02d}{d.day:02d}")
_time = st.from_regex(
    r"([01][0-9]|2[0-3])([0-5][0-9]([0-5][0-9](\.[0-9]{1,6})?)?)?", fullmatch=True
)
_ds_text = st.from_regex(
    r"[+-]?([0-9]{1,6}(\.[0-9]{0,6})?|\.[0-9]{1,6})([eE][+-]?[0-9]{1,2})?", fullmatch=True
)

VALUES: dict[str, st.SearchStrategy[Any]] = {
    "AE": st.from_regex(r"[A-Z][A-Z0-9_]{0,14}", fullmatch=True),
    "AS": st.from_regex(r"[0-9]{3}[DWMY]", fullmatch=True),
    "AT": st.integers(0, 0xFFFFFFFF).map(lambda t: f"{t:08X}"),
    "CS": st.from_regex(r"[A-Z0-9_]{1,16}", fullmatch=True),
    "DA": _date,
    "DS": st.one_of(st.integers(-(10**9), 10**9), st.floats(-1e9, 1e9, allow_nan=False), _ds_text),
    "DT": st.tuples(_date, _time).map("".join),
    "FL": st.floats(allow_nan=False, allow_infinity=False, width=32),
    "FD": st.floats(allow_nan=False, allow_infinity=False),
    "IS": st.one_of(st.integers(-(2**31), 2**31 - 1), st.integers(-(2**31), 2**31 - 1).map(str)),
    "LO": _text,
    "LT": _text,
    "SH": _plain,
    "ST": _text,
    "UC": _text,
    "UT": _text,
    "PN": st.dictionaries(
        st.sampled_from(["Alphabetic", "Ideographic", "Phonetic"]),
        st.one_of(st.just(""), _plain),
        max_size=3,
    ),
    "SL": st.integers(-(2**31), 2**31 - 1),
    "SS": st.integers(-(2**15), 2**15 - 1),
    "SV": st.integers(-(2**63), 2**63 - 1),
    "UL": st.integers(0, 2**32 - 1),
    "US": st.integers(0, 2**16 - 1),
    "UV": st.integers(0, 2**64 - 1),
    "TM": _time,
    "UI": st.from_regex(r"[1-9][0-9]{0,5}(\.(0|[1-9][0-9]{0,5})){1,8}", fullmatch=True),
    "UR": st.from_regex(r"https?://[a-z]{1,10}\.example/[a-z0-9/]{0,20}", fullmatch=True),
}
_BINARY_SIZE = {"OB": 1, "UN": 1, "OW": 2, "OF": 4, "OL": 4, "OD": 8, "OV": 8}


@st.composite
def element(draw: st.DrawFn, vr: str, depth: int) -> dict[str, Any]:
    """One valid PS3.18 F.2 element of ``vr``: empty, one or several values, or binary."""
    if draw(st.integers(0, 9)) == 0:
        return {"vr": vr}  # empty (F.2.5): no Value
    if vr in BINARY_VRS:
        if draw(st.booleans()):
            return {"vr": vr, "BulkDataURI": f"http://pacs.example/bulk/{draw(st.integers(0))}"}
        size = _BINARY_SIZE[vr] * draw(st.integers(1, 8))  # empty: no InlineBinary (F.2.5)
        return {
            "vr": vr,
            "InlineBinary": base64.b64encode(
                draw(st.binary(min_size=size, max_size=size))
            ).decode(),
        }
    if vr == "SQ":
        items = draw(st.lists(dataset(depth + 1), max_size=2 if depth < 3 else 0))
        return {"vr": vr, "Value": items}
    count = draw(st.integers(1, 4)) if vr in MULTI and draw(st.booleans()) else 1
    return {"vr": vr, "Value": draw(st.lists(VALUES[vr], min_size=count, max_size=count))}


@st.composite
def dataset(draw: st.DrawFn, depth: int = 0) -> dict[str, Any]:
    """A dataset of dictionary, unknown public and private tags, every VR likely."""
    out: dict[str, Any] = {}
    for vr in draw(st.lists(st.sampled_from(sorted(ALL_VRS)), min_size=1, max_size=8)):
        where = draw(st.integers(0, 9))
        if where < 7 and _BY_VR[vr]:
            tag = draw(st.sampled_from(_BY_VR[vr]))
        elif where < 9:  # a tag no dictionary has (public: even group)
            tag = f"{draw(st.integers(0x0F00, 0x0FFE)) & 0xFFFE:04X}{draw(st.integers(0x1000, 0xFFFF)):04X}"
        else:  # private (odd group)
            tag = f"0009{draw(st.integers(0x1000, 0x10FF)):04X}"
        out[tag] = draw(element(vr, depth))
    return out


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str | bytes | list | Sequence) and len(value) == 0)


def expected(ds: Dataset, keep_private: bool) -> dict[str, Any]:
    """pydicom's view of the dataset, put in docs/format.md's form."""
    out = {}
    for elem in ds:
        tag = f"{elem.tag:08X}"
        if tag in PIXEL_AND_WAVEFORM_TAGS or (elem.tag.is_private and not keep_private):
            continue
        out[keyword_for(tag)] = _value(elem, keep_private)
    return out


def _value(elem: DataElement, keep_private: bool) -> Any:
    vr, value = elem.VR, elem.value
    if vr == "SQ":
        return [expected(item, keep_private) for item in value]
    if _empty(value):
        return empty_value(vr)
    values = list(value) if isinstance(value, MultiValue | list) else [value]
    if vr == "PN":
        values = [str(v).rstrip("=") for v in values]
    elif vr == "AT":
        values = [f"{int(v):08X}" for v in values]
    elif vr in BINARY_VRS:
        values = [v if isinstance(v, str) else bytes(v) for v in values]
    if len(values) == 1:
        return values[0]
    return values


def assert_same(ours: Any, theirs: Any, where: str = "") -> None:
    """Compare our mapping with pydicom's, key by key and value by value."""
    if isinstance(theirs, dict):
        assert isinstance(ours, dict), where
        assert sorted(ours) == sorted(theirs), where
        for key in theirs:
            assert_same(ours[key], theirs[key], f"{where}.{key}")
        return
    if isinstance(ours, dict) and "InlineBinary" in ours:
        assert base64.b64decode(ours["InlineBinary"]) == theirs, where
        return
    if isinstance(ours, dict) and "BulkDataURI" in ours:
        assert ours["BulkDataURI"].encode() == theirs, where
        return
    if isinstance(theirs, list) and theirs and isinstance(theirs[0], dict):
        assert isinstance(ours, list) and len(ours) == len(theirs), where
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            assert_same(a, b, f"{where}[{i}]")
        return
    if isinstance(theirs, list):
        assert isinstance(ours, list) and len(ours) == len(theirs), where
        for a, b in zip(ours, theirs, strict=True):
            _same_scalar(a, b, where)
        return
    _same_scalar(ours, theirs, where)


def _same_scalar(ours: Any, theirs: Any, where: str) -> None:
    if isinstance(theirs, float) or (isinstance(ours, float) and isinstance(theirs, int)):
        assert isinstance(ours, int | float) and not isinstance(ours, bool), where
        assert math.isclose(ours, float(theirs), rel_tol=1e-15, abs_tol=0), where
    elif isinstance(theirs, int) and not isinstance(theirs, bool):
        assert isinstance(ours, int) and ours == theirs, where
    elif isinstance(theirs, str):  # pydicom's UID, PersonName text...: str subclasses
        assert type(ours) is str and ours == str(theirs), (where, ours, theirs)
    else:
        assert ours == theirs, (where, ours, theirs)


class TestAgainstPydicom:
    @PROPERTIES
    @given(dataset(), st.booleans())
    def test_maps_without_warnings_and_agrees_with_from_json(
        self, data: dict[str, Any], keep_private: bool
    ) -> None:
        problems: list[str] = []
        ours = map_dataset(data, keep_private=keep_private, warn=problems.append)
        assert problems == []
        assert json.loads(dumps(ours)) == ours  # plain JSON, nothing else
        theirs = expected(Dataset.from_json(data, lambda tag, vr, uri: uri.encode()), keep_private)
        assert_same(ours, theirs)

    @PROPERTIES
    @given(st.sampled_from(sorted(NUMERIC_VRS - {"DS", "IS"})), st.data())
    def test_numbers_stay_the_numbers_they_were(self, vr: str, data: st.DataObject) -> None:
        values = data.draw(st.lists(VALUES[vr], min_size=1, max_size=5))
        out = map_dataset({"0008EEE0": {"vr": vr, "Value": values}})["0008EEE0"]
        assert (out if len(values) > 1 else [out]) == values

    @PROPERTIES
    @given(_ds_text)
    def test_ds_text_becomes_the_number_it_spells(self, text: str) -> None:
        out = map_dataset({"00180050": {"vr": "DS", "Value": [text]}})["SliceThickness"]
        if math.isfinite(float(text)):
            assert out == float(text) and not isinstance(out, str)
        else:
            assert out == text  # 1e999: not a JSON number, kept as given (and warned about)
