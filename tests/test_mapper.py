"""The mapper, one class per VR family (PS3.18 F.2 -> docs/format.md keyword form)."""

from __future__ import annotations

from typing import Any

import pytest

from converter.errors import MappingError
from converter.mapping.mapper import keyword_for, map_dataset, map_datasets
from converter.mapping.values import (
    ALL_VRS,
    BINARY_VRS,
    NUMERIC_VRS,
    TEXT_VRS,
    empty_value,
    person_name,
)


def one(tag: str, vr: str, value: Any = None, **extra: Any) -> dict[str, Any]:
    element: dict[str, Any] = {"vr": vr, **extra}
    if value is not None:
        element["Value"] = value
    return {tag: element}


def mapped(tag: str, vr: str, value: Any = None, **extra: Any) -> Any:
    out = map_dataset(one(tag, vr, value, **extra))
    assert len(out) == 1, out
    return next(iter(out.values()))


class TestVrTables:
    def test_every_vr_of_ps3_5_is_in_exactly_one_family(self) -> None:
        every = set(
            "AE AS AT CS DA DS DT FL FD IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM "
            "UC UI UL UN UR US UT UV".split()
        )
        assert every == ALL_VRS
        assert not (TEXT_VRS & NUMERIC_VRS or TEXT_VRS & BINARY_VRS or NUMERIC_VRS & BINARY_VRS)


class TestKeys:
    def test_dictionary_tag_becomes_keyword(self) -> None:
        assert keyword_for("0020000D") == "StudyInstanceUID"
        assert keyword_for("0020000d") == "StudyInstanceUID"

    def test_retired_attribute_gets_dcmjs_prefix(self) -> None:
        assert keyword_for("00324000") == "RETIRED_StudyComments"

    def test_repeating_overlay_group(self) -> None:
        assert keyword_for("60020010") == "OverlayRows"

    def test_unknown_public_tag_keeps_hex_key(self) -> None:
        assert map_dataset(one("0008AAAA", "LO", ["x"])) == {"0008AAAA": "x"}

    def test_private_tags_dropped_by_default(self) -> None:
        ds = {**one("00090010", "LO", ["CREATOR"]), **one("00091001", "LO", ["v"])}
        assert map_dataset(ds) == {}

    def test_private_tags_kept_on_request(self) -> None:
        ds = {**one("00090010", "LO", ["CREATOR"]), **one("00091001", "LO", ["v"])}
        assert map_dataset(ds, keep_private=True) == {"00090010": "CREATOR", "00091001": "v"}

    def test_key_that_is_not_a_tag_is_warned_and_dropped(self) -> None:
        warnings: list[str] = []
        assert map_dataset({"Modality": {"vr": "CS", "Value": ["CT"]}}, warn=warnings.append) == {}
        assert "not an 8-hex DICOM tag" in warnings[0]


class TestTextVRs:
    @pytest.mark.parametrize("vr", sorted(TEXT_VRS - {"PN"}))
    def test_single_value_is_a_scalar(self, vr: str) -> None:
        assert mapped("00081030", vr, ["x"]) == "x"

    @pytest.mark.parametrize("vr", sorted(TEXT_VRS - {"PN"}))
    def test_several_values_are_an_array(self, vr: str) -> None:
        assert mapped("00080008", vr, ["ORIGINAL", "PRIMARY"]) == ["ORIGINAL", "PRIMARY"]

    @pytest.mark.parametrize("vr", sorted(TEXT_VRS))
    def test_empty_is_empty_string(self, vr: str) -> None:
        assert mapped("00100010", vr) == ""
        assert mapped("00100010", vr, []) == ""

    def test_at_is_kept_as_given(self) -> None:
        assert mapped("00209165", "AT", ["00209056", "0020911D"]) == ["00209056", "0020911D"]

    def test_null_inside_several_values_is_kept(self) -> None:
        assert mapped("00080008", "CS", ["A", None]) == ["A", None]


class TestPersonName:
    def test_alphabetic_only(self) -> None:
        assert mapped("00100010", "PN", [{"Alphabetic": "Doe^Jane"}]) == "Doe^Jane"

    def test_all_three_groups(self) -> None:
        value = {
            "Alphabetic": "Yamada^Tarou",
            "Ideographic": "山田^太郎",
            "Phonetic": "やまだ^たろう",
        }
        assert person_name(value) == "Yamada^Tarou=山田^太郎=やまだ^たろう"

    def test_trailing_empty_groups_dropped_inner_kept(self) -> None:
        assert person_name({"Alphabetic": "A", "Ideographic": "", "Phonetic": ""}) == "A"
        assert person_name({"Ideographic": "山田"}) == "=山田"
        assert person_name({"Alphabetic": "A", "Phonetic": "p"}) == "A==p"

    def test_several_names_array_of_strings(self) -> None:
        assert mapped("00081070", "PN", [{"Alphabetic": "A"}, {"Alphabetic": "B"}]) == ["A", "B"]

    def test_empty_object_is_empty_string(self) -> None:
        assert mapped("00100010", "PN", [{}]) == ""


class TestNumericVRs:
    @pytest.mark.parametrize("vr", ["FL", "FD", "SL", "SS", "UL", "US", "SV", "UV"])
    def test_numbers_kept(self, vr: str) -> None:
        assert mapped("00280010", vr, [512]) == 512
        assert mapped("00280010", vr, [1, 2]) == [1, 2]

    @pytest.mark.parametrize("vr", sorted(NUMERIC_VRS))
    def test_empty_is_null(self, vr: str) -> None:
        assert mapped("00180050", vr) is None

    def test_ds_numbers_and_strings(self) -> None:
        assert mapped("00280030", "DS", [0.703125, 0.703125]) == [0.703125, 0.703125]
        assert mapped("00280030", "DS", ["0.703125", " 1e2 "]) == [0.703125, 100.0]
        assert mapped("00180050", "DS", ["3"]) == 3

    def test_is_string_becomes_int(self) -> None:
        assert mapped("00200011", "IS", ["3000566"]) == 3000566
        assert mapped("00200011", "IS", [" -2 "]) == -2

    def test_invalid_ds_kept_as_text_and_warned(self) -> None:
        warnings: list[str] = []
        out = map_dataset(one("00180050", "DS", ["2,5"]), warn=warnings.append)
        assert out == {"SliceThickness": "2,5"}
        assert warnings == ["SliceThickness: DS value '2,5' is not a valid number; kept as text"]

    @pytest.mark.parametrize("text", ["1_000", "nan", "inf", "0x10", ""])
    def test_python_only_number_forms_are_not_numbers(self, text: str) -> None:
        assert mapped("00180050", "DS", [text]) == text
        assert mapped("00200013", "IS", [text]) == text

    def test_is_with_fraction_is_invalid(self) -> None:
        assert mapped("00200013", "IS", ["1.5"]) == "1.5"


class TestBinaryVRs:
    @pytest.mark.parametrize("vr", sorted(BINARY_VRS))
    def test_inline_binary_kept(self, vr: str) -> None:
        assert mapped("00281201", vr, InlineBinary="AAEC") == {"InlineBinary": "AAEC"}

    @pytest.mark.parametrize("vr", sorted(BINARY_VRS))
    def test_bulk_data_uri_kept_outside_pixel_data(self, vr: str) -> None:
        assert mapped("00281201", vr, BulkDataURI="http://s/b") == {"BulkDataURI": "http://s/b"}

    @pytest.mark.parametrize("tag", ["7FE00010", "7FE00008", "7FE00009", "54001010", "60003000"])
    def test_pixel_and_waveform_bulk_never_written(self, tag: str) -> None:
        assert map_dataset(one(tag, "OW", BulkDataURI="http://s/px")) == {}
        assert map_dataset(one(tag, "OB", InlineBinary="AAAA")) == {}

    def test_encapsulated_document_bulk_kept_for_the_writer(self) -> None:
        assert mapped("00420011", "OB", BulkDataURI="http://s/doc") == {
            "BulkDataURI": "http://s/doc"
        }

    @pytest.mark.parametrize("vr", sorted(BINARY_VRS))
    def test_empty_is_null(self, vr: str) -> None:
        assert mapped("00281201", vr) is None


class TestSequences:
    def test_one_item_is_still_an_array(self) -> None:
        ds = one("00081140", "SQ", [one("00081155", "UI", ["1.2.3"])])
        assert map_dataset(ds) == {
            "ReferencedImageSequence": [{"ReferencedSOPInstanceUID": "1.2.3"}]
        }

    def test_nested_and_empty(self) -> None:
        inner = {**one("00080100", "SH", ["121071"]), **one("00080104", "LO")}
        ds = one("0040A730", "SQ", [{**one("0040A043", "SQ", [inner]), **one("0040A730", "SQ")}])
        assert map_dataset(ds) == {
            "ContentSequence": [
                {
                    "ConceptNameCodeSequence": [{"CodeValue": "121071", "CodeMeaning": ""}],
                    "ContentSequence": [],
                }
            ]
        }

    def test_null_item_warned(self) -> None:
        warnings: list[str] = []
        assert map_dataset(one("00081140", "SQ", [None]), warn=warnings.append) == {
            "ReferencedImageSequence": [{}]
        }
        assert warnings == [
            "ReferencedImageSequence[0]: sequence item is null; written as an empty item"
        ]

    def test_private_tags_dropped_inside_items_too(self) -> None:
        ds = one(
            "00081140", "SQ", [{**one("00091001", "LO", ["p"]), **one("00081150", "UI", ["1.2"])}]
        )
        assert map_dataset(ds) == {"ReferencedImageSequence": [{"ReferencedSOPClassUID": "1.2"}]}


class TestBrokenElements:
    def test_missing_vr_uses_dictionary_and_warns(self) -> None:
        warnings: list[str] = []
        assert map_dataset({"00280010": {"Value": [512]}}, warn=warnings.append) == {"Rows": 512}
        assert warnings == ["Rows: has no vr; read as US"]

    def test_unknown_vr_for_unknown_tag_reads_as_un(self) -> None:
        warnings: list[str] = []
        out = map_dataset({"0008AAAA": {"vr": "XX", "Value": ["x"]}}, warn=warnings.append)
        assert out == {"0008AAAA": "x"}
        assert warnings == ["0008AAAA: has unknown vr 'XX'; read as UN"]

    def test_value_not_an_array_is_wrapped(self) -> None:
        warnings: list[str] = []
        assert map_dataset({"00080060": {"vr": "CS", "Value": "CT"}}, warn=warnings.append) == {
            "Modality": "CT"
        }
        assert "not an array" in warnings[0]

    def test_element_that_is_not_an_object_raises_naming_the_tag(self) -> None:
        with pytest.raises(MappingError, match=r"^Modality \(00080060\): element is str"):
            map_dataset({"00080060": "CT"})

    def test_metadata_array_item_that_is_not_a_dataset(self) -> None:
        with pytest.raises(MappingError, match=r"^item 1 of the metadata array is list"):
            map_datasets([{}, []])


class TestEmptyValue:
    def test_one_place_decides(self) -> None:
        assert [empty_value(v) for v in ("PN", "DS", "SQ", "OB")] == ["", None, [], None]
