"""Migrating a study list: folder output, resume, interruption, paging, retries, auth.

Against real Orthanc servers started here; faults a real server cannot be made to
produce come from the real local HTTP server in tests/httpfaults.py.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from converter.cli import main
from converter.source.client import DicomWebSource
from converter.source.session import Credentials, on_loopback
from fixtures.orthanc import Orthanc
from fixtures.synthetic import make_studies, study_uid
from tests.faultproxy import fault_proxy
from tests.httpfaults import Canned, fault_server


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def study_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in ("index.json", "index.html"))


def index(folder: Path) -> dict[str, dict[str, Any]]:
    document = json.loads((folder / "index.json").read_text(encoding="utf-8"))
    return {e["StudyInstanceUID"]: e for e in document["studies"]}


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    """An Orthanc with 24 synthetic studies of 2 series x 3 instances (144 instances)."""
    files = tmp_path_factory.mktemp("synthetic")
    with Orthanc() as server:
        server.upload(list(make_studies(files, 24, 2, 3)))
        yield server


class TestFolderOutput:
    @pytest.mark.orthanc
    def test_one_file_per_study_and_an_index(
        self, orthanc: Orthanc, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        out = tmp_path / "launch"
        code, _, err = run(capsys, "snapshot", orthanc.dicomweb_url, "-o", f"{out}/")
        assert code == 0, err
        entries = index(out)
        assert study_files(out) == sorted(f"{uid}.json" for uid in entries)
        assert len(entries) == 3
        for uid, entry in entries.items():
            document = json.loads((out / entry["file"]).read_text(encoding="utf-8"))
            assert [s["StudyInstanceUID"] for s in document["studies"]] == [uid]
            assert entry["NumInstances"] == document["studies"][0]["NumInstances"]
            assert entry["written"].endswith("+00:00")
        assert {e["PatientID"] for e in entries.values()} == {"DW2O-0001", "DW2O-0002", "DW2O-0003"}
        assert "written" in err and "skipped" in err  # the summary table

    @pytest.mark.orthanc
    def test_same_study_json_as_single_file(
        self, orthanc: Orthanc, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        code, out, _ = run(capsys, "snapshot", orthanc.dicomweb_url, "-o", "-", "-q")
        assert code == 0
        whole = {s["StudyInstanceUID"]: s for s in json.loads(out)["studies"]}
        folder = tmp_path / "f"
        assert run(capsys, "snapshot", orthanc.dicomweb_url, "-o", f"{folder}/", "-q")[0] == 0
        for uid, study in whole.items():
            assert json.loads((folder / f"{uid}.json").read_text())["studies"] == [study]

    @pytest.mark.orthanc
    def test_gzip_is_deterministic(
        self, orthanc: Orthanc, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        a, b = tmp_path / "a", tmp_path / "b"
        for folder in (a, b):
            assert (
                run(capsys, "snapshot", orthanc.dicomweb_url, "--gzip", "-o", f"{folder}/", "-q")[0]
                == 0
            )
        names = study_files(a)
        assert names and all(n.endswith(".json.gz") for n in names)
        for name in names:
            assert (a / name).read_bytes() == (b / name).read_bytes()
            assert json.loads(gzip.decompress((a / name).read_bytes()))["studies"]

    def test_gzip_needs_a_folder(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        code, _, err = run(
            capsys, "snapshot", "http://127.0.0.1:1/rs", "--gzip", "-o", str(tmp_path / "x.json")
        )
        assert code == 2
        assert "--gzip goes with folder output" in err


@pytest.mark.orthanc
class TestResume:
    def test_rerun_skips_up_to_date_studies(
        self, orthanc: Orthanc, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        out = tmp_path / "r"
        assert run(capsys, "snapshot", orthanc.dicomweb_url, "-o", f"{out}/", "-q")[0] == 0
        before = {n: (out / n).stat().st_mtime_ns for n in study_files(out)}
        time.sleep(0.01)
        code, _, err = run(capsys, "snapshot", orthanc.dicomweb_url, "-o", f"{out}/")
        assert code == 0
        assert {n: (out / n).stat().st_mtime_ns for n in study_files(out)} == before
        assert err.count(": skipped") == 3
        code, _, err = run(capsys, "snapshot", orthanc.dicomweb_url, "-o", f"{out}/", "--force")
        assert code == 0
        assert all((out / n).stat().st_mtime_ns > t for n, t in before.items())

    def test_changed_study_is_rewritten(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        files = tmp_path / "dcm"
        out = tmp_path / "out"
        with Orthanc() as server:
            server.upload(list(make_studies(files, 2, 1, 2)))
            assert run(capsys, "snapshot", server.dicomweb_url, "-o", f"{out}/", "-q")[0] == 0
            changed = study_uid(1)
            before = {n: (out / n).stat().st_mtime_ns for n in study_files(out)}
            server.upload(list(make_studies(tmp_path / "more", 1, 1, 3, first=1)))  # 1 new instance
            code, _, err = run(capsys, "snapshot", server.dicomweb_url, "-o", f"{out}/")
        assert code == 0, err
        after = {n: (out / n).stat().st_mtime_ns for n in study_files(out)}
        assert after[f"{study_uid(0)}.json"] == before[f"{study_uid(0)}.json"]
        assert after[f"{changed}.json"] > before[f"{changed}.json"]
        assert index(out)[changed]["NumInstances"] == 3

    def test_lost_index_is_rebuilt_from_the_files(
        self, orthanc: Orthanc, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        out = tmp_path / "i"
        assert run(capsys, "snapshot", orthanc.dicomweb_url, "-o", f"{out}/", "-q")[0] == 0
        (out / "index.json").unlink()
        (out / "stray.txt").write_text("not a study")
        code, _, err = run(capsys, "snapshot", orthanc.dicomweb_url, "-o", f"{out}/")
        assert code == 0
        assert err.count("recovered from the file") == 3
        assert err.count(": skipped") == 3
        assert len(index(out)) == 3


@pytest.mark.orthanc
class TestInterrupted:
    def _start(self, server: Orthanc, out: Path) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "converter",
                "snapshot",
                server.dicomweb_url,
                "--workers",
                "1",
                "-o",
                f"{out}/",
            ],
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )

    def _wait_for_files(self, out: Path, count: int, proc: subprocess.Popen[str]) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if (
                out.is_dir()
                and len([p for p in out.glob("*.json") if p.name != "index.json"]) >= count
            ):
                return
            time.sleep(0.01)
        raise AssertionError("the run ended or stalled before writing enough files")

    @pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
    def test_killed_halfway_then_finished(
        self, many: Orthanc, tmp_path: Path, sig: int, capsys: pytest.CaptureFixture[str]
    ) -> None:
        out = tmp_path / "k"
        proc = self._start(many, out)
        self._wait_for_files(out, 5, proc)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
        leftovers = [n for n in study_files(out) if n.endswith(".part")]
        written = [n for n in study_files(out) if not n.endswith(".part")]
        assert 5 <= len(written) < 24, "the kill came too late to test anything"
        for name in written:  # every visible file is complete
            assert name.endswith(".json"), name
            assert json.loads((out / name).read_text())["studies"][0]["NumInstances"] == 6
        # Only kill -9 can strand a hidden temporary; the next run removes it.
        assert all(n.startswith(".") for n in leftovers)
        assert not leftovers or sig == signal.SIGKILL
        if sig != signal.SIGKILL:
            assert proc.returncode == 130
            assert "interrupted" in err
            assert set(index(out)) == {n.removesuffix(".json") for n in written}
        before = {n: (out / n).stat().st_mtime_ns for n in written}
        code, _, err = run(capsys, "snapshot", many.dicomweb_url, "-o", f"{out}/")
        assert code == 0, err
        assert len(study_files(out)) == 24 == len(index(out))  # and no .part left
        assert all((out / n).stat().st_mtime_ns == t for n, t in before.items())
        assert err.count(": skipped") == len(written)


class TestPaging:
    @pytest.mark.orthanc
    @pytest.mark.parametrize("page", ["1", "2", "500"])
    def test_every_study_whatever_the_page_size(
        self, many: Orthanc, page: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        code, out, _ = run(capsys, "studies", many.dicomweb_url, "--json")
        assert code == 0
        assert len(json.loads(out)) == 24
        code, out, _ = run(
            capsys, "snapshot", many.dicomweb_url, "--page-size", page, "-o", "-", "-q"
        )
        assert code == 0
        assert len(json.loads(out)["studies"]) == 24

    @pytest.mark.orthanc
    def test_limit(self, many: Orthanc, capsys: pytest.CaptureFixture[str]) -> None:
        code, out, _ = run(
            capsys,
            "snapshot",
            many.dicomweb_url,
            "--limit",
            "5",
            "--page-size",
            "2",
            "-o",
            "-",
            "-q",
        )
        assert code == 0
        assert len(json.loads(out)["studies"]) == 5

    def test_server_that_ignores_offset(self, capsys: pytest.CaptureFixture[str]) -> None:
        page = [{"0020000D": {"vr": "UI", "Value": [f"1.2.{i}"]}} for i in range(2)]
        with fault_server({"/rs/studies": Canned(200, json.dumps(page).encode())}) as server:
            code, out, err = run(
                capsys, "studies", server.url + "/rs", "--json", "--page-size", "2"
            )
        assert code == 0
        assert [s["StudyInstanceUID"] for s in json.loads(out)] == ["1.2.0", "1.2.1"]
        assert "ignored offset=0" not in err and "ignored offset=" in err
        assert len(server.requests) == 2  # the repeated page stopped the paging

    def test_warning_header_is_surfaced(self, capsys: pytest.CaptureFixture[str]) -> None:
        page = [{"0020000D": {"vr": "UI", "Value": ["1.2.3"]}}]
        capped = Canned(
            200,
            json.dumps(page).encode(),
            headers={"Warning": '299 pacs: "The number of results exceeded the maximum supported"'},
        )
        with fault_server({"/rs/studies": capped}) as server:
            code, _, err = run(capsys, "studies", server.url + "/rs")
        assert code == 0
        assert "server warning on" in err and "exceeded the maximum supported" in err


def _one_study_routes(metadata: Canned | list[Canned], uid: str = "1.2.3") -> dict[str, Any]:
    study = {"0020000D": {"vr": "UI", "Value": [uid]}}
    series = {"0020000E": {"vr": "UI", "Value": [uid + ".4"]}}
    return {
        "/rs/studies": Canned(200, json.dumps([study]).encode()),
        f"/rs/studies/{uid}/series": Canned(200, json.dumps([series]).encode()),
        f"/rs/studies/{uid}/series/{uid}.4/metadata": metadata,
    }


def _metadata(uid: str = "1.2.3") -> bytes:
    return json.dumps(
        [
            {
                "0020000D": {"vr": "UI", "Value": [uid]},
                "0020000E": {"vr": "UI", "Value": [uid + ".4"]},
                "00080018": {"vr": "UI", "Value": [uid + ".4.5"]},
                "00080060": {"vr": "CS", "Value": ["CT"]},
            }
        ]
    ).encode()


class TestCompression:
    @pytest.mark.orthanc
    def test_a_loopback_server_is_asked_for_no_compression(
        self, orthanc: Orthanc, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        with fault_proxy(orthanc.url) as proxy:
            code, _, err = run(capsys, "snapshot", proxy.dicomweb(), "-q", "-o", f"{tmp_path}/")
        assert code == 0, err
        assert any(s.path.endswith("/metadata") for s in proxy.served)
        assert {s.headers.get("Accept-Encoding") for s in proxy.served} == {"identity"}

    @pytest.mark.parametrize(
        ("url", "loopback"),
        [
            ("http://127.0.0.1:8042/dicom-web", True),
            ("http://127.8.9.10/rs", True),
            ("http://[::1]:8042/rs", True),
            ("https://LOCALHOST./rs", True),
            ("http://viewer.localhost/rs", True),
            ("http://10.0.0.5/rs", False),
            ("https://pacs.example.org/dicom-web", False),
            ("http://localhost.example.org/", False),
        ],
    )
    def test_which_servers_are_on_loopback(self, url: str, loopback: bool) -> None:
        assert on_loopback(url) is loopback

    def test_a_network_server_may_compress_and_a_header_wins(self) -> None:
        remote = DicomWebSource("https://pacs.example.org/dicom-web").session()
        assert "gzip" in remote.headers["Accept-Encoding"]
        chosen = DicomWebSource(
            "http://127.0.0.1:8042/rs",
            credentials=Credentials(headers=(("Accept-Encoding", "gzip"),)),
        ).session()
        assert chosen.headers["Accept-Encoding"] == "gzip"


class TestRetries:
    @pytest.mark.parametrize(
        "fault",
        [
            Canned(503, b"busy", "text/plain", headers={"Retry-After": "0"}),
            Canned(429, b"slow down", "text/plain"),
            Canned(500, b"oops", "text/plain"),
            Canned(502, b"bad gateway", "text/plain"),
            Canned(504, b"gateway timeout", "text/plain"),
            Canned(reset=True),
            Canned(200, _metadata(), truncate_to=30),
            Canned(200, b"<html>maintenance</html>", "text/html"),
            Canned(200, b"", delay=3.0),
        ],
        ids=["503-retry-after", "429", "500", "502", "504", "reset", "truncated", "html", "stall"],
    )
    def test_transient_fault_then_success(
        self, fault: Canned, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        ok = Canned(200, _metadata())
        with fault_server(_one_study_routes([fault, fault, ok])) as server:
            code, out, err = run(
                capsys, "snapshot", server.url + "/rs", "--timeout", "1", "-o", "-", "-q"
            )
        assert code == 0, err
        assert json.loads(out)["studies"][0]["NumInstances"] == 1
        assert sum("/metadata" in r for r in server.requests) == 3

    def test_retry_after_is_respected(self, capsys: pytest.CaptureFixture[str]) -> None:
        busy = Canned(503, b"", "text/plain", headers={"Retry-After": "2"})
        with fault_server(_one_study_routes([busy, Canned(200, _metadata())])) as server:
            started = time.monotonic()
            code, _, _ = run(capsys, "snapshot", server.url + "/rs", "-o", "-", "-q")
            waited = time.monotonic() - started
        assert code == 0
        assert waited >= 2.0

    def test_study_failing_every_time_is_named_and_the_others_are_written(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        routes = _one_study_routes(Canned(503, b"down", "text/plain"), "1.2.3")
        good = _one_study_routes(Canned(200, _metadata("1.2.9")), "1.2.9")
        studies = [{"0020000D": {"vr": "UI", "Value": [u]}} for u in ("1.2.3", "1.2.9")]
        routes.update({k: v for k, v in good.items() if k != "/rs/studies"})
        routes["/rs/studies"] = Canned(200, json.dumps(studies).encode())
        out = tmp_path / "o"
        with fault_server(routes) as server:
            code, _, err = run(
                capsys, "snapshot", server.url + "/rs", "--retries", "2", "-q", "-o", f"{out}/"
            )
        assert code == 1
        assert study_files(out) == ["1.2.9.json"]
        assert list(index(out)) == ["1.2.9"]
        assert "error: study 1.2.3 failed and was not written: HTTP 503" in err
        assert "(after 2 attempts)" in err


class TestHostileServer:
    def test_uid_with_path_separators_never_leaves_the_folder(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        hostile = "../../x"
        routes = _one_study_routes(Canned(200, _metadata("1.2.9")), "1.2.9")
        studies = [{"0020000D": {"vr": "UI", "Value": [u]}} for u in (hostile, "1.2.9")]
        routes["/rs/studies"] = Canned(200, json.dumps(studies).encode())
        out = tmp_path / "deep" / "o"
        out.parent.mkdir()
        with fault_server(routes) as server:
            code, _, err = run(capsys, "snapshot", server.url + "/rs", "-q", "-o", f"{out}/")
        assert code == 1
        assert "not safe in a file name, a request path or a query" in err and "'../../x'" in err
        assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == [
            "1.2.9.json",
            "index.html",
            "index.json",
        ]
        assert not any("x" in r and ".." in r for r in server.requests)


class TestAuthentication:
    @pytest.fixture(scope="class")
    def locked(self) -> Iterator[Orthanc]:
        with Orthanc(users={"alice": "s3cret-pw"}) as server:
            server.upload(
                sorted(
                    (Path(__file__).parents[1] / "fixtures" / "dicom" / "study_c").rglob("*.dcm")
                )
            )
            yield server

    @pytest.mark.orthanc
    def test_without_credentials(self, locked: Orthanc, capsys: pytest.CaptureFixture[str]) -> None:
        code, _, err = run(capsys, "studies", locked.dicomweb_url)
        assert code == 1
        assert "HTTP 401" in err and "wants credentials" in err

    @pytest.mark.orthanc
    def test_user_and_password_from_environment(
        self,
        locked: Orthanc,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setenv("DICOMWEB2OHIF_PASSWORD", "s3cret-pw")
        out = tmp_path / "a"
        code, _, err = run(
            capsys, "snapshot", locked.dicomweb_url, "--user", "alice", "--debug", "-o", f"{out}/"
        )
        assert code == 0, err
        assert "s3cret-pw" not in err
        for path in out.iterdir():
            assert b"s3cret-pw" not in path.read_bytes() and b"alice" not in path.read_bytes()

    @pytest.mark.orthanc
    def test_wrong_password(
        self, locked: Orthanc, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("DICOMWEB2OHIF_PASSWORD", "wrong")
        code, _, err = run(capsys, "studies", locked.dicomweb_url, "--user", "alice")
        assert code == 1
        assert "HTTP 401" in err and "wrong" not in err

    @pytest.mark.orthanc
    def test_credentials_in_url(self, locked: Orthanc, capsys: pytest.CaptureFixture[str]) -> None:
        url = locked.dicomweb_url.replace("http://", "http://alice:s3cret-pw@")
        code, out, err = run(capsys, "snapshot", url, "-o", "-", "-v")
        assert code == 0, err
        assert "s3cret-pw" not in out + err

    @pytest.mark.orthanc
    def test_no_password_and_no_terminal(
        self, locked: Orthanc, capsys: pytest.CaptureFixture[str]
    ) -> None:
        env = {k: v for k, v in os.environ.items() if k != "DICOMWEB2OHIF_PASSWORD"}
        done = subprocess.run(
            [sys.executable, "-m", "converter", "studies", locked.dicomweb_url, "--user", "alice"],
            capture_output=True,
            text=True,
            env=env,
            stdin=subprocess.DEVNULL,
            timeout=60,
        )
        assert done.returncode == 2
        assert "set $DICOMWEB2OHIF_PASSWORD" in done.stderr

    def test_token_and_headers_are_sent_and_never_shown(
        self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        seen: list[dict[str, str]] = []
        monkeypatch.setenv("DICOMWEB2OHIF_TOKEN", "tok-123")
        with fault_server(_one_study_routes(Canned(200, _metadata())), headers_seen=seen) as server:
            code, out, err = run(
                capsys,
                "snapshot",
                server.url + "/rs",
                "--header",
                "X-Api-Key: key-456",
                "-o",
                "-",
                "--debug",
            )
        assert code == 0, err
        assert all(h.get("Authorization") == "Bearer tok-123" for h in seen)
        assert all(h.get("X-Api-Key") == "key-456" for h in seen)
        assert "tok-123" not in out + err and "key-456" not in out + err

    def test_bad_header_is_a_usage_error(self, capsys: pytest.CaptureFixture[str]) -> None:
        code, _, err = run(capsys, "studies", "http://127.0.0.1:1/rs", "--header", "novalue")
        assert code == 2
        assert "'Name: value'" in err
