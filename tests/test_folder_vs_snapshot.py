"""``folder`` gives the same launch file as ``snapshot`` of the same files, but for what is listed.

The oracle is ``snapshot`` of the same files through a real Orthanc (the other
source of the one mapper/writer path): the fixtures, the real-world corpus and a
file with the VRs and shapes Orthanc handles its own way. Every difference is
listed with its reason; any other one fails.
"""

from __future__ import annotations

import shutil
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import PYDICOM_ROOT_UID, ExplicitVRLittleEndian, generate_uid

from fixtures.orthanc import Orthanc
from tests.conftest import FIXTURE_DICOM, fixture_files
from tests.folder_runs import PREFIX, read_json, run, sop_names
from tests.realworld import realworld_files

pytestmark = pytest.mark.orthanc

# Differences between folder and snapshot output of the same files: (file, JSON path).
FIXTURE_DIFFERENCES = {
    # The PDF travels inline (OHIF makes a blob: URL of it, a static host serves no
    # PDF); snapshot links the server's WADO-URI with contentType=application/pdf.
    ("PDF001.dcm", "EncapsulatedDocument"),
}
REALWORLD_DIFFERENCES = {
    # Orthanc keeps the padding space of a CS value that is not the last one (PS3.5 6.2).
    ("693_J2KI.dcm", "ImageType"),
    # Orthanc drops the empty first value of Specific Character Set, which stands for
    # the default repertoire (PS3.3 C.12.1.1.2); folder keeps it as null (PS3.18 F.2.5).
    ("chrH31.dcm", "SpecificCharacterSet"),
    ("chrI2.dcm", "SpecificCharacterSet"),
    ("chrJapMulti.dcm", "SpecificCharacterSet"),
    ("chrKoreanMulti.dcm", "SpecificCharacterSet"),
    # Orthanc returns the ISO 2022 IR 87 name groups undecoded (tests/test_realworld.py).
    ("chrH32.dcm", "PatientName"),
    ("chrH32.dcm", "study.PatientName"),
    # Invalid IS "1A": folder keeps it (the mapper warns), Orthanc sends an empty value.
    ("badVR.dcm", "NumberOfFrames"),
    # After the pixel data: folder never reads that far.
    ("CT_small.dcm", "DataSetTrailingPadding"),
    ("MR_small_jpeg_ls_lossless.dcm", "DataSetTrailingPadding"),
    # Palette tables in an icon image: folder writes them inline (as every palette
    # table), Orthanc sends a BulkDataURI, and snapshot repairs only the image's own
    # palette, the one OHIF reads (converter/snapshot/palette_fetch.py).
    ("examples_overlay.dcm", "IconImageSequence[0].RedPaletteColorLookupTableData"),
    ("examples_overlay.dcm", "IconImageSequence[0].GreenPaletteColorLookupTableData"),
    ("examples_overlay.dcm", "IconImageSequence[0].BluePaletteColorLookupTableData"),
    # Orthanc decodes ISO 2022 IR 13 so that '\' becomes U+00A5: multi-valued strings
    # come back as one value, multi-valued numbers empty. Folder has pydicom's values.
    *(
        ("J2K_pixelrep_mismatch.dcm", k)
        for k in (
            "ImageType",
            "PatientOrientation",
            "ImageOrientationPatient",
            "ImagePositionPatient",
            "PixelSpacing",
            "WindowCenter",
            "WindowWidth",
        )
    ),
}
EVERY_VR_DIFFERENCES = {
    # Orthanc leaves out a sequence whose items are all empty.
    ("every_vr.dcm", "ReferencedSeriesSequence"),
    # Orthanc sends OD/OF/OL as their first number instead of binary (PS3.18 F.2.7).
    ("every_vr.dcm", "DoublePointCoordinatesData"),
    ("every_vr.dcm", "VectorGridData"),
    ("every_vr.dcm", "LongPrimitivePointIndexList"),
    # Orthanc 1.10 leaves out OV, SV and UV elements.
    ("every_vr.dcm", "SelectorOVValue"),
    ("every_vr.dcm", "SelectorSVValue"),
    ("every_vr.dcm", "SelectorUVValue"),
}


# --- comparing two launch files --------------------------------------------------


def _diff(a: Any, b: Any, path: str) -> Iterator[str]:
    if (
        isinstance(a, dict)
        and isinstance(b, dict)
        and not ({"InlineBinary", "BulkDataURI", "DirectRetrieveURL"} & (a.keys() | b.keys()))
    ):
        for key in a.keys() | b.keys():
            if key not in a or key not in b:
                yield f"{path}{key}"
            else:
                yield from _diff(a[key], b[key], f"{path}{key}.")
    elif (
        isinstance(a, list)
        and isinstance(b, list)
        and len(a) == len(b)
        and any(isinstance(v, dict) for v in a)
    ):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            yield from _diff(x, y, f"{path[:-1]}[{i}].")
    elif _same(a, b):
        return
    else:
        yield path.rstrip(".")


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict) and "BulkDataURI" in a and "BulkDataURI" in b:
        return a.keys() == b.keys()  # both link the value; the URLs differ by nature
    return bool(a == b and type(a) is type(b))


def _frame(url: str) -> str | None:
    query = urlsplit(url.removeprefix("dicomweb:")).query
    return next((p[6:] for p in query.split("&") if p.startswith("frame=")), None)


def differences(
    folder: dict[str, Any], snapshot: dict[str, Any], names: dict[str, str]
) -> set[tuple[str, str]]:
    """(file name, JSON path) of every value that differs, urls apart (frame numbers compared)."""
    found: set[tuple[str, str]] = set()
    assert [s["StudyInstanceUID"] for s in folder["studies"]] == [
        s["StudyInstanceUID"] for s in snapshot["studies"]
    ]
    for st_a, st_b in zip(folder["studies"], snapshot["studies"], strict=True):
        first = names[st_a["series"][0]["instances"][0]["metadata"]["SOPInstanceUID"]]
        a = {k: v for k, v in st_a.items() if k != "series"}
        b = {k: v for k, v in st_b.items() if k != "series"}
        found |= {(first, f"study.{p}") for p in _diff(a, b, "")}
        assert len(st_a["series"]) == len(st_b["series"])
        for se_a, se_b in zip(st_a["series"], st_b["series"], strict=True):
            a = {k: v for k, v in se_a.items() if k != "instances"}
            b = {k: v for k, v in se_b.items() if k != "instances"}
            name = names[se_a["instances"][0]["metadata"]["SOPInstanceUID"]]
            found |= {(name, f"series.{p}") for p in _diff(a, b, "")}
            assert len(se_a["instances"]) == len(se_b["instances"]), name
            for e_a, e_b in zip(se_a["instances"], se_b["instances"], strict=True):
                name = names[e_a["metadata"]["SOPInstanceUID"]]
                assert _frame(e_a["url"]) == _frame(e_b["url"]), name
                found |= {(name, p) for p in _diff(e_a["metadata"], e_b["metadata"], "")}
    return found


def every_vr_file(path: Path) -> Path:
    """A Secondary Capture header with the VRs and shapes Orthanc handles its own way."""

    def uid(name: str) -> str:
        return generate_uid(PYDICOM_ROOT_UID, entropy_srcs=["dicomweb2ohif every VR", name])

    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID, ds.StudyInstanceUID = uid("sop"), uid("study")
    ds.SeriesInstanceUID, ds.Modality = uid("series"), "OT"
    ds.PatientID, ds.PatientName, ds.SeriesNumber = "DW2O-VR", "Every^VR", 1
    ds.add_new(0x00660022, "OD", struct.pack("<2d", 0.0, 1.0))
    ds.add_new(0x00640009, "OF", struct.pack("<2f", 1.0, 2.0))
    ds.add_new(0x00660040, "OL", struct.pack("<2L", 1, 2))
    ds.add_new(0x00720081, "OV", struct.pack("<Q", 1))
    ds.add_new(0x00720082, "SV", [-5, 7])
    ds.add_new(0x00720083, "UV", [5, 2**40])
    ds.add_new(0x00081115, "SQ", Sequence([Dataset(), Dataset()]))
    ds.add_new(0x00400275, "SQ", Sequence([]))
    ds.add_new(0x00080119, "UC", "a long code value")
    ds.add_new(0x00081190, "UR", "https://example.com/retrieve")
    ds.add_new(0x00181063, "DS", "1.5e2")
    ds.add_new(0x00200012, "IS", "+7")
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def folder_and_snapshot_differences(
    folder: Path, server: Orthanc, files: list[Path], tmp_path: Path
) -> set[tuple[str, str]]:
    """``differences`` between ``folder`` run on the files and ``snapshot`` of the server."""
    folder_out, snap_out = tmp_path / "folder.json", tmp_path / "snap.json"
    assert run("folder", str(folder), "--url-prefix", PREFIX, "-o", str(folder_out), "-q") == 0
    assert run("snapshot", server.dicomweb_url, "-o", str(snap_out), "-q") == 0
    return differences(read_json(folder_out), read_json(snap_out), sop_names(files))


class TestSameAsSnapshot:
    def test_fixtures(self, orthanc: Orthanc, tmp_path: Path) -> None:
        found = folder_and_snapshot_differences(FIXTURE_DICOM, orthanc, fixture_files(), tmp_path)
        assert found == FIXTURE_DIFFERENCES

    def test_real_world_corpus(self, realworld_orthanc: Orthanc, tmp_path: Path) -> None:
        corpus = tmp_path / "corpus"
        corpus.mkdir()
        for path in realworld_files():
            shutil.copy(path, corpus / path.name)
        found = folder_and_snapshot_differences(
            corpus, realworld_orthanc, realworld_files(), tmp_path
        )
        assert found == REALWORLD_DIFFERENCES

    def test_every_vr(self, tmp_path: Path) -> None:
        path = every_vr_file(tmp_path / "in" / "every_vr.dcm")
        folder_out, snap_out = tmp_path / "folder.json", tmp_path / "snap.json"
        assert (
            run("folder", str(path.parent), "--url-prefix", PREFIX, "-o", str(folder_out), "-q")
            == 0
        )
        with Orthanc() as server:
            server.upload([path])
            assert run("snapshot", server.dicomweb_url, "-o", str(snap_out), "-q") == 0
        document = read_json(folder_out)
        found = differences(document, read_json(snap_out), sop_names([path]))
        assert found == EVERY_VR_DIFFERENCES
        md = document["studies"][0]["series"][0]["instances"][0]["metadata"]
        assert md["SelectorSVValue"] == [-5, 7] and md["SelectorUVValue"] == [5, 2**40]
        assert md["ReferencedSeriesSequence"] == [{}, {}] and md["RequestAttributesSequence"] == []
        assert md["FrameTime"] == 150 and md["AcquisitionNumber"] == 7  # "1.5e2", "+7"
