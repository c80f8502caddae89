"""``dicomweb2ohif folder``: urls, skipped files, outputs, and what validate says of it.

The oracle for the urls is a real local HTTP server that serves the folder; for
skipped files, real files that are cut, damaged or not DICOM; for the metadata,
pydicom and ``snapshot`` of the same files (tests/test_folder_vs_snapshot.py).
"""

from __future__ import annotations

import functools
import gzip
import json
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pydicom
import pytest
import requests
from pydicom.uid import PYDICOM_ROOT_UID, generate_uid

from converter.validate.validator import validate
from tests.conftest import FIXTURE_DICOM
from tests.folder_runs import (
    PREFIX,
    REALWORLD_PROBLEMS,
    problems_by_file,
    read_json,
    run,
    sop_names,
)
from tests.realworld import realworld_files
from tests.test_study_list import study_list_rows

# --- data ---------------------------------------------------------------------------


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


class TestLaunchFile:
    def test_every_fixture_instance_and_frame(
        self, fixture_launch: dict[str, Any], fixture_headers: list[pydicom.Dataset]
    ) -> None:
        entries = [
            e for st in fixture_launch["studies"] for se in st["series"] for e in se["instances"]
        ]
        frames = {h.SOPInstanceUID: int(h.get("NumberOfFrames", 1)) for h in fixture_headers}
        assert len(entries) == sum(frames.values())
        assert {e["metadata"]["SOPInstanceUID"] for e in entries} == set(frames)

    def test_urls_are_prefix_plus_path(self, fixture_launch: dict[str, Any]) -> None:
        ct = fixture_launch["studies"][0]["series"][0]["instances"][0]
        assert ct["url"] == f"dicomweb:{PREFIX}study_a/ct/CT001.dcm"
        us = [
            e["url"]
            for st in fixture_launch["studies"]
            for se in st["series"]
            for e in se["instances"]
            if se["Modality"] == "US"
        ]
        assert us == [f"dicomweb:{PREFIX}study_b/us/US_MF001.dcm?frame={n}" for n in range(1, 6)]

    def test_pdf_opens_from_the_launch_file(self, fixture_launch: dict[str, Any]) -> None:
        import base64

        doc = next(
            e["metadata"]
            for st in fixture_launch["studies"]
            for se in st["series"]
            for e in se["instances"]
            if se["Modality"] == "DOC"
        )
        pdf = base64.b64decode(doc["EncapsulatedDocument"]["InlineBinary"])
        assert pdf.startswith(b"%PDF-1.4") and b"%%EOF" in pdf
        assert pdf == pydicom.dcmread(FIXTURE_DICOM / "study_a/doc/PDF001.dcm").EncapsulatedDocument

    def test_passes_validate(self, fixture_launch: dict[str, Any]) -> None:
        assert validate(fixture_launch) == []

    def test_no_private_tags_unless_kept(self, tmp_path: Path) -> None:
        out = tmp_path / "p.json"
        assert (
            run(
                "folder",
                str(FIXTURE_DICOM / "study_a"),
                "--url-prefix",
                PREFIX,
                "--keep-private",
                "-o",
                str(out),
                "-q",
            )
            == 0
        )
        ct = read_json(out)["studies"][0]["series"][0]["instances"][0]["metadata"]
        assert ct["00091001"] == "private value"
        assert ct["00091002"][0]["00091003"]

    def test_two_runs_and_any_number_of_processes_give_the_same_bytes(self, tmp_path: Path) -> None:
        copies(tmp_path / "in", 140)
        outs = [tmp_path / f"{jobs}.json" for jobs in (1, 2, 2)]
        for jobs, out in zip((1, 2, 2), outs, strict=True):
            assert (
                run(
                    "folder",
                    str(tmp_path / "in"),
                    "--url-prefix",
                    PREFIX,
                    "--jobs",
                    str(jobs),
                    "-o",
                    str(out),
                    "-q",
                )
                == 0
            )
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
            urls = [
                e["url"]
                for st in read_json(out)["studies"]
                for se in st["series"]
                for e in se["instances"]
            ]
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

    @pytest.mark.parametrize(
        ("prefix", "url"),
        [
            ("https://h.example/data", "dicomweb:https://h.example/data/ct/CT001.dcm"),
            ("/dicom", "dicomweb:/dicom/ct/CT001.dcm"),
            ("", "dicomweb:ct/CT001.dcm"),
        ],
    )
    def test_prefix_forms(self, prefix: str, url: str, tmp_path: Path) -> None:
        out = tmp_path / "o.json"
        assert (
            run(
                "folder",
                str(FIXTURE_DICOM / "study_a"),
                "--url-prefix",
                prefix,
                "-o",
                str(out),
                "-q",
            )
            == 0
        )
        assert read_json(out)["studies"][0]["series"][0]["instances"][0]["url"] == url
        assert validate(read_json(out)) == []


class TestSkippedFiles:
    def make(self, folder: Path) -> None:
        shutil.copytree(FIXTURE_DICOM / "study_a", folder)
        ct = (folder / "ct" / "CT002.dcm").read_bytes()
        (folder / "ct" / "CT002.dcm").write_bytes(ct[: ct.index(b"Yamada") + 3])  # in a name
        (folder / "notes.txt").write_text("not an image\n")
        (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
        shutil.copy(folder / "ct" / "CT003.dcm", folder / "ct" / "CT003 copy.dcm")

    def test_the_rest_is_written_and_the_skipped_named(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        self.make(tmp_path / "in")
        out = tmp_path / "out.json"
        assert run("folder", str(tmp_path / "in"), "--url-prefix", PREFIX, "-o", str(out)) == 0
        err = capsys.readouterr().err
        assert (
            "skipped 2 of 9 files, 1 not DICOM: notes.txt (not a DICOM file); 1 "
            "unreadable: ct/CT002.dcm (truncated: element" in err
        )
        assert "ct/CT003.dcm (same SOP instance as ct/CT003 copy.dcm)" in err
        assert ".DS_Store" not in err
        document = read_json(out)
        assert validate(document) == []
        assert document["studies"][0]["NumInstances"] == 6  # 5 CT - 1 cut + SR + PDF
        urls = [e["url"] for se in document["studies"][0]["series"] for e in se["instances"]]
        assert f"dicomweb:{PREFIX}ct/CT003%20copy.dcm" in urls  # the first one, in name order
        assert f"dicomweb:{PREFIX}ct/CT002.dcm" not in urls

    def test_nothing_readable_exit_1_and_no_file(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        (tmp_path / "in").mkdir()
        (tmp_path / "in" / "a.txt").write_text("a")
        (tmp_path / "in" / "b.dcm").write_bytes(
            (FIXTURE_DICOM / "study_a/ct/CT001.dcm").read_bytes()[:132]
        )
        out = tmp_path / "out.json"
        assert run("folder", str(tmp_path / "in"), "--url-prefix", PREFIX, "-o", str(out)) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err
        assert err.startswith(
            f"error: no DICOM instance could be read under {tmp_path / 'in'}: "
            "2 files, 1 not DICOM: a.txt (not a DICOM file); 1 unreadable: "
            "b.dcm (no data elements"
        )
        assert not out.exists()
        assert list(tmp_path.iterdir()) == [tmp_path / "in"]

    @pytest.mark.parametrize(
        ("argv", "code", "message"),
        [
            (
                ["folder", "MISSING", "--url-prefix", PREFIX, "-o", "o.json"],
                1,
                "error: MISSING is not a folder",
            ),
            (
                ["folder", ".", "--url-prefix", "ftp://h/x", "-o", "o.json"],
                2,
                "use an http(s) URL or a relative path",
            ),
            (
                ["folder", ".", "--url-prefix", "https://u:p@h/x", "-o", "o.json"],
                2,
                "must not contain credentials",
            ),
            (
                ["folder", ".", "--url-prefix", "https://h/x?a=1", "-o", "o.json"],
                2,
                "no query or fragment",
            ),
            (
                ["folder", ".", "--url-prefix", PREFIX, "--gzip", "-o", "o.json"],
                2,
                "--gzip goes with folder output",
            ),
            (
                ["folder", ".", "-o", "o.json"],
                2,
                "the following arguments are required: --url-prefix",
            ),
        ],
    )
    def test_mistakes_one_line(
        self,
        argv: list[str],
        code: int,
        message: str,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.chdir(tmp_path)
        (tmp_path / "empty").mkdir()
        assert run(*argv) == code
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1
        assert not (tmp_path / "o.json").exists()

    def test_empty_folder(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        assert run("folder", str(tmp_path), "--url-prefix", PREFIX, "-o", "-") == 1
        assert "the folder holds no files" in capsys.readouterr().err

    def test_output_inside_the_folder_is_not_read(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        shutil.copytree(FIXTURE_DICOM / "study_c", tmp_path / "in")
        out = tmp_path / "in" / "launch.json"
        for _ in range(2):
            assert run("folder", str(tmp_path / "in"), "--url-prefix", PREFIX, "-o", str(out)) == 0
            assert "skipped" not in capsys.readouterr().err
        assert read_json(out)["studies"][0]["NumInstances"] == 3


class TestOutputs:
    def test_stdout(self, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
        assert (
            run("folder", str(FIXTURE_DICOM / "study_c"), "--url-prefix", PREFIX, "-o", "-", "-q")
            == 0
        )
        captured = capsysbinary.readouterr()
        assert json.loads(captured.out)["studies"][0]["PatientID"] == "DW2O-0003"
        assert captured.err == b""

    def test_folder_output_one_file_per_study_and_index(self, tmp_path: Path) -> None:
        target = tmp_path / "launch"
        assert (
            run(
                "folder",
                str(FIXTURE_DICOM),
                "--url-prefix",
                PREFIX,
                "--gzip",
                "-o",
                f"{target}/",
                "-q",
            )
            == 0
        )
        index = read_json(target / "index.json")
        files = sorted(
            p.name for p in target.iterdir() if p.name not in ("index.json", "index.html")
        )
        assert files == sorted(e["file"] for e in index["studies"])
        assert len(files) == 3 and all(f.endswith(".json.gz") for f in files)
        for name in files:
            document = json.loads(gzip.decompress((target / name).read_bytes()))
            assert document["studies"][0]["StudyInstanceUID"] + ".json.gz" == name
            assert validate(document) == []

    def test_object_storage_as_snapshot_writes_it(self) -> None:
        import fsspec

        assert (
            run(
                "folder",
                str(FIXTURE_DICOM / "study_c"),
                "--url-prefix",
                PREFIX,
                "-o",
                "memory://dicomweb2ohif-folder-test/",
                "-q",
            )
            == 0
        )
        fs = fsspec.filesystem("memory")
        names = sorted(
            p.rsplit("/", 1)[1] for p in fs.ls("/dicomweb2ohif-folder-test", detail=False)
        )
        study = json.loads(fs.cat("/dicomweb2ohif-folder-test/index.json"))["studies"][0]
        assert names == sorted(["index.html", "index.json", study["file"]])
        page = study_list_rows(fs.cat("/dicomweb2ohif-folder-test/index.html"))
        assert [r["file"] for r in page] == [study["file"]]
        document = json.loads(fs.cat(f"/dicomweb2ohif-folder-test/{study['file']}"))
        assert validate(document) == []

    def test_no_inline_documents(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        out = tmp_path / "o.json"
        assert (
            run(
                "folder",
                str(FIXTURE_DICOM / "study_a" / "doc"),
                "--url-prefix",
                PREFIX,
                "--no-inline-documents",
                "-o",
                str(out),
            )
            == 0
        )
        assert (
            "PDF001.dcm: encapsulated document written as a BulkDataURI" in capsys.readouterr().err
        )
        document = read_json(out)
        md = document["studies"][0]["series"][0]["instances"][0]["metadata"]
        assert md["EncapsulatedDocument"] == {"BulkDataURI": f"{PREFIX}PDF001.dcm"}
        assert [str(p) for p in validate(document)] == [
            "studies[0].series[0].instances[0].metadata.EncapsulatedDocument: OHIF can open "
            "the PDF only from a DirectRetrieveURL or InlineBinary, not a BulkDataURI"
        ]


def test_real_world_corpus_passes_validate_but_for_what_files_lack(
    realworld_folder: Path, tmp_path: Path
) -> None:
    out = tmp_path / "rw.json"
    assert run("folder", str(realworld_folder), "--url-prefix", "", "-o", str(out), "-q") == 0
    document = read_json(out)
    assert problems_by_file(document, sop_names(realworld_files())) == REALWORLD_PROBLEMS
