"""The command line: every user mistake and bad server answer is one line, exit 1 or 2.

In-process through ``main(argv)``; the installed console script once, in a subprocess.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from converter.cli import main
from fixtures.orthanc import Orthanc
from tests.httpfaults import Canned, fault_server

STUDY_A_PATIENT = "DW2O-0001"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("error: ")
    return lines[0]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TestUsageErrors:
    @pytest.mark.parametrize(
        ("argv", "message"),
        [
            (
                ["snapshot", "http://h/dicom-web"],
                "the following arguments are required: -o/--output",
            ),
            (
                ["snapshot", "http://h/dicom-web", "--study-date", "2020", "-o", "x"],
                "'2020' is not a date or range",
            ),
            (
                ["snapshot", "http://h/dicom-web", "--study", "1.2/../abc", "-o", "x"],
                "--study '1.2/../abc' is not safe in a file name, a request path or a query",
            ),
            (
                ["snapshot", "http://h/dicom-web", "--study", "1.2.3&x=y", "-o", "x"],
                "--study '1.2.3&x=y' is not safe in a file name, a request path or a query",
            ),
            (
                [
                    "snapshot",
                    "http://h/dicom-web",
                    "--study",
                    "1.2",
                    "--patient-id",
                    "p",
                    "-o",
                    "x",
                ],
                "give either --study UIDs or filters, not both",
            ),
            (["snapshot", "ftp://h/dicom-web", "-o", "x"], "is not an http(s) URL"),
            (
                [
                    "snapshot",
                    "http://h/dicom-web",
                    "--url-template",
                    "https://b/{study}",
                    "-o",
                    "x",
                ],
                "needs an {instance} placeholder",
            ),
            (
                [
                    "snapshot",
                    "http://h/dicom-web",
                    "--wado-uri-root",
                    "http://u:p@h/wado",
                    "-o",
                    "x",
                ],
                "must not contain credentials",
            ),
            (
                ["snapshot", "http://h/dicom-web", "--timeout", "0", "-o", "x"],
                "is not a positive number of seconds",
            ),
            (["nonsense"], "invalid choice: 'nonsense'"),
            ([], "the following arguments are required: COMMAND"),
        ],
    )
    def test_exit_2_with_one_line(
        self, capsys: pytest.CaptureFixture[str], argv: list[str], message: str, tmp_path: Path
    ) -> None:
        os.chdir(tmp_path)
        code, out, err = run(capsys, *argv)
        assert code == 2
        assert message in one_line_error(err)
        assert out == ""

    def test_help_has_an_example(self, capsys: pytest.CaptureFixture[str]) -> None:
        code, out, _ = run(capsys, "snapshot", "--help")
        assert code == 0
        assert "examples:" in out
        assert "dicomweb2ohif snapshot http://localhost:8042/dicom-web" in out


class TestServerErrors:
    def test_unreachable_server(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        url = f"http://127.0.0.1:{closed_port()}/dicom-web"
        code, _, err = run(capsys, "snapshot", url, "-o", str(tmp_path / "o.json"))
        assert code == 1
        line = one_line_error(err)
        assert f"cannot connect to {url}/studies" in line
        assert "Connection refused" in line
        assert not (tmp_path / "o.json").exists()

    @pytest.mark.orthanc
    def test_http_error_names_status_and_url(
        self, orthanc: Orthanc, capsys: pytest.CaptureFixture[str]
    ) -> None:
        code, _, err = run(capsys, "studies", orthanc.url + "/no-such-root")
        assert code == 1
        assert f"HTTP 404 from {orthanc.url}/no-such-root/studies" in one_line_error(err)

    @pytest.mark.orthanc
    def test_unknown_study_uid(
        self, orthanc: Orthanc, capsys: pytest.CaptureFixture[str], tmp_path: Path
    ) -> None:
        code, _, err = run(
            capsys,
            "snapshot",
            orthanc.dicomweb_url,
            "--study",
            "1.2.3.4.5",
            "-o",
            str(tmp_path / "o.json"),
        )
        assert code == 1
        assert f"study 1.2.3.4.5 is not on {orthanc.dicomweb_url}" in one_line_error(err)
        assert list(tmp_path.iterdir()) == []

    @pytest.mark.orthanc
    def test_no_study_matching(
        self, orthanc: Orthanc, capsys: pytest.CaptureFixture[str], tmp_path: Path
    ) -> None:
        code, _, err = run(
            capsys,
            "snapshot",
            orthanc.dicomweb_url,
            "--patient-id",
            "NOBODY",
            "-o",
            str(tmp_path / "o.json"),
        )
        assert code == 1
        assert "no study matching the filters" in one_line_error(err)

    def test_html_instead_of_json(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        page = Canned(200, b"<html><body>Login</body></html>", "text/html")
        with fault_server({"/dicom-web/studies": page}) as server:
            code, _, err = run(
                capsys,
                "snapshot",
                server.url + "/dicom-web",
                "--retries",
                "2",
                "-o",
                str(tmp_path / "o.json"),
            )
        assert code == 1
        line = one_line_error(err)
        assert f"{server.url}/dicom-web/studies did not answer JSON" in line
        assert line.endswith("(after 2 attempts)")
        assert len(server.requests) == 2

    def test_truncated_metadata_body(
        self, capsys: pytest.CaptureFixture[str], tmp_path: Path
    ) -> None:
        study = {"0020000D": {"vr": "UI", "Value": ["1.2.3"]}}
        series = {"0020000E": {"vr": "UI", "Value": ["1.2.3.4"]}}
        metadata = json.dumps(
            [{**study, **series, "00080018": {"vr": "UI", "Value": ["5"]}}]
        ).encode()
        routes = {
            "/rs/studies": Canned(200, json.dumps([study]).encode()),
            "/rs/studies/1.2.3/series": Canned(200, json.dumps([series]).encode()),
            "/rs/studies/1.2.3/series/1.2.3.4/metadata": Canned(200, metadata, truncate_to=20),
        }
        with fault_server(routes) as server:
            code, _, err = run(
                capsys,
                "snapshot",
                server.url + "/rs",
                "--retries",
                "2",
                "-q",
                "-o",
                str(tmp_path / "o.json"),
            )
        assert code == 1
        line = one_line_error(err)
        assert line.startswith("error: study 1.2.3 failed and was not written: the answer from ")
        assert "series/1.2.3.4/metadata was cut short (connection closed after 20 bytes" in line
        assert list(tmp_path.iterdir()) == []

    def test_metadata_of_the_wrong_shape(
        self, capsys: pytest.CaptureFixture[str], tmp_path: Path
    ) -> None:
        study = {"0020000D": {"vr": "UI", "Value": ["1.2.3"]}}
        series = {"0020000E": {"vr": "UI", "Value": ["1.2.3.4"]}}
        routes = {
            "/rs/studies": Canned(200, json.dumps([study]).encode()),
            "/rs/studies/1.2.3/series": Canned(200, json.dumps([series]).encode()),
            "/rs/studies/1.2.3/series/1.2.3.4/metadata": Canned(200, b'[["not", "a", "dataset"]]'),
        }
        with fault_server(routes) as server:
            code, _, err = run(
                capsys,
                "snapshot",
                server.url + "/rs",
                "--retries",
                "1",
                "-q",
                "-o",
                str(tmp_path / "o.json"),
            )
        assert code == 1
        assert "answered JSON that is not an array of datasets" in one_line_error(err)
        assert list(tmp_path.iterdir()) == []

    def test_debug_shows_the_traceback(self, capsys: pytest.CaptureFixture[str]) -> None:
        code, _, err = run(capsys, "studies", f"http://127.0.0.1:{closed_port()}/rs", "--debug")
        assert code == 1
        assert "Traceback" in err

    def test_credentials_never_in_error_messages(self, capsys: pytest.CaptureFixture[str]) -> None:
        code, _, err = run(capsys, "studies", f"http://bob:hunter2@127.0.0.1:{closed_port()}/rs")
        assert code == 1
        assert "hunter2" not in err
        assert "bob" not in err


class TestOutput:
    def test_missing_folder(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        code, _, err = run(
            capsys, "snapshot", "http://127.0.0.1:1/rs", "-o", str(tmp_path / "no" / "x.json")
        )
        assert code == 1
        assert "does not exist" in one_line_error(err)

    def test_folder_output_onto_a_file(
        self, capsys: pytest.CaptureFixture[str], tmp_path: Path
    ) -> None:
        (tmp_path / "taken").write_text("x")
        code, _, err = run(
            capsys, "snapshot", "http://127.0.0.1:1/rs", "-o", str(tmp_path / "taken") + "/"
        )
        assert code == 1
        assert "exists and is not a folder" in one_line_error(err)

    @pytest.mark.orthanc
    def test_stdout(self, orthanc: Orthanc, capsys: pytest.CaptureFixture[str]) -> None:
        code, out, err = run(
            capsys, "snapshot", orthanc.dicomweb_url, "--patient-id", STUDY_A_PATIENT, "-o", "-"
        )
        assert code == 0
        assert json.loads(out)["studies"][0]["PatientID"] == STUDY_A_PATIENT
        assert "study" in err  # progress went to stderr, not into the JSON


@pytest.mark.orthanc
class TestFilters:
    @pytest.mark.parametrize(
        ("flags", "patients"),
        [
            (["--patient-id", "DW2O-0002"], ["DW2O-0002"]),
            (["--modality", "pt"], ["DW2O-0003"]),
            (["--study-date", "20200115-20200301"], ["DW2O-0002"]),
            (["--study-date", "-20200201"], ["DW2O-0001"]),
            (["--accession", "DW2OACC0003"], ["DW2O-0003"]),
            ([], ["DW2O-0001", "DW2O-0002", "DW2O-0003"]),
        ],
    )
    def test_selection(
        self,
        orthanc: Orthanc,
        capsys: pytest.CaptureFixture[str],
        flags: list[str],
        patients: list[str],
    ) -> None:
        code, out, _ = run(capsys, "snapshot", orthanc.dicomweb_url, *flags, "-o", "-", "-q")
        assert code == 0
        assert [s["PatientID"] for s in json.loads(out)["studies"]] == patients

    def test_explicit_study_uids_keep_order(
        self, orthanc: Orthanc, capsys: pytest.CaptureFixture[str]
    ) -> None:
        _, out, _ = run(capsys, "studies", orthanc.dicomweb_url, "--json")
        uids = [s["StudyInstanceUID"] for s in json.loads(out)]
        code, out, _ = run(
            capsys,
            "snapshot",
            orthanc.dicomweb_url,
            "--study",
            uids[2],
            "--study",
            uids[0],
            "--study",
            uids[2],
            "-o",
            "-",
            "-q",
        )
        assert code == 0
        assert [s["StudyInstanceUID"] for s in json.loads(out)["studies"]] == [uids[2], uids[0]]


@pytest.mark.orthanc
class TestStudies:
    def test_table_never_cuts_uids(
        self, orthanc: Orthanc, capsys: pytest.CaptureFixture[str], fixture_headers: list[Any]
    ) -> None:
        code, out, _ = run(capsys, "studies", orthanc.dicomweb_url)
        assert code == 0
        for uid in {h.StudyInstanceUID for h in fixture_headers}:
            assert any(uid in line for line in out.splitlines()), uid

    def test_json(self, orthanc: Orthanc, capsys: pytest.CaptureFixture[str]) -> None:
        code, out, _ = run(capsys, "studies", orthanc.dicomweb_url, "--json", "--modality", "CT")
        assert code == 0
        studies = json.loads(out)
        assert [s["PatientID"] for s in studies] == ["DW2O-0001", "DW2O-0002"]
        assert studies[0]["NumberOfStudyRelatedInstances"] == 7

    def test_narrow_terminal_does_not_wrap_paths_or_uids(
        self, orthanc: Orthanc, tmp_path: Path
    ) -> None:
        deep = tmp_path / ("very-long-folder-name-" * 4)
        deep.mkdir()
        out = deep / "snapshot-with-a-long-name.json"
        env = {**os.environ, "COLUMNS": "30"}
        done = subprocess.run(
            [sys.executable, "-m", "converter", "snapshot", orthanc.dicomweb_url, "-o", str(out)],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=True,
        )
        assert any(line.endswith(str(out)) for line in done.stderr.splitlines())
        table = subprocess.run(
            [sys.executable, "-m", "converter", "studies", orthanc.dicomweb_url],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=True,
        )
        uid = json.loads(out.read_text())["studies"][0]["StudyInstanceUID"]
        assert any(uid in line for line in table.stdout.splitlines())


class TestMap:
    def metadata(self, orthanc: Orthanc) -> bytes:
        root = orthanc.dicomweb_url
        study = requests.get(f"{root}/studies?PatientID=DW2O-0003", timeout=30).json()[0]
        s = study["0020000D"]["Value"][0]
        series = requests.get(f"{root}/studies/{s}/series", timeout=30).json()[0]
        se = series["0020000E"]["Value"][0]
        return requests.get(f"{root}/studies/{s}/series/{se}/metadata", timeout=30).content

    @pytest.mark.orthanc
    def test_pipe_from_stdin(self, orthanc: Orthanc) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "converter", "map", "-"],
            input=self.metadata(orthanc),
            capture_output=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        mapped = json.loads(done.stdout)
        assert mapped[0]["PatientID"] == "DW2O-0003"
        assert isinstance(mapped[0]["RadiopharmaceuticalInformationSequence"], list)

    @pytest.mark.orthanc
    def test_file(
        self, orthanc: Orthanc, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        saved = tmp_path / "meta.json"
        saved.write_bytes(self.metadata(orthanc))
        code, out, _ = run(capsys, "map", str(saved), "--indent", "2")
        assert code == 0
        assert json.loads(out)[0]["Modality"] == "PT"

    def test_not_json(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        bad = tmp_path / "bad.json"
        bad.write_text("<html>")
        code, _, err = run(capsys, "map", str(bad))
        assert code == 1
        assert f"{bad} is not JSON" in one_line_error(err)

    def test_missing_file(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        code, _, err = run(capsys, "map", str(tmp_path / "nope.json"))
        assert code == 2
        assert "cannot read" in one_line_error(err)


@pytest.mark.orthanc
def test_installed_console_script(orthanc: Orthanc) -> None:
    # The script pip put beside this interpreter (a venv's bin/, whether or not it is on PATH).
    script = shutil.which("dicomweb2ohif", path=str(Path(sys.executable).parent))
    assert script, "the console script is not installed (pip install -e .)"
    done = subprocess.run(
        [script, "snapshot", orthanc.dicomweb_url, "--modality", "MR", "-o", "-"],
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    study = json.loads(done.stdout)["studies"][0]
    assert study["Modalities"] == "MR/US/CT"


@pytest.mark.orthanc
def test_snapshot_loads_neither_pydicom_nor_dicomweb_client(
    orthanc: Orthanc, tmp_path: Path
) -> None:
    """Start-up is paid by every run (and every shard): a whole snapshot, searches
    included, runs without the heavy imports (about 0.2 s together)."""
    code = (
        "import sys; from converter.cli import main; "
        f"code = main(['snapshot', {orthanc.dicomweb_url!r}, '-q', '-o', {str(tmp_path)!r} + '/']); "
        "print(code, sorted({'pydicom', 'dicomweb_client', 'numpy'} & set(sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.split() == ["0", "[]"], done.stderr
    assert len(json.loads((tmp_path / "index.json").read_text())["studies"]) == 3
