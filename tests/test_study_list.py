"""The study list page ``index.html``: its bytes, where the commands write it, what ``serve`` serves.

The page's behaviour in a browser (listing, search, sort, opening OHIF, a hostile
name shown as text) is tested in tests/e2e/test_study_list_viewer.py; here the
page is read as bytes: its JSON blocks parsed back, its policy checked against
its own script, and its rows compared with the ``index.json`` beside it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
import requests

from converter.cli import main
from converter.errors import UsageError
from converter.output.study_list import COLUMNS, check_viewer_base, render, row, script_json
from converter.serve.server import ServeOptions, Server
from fixtures.orthanc import Orthanc
from tests.conftest import FIXTURE_DICOM

HOSTILE = [
    "<img src=x onerror=alert(1)>",
    "</script><script>window.pwned=1</script>",
    "<!--<script>",
    "</SCRIPT >",
    "a&amp;b \u2028 \u2029 \\ \" '",
]

http_session = requests.Session()
http_session.trust_env = False


def _block(page: str, element_id: str) -> str:
    match = re.search(
        rf'<script type="application/json" id="{element_id}">(.*?)</script>', page, re.S
    )
    assert match is not None, element_id
    return match.group(1)


def study_list_rows(page: bytes) -> list[dict[str, Any]]:
    """The rows a study list page holds, as dicts of :data:`COLUMNS`."""
    data = json.loads(_block(page.decode("utf-8"), "study-list-data"))
    assert data["columns"] == list(COLUMNS)
    rows = [dict(zip(data["columns"], r, strict=True)) for r in data["rows"]]
    for r in rows:  # a number k stands for <uid> + suffixes[k]
        if isinstance(r["file"], int):
            r["file"] = r["StudyInstanceUID"] + data["suffixes"][r["file"]]
    return rows


def study_list_config(page: bytes) -> dict[str, Any]:
    config: dict[str, Any] = json.loads(_block(page.decode("utf-8"), "study-list-config"))
    return config


def index_entries(folder: Path) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads((folder / "index.json").read_bytes())["studies"]
    return entries


def assert_page_matches_index(folder: Path) -> list[dict[str, Any]]:
    """The page beside index.json lists exactly its entries, in its order."""
    rows = study_list_rows((folder / "index.html").read_bytes())
    expected = [{k: e.get(k) for k in COLUMNS} for e in index_entries(folder)]
    assert rows == expected
    return rows


def series_counts(folder: Path) -> dict[str, int]:
    counts = {}
    for entry in index_entries(folder):
        launch = json.loads((folder / entry["file"]).read_bytes())
        counts[entry["StudyInstanceUID"]] = len(launch["studies"][0]["series"])
    return counts


class TestPage:
    def test_embedded_json_cannot_end_its_script_element(self) -> None:
        rows = [
            row(
                {
                    "StudyInstanceUID": f"1.{i}",
                    "PatientName": v,
                    "StudyDescription": v,
                    "file": f"1.{i}.json",
                }
            )
            for i, v in enumerate(HOSTILE)
        ]
        page = render(rows, title="</script><b>")
        text = page.decode("utf-8")
        # config, data and the page's script: no value opened or closed another one
        assert len(re.findall(r"<script", text, re.I)) == 3
        assert len(re.findall(r"</script", text, re.I)) == 3
        data = _block(text, "study-list-data")
        assert "<" not in data and ">" not in data and "&" not in data
        assert [r["PatientName"] for r in study_list_rows(page)] == HOSTILE
        assert study_list_config(page)["title"] == "</script><b>"

    def test_script_json_round_trips(self) -> None:
        value = {"a": HOSTILE, "b": [None, 1, 2.5, "山田^太郎"]}
        assert json.loads(script_json(value)) == value
        assert "山田" in script_json(value)  # UTF-8 as it is, not \\u escaped

    def test_policy_allows_exactly_the_page_script_and_style(self) -> None:
        text = render([]).decode("utf-8")
        policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', text)
        assert policy is not None
        script = re.search(r"<script>(.*?)</script>", text, re.S)
        style = re.search(r"<style>(.*?)</style>", text, re.S)
        assert script is not None and style is not None

        def digest(source: str) -> str:
            return base64.b64encode(hashlib.sha256(source.encode()).digest()).decode()

        assert f"script-src 'sha256-{digest(script.group(1))}';" in policy.group(1)
        assert f"style-src 'sha256-{digest(style.group(1))}';" in policy.group(1)
        assert "unsafe" not in policy.group(1) and "default-src 'none'" in policy.group(1)

    def test_no_markup_from_data_and_no_inline_handlers(self) -> None:
        text = render([]).decode("utf-8")
        assert not re.search(r"\son[a-z]+\s*=", text)  # no onclick= / onerror= anywhere
        assert "innerHTML" not in text and "insertAdjacentHTML" not in text
        assert "document.write" not in text and "eval(" not in text
        assert "http://" not in text.replace('"https://viewer.ohif.org"', "")  # no CDN
        assert "https://" not in text.replace("https://viewer.ohif.org", "")

    def test_same_rows_same_bytes(self) -> None:
        rows = [row({"StudyInstanceUID": "1.2", "file": "1.2.json"})]
        assert render(rows) == render([list(r) for r in rows])

    @pytest.mark.parametrize(
        "base", ["javascript:alert(1)", "data:text/html,x", "file:///x", "http:x"]
    )
    def test_viewer_base_must_be_http_or_relative(self, base: str) -> None:
        with pytest.raises(UsageError, match="neither an http"):
            check_viewer_base(base)

    @pytest.mark.parametrize("base", ["https://viewer.example/ohif", "../ohif/", "/", "./"])
    def test_viewer_base_accepted(self, base: str) -> None:
        assert study_list_config(render([], base))["viewer"] == base

    def test_file_names_are_percent_encoded_or_short(self) -> None:
        assert row({"file": "a b#?.json"})[-1] == "a%20b%23%3F.json"
        assert row({"StudyInstanceUID": "1.2", "file": "1.2.json"})[-1] == 0
        assert row({"StudyInstanceUID": "1.2", "file": "1.2.json.gz"})[-1] == 1
        assert row({"StudyInstanceUID": "1.2", "file": "1.3.json"})[-1] == "1.3.json"
        assert row({"StudyInstanceUID": "1.2", "file": "1.2.jsonx"})[-1] == "1.2.jsonx"


class TestFolderCommand:
    def test_folder_output_gets_the_page_beside_the_index(self, tmp_path: Path) -> None:
        out = tmp_path / "out"
        argv = ["folder", str(FIXTURE_DICOM), "--url-prefix", "../dicom/", "-o", f"{out}/", "-q"]
        assert main(argv) == 0
        rows = assert_page_matches_index(out)
        assert len(rows) == 3
        counts = series_counts(out)
        assert {r["StudyInstanceUID"]: r["NumSeries"] for r in rows} == counts
        assert study_list_config((out / "index.html").read_bytes())["viewer"] == (
            "https://viewer.ohif.org"
        )
        # a second run replaces the page by a rename (a new inode), leaving no temporary
        before = (out / "index.html").stat().st_ino
        assert main([*argv, "--viewer-base", "../ohif/"]) == 0
        assert (out / "index.html").stat().st_ino != before
        assert study_list_config((out / "index.html").read_bytes())["viewer"] == "../ohif/"
        assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []
        assert_page_matches_index(out)

    def test_bad_viewer_base_is_a_usage_error(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        out = tmp_path / "out"
        argv = ["folder", str(FIXTURE_DICOM), "--url-prefix", "x/", "-o", f"{out}/"]
        assert main([*argv, "--viewer-base", "javascript:alert(1)"]) == 2
        err = capsys.readouterr().err
        assert "--viewer-base 'javascript:alert(1)' is neither an http(s) URL" in err
        assert "Traceback" not in err and not (out / "index.html").exists()

    def test_shards_write_no_page_and_index_writes_it(self, tmp_path: Path) -> None:
        out = tmp_path / "out"
        for k in range(2):
            argv = ["folder", str(FIXTURE_DICOM), "--url-prefix", "x/", "-o", f"{out}/"]
            assert main([*argv, "--shard", f"{k}/2", "-q"]) == 0
        assert not (out / "index.html").exists()
        assert main(["index", str(out), "--viewer-base", "https://v.example/", "-q"]) == 0
        rows = assert_page_matches_index(out)
        assert len(rows) == 3 and all(r["NumSeries"] for r in rows)
        assert study_list_config((out / "index.html").read_bytes())["viewer"] == (
            "https://v.example/"
        )

    def test_single_file_output_gets_no_page(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        argv = ["folder", str(FIXTURE_DICOM), "--url-prefix", "x/", "-o", str(tmp_path / "a.json")]
        assert main([*argv, "-q"]) == 0
        assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]
        capsys.readouterr()
        assert main([*argv, "--viewer-base", "https://v.example/"]) == 2
        assert "--viewer-base goes with folder output (-o DIR/)" in capsys.readouterr().err


@pytest.mark.orthanc
class TestSnapshotAndServe:
    @pytest.fixture(scope="class")
    def snapshot_dir(self, orthanc: Orthanc, tmp_path_factory: pytest.TempPathFactory) -> Path:
        out = tmp_path_factory.mktemp("snap")
        assert main(["snapshot", orthanc.dicomweb_url, "-o", f"{out}/", "--gzip", "-q"]) == 0
        return out

    def test_snapshot_writes_the_page(self, snapshot_dir: Path) -> None:
        rows = assert_page_matches_index(snapshot_dir)
        assert len(rows) == 3 and all(r["file"].endswith(".json.gz") for r in rows)
        assert all(isinstance(r["NumSeries"], int) for r in rows)

    def test_serve_builds_its_own_page_for_its_paths_and_viewer(
        self, snapshot_dir: Path, tmp_path: Path
    ) -> None:
        dist = tmp_path / "dist"
        dist.mkdir()
        (dist / "index.html").write_text("<!doctype html><html>viewer</html>")
        (dist / "app-config.js").write_text("window.config = {};")
        expected = {e["StudyInstanceUID"]: e for e in index_entries(snapshot_dir)}
        for viewer_dist, base in ((None, "https://viewer.ohif.org"), (dist, "./")):
            server = Server(ServeOptions(folder=snapshot_dir, port=0, viewer_dist=viewer_dist))
            server.start()
            try:
                page = http_session.get(server.origin + "/", timeout=30)
                again = http_session.get(server.origin + "/index.html", timeout=30)
                rows = study_list_rows(page.content)
                for r in rows:  # each row names a file serve answers
                    launch = http_session.get(server.origin + "/" + r["file"], timeout=30)
                    assert launch.status_code == 200
                    assert launch.json()["studies"][0]["StudyInstanceUID"] == r["StudyInstanceUID"]
            finally:
                server.stop()
            assert page.headers["Content-Type"] == "text/html; charset=utf-8"
            assert study_list_config(page.content)["viewer"] == base
            assert sorted(r["StudyInstanceUID"] for r in rows) == sorted(expected)
            assert all(
                r["file"] == "launch/" + expected[r["StudyInstanceUID"]]["file"] for r in rows
            )
            assert all(r["NumSeries"] == expected[r["StudyInstanceUID"]]["NumSeries"] for r in rows)
            if viewer_dist is None:
                assert again.content == page.content
            else:
                assert again.text == "<!doctype html><html>viewer</html>"  # the viewer's own
