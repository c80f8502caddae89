"""``dicomweb2ohif folder``: local files -> the same launch file as ``snapshot`` of the same files.

The oracle for the metadata is ``snapshot`` of the same files through a real
Orthanc (the other source of the one mapper/writer path), with every difference
listed and explained below; for the urls, a real local HTTP server that serves
the folder; for skipped files, real files that are cut, damaged or not DICOM.
"""

from __future__ import annotations

import functools
import gzip
import json
import shutil
import struct
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pydicom
import pytest
import requests
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import PYDICOM_ROOT_UID, ExplicitVRLittleEndian, generate_uid

from converter.cli import main
from converter.validate import validate
from fixtures.orthanc import Orthanc
from tests.conftest import FIXTURE_DICOM, fixture_files
from tests.realworld import realworld_files

PREFIX = "https://files.example/dicom/"

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
    # Binary values up to 768 bytes are InlineBinary (OHIF reads inline palettes but
    # cannot fetch a BulkDataURI from a launch file); Orthanc always sends a BulkDataURI.
    ("examples_overlay.dcm", "IconImageSequence[0].RedPaletteColorLookupTableData"),
    ("examples_overlay.dcm", "IconImageSequence[0].GreenPaletteColorLookupTableData"),
    ("examples_overlay.dcm", "IconImageSequence[0].BluePaletteColorLookupTableData"),
    ("examples_palette.dcm", "RedPaletteColorLookupTableData"),
    ("examples_palette.dcm", "GreenPaletteColorLookupTableData"),
    ("examples_palette.dcm", "BluePaletteColorLookupTableData"),
    # Orthanc decodes ISO 2022 IR 13 so that '\' becomes U+00A5: multi-valued strings
    # come back as one value, multi-valued numbers empty. Folder has pydicom's values.
    *(("J2K_pixelrep_mismatch.dcm", k) for k in (
        "ImageType", "PatientOrientation", "ImageOrientationPatient", "ImagePositionPatient",
        "PixelSpacing", "WindowCenter", "WindowWidth")),
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


def run(*argv: str) -> int:
    return main(list(argv))


def read_json(path: Path) -> Any:
    return json.loads(path.read_bytes())


# --- comparing two launch files --------------------------------------------------


def _diff(a: Any, b: Any, path: str) -> Iterator[str]:
    if isinstance(a, dict) and isinstance(b, dict) and not ({"InlineBinary", "BulkDataURI",
                                                             "DirectRetrieveURL"} & (a.keys() | b.keys())):
        for key in a.keys() | b.keys():
            if key not in a or key not in b:
                yield f"{path}{key}"
            else:
                yield from _diff(a[key], b[key], f"{path}{key}.")
    elif (isinstance(a, list) and isinstance(b, list) and len(a) == len(b)
          and any(isinstance(v, dict) for v in a)):
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


def differences(folder: dict[str, Any], snapshot: dict[str, Any],
                names: dict[str, str]) -> set[tuple[str, str]]:
    """(file name, JSON path) of every value that differs, urls apart (frame numbers compared)."""
    found: set[tuple[str, str]] = set()
    assert [s["StudyInstanceUID"] for s in folder["studies"]] == [
        s["StudyInstanceUID"] for s in snapshot["studies"]]
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


def sop_names(files: list[Path]) -> dict[str, str]:
    return {pydicom.dcmread(p, stop_before_pixels=True, force=True).SOPInstanceUID: p.name
            for p in files}


# --- data ---------------------------------------------------------------------------


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


def copies(folder: Path, count: int) -> list[Path]:
    """``count`` CT slices with new UIDs (two series), like a real export."""
    source = [pydicom.dcmread(p) for p in sorted((FIXTURE_DICOM / "study_a" / "ct").glob("*.dcm"))]
    paths = []
    for i in range(count):
        ds = source[i % len(source)]
        ds.SeriesInstanceUID = generate_uid(PYDICOM_ROOT_UID, entropy_srcs=["copies", str(i % 2)])
        ds.SOPInstanceUID = generate_uid(PYDICOM_ROOT_UID, entropy_srcs=["copies", str(i)])
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber = i + 1
        path = folder / f"series{i % 2}" / f"IM{i:04d}.dcm"
        path.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(path)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def fixture_launch(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("folder") / "fixtures.json"
    assert run("folder", str(FIXTURE_DICOM), "--url-prefix", PREFIX, "-o", str(out), "-q") == 0
    document: dict[str, Any] = read_json(out)
    return document


@pytest.fixture(scope="module")
def realworld_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("realworld")
    for path in realworld_files():
        shutil.copy(path, folder / path.name)
    return folder


# --- the same metadata as snapshot ------------------------------------------------------


@pytest.mark.orthanc
class TestSameAsSnapshot:
    def test_fixtures(self, fixture_launch: dict[str, Any], orthanc: Orthanc,
                      tmp_path: Path) -> None:
        out = tmp_path / "snap.json"
        assert run("snapshot", orthanc.dicomweb_url, "-o", str(out), "-q") == 0
        found = differences(fixture_launch, read_json(out), sop_names(fixture_files()))
        assert found == FIXTURE_DIFFERENCES

    def test_real_world_corpus(self, realworld_folder: Path, realworld_orthanc: Orthanc,
                               tmp_path: Path) -> None:
        folder_out, snap_out = tmp_path / "folder.json", tmp_path / "snap.json"
        assert run("folder", str(realworld_folder), "--url-prefix", PREFIX,
                   "-o", str(folder_out), "-q") == 0
        assert run("snapshot", realworld_orthanc.dicomweb_url, "-o", str(snap_out), "-q") == 0
        found = differences(read_json(folder_out), read_json(snap_out),
                            sop_names(realworld_files()))
        assert found == REALWORLD_DIFFERENCES

    def test_every_vr(self, tmp_path: Path) -> None:
        path = every_vr_file(tmp_path / "in" / "every_vr.dcm")
        folder_out, snap_out = tmp_path / "folder.json", tmp_path / "snap.json"
        assert run("folder", str(path.parent), "--url-prefix", PREFIX,
                   "-o", str(folder_out), "-q") == 0
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


class TestLaunchFile:
    def test_every_fixture_instance_and_frame(self, fixture_launch: dict[str, Any],
                                              fixture_headers: list[pydicom.Dataset]) -> None:
        entries = [e for st in fixture_launch["studies"] for se in st["series"]
                   for e in se["instances"]]
        frames = {h.SOPInstanceUID: int(h.get("NumberOfFrames", 1)) for h in fixture_headers}
        assert len(entries) == sum(frames.values())
        assert {e["metadata"]["SOPInstanceUID"] for e in entries} == set(frames)

    def test_urls_are_prefix_plus_path(self, fixture_launch: dict[str, Any]) -> None:
        ct = fixture_launch["studies"][0]["series"][0]["instances"][0]
        assert ct["url"] == f"dicomweb:{PREFIX}study_a/ct/CT001.dcm"
        us = [e["url"] for st in fixture_launch["studies"] for se in st["series"]
              for e in se["instances"] if se["Modality"] == "US"]
        assert us == [f"dicomweb:{PREFIX}study_b/us/US_MF001.dcm?frame={n}" for n in range(1, 6)]

    def test_pdf_opens_from_the_launch_file(self, fixture_launch: dict[str, Any]) -> None:
        import base64

        doc = next(e["metadata"] for st in fixture_launch["studies"] for se in st["series"]
                   for e in se["instances"] if se["Modality"] == "DOC")
        pdf = base64.b64decode(doc["EncapsulatedDocument"]["InlineBinary"])
        assert pdf.startswith(b"%PDF-1.4") and b"%%EOF" in pdf
        assert pdf == pydicom.dcmread(FIXTURE_DICOM / "study_a/doc/PDF001.dcm").EncapsulatedDocument

    def test_passes_validate(self, fixture_launch: dict[str, Any]) -> None:
        assert validate(fixture_launch) == []

    def test_no_private_tags_unless_kept(self, tmp_path: Path) -> None:
        out = tmp_path / "p.json"
        assert run("folder", str(FIXTURE_DICOM / "study_a"), "--url-prefix", PREFIX,
                   "--keep-private", "-o", str(out), "-q") == 0
        ct = read_json(out)["studies"][0]["series"][0]["instances"][0]["metadata"]
        assert ct["00091001"] == "private value"
        assert ct["00091002"][0]["00091003"]

    def test_two_runs_and_any_number_of_processes_give_the_same_bytes(self, tmp_path: Path) -> None:
        copies(tmp_path / "in", 140)
        outs = [tmp_path / f"{jobs}.json" for jobs in (1, 2, 2)]
        for jobs, out in zip((1, 2, 2), outs, strict=True):
            assert run("folder", str(tmp_path / "in"), "--url-prefix", PREFIX, "--jobs",
                       str(jobs), "-o", str(out), "-q") == 0
        assert outs[0].read_bytes() == outs[1].read_bytes() == outs[2].read_bytes()
        assert read_json(outs[0])["studies"][0]["NumInstances"] == 140


class TestUrls:
    def test_awkward_names_are_quoted_and_fetch_the_files(self, tmp_path: Path) -> None:
        """A real HTTP server on the folder answers every url with the file's bytes."""
        root = tmp_path / "served"
        names = ["with space/CT #1.dcm", "per%cent/a?b.dcm", "ünïcødé/€.dcm", "plain/CT.dcm"]
        sources = sorted((FIXTURE_DICOM / "study_a" / "ct").glob("*.dcm"))
        for name, source in zip(names, sources, strict=False):
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, root / name)
        handler = functools.partial(SimpleHTTPRequestHandler, directory=str(root))
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            prefix = f"http://127.0.0.1:{server.server_address[1]}/"
            out = tmp_path / "out.json"
            assert run("folder", str(root), "--url-prefix", prefix, "-o", str(out), "-q") == 0
            urls = [e["url"] for st in read_json(out)["studies"] for se in st["series"]
                    for e in se["instances"]]
            assert f"dicomweb:{prefix}with%20space/CT%20%231.dcm" in urls
            assert f"dicomweb:{prefix}per%25cent/a%3Fb.dcm" in urls
            by_name = {}
            for url in urls:
                answer = requests.get(url.removeprefix("dicomweb:"), timeout=10)
                assert answer.status_code == 200, url
                by_name[url] = answer.content
            assert sorted(by_name.values()) == sorted((root / n).read_bytes() for n in names)
        finally:
            server.shutdown()
            server.server_close()

    @pytest.mark.parametrize(("prefix", "url"), [
        ("https://h.example/data", "dicomweb:https://h.example/data/ct/CT001.dcm"),
        ("/dicom", "dicomweb:/dicom/ct/CT001.dcm"),
        ("", "dicomweb:ct/CT001.dcm"),
    ])
    def test_prefix_forms(self, prefix: str, url: str, tmp_path: Path) -> None:
        out = tmp_path / "o.json"
        assert run("folder", str(FIXTURE_DICOM / "study_a"), "--url-prefix", prefix,
                   "-o", str(out), "-q") == 0
        assert read_json(out)["studies"][0]["series"][0]["instances"][0]["url"] == url
        assert validate(read_json(out)) == []


class TestSkippedFiles:
    def make(self, folder: Path) -> None:
        shutil.copytree(FIXTURE_DICOM / "study_a", folder)
        ct = (folder / "ct" / "CT002.dcm").read_bytes()
        (folder / "ct" / "CT002.dcm").write_bytes(ct[:ct.index(b"Yamada") + 3])  # in a name
        (folder / "notes.txt").write_text("not an image\n")
        (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
        shutil.copy(folder / "ct" / "CT003.dcm", folder / "ct" / "CT003 copy.dcm")

    def test_the_rest_is_written_and_the_skipped_named(
            self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.make(tmp_path / "in")
        out = tmp_path / "out.json"
        assert run("folder", str(tmp_path / "in"), "--url-prefix", PREFIX, "-o", str(out)) == 0
        err = capsys.readouterr().err
        assert "skipped 2 of 9 files, 1 not DICOM: notes.txt (not a DICOM file); 1 " \
               "unreadable: ct/CT002.dcm (truncated: element" in err
        assert "ct/CT003.dcm (same SOP instance as ct/CT003 copy.dcm)" in err
        assert ".DS_Store" not in err
        document = read_json(out)
        assert validate(document) == []
        assert document["studies"][0]["NumInstances"] == 6  # 5 CT - 1 cut + SR + PDF
        urls = [e["url"] for se in document["studies"][0]["series"] for e in se["instances"]]
        assert f"dicomweb:{PREFIX}ct/CT003%20copy.dcm" in urls  # the first one, in name order
        assert f"dicomweb:{PREFIX}ct/CT002.dcm" not in urls

    def test_nothing_readable_exit_1_and_no_file(
            self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        (tmp_path / "in").mkdir()
        (tmp_path / "in" / "a.txt").write_text("a")
        (tmp_path / "in" / "b.dcm").write_bytes((FIXTURE_DICOM / "study_a/ct/CT001.dcm")
                                               .read_bytes()[:132])
        out = tmp_path / "out.json"
        assert run("folder", str(tmp_path / "in"), "--url-prefix", PREFIX, "-o", str(out)) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err
        assert err.startswith(f"error: no DICOM instance could be read under {tmp_path / 'in'}: "
                              "2 files, 1 not DICOM: a.txt (not a DICOM file); 1 unreadable: "
                              "b.dcm (no data elements")
        assert not out.exists()
        assert list(tmp_path.iterdir()) == [tmp_path / "in"]

    @pytest.mark.parametrize(("argv", "code", "message"), [
        (["folder", "MISSING", "--url-prefix", PREFIX, "-o", "o.json"], 1,
         "error: MISSING is not a folder"),
        (["folder", ".", "--url-prefix", "ftp://h/x", "-o", "o.json"], 2,
         "use an http(s) URL or a relative path"),
        (["folder", ".", "--url-prefix", "https://u:p@h/x", "-o", "o.json"], 2,
         "must not contain credentials"),
        (["folder", ".", "--url-prefix", "https://h/x?a=1", "-o", "o.json"], 2,
         "no query or fragment"),
        (["folder", ".", "--url-prefix", PREFIX, "--gzip", "-o", "o.json"], 2,
         "--gzip goes with folder output"),
        (["folder", ".", "-o", "o.json"], 2, "the following arguments are required: --url-prefix"),
    ])
    def test_mistakes_one_line(self, argv: list[str], code: int, message: str, tmp_path: Path,
                               capsys: pytest.CaptureFixture[str],
                               monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.chdir(tmp_path)
        (tmp_path / "empty").mkdir()
        assert run(*argv) == code
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1
        assert not (tmp_path / "o.json").exists()

    def test_empty_folder(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        assert run("folder", str(tmp_path), "--url-prefix", PREFIX, "-o", "-") == 1
        assert "the folder holds no files" in capsys.readouterr().err

    def test_output_inside_the_folder_is_not_read(self, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
        shutil.copytree(FIXTURE_DICOM / "study_c", tmp_path / "in")
        out = tmp_path / "in" / "launch.json"
        for _ in range(2):
            assert run("folder", str(tmp_path / "in"), "--url-prefix", PREFIX, "-o", str(out)) == 0
            assert "skipped" not in capsys.readouterr().err
        assert read_json(out)["studies"][0]["NumInstances"] == 3


class TestOutputs:
    def test_stdout(self, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
        assert run("folder", str(FIXTURE_DICOM / "study_c"), "--url-prefix", PREFIX,
                   "-o", "-", "-q") == 0
        captured = capsysbinary.readouterr()
        assert json.loads(captured.out)["studies"][0]["PatientID"] == "DW2O-0003"
        assert captured.err == b""

    def test_folder_output_one_file_per_study_and_index(self, tmp_path: Path) -> None:
        target = tmp_path / "launch"
        assert run("folder", str(FIXTURE_DICOM), "--url-prefix", PREFIX, "--gzip",
                   "-o", f"{target}/", "-q") == 0
        index = read_json(target / "index.json")
        files = sorted(p.name for p in target.iterdir() if p.name != "index.json")
        assert files == sorted(e["file"] for e in index["studies"])
        assert len(files) == 3 and all(f.endswith(".json.gz") for f in files)
        for name in files:
            document = json.loads(gzip.decompress((target / name).read_bytes()))
            assert document["studies"][0]["StudyInstanceUID"] + ".json.gz" == name
            assert validate(document) == []

    def test_no_inline_documents(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        out = tmp_path / "o.json"
        assert run("folder", str(FIXTURE_DICOM / "study_a" / "doc"), "--url-prefix", PREFIX,
                   "--no-inline-documents", "-o", str(out)) == 0
        assert "PDF001.dcm: encapsulated document written as a BulkDataURI" in \
            capsys.readouterr().err
        document = read_json(out)
        md = document["studies"][0]["series"][0]["instances"][0]["metadata"]
        assert md["EncapsulatedDocument"] == {"BulkDataURI": f"{PREFIX}PDF001.dcm"}
        assert [str(p) for p in validate(document)] == [
            "studies[0].series[0].instances[0].metadata.EncapsulatedDocument: OHIF can open "
            "the PDF only from a DirectRetrieveURL or InlineBinary, not a BulkDataURI"]


def problems_by_file(document: dict[str, Any], names: dict[str, str]) -> set[tuple[str, str]]:
    """validate()'s problems as (file name, attribute or series.<field>)."""
    found = set()
    for problem in validate(document):
        study, series, *rest = problem.path.split(".")
        first = document["studies"][int(study[8:-1])]["series"][int(series[7:-1])]
        name = names[first["instances"][0]["metadata"]["SOPInstanceUID"]]
        found.add((name, ".".join(rest[2:]) if rest[0].startswith("instances[")
                   else "series." + ".".join(rest)))
    return found


# What the real-world files themselves lack or break (validate's findings on them).
REALWORLD_PROBLEMS = {
    # Secondary Captures without Modality (Type 1 in the General Series module)
    ("GDCMJ2K_TextGBR.dcm", "series.Modality"), ("GDCMJ2K_TextGBR.dcm", "Modality"),
    ("SC_jpeg_no_color_transform.dcm", "series.Modality"),
    ("SC_jpeg_no_color_transform.dcm", "Modality"),
    ("ExplVR_BigEnd.dcm", "PixelSpacing"),  # an ultrasound image with no calibration at all
    ("badVR.dcm", "NumberOfFrames"),  # the invalid IS "1A"
}


def test_real_world_corpus_passes_validate_but_for_what_files_lack(realworld_folder: Path,
                                                                   tmp_path: Path) -> None:
    out = tmp_path / "rw.json"
    assert run("folder", str(realworld_folder), "--url-prefix", "", "-o", str(out), "-q") == 0
    document = read_json(out)
    assert problems_by_file(document, sop_names(realworld_files())) == REALWORLD_PROBLEMS
