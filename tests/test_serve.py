"""``dicomweb2ohif serve``: launch files, CORS, the viewer's routes, the proxy, the CLI.

The server runs for real on 127.0.0.1 and is asked over HTTP; the proxied server
is the session Orthanc, or tests/httpfaults.py for answers Orthanc never gives.
The browser side is in tests/e2e.
"""

from __future__ import annotations

import gzip
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pydicom
import pytest
import requests

from converter.cli import main
from converter.errors import ConverterError, UsageError
from converter.serve.launch_files import find_launch_files
from converter.serve.proxy import Upstream, document_query, rewrite_launch
from converter.serve.server import ServeOptions, Server, viewer_url
from converter.serve.viewer import DATA_SOURCE_NAMESPACE, app_config_js, check_dist
from fixtures.orthanc import Orthanc
from tests.conftest import FIXTURE_DICOM
from tests.httpfaults import Canned, fault_server
from tests.test_study_list import study_list_rows

ROOT = Path(__file__).resolve().parents[1]
PUBLIC = "https://viewer.ohif.org"

http_session = requests.Session()
http_session.trust_env = False  # loopback only, never through an HTTP proxy


@pytest.fixture(scope="module")
def launch_dir(orthanc: Orthanc, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("served")
    assert main(["snapshot", orthanc.dicomweb_url, "-o", str(folder / "all.json"), "-q"]) == 0
    return folder


@pytest.fixture
def tiny_dist(tmp_path: Path) -> Path:
    """A stand-in viewer build: only what the server's routing needs to be checked."""
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html><html>viewer</html>")
    (dist / "app-config.js").write_text("window.config = {stock: true};")
    (dist / "app.bundle.js").write_text("console.log(1)")
    (dist / "codec.wasm").write_bytes(b"\0asm\1\0\0\0")
    return dist


@contextmanager
def running(folder: Path, **options: Any) -> Iterator[Server]:
    server = Server(ServeOptions(folder=folder, port=0, **options))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def study_uids(folder: Path) -> list[str]:
    return [s["StudyInstanceUID"] for s in json.loads((folder / "all.json").read_text())["studies"]]


class TestLinks:
    def test_viewer_url_encodes_the_launch_url_whole(self) -> None:
        url = viewer_url(PUBLIC, "http://127.0.0.1:3000/launch/a b.json?study=1.2", "1.2")
        query = parse_qs(urlsplit(url).query)
        assert url.startswith(f"{PUBLIC}/viewer/dicomjson?url=http%3A%2F%2F127.0.0.1%3A3000")
        assert query == {
            "url": ["http://127.0.0.1:3000/launch/a b.json?study=1.2"],
            "StudyInstanceUIDs": ["1.2"],
        }
        assert "SeriesInstanceUIDs" not in url  # hangs OHIF 3.13.2 on multi-study files

    @pytest.mark.orthanc
    def test_one_url_per_study_each_opening_only_its_study(self, launch_dir: Path) -> None:
        with running(launch_dir) as server:
            links = server.links()
            assert [link.study_uid for link in links] == study_uids(launch_dir)
            for link in links:
                assert link.url.startswith(f"{PUBLIC}/viewer/dicomjson?url=")
                launch = parse_qs(urlsplit(link.url).query)["url"][0]
                served = http_session.get(launch, timeout=30).json()
                assert [s["StudyInstanceUID"] for s in served["studies"]] == [link.study_uid]

    @pytest.mark.orthanc
    def test_unknown_study_is_a_clean_404(self, launch_dir: Path) -> None:
        with running(launch_dir) as server:
            answer = http_session.get(server.launch_url("all.json", "1.2.3"), timeout=30)
        assert answer.status_code == 404
        assert answer.text == "all.json has no study 1.2.3\n"

    @pytest.mark.orthanc
    def test_local_viewer_is_the_default_base_with_viewer(
        self, launch_dir: Path, tiny_dist: Path
    ) -> None:
        with running(launch_dir, viewer_dist=tiny_dist) as server:
            assert all(
                link.url.startswith(f"{server.origin}/viewer/dicomjson?url=")
                for link in server.links()
            )

    @pytest.mark.orthanc
    def test_folder_discovery(self, tmp_path: Path, launch_dir: Path) -> None:
        single = json.loads((launch_dir / "all.json").read_text())
        single["studies"] = single["studies"][:1]
        (tmp_path / "one.json.gz").write_bytes(gzip.compress(json.dumps(single).encode()))
        (tmp_path / "notes.json").write_text('{"hello": 1}')
        (tmp_path / "broken.json").write_text("{")
        warnings: list[str] = []
        files = find_launch_files(tmp_path, warn=warnings.append)
        assert [f.relative for f in files] == ["one.json.gz"]
        assert sorted(w.split(":")[0] for w in warnings) == [
            "skipped broken.json",
            "skipped notes.json",
        ]

    @pytest.mark.orthanc
    def test_snapshot_folder_listed_from_its_index(self, orthanc: Orthanc, tmp_path: Path) -> None:
        folder = tmp_path / "out"
        assert main(["snapshot", orthanc.dicomweb_url, "-o", f"{folder}/", "-q"]) == 0
        warnings: list[str] = []
        files = find_launch_files(folder, warn=warnings.append)
        assert warnings == []
        assert sorted(f.relative for f in files) == sorted(
            p.name for p in folder.glob("*.json") if p.name != "index.json"
        )


class TestHttp:
    @pytest.mark.orthanc
    def test_cors_for_the_viewer_origin_only(self, launch_dir: Path) -> None:
        with running(launch_dir) as server:
            url = server.launch_url("all.json")
            ok = http_session.get(url, headers={"Origin": PUBLIC}, timeout=30)
            other = http_session.get(url, headers={"Origin": "https://evil.example"}, timeout=30)
            preflight = http_session.options(
                url,
                headers={
                    "Origin": PUBLIC,
                    "Access-Control-Request-Method": "GET",
                    "Access-Control-Request-Private-Network": "true",
                },
                timeout=30,
            )
        assert ok.headers["Access-Control-Allow-Origin"] == PUBLIC
        assert "Access-Control-Allow-Origin" not in other.headers
        assert preflight.status_code == 204
        assert preflight.headers["Access-Control-Allow-Private-Network"] == "true"

    @pytest.mark.orthanc
    def test_unknown_host_refused(self, launch_dir: Path) -> None:
        # A page on another site that rebinds its name to 127.0.0.1 still sends its own Host.
        with running(launch_dir) as server:
            answer = http_session.get(
                server.launch_url("all.json"), headers={"Host": "evil.example"}, timeout=30
            )
        assert answer.status_code == 421

    @pytest.mark.orthanc
    def test_no_path_leaves_the_folder(self, launch_dir: Path) -> None:
        (launch_dir.parent / "secret.json").write_text('{"studies": []}')
        with running(launch_dir) as server:
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
            for path in (
                "/launch/../secret.json",
                "/launch/%2e%2e/secret.json",
                "/launch/..%2Fsecret.json",
            ):
                conn.request("GET", path)
                answer = conn.getresponse()
                answer.read()
                assert answer.status == 404, path
            conn.close()

    @pytest.mark.orthanc
    def test_viewer_routes_config_and_types(self, launch_dir: Path, tiny_dist: Path) -> None:
        with running(launch_dir, viewer_dist=tiny_dist) as server:

            def get(path: str) -> requests.Response:
                return http_session.get(server.origin + path, timeout=30)

            route = get("/viewer/dicomjson?url=x&StudyInstanceUIDs=1.2")
            assert (route.status_code, route.text) == (200, "<!doctype html><html>viewer</html>")
            assert get("/missing.bundle.js").status_code == 404
            assert get("/codec.wasm").headers["Content-Type"] == "application/wasm"
            assert get("/app.bundle.js").headers["Content-Type"].startswith("text/javascript")
            config = get("/app-config.js")
            assert config.content == app_config_js()
            assert get("/../index.html").status_code in (200, 404)  # normalised, never outside
        text = app_config_js().decode()
        assert DATA_SOURCE_NAMESPACE in text and '"sourceName": "dicomjson"' in text
        assert '"defaultDataSourceName": "dicomjson"' in text

    @pytest.mark.orthanc
    def test_index_page_escapes_names(self, launch_dir: Path, tmp_path: Path) -> None:
        document = json.loads((launch_dir / "all.json").read_text())
        document["studies"][0]["PatientName"] = "<script>alert(1)</script>"
        (tmp_path / "evil.json").write_text(json.dumps(document))
        with running(tmp_path) as server:
            page = http_session.get(server.origin + "/", timeout=30).content
        assert b"<script>alert" not in page and b"\\u003cscript\\u003ealert(1)" in page
        rows = study_list_rows(page)  # one per study of the file, each served on its own
        assert rows[0]["PatientName"] == "<script>alert(1)</script>"
        assert [r["file"] for r in rows] == [
            f"launch/evil.json?study={s['StudyInstanceUID']}" for s in document["studies"]
        ]

    def test_viewer_dist_is_checked(self, tmp_path: Path) -> None:
        with pytest.raises(UsageError, match="not an OHIF Viewer build"):
            check_dist(tmp_path)

    @pytest.mark.orthanc
    def test_only_read_methods(self, launch_dir: Path) -> None:
        with running(launch_dir) as server:
            answer = http_session.post(server.launch_url("all.json"), data=b"x", timeout=30)
        assert answer.status_code == 405


def _get_raw(url: str, accept_encoding: str, method: str = "GET") -> tuple[int, Any, bytes]:
    """Status, headers and the body as sent (no content decoding)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.netloc, timeout=30)
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.request(method, target, headers={"Accept-Encoding": accept_encoding})
        answer = conn.getresponse()
        return answer.status, answer.headers, answer.read()
    finally:
        conn.close()


class TestGzipEncoding:
    """A ``.json.gz`` launch file goes out with ``Content-Encoding: gzip`` to a client
    that accepts it (RFC 9110 8.4, 12.5.3), decompressed to one that does not."""

    @pytest.fixture
    def gz_dir(self, launch_dir: Path, tmp_path: Path) -> Path:
        packed = gzip.compress((launch_dir / "all.json").read_bytes())
        (tmp_path / "all.json.gz").write_bytes(packed)
        shutil.copy(launch_dir / "all.json", tmp_path / "plain.json")
        return tmp_path

    @pytest.mark.orthanc
    def test_stored_bytes_sent_as_they_are(self, gz_dir: Path) -> None:
        stored = (gz_dir / "all.json.gz").read_bytes()
        with running(gz_dir) as server:
            url = server.launch_url("all.json.gz")
            status, headers, body = _get_raw(url, "gzip, deflate, br")
            _, head_headers, head_body = _get_raw(url, "gzip", method="HEAD")
            _, plain_headers, plain_body = _get_raw(url, "identity")
            _, refused_headers, refused_body = _get_raw(url, "gzip;q=0, *")
            _, json_headers, json_body = _get_raw(server.launch_url("plain.json"), "gzip")
        assert (status, headers["Content-Encoding"], body) == (200, "gzip", stored)
        assert "Accept-Encoding" in headers.get_all("Vary")
        assert head_headers["Content-Length"] == str(len(stored)) and head_body == b""
        for other_headers, other_body in (
            (plain_headers, plain_body),
            (refused_headers, refused_body),
        ):
            assert other_headers["Content-Encoding"] is None
            assert other_body == gzip.decompress(stored)
        assert json_headers["Content-Encoding"] is None
        assert json_body == (gz_dir / "plain.json").read_bytes()

    @pytest.mark.orthanc
    def test_rewritten_copy_compressed_the_same(
        self, gz_dir: Path, launch_dir: Path, orthanc: Orthanc
    ) -> None:
        uid = study_uids(launch_dir)[0]
        with running(gz_dir, upstream=Upstream.parse(orthanc.url)) as server:
            for study in (None, uid):
                url = server.launch_url("all.json.gz", study)
                _, headers, body = _get_raw(url, "gzip")
                _, _, plain = _get_raw(url, "")
                assert headers["Content-Encoding"] == "gzip"
                assert gzip.decompress(body) == plain
                assert b"/proxy/wado?" in plain and orthanc.url.encode() not in plain
            # what a browser does: requests decodes it
            document = http_session.get(server.launch_url("all.json.gz", uid), timeout=30).json()
        assert [s["StudyInstanceUID"] for s in document["studies"]] == [uid]


class TestLiveSource:
    """With --proxy the app-config also holds OHIF's dicomweb source on the proxied server."""

    @staticmethod
    def config(server: Server, host: str) -> dict[str, Any]:
        text = http_session.get(
            server.origin + "/app-config.js", headers={"Host": host}, timeout=30
        ).text
        body = text.split("window.config = ", 1)[1].rsplit(";", 1)[0]
        config: dict[str, Any] = json.loads(body)
        return config

    @pytest.mark.orthanc
    def test_dicomweb_source_points_at_the_proxy_and_answers(
        self, launch_dir: Path, tiny_dist: Path, orthanc: Orthanc
    ) -> None:
        with running(
            launch_dir, viewer_dist=tiny_dist, upstream=Upstream.parse(orthanc.url)
        ) as server:
            host = f"localhost:{server.port}"
            config = self.config(server, host)
            assert config["defaultDataSourceName"] == "dicomjson"
            assert [d["sourceName"] for d in config["dataSources"]] == ["dicomjson", "dicomweb"]
            live = config["dataSources"][1]
            assert live["namespace"] == "@ohif/extension-default.dataSourcesModule.dicomweb"
            options = live["configuration"]
            root = f"http://{host}/proxy"
            assert options["qidoRoot"] == options["wadoRoot"] == root + "/dicom-web"
            assert options["wadoUriRoot"] == root + "/wado"
            assert (options["imageRendering"], options["thumbnailRendering"]) == ("wadors",) * 2
            assert options["bulkDataURI"] == {
                "enabled": True,
                "startsWith": orthanc.url + "/",
                "prefixWith": root + "/",
            }
            # The roots answer through the proxy, from the real Orthanc.
            studies = http_session.get(options["qidoRoot"] + "/studies", timeout=30).json()
            assert sorted(s["0020000D"]["Value"][0] for s in studies) == sorted(
                study_uids(launch_dir)
            )
            study = studies[0]["0020000D"]["Value"][0]
            metadata = http_session.get(
                f"{options['wadoRoot']}/studies/{study}/metadata", timeout=30
            ).json()
            bulk = [
                v["BulkDataURI"]
                for item in metadata
                for v in item.values()
                if isinstance(v, dict) and "BulkDataURI" in v
            ]
            assert bulk and all(u.startswith(options["bulkDataURI"]["startsWith"]) for u in bulk)
            moved = options["bulkDataURI"]["prefixWith"] + bulk[0].removeprefix(
                options["bulkDataURI"]["startsWith"]
            )
            assert http_session.get(moved, timeout=30).status_code == 200
            assert server.live_url(study) == (
                f"{server.origin}/viewer/dicomweb?StudyInstanceUIDs={study}"
            )

    @pytest.mark.orthanc
    def test_no_proxy_no_live_source(self, launch_dir: Path, tiny_dist: Path) -> None:
        with running(launch_dir, viewer_dist=tiny_dist) as server:
            config = self.config(server, f"127.0.0.1:{server.port}")
            assert server.live_url("1.2.3") is None
        assert [d["sourceName"] for d in config["dataSources"]] == ["dicomjson"]

    def test_proxy_url_path_is_the_dicomweb_root(self) -> None:
        upstream = Upstream.parse("https://pacs.example:8443/pacs/dicom-web/")
        assert (upstream.origin, upstream.dicomweb_root, upstream.wado_uri_root) == (
            "https://pacs.example:8443",
            "/pacs/dicom-web",
            "/pacs/wado",
        )
        assert Upstream.parse("http://127.0.0.1:8042").dicomweb_root == "/dicom-web"

    @pytest.mark.orthanc
    def test_verbose_prints_the_live_urls(
        self,
        launch_dir: Path,
        tiny_dist: Path,
        orthanc: Orthanc,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        code = main(
            [
                "serve",
                str(launch_dir),
                "--viewer-dist",
                str(tiny_dist),
                "--proxy",
                orthanc.url,
                "--port",
                "0",
                "--check",
                "-v",
            ]
        )
        out, err = capsys.readouterr()
        assert code == 0, err
        live = [
            line.split("live from the server: ", 1)[1]
            for line in err.splitlines()
            if "live from the server: " in line
        ]
        assert [urlsplit(u).path for u in live] == ["/viewer/dicomweb"] * len(out.splitlines())
        assert sorted(parse_qs(urlsplit(u).query)["StudyInstanceUIDs"][0] for u in live) == sorted(
            study_uids(launch_dir)
        )


class TestProxy:
    @pytest.mark.orthanc
    def test_launch_urls_point_at_the_proxy_on_the_origin_asked(
        self, launch_dir: Path, orthanc: Orthanc
    ) -> None:
        with running(launch_dir, upstream=Upstream.parse(orthanc.url)) as server:
            for host in (f"127.0.0.1:{server.port}", f"localhost:{server.port}"):
                served = http_session.get(
                    server.launch_url("all.json"), timeout=30, headers={"Host": host}
                ).text
                assert orthanc.url not in served
                assert f'"dicomweb:http://{host}/proxy/wado?requestType=WADO' in served
            document = http_session.get(server.launch_url("all.json"), timeout=30).json()
            url = document["studies"][0]["series"][0]["instances"][0]["url"]
            part10 = http_session.get(url.removeprefix("dicomweb:"), timeout=30)
        assert part10.status_code == 200
        assert part10.content[128:132] == b"DICM"
        # the file on disk is untouched
        assert orthanc.url in (launch_dir / "all.json").read_text()

    @pytest.mark.orthanc
    def test_pdf_answered_from_the_dicom_object(self, launch_dir: Path, orthanc: Orthanc) -> None:
        fixture = pydicom.dcmread(FIXTURE_DICOM / "study_a" / "doc" / "PDF001.dcm")
        want = bytes(fixture.EncapsulatedDocument)[: fixture.EncapsulatedDocumentLength]
        document = json.loads((launch_dir / "all.json").read_text())
        [direct] = [
            i["metadata"]["EncapsulatedDocument"]["DirectRetrieveURL"]
            for s in document["studies"]
            for se in s["series"]
            for i in se["instances"]
            if "EncapsulatedDocument" in i["metadata"]
        ]
        # Why the proxy answers it: Orthanc 1.10 refuses the media type itself.
        assert http_session.get(direct, timeout=30).status_code == 400
        with running(launch_dir, upstream=Upstream.parse(orthanc.url)) as server:
            answer = http_session.get(
                direct.replace(orthanc.url, server.origin + "/proxy"), timeout=30
            )
        assert answer.status_code == 200
        assert answer.headers["Content-Type"] == "application/pdf"
        assert answer.content == want

    def test_document_query(self) -> None:
        query = "requestType=WADO&studyUID=1.2&seriesUID=3&objectUID=4&contentType=application/pdf"
        assert document_query(query) == (
            "requestType=WADO&studyUID=1.2&seriesUID=3&objectUID=4&contentType=application/dicom"
        )
        assert document_query(query.replace("pdf", "dicom")) is None
        assert document_query("studyUID=1&contentType=application%2Fpdf") is None

    def test_rewrite_only_urls_on_the_proxied_origin(self) -> None:
        document = {
            "a": [
                "dicomweb:http://pacs:8042/wado?x=1",
                "http://pacs:8042",
                "http://pacs:80421/wado",
                "Yamada http://pacs:8042/x",
                "HTTP://PACS:8042/y",
            ]
        }
        rewritten, count = rewrite_launch(document, "http://pacs:8042", "http://127.0.0.1:9/proxy")
        assert rewritten == {
            "a": [
                "dicomweb:http://127.0.0.1:9/proxy/wado?x=1",
                "http://127.0.0.1:9/proxy/",
                "http://pacs:80421/wado",
                "Yamada http://pacs:8042/x",
                "http://127.0.0.1:9/proxy/y",
            ]
        }
        assert count == 3

    @pytest.mark.orthanc
    def test_upstream_down_is_a_502(self, launch_dir: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with running(launch_dir, upstream=Upstream.parse(f"http://127.0.0.1:{port}")) as server:
            answer = http_session.get(f"{server.origin}/proxy/wado?x=1", timeout=30)
        assert answer.status_code == 502
        assert answer.text.startswith(f"proxy: http://127.0.0.1:{port} did not answer")

    @pytest.mark.parametrize("chunked", [False, True])
    @pytest.mark.orthanc
    def test_large_bodies_stream_through(self, launch_dir: Path, chunked: bool) -> None:
        body = bytes(range(256)) * (40 * 4096)  # 40 MiB
        with (
            fault_server({"/big": Canned(200, body, "application/dicom", chunked=chunked)}) as up,
            running(launch_dir, upstream=Upstream.parse(up.url)) as server,
        ):
            answer = http_session.get(f"{server.origin}/proxy/big", timeout=60)
        assert answer.status_code == 200
        assert len(answer.content) == len(body) and answer.content == body

    @pytest.mark.orthanc
    def test_upstream_errors_pass_through(self, launch_dir: Path) -> None:
        with (
            fault_server({"/busy": Canned(503, b"busy", "text/plain")}) as up,
            running(launch_dir, upstream=Upstream.parse(up.url)) as server,
        ):
            answer = http_session.get(f"{server.origin}/proxy/busy", timeout=30)
        assert (answer.status_code, answer.text) == (503, "busy")

    @pytest.mark.orthanc
    def test_credentials_stay_on_the_server_side(self, launch_dir: Path) -> None:
        with Orthanc(users={"alice": "s3cret"}) as locked:
            url = locked.url.replace("http://", "http://alice:s3cret@")
            with running(launch_dir, upstream=Upstream.parse(url)) as server:
                answer = http_session.get(f"{server.origin}/proxy/dicom-web/studies", timeout=30)
            assert answer.status_code == 200
            assert (
                http_session.get(f"{locked.url}/dicom-web/studies", timeout=30).status_code == 401
            )


# ``python -m converter`` as a terminal starts it: a process started from a script
# without job control inherits SIGINT ignored, and Python then leaves it ignored.
AS_FROM_A_TERMINAL = (
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler)"
    "; from converter.cli import run; run()"
)


def serve_process(*argv: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", AS_FROM_A_TERMINAL, "serve", *argv],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
    )


class TestCli:
    @pytest.mark.orthanc
    def test_check_prints_urls_and_exits(
        self,
        launch_dir: Path,
        tiny_dist: Path,
        orthanc: Orthanc,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        code = main(
            [
                "serve",
                str(launch_dir),
                "--viewer-dist",
                str(tiny_dist),
                "--proxy",
                orthanc.url,
                "--port",
                "0",
                "--check",
            ]
        )
        out, err = capsys.readouterr()
        assert code == 0, err
        lines = out.splitlines()
        assert len(lines) == len(study_uids(launch_dir))
        assert all(unquote(line).count("?study=") == 1 for line in lines)
        assert "checked: launch files, viewer, proxy answer" in err

    @pytest.mark.orthanc
    def test_check_fails_when_the_proxy_cannot_reach_the_server(
        self, launch_dir: Path, orthanc: Orthanc, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            dead = f"http://127.0.0.1:{s.getsockname()[1]}"
        moved = (launch_dir / "all.json").read_text().replace(orthanc.url, dead)
        (tmp_path / "moved.json").write_text(moved)
        code = main(["serve", str(tmp_path), "--proxy", dead, "--port", "0", "--check", "-q"])
        err = capsys.readouterr().err
        assert code == 1
        assert err.startswith(
            f"error: moved.json: first instance through the proxy: HTTP 502 "
            f"proxy: {dead} did not answer"
        ), err

    @pytest.mark.parametrize(
        ("argv", "code", "message"),
        [
            (["serve", "/no/such/folder"], 2, "no such folder or launch file"),
            (["serve", "{empty}"], 1, "no launch file in"),
            (["serve", "{empty}", "--port", "99999"], 2, "is not a port"),
            (
                ["serve", "{empty}", "--proxy", "ftp://x"],
                2,
                "--proxy 'ftp://x' is not an http(s) URL",
            ),
            (["serve", "{empty}", "--viewer-dist", "{empty}"], 2, "is not an OHIF Viewer build"),
            (
                ["serve", "{empty}", "--viewer-version", "latest"],
                2,
                "OHIF Viewer version 'latest' is not an exact version such as 3.13.2",
            ),
            (["serve", "{empty}", "--viewer-version", "../../x"], 2, "is not an exact version"),
            (
                ["serve", "{empty}", "--viewer-version", "3.13.2", "--viewer-dist", "{empty}"],
                2,
                "give --viewer-dist or --viewer-version, not both",
            ),
        ],
    )
    def test_mistakes_are_one_line(
        self,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        argv: list[str],
        code: int,
        message: str,
    ) -> None:
        argv = [a.replace("{empty}", str(tmp_path)) for a in argv]
        assert main(argv) == code
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and message in err and "Traceback" not in err, err

    @pytest.mark.orthanc
    def test_port_in_use(self, launch_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            port = busy.getsockname()[1]
            assert main(["serve", str(launch_dir), "--port", str(port), "-q"]) == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"error: cannot listen on 127.0.0.1:{port}") and "--port 0" in err

    @pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
    @pytest.mark.orthanc
    def test_stops_cleanly(self, launch_dir: Path, sig: signal.Signals) -> None:
        env = {**os.environ, "COLUMNS": "40"}
        process = serve_process(str(launch_dir), "--port", "0", env=env)
        assert process.stdout is not None
        first = process.stdout.readline().rstrip("\n")
        assert len(first) > 40 and first.startswith(PUBLIC)  # one line, never wrapped
        launch = parse_qs(urlsplit(first).query)["url"][0]
        assert http_session.get(launch, timeout=30).status_code == 200
        process.send_signal(sig)
        # Read through the same buffered file as readline (communicate() reads the pipe
        # underneath it and would miss lines readline already buffered).
        out = process.stdout.read()
        assert process.stderr is not None
        err = process.stderr.read()
        assert process.wait(20) == 0, err
        assert err.rstrip().endswith("stopped") and "Traceback" not in err
        assert len(out.splitlines()) == len(study_uids(launch_dir)) - 1

    @pytest.fixture
    def cache(self, tmp_path: Path) -> Iterator[Path]:
        """An empty XDG cache; removed afterwards (the viewer is 200 MB unpacked)."""
        yield tmp_path / "cache"
        shutil.rmtree(tmp_path / "cache", ignore_errors=True)

    @pytest.mark.orthanc
    def test_viewer_fetched_once_with_npm(
        self, launch_dir: Path, tmp_path: Path, cache: Path
    ) -> None:
        env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
        first = serve_process(str(launch_dir), "--viewer", "--port", "0", "--check", env=env)
        out, err = first.communicate(timeout=600)
        assert first.returncode == 0, err
        assert len(out.splitlines()) == len(study_uids(launch_dir))
        assert "fetching OHIF Viewer 3.13.2 (@ohif/app, about 50 MB) with npm, once" in err
        dist = cache / "dicomweb2ohif" / "ohif-3.13.2"
        assert (dist / "index.html").is_file() and any(dist.glob("*.wasm"))
        assert "checked: launch files, viewer answer" in err
        # Again with no npm on PATH at all: the cached build is used as it is.
        bare = tmp_path / "bin"
        bare.mkdir()
        (bare / "python").symlink_to(sys.executable)
        again = serve_process(
            str(launch_dir), "--viewer", "--port", "0", "--check", env={**env, "PATH": str(bare)}
        )
        _out, err = again.communicate(timeout=60)
        assert again.returncode == 0, err
        assert "fetching" not in err

    @pytest.mark.orthanc
    def test_npm_missing_is_one_line(self, launch_dir: Path, tmp_path: Path) -> None:
        bare = tmp_path / "bin"
        bare.mkdir()
        (bare / "python").symlink_to(sys.executable)
        env = {"PATH": str(bare), "XDG_CACHE_HOME": str(tmp_path / "cache"), "HOME": str(tmp_path)}
        process = serve_process(str(launch_dir), "--viewer", "--port", "0", env=env)
        out, err = process.communicate(timeout=60)
        assert process.returncode == 1 and out == ""
        assert err.strip().splitlines()[-1].startswith("error: npm is needed once to fetch")

    @pytest.mark.parametrize(
        ("argv", "spec"),
        [
            (["--viewer"], "@ohif/app@3.13.2"),
            (["--viewer-version", "3.14.0-beta.6"], "@ohif/app@3.14.0-beta.6"),
            (["--viewer-version", "3.12.10"], "@ohif/app@3.12.10"),
        ],
    )
    @pytest.mark.orthanc
    def test_offline_npm_is_one_line(
        self, launch_dir: Path, tmp_path: Path, argv: list[str], spec: str
    ) -> None:
        if shutil.which("npm") is None:
            pytest.fail("npm is missing: scripts/setup installs it")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = {
            **os.environ,
            "XDG_CACHE_HOME": str(tmp_path / "cache"),
            "npm_config_registry": f"http://127.0.0.1:{port}/",
            "npm_config_cache": str(tmp_path / "npm-cache"),
            "npm_config_fetch_retries": "0",
        }
        started = time.monotonic()
        process = serve_process(str(launch_dir), *argv, "--port", "0", env=env)
        out, err = process.communicate(timeout=120)
        assert process.returncode == 1 and out == ""
        unproven = "is not one the launch files were proven in (3.13.2, 3.14.0-beta.6)"
        assert (unproven in err) == (spec == "@ohif/app@3.12.10"), err
        last = err.strip().splitlines()[-1]
        assert last.startswith(f"error: npm could not fetch {spec}"), err
        assert "give --viewer-dist DIR" in last
        assert not list((tmp_path / "cache" / "dicomweb2ohif").iterdir())  # nothing half-made
        assert time.monotonic() - started < 120


def test_errors_are_converter_errors() -> None:
    with pytest.raises(ConverterError, match="no launch file"):
        Server(ServeOptions(folder=FIXTURE_DICOM, port=0))
