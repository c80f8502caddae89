"""Local DICOM file -> PS3.18 JSON (converter.folder.part10), checked against pydicom itself.

The oracle is pydicom: its own conversion of every element (``fast=False``) and
its ``Dataset.to_json_dict``, on the fixtures and on the real-world corpus.
Broken files are real files, cut or damaged here.
"""

from __future__ import annotations

import base64
import io
import math
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.filewriter import dcmwrite
from pydicom.uid import ExplicitVRBigEndian, ImplicitVRLittleEndian

from converter.errors import UnreadableFileError
from converter.folder.part10 import ENCAPSULATED_DOCUMENT, BulkData, dataset_json, read_header
from converter.mapping.mapper import map_dataset
from tests.conftest import FIXTURE_DICOM, fixture_files
from tests.realworld import PYDICOM_DATA, realworld_files

BULK = BulkData("https://files.example/x.dcm")
CT = FIXTURE_DICOM / "study_a" / "ct" / "CT001.dcm"
PDF = FIXTURE_DICOM / "study_a" / "doc" / "PDF001.dcm"


def every_file() -> list[Path]:
    return [*fixture_files(), *realworld_files()]


class TestAgainstPydicom:
    @pytest.mark.parametrize("keep_private", [True, False])
    def test_raw_byte_path_equals_pydicoms_conversion(self, keep_private: bool) -> None:
        """The fast path decodes raw bytes itself; pydicom's conversion must agree everywhere."""
        for path in every_file():
            fast = read_header(path, BULK, keep_private=keep_private).dataset
            slow = read_header(path, BULK, keep_private=keep_private, fast=False).dataset
            assert fast == slow, path.name

    def test_mapped_like_pydicoms_to_json_dict_on_the_fixtures(self) -> None:
        for path in fixture_files():
            ds = pydicom.dcmread(path, stop_before_pixels=True)
            theirs = map_dataset(
                ds.to_json_dict(bulk_data_element_handler=lambda _: BULK.uri), keep_private=True
            )
            ours = map_dataset(read_header(path, BULK).dataset, keep_private=True)
            assert ours == theirs, path.name

    def test_private_elements_left_out_unless_kept(self) -> None:
        kept = read_header(CT, BULK).dataset
        assert "00091001" in kept and "00091002" in kept
        assert not [
            t for t in read_header(CT, BULK, keep_private=False).dataset if int(t[3], 16) % 2
        ]

    def test_group_lengths_left_out(self) -> None:
        path = next(p for p in realworld_files() if p.name == "ExplVR_BigEnd.dcm")
        assert 0x00080000 in pydicom.dcmread(path, stop_before_pixels=True)
        assert not [t for t in read_header(path, BULK).dataset if t.endswith("0000")]


class TestValues:
    def test_ds_and_is_are_numbers_whole_ones_without_fraction(self) -> None:
        ds = read_header(CT, BULK).dataset
        assert ds["00280030"]["Value"] == [0.703125, 0.703125]  # PixelSpacing
        assert ds["00180050"]["Value"] == [2.5]  # SliceThickness
        assert ds["00281052"]["Value"] == [-1024]  # RescaleIntercept "-1024"
        assert ds["00200013"]["Value"] == [1]  # InstanceNumber

    def test_invalid_is_kept_as_text_for_the_mapper_to_warn_about(self) -> None:
        path = next(p for p in realworld_files() if p.name == "badVR.dcm")
        ds = read_header(path, BULK).dataset
        assert ds["00280008"] == {"vr": "IS", "Value": ["1A"]}
        warnings: list[str] = []
        assert map_dataset(ds, warn=warnings.append)["NumberOfFrames"] == "1A"
        assert warnings == ["NumberOfFrames: IS value '1A' is not a valid number; kept as text"]

    def test_empty_value_among_several_is_null(self) -> None:
        path = next(p for p in realworld_files() if p.name == "examples_overlay.dcm")
        image_type = read_header(path, BULK).dataset["00080008"]["Value"]
        assert image_type[4] is None and image_type[3] == "CSA MPR"

    def test_person_name_groups(self) -> None:
        name = read_header(CT, BULK).dataset["00100010"]["Value"][0]
        assert name == {
            "Alphabetic": "Yamada^Tarou",
            "Ideographic": "山田^太郎",
            "Phonetic": "やまだ^たろう",
        }

    def test_non_finite_float_becomes_null_with_a_warning(self, tmp_path: Path) -> None:
        ds = pydicom.dcmread(CT)
        ds.add_new(0x00186028, "FD", [math.nan, 2.0])  # ReferencePixelPhysicalValueX
        path = tmp_path / "nan.dcm"
        ds.save_as(path)
        header = read_header(path, BULK)
        assert header.dataset["00186028"]["Value"] == [None, 2]
        assert header.warnings == ("FL/FD value nan has no JSON form; written as null",)


class TestBulkData:
    def test_pdf_inline_whatever_its_size(self, tmp_path: Path) -> None:
        """A header longer than the 64 KiB read at once is read from the file (one 300 kB PDF)."""
        ds = pydicom.dcmread(PDF)
        document = bytes(range(256)) * 1200
        ds.EncapsulatedDocument = document
        path = tmp_path / "big.dcm"
        ds.save_as(path)
        header = read_header(path, BULK)
        element = header.dataset[f"{ENCAPSULATED_DOCUMENT:08X}"]
        assert base64.b64decode(element["InlineBinary"]) == document
        assert header.warnings == ()  # nothing about the cut first read

    def test_pdf_as_bulk_data_uri_when_not_inlined(self) -> None:
        bulk = BulkData("https://f/doc.dcm", inline_documents=False)
        assert read_header(PDF, bulk).dataset["00420011"] == {
            "vr": "OB",
            "BulkDataURI": "https://f/doc.dcm",
        }

    def test_small_binary_inline_large_as_bulk_data_uri(self) -> None:
        path = next(p for p in realworld_files() if p.name == "examples_overlay.dcm")
        ds = read_header(path, BulkData("u", threshold=10**9)).dataset
        assert "InlineBinary" in ds["60003000"]
        assert read_header(path, BulkData("u", threshold=100)).dataset["60003000"] == {
            "vr": "OW",
            "BulkDataURI": "u",
        }

    def test_palette_tables_inline_whatever_the_threshold(self) -> None:
        path = next(p for p in realworld_files() if p.name == "examples_palette.dcm")
        ds = read_header(path, BulkData("u", threshold=100)).dataset
        raw = base64.b64decode(ds["00281201"]["InlineBinary"])  # OHIF reads no BulkDataURI
        assert raw == pydicom.dcmread(path).RedPaletteColorLookupTableData


class TestTransferSyntaxes:
    @pytest.mark.parametrize("syntax", [ImplicitVRLittleEndian, ExplicitVRBigEndian])
    def test_same_json_in_every_uncompressed_syntax(self, syntax: str, tmp_path: Path) -> None:
        ds = pydicom.dcmread(CT, stop_before_pixels=True)
        ds.file_meta.TransferSyntaxUID = syntax
        path = tmp_path / "other.dcm"
        dcmwrite(
            path,
            ds,
            implicit_vr=syntax.is_implicit_VR,
            little_endian=syntax.is_little_endian,
            force_encoding=True,
        )
        assert pydicom.dcmread(path).file_meta.TransferSyntaxUID == syntax

        def strip(value: Any) -> Any:  # private elements have no dictionary VR when implicit
            return {t: e for t, e in value.items() if not int(t[3], 16) % 2}

        assert strip(read_header(path, BULK).dataset) == strip(read_header(CT, BULK).dataset)

    def test_deflated_and_no_preamble_files(self) -> None:
        names = {"image_dfl.dcm", "rtstruct.dcm", "ExplVR_BigEndNoMeta.dcm"}
        for path in (p for p in realworld_files() if p.name in names):
            assert read_header(path, BULK).dataset["00080018"]["Value"], path.name


class TestBrokenFiles:
    def test_value_cut_short_is_truncated(self, tmp_path: Path) -> None:
        data = CT.read_bytes()
        cut = data.index(b"Yamada") + 3  # inside PatientName
        path = tmp_path / "cut.dcm"
        path.write_bytes(data[:cut])
        with pytest.raises(
            UnreadableFileError,
            match=r"truncated: element \(0010,0010\) "
            r"declares \d+ bytes, the file holds 3",
        ) as caught:
            read_header(path, BULK)
        assert not caught.value.not_dicom

    def test_only_the_preamble_has_no_elements(self, tmp_path: Path) -> None:
        path = tmp_path / "empty.dcm"
        path.write_bytes(CT.read_bytes()[:132])
        with pytest.raises(UnreadableFileError, match="no data elements"):
            read_header(path, BULK)

    @pytest.mark.parametrize("content", [b"hello, world\n", b"\xff\xd8\xff\xe0" + bytes(300), b""])
    def test_not_dicom(self, content: bytes, tmp_path: Path) -> None:
        path = tmp_path / "x"
        path.write_bytes(content)
        with pytest.raises(UnreadableFileError, match=r"^not a DICOM file$") as caught:
            read_header(path, BULK)
        assert caught.value.not_dicom

    def test_dicomdir_is_not_an_instance(self) -> None:
        with pytest.raises(UnreadableFileError, match="a DICOMDIR") as caught:
            read_header(PYDICOM_DATA / "test_files" / "dicomdirtests" / "DICOMDIR", BULK)
        assert caught.value.not_dicom

    def test_garbage_after_the_preamble(self, tmp_path: Path) -> None:
        path = tmp_path / "garbage.dcm"
        path.write_bytes(CT.read_bytes()[:132] + bytes(range(256)) * 8)
        with pytest.raises(
            UnreadableFileError, match=r"truncated: element \(0100,0302\)"
        ) as caught:
            read_header(path, BULK)
        assert not caught.value.not_dicom

    def test_unreadable_file(self, tmp_path: Path) -> None:
        with pytest.raises(UnreadableFileError, match="cannot read"):
            read_header(tmp_path, BULK)  # a folder


def test_dataset_json_of_an_in_memory_dataset() -> None:
    """The encoder works on any pydicom dataset, not only on one read from a file."""
    ds = pydicom.dcmread(io.BytesIO(CT.read_bytes()), stop_before_pixels=True)
    assert dataset_json(ds, BULK) == read_header(CT, BULK).dataset
