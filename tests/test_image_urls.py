"""``snapshot --image-urls wadouri|wadors|auto``: WADO-RS frame URLs for servers without
WADO-URI, and the ``auto`` check (docs/format.md, "Instance URLs").

Unit tests of the URL building; then against the real Orthanc: the ``wadors`` file equals
the ``wadouri`` one apart from the URLs, ``auto`` picks ``wadouri`` on Orthanc and
``wadors`` (with one line on stderr) behind ``tests/no_wado_uri.py``, and ``serve --proxy``
relays WADO-RS frames and answers the rendered PDF. The viewer side is
``tests/e2e/test_image_urls_viewer.py``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pydicom
import pytest
import requests

from converter.cli import main
from converter.errors import UsageError
from converter.launch.model import build_study
from converter.launch.urls import AutoUrls, WadoRsUrls, WadoUriUrls, choose_urls
from converter.serve.proxy import Upstream, rendered_document_path, rewrite_launch, single_part
from converter.serve.server import ServeOptions, Server
from converter.snapshot.url_probe import resolve_auto
from converter.source.client import DicomWebSource
from converter.source.session import RetryPolicy
from converter.validate.validator import validate
from fixtures.orthanc import Orthanc, free_port
from tests.conftest import FIXTURE_DICOM
from tests.httpfaults import Canned, fault_server
from tests.no_wado_uri import no_wado_uri_server

RS = WadoRsUrls("https://pacs.example/rs")
URI = WadoUriUrls("https://pacs.example/wado")
http_session = requests.Session()
http_session.trust_env = False  # loopback: never through an HTTP proxy


def inst(sop: str, number: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "StudyInstanceUID": "1.2.3",
        "SeriesInstanceUID": "4.5",
        "SOPInstanceUID": sop,
        "InstanceNumber": number,
        "Modality": "CT",
        **extra,
    }


def urls_of(md: dict[str, Any], urls: Any = RS) -> list[str]:
    return [e.url for e in build_study([[md]], urls).series[0].instances]


class TestWadoRsUrls:
    def test_single_frame_image_gets_frame_1(self) -> None:
        assert urls_of(inst("6.7", Rows=2)) == [
            "wadors:https://pacs.example/rs/studies/1.2.3/series/4.5/instances/6.7/frames/1"
        ]

    def test_multi_frame_image_one_entry_per_frame_one_based(self) -> None:
        urls = urls_of(inst("6.7", Rows=2, NumberOfFrames=3))
        assert [u.rsplit("/", 1)[1] for u in urls] == ["1", "2", "3"]
        assert all(u.startswith("wadors:https://pacs.example/rs/studies/1.2.3/") for u in urls)

    def test_frame_entries_hold_the_metadata_of_the_wado_uri_entries(self) -> None:
        md = inst(
            "6.7",
            Rows=2,
            NumberOfFrames=2,
            SharedFunctionalGroupsSequence=[{"PixelMeasuresSequence": [{"PixelSpacing": [1, 1]}]}],
            PerFrameFunctionalGroupsSequence=[
                {"PlanePositionSequence": [{"ImagePositionPatient": [0, 0, k]}]} for k in (1, 2)
            ],
        )
        rs = build_study([[md]], RS).series[0].instances
        uri = build_study([[md]], URI).series[0].instances
        assert [e.metadata for e in rs] == [e.metadata for e in uri]
        assert [e.url.rsplit("frame", 1)[1][1:] for e in uri] == ["1", "2"]

    @pytest.mark.parametrize(
        "md",
        [
            inst("6.7", Modality="SR", SOPClassUID="1.2.840.10008.5.1.4.1.1.88.34"),
            inst(
                "6.7",
                Modality="RTDOSE",
                Rows=2,
                NumberOfFrames=4,
                SOPClassUID="1.2.840.10008.5.1.4.1.1.481.2",
            ),
        ],
        ids=["no pixel data", "read whole"],
    )
    def test_objects_without_frames_get_the_instance(self, md: dict[str, Any]) -> None:
        assert urls_of(md) == [
            "dicomweb:https://pacs.example/rs/studies/1.2.3/series/4.5/instances/6.7"
        ]

    def test_segmentation_is_one_entry_naming_frame_1(self) -> None:
        # OHIF's SEG loader derives frames 2..N from it (read in 3.13.2, measured in the viewer)
        seg = inst("6.7", Modality="SEG", Rows=2, NumberOfFrames=4,
                   SOPClassUID="1.2.840.10008.5.1.4.1.1.66.4")  # fmt: skip
        assert urls_of(seg) == [
            "wadors:https://pacs.example/rs/studies/1.2.3/series/4.5/instances/6.7/frames/1"
        ]
        document = {"studies": [build_study([[seg]], RS).to_json()]}
        assert [p for p in validate(document) if ".url" in p.path] == []
        # a whole-object url with a frame parameter stays a problem for a segmentation
        entry = document["studies"][0]["series"][0]["instances"][0]
        entry["url"] = "dicomweb:https://pacs.example/wado?requestType=WADO&frame=1"
        assert [p.message for p in validate(document) if ".url" in p.path] == [
            "a segmentation or dose object is read whole: no frame parameter"
        ]

    def test_pdf_document_is_its_rendered_form(self) -> None:
        md = inst("6.7", Modality="DOC", EncapsulatedDocument={"BulkDataURI": "http://in/bulk"})
        entry = build_study([[md]], RS).series[0].instances[0]
        assert entry.metadata["EncapsulatedDocument"] == {
            "DirectRetrieveURL": "https://pacs.example/rs/studies/1.2.3/series/4.5/instances/6.7"
            "/rendered?accept=application/pdf"
        }

    def test_uids_percent_encoded(self) -> None:
        assert RS.frame("1.2", "a b", "x", 2).endswith("/series/a%20b/instances/x/frames/2")

    @pytest.mark.parametrize("root", ["ftp://pacs/rs", "https://u:p@pacs/rs", "https://p/rs?x=1"])
    def test_bad_roots_refused(self, root: str) -> None:
        with pytest.raises(UsageError, match="DICOMweb root"):
            WadoRsUrls(root)


class TestServeHelpers:
    def test_rendered_document_path(self) -> None:
        path = "/dicom-web/studies/1/series/2/instances/3/rendered"
        assert rendered_document_path(path, "accept=application/pdf") == path[: -len("/rendered")]
        assert rendered_document_path(path, "accept=application%2Fpdf") is not None
        assert rendered_document_path(path, "accept=image/jpeg") is None
        assert (
            rendered_document_path("/dicom-web/studies/1/rendered", "accept=application/pdf")
            is None
        )

    def test_single_part(self) -> None:
        body = b"--b1\r\nContent-Type: application/dicom\r\n\r\nDATA\r\n--b1--\r\n"
        assert (
            single_part(body, 'multipart/related; type="application/dicom"; boundary=b1') == b"DATA"
        )
        assert single_part(b"plain", "application/dicom") == b"plain"
        with pytest.raises(ValueError, match="does not end"):
            single_part(b"--b1\r\n\r\nDATA", "multipart/related; boundary=b1")

    def test_launch_rewrite_moves_wadors_urls(self) -> None:
        document = {
            "url": "wadors:http://pacs:8042/dicom-web/studies/1/series/2/instances/3/frames/1"
        }
        moved, count = rewrite_launch(document, "http://pacs:8042", "http://127.0.0.1:3000/proxy")
        assert count == 1
        assert moved["url"] == (
            "wadors:http://127.0.0.1:3000/proxy/dicom-web/studies/1/series/2/instances/3/frames/1"
        )


class TestAutoCheck:
    """The one WADO-URI request of ``auto``, against real local servers."""

    @staticmethod
    def choose(server_url: str, wado_root: str | None = None) -> tuple[Any, list[str], Any]:
        source = DicomWebSource(server_url + "/rs", retry=RetryPolicy(2, 0.01), timeout=5)
        auto = AutoUrls(WadoUriUrls(wado_root or server_url + "/wado"), WadoRsUrls(source.root))
        said: list[str] = []
        return resolve_auto(source, auto, ("1.2", "3.4", "5.6"), said.append), said, auto

    @pytest.mark.parametrize(
        ("status", "wadors"),
        [(200, False), (302, False), (401, False), (403, False), (400, True), (404, True),
         (405, True), (406, True), (501, True)],
    )  # fmt: skip
    def test_status_decides(self, status: int, wadors: bool) -> None:
        with fault_server({"/wado": Canned(status, b"x", "application/dicom")}) as server:
            chosen, said, auto = self.choose(server.url)
            asked = list(server.requests)
        assert chosen is (auto.wado_rs if wadors else auto.wado_uri)
        assert asked == [
            "/wado?requestType=WADO&studyUID=1.2&seriesUID=3.4&objectUID=5.6"
            "&contentType=application/dicom"
        ]
        assert said == (
            [
                f"the server's WADO-URI ({server.url}/wado) answered {status}: "
                "writing WADO-RS frame URLs instead"
            ]
            if wadors
            else []
        )

    def test_busy_server_is_asked_again_then_wado_uri_kept(self) -> None:
        with fault_server({"/wado": Canned(503, b"busy", "text/plain")}) as server:
            chosen, said, auto = self.choose(server.url)
            asked = len(server.requests)
        assert chosen is auto.wado_uri and asked == 2
        assert len(said) == 1 and said[0].startswith("could not check the server's WADO-URI")
        assert said[0].endswith("; writing WADO-URI URLs")

    def test_refused_connection_means_no_wado_uri(self) -> None:
        with fault_server({}) as server:
            closed = f"http://127.0.0.1:{free_port()}/wado"
            chosen, said, auto = self.choose(server.url, closed)
        assert chosen is auto.wado_rs
        assert said == [
            f"the server's WADO-URI ({closed}) refused the connection: "
            "writing WADO-RS frame URLs instead"
        ]


class TestOptions:
    @pytest.mark.parametrize(
        ("extra", "message"),
        [
            (
                ["--wado-uri-root", "https://g/wado"],
                "--wado-uri-root goes with --image-urls wadouri",
            ),
            (["--url-template", "https://b/{instance}"], "--url-template or --image-urls wadors"),
        ],
    )
    def test_wadors_conflicts(
        self, extra: list[str], message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
    ) -> None:
        argv = ["snapshot", "http://127.0.0.1:9/dicom-web", "--image-urls", "wadors", *extra]
        assert main([*argv, "-o", str(tmp_path / "o.json")]) == 2
        assert message in capsys.readouterr().err

    def test_help_names_the_modes(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["snapshot", "--help"]) == 0
        text = " ".join(capsys.readouterr().out.split())
        assert "--image-urls {wadouri,wadors,auto}" in text
        assert "auto (default)" in text


# --- against the real Orthanc --------------------------------------------------------

FRAME_URL = re.compile(
    r"^wadors:(.*)/studies/([^/]+)/series/([^/]+)/instances/([^/]+)/frames/(\d+)$"
)
WADO_URI = re.compile(
    r"^dicomweb:.*\?requestType=WADO&studyUID=([^&]+)&seriesUID=([^&]+)&objectUID=([^&]+)"
    r"&contentType=application/dicom(?:&frame=(\d+))?$"
)
WHOLE_RS = re.compile(r"^dicomweb:.*/studies/([^/]+)/series/([^/]+)/instances/([^/]+)$")


def snap(url: str, path: Path, *extra: str, quiet: bool = True) -> dict[str, Any]:
    assert main(["snapshot", url, *(["-q"] if quiet else []), "-o", str(path), *extra]) == 0
    document: dict[str, Any] = json.loads(path.read_text())
    return document


def named(url: str) -> tuple[str, ...]:
    """What an entry's url names: (study, series, instance, frame or '')."""
    for pattern in (FRAME_URL, WADO_URI, WHOLE_RS):
        found = pattern.match(url)
        if found:
            groups = [g or "" for g in found.groups()]
            return tuple(groups[1:] if pattern is FRAME_URL else groups + [""] * (4 - len(groups)))
    raise AssertionError(f"unexpected url {url}")


def without_urls(document: dict[str, Any]) -> Any:
    text = json.dumps(document)
    text = re.sub(r'"(dicomweb|wadors):[^"]*"', '"URL"', text)
    return json.loads(re.sub(r'"DirectRetrieveURL": "[^"]*"', '"DirectRetrieveURL": "URL"', text))


def entries(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [i for s in document["studies"] for se in s["series"] for i in se["instances"]]


@pytest.mark.orthanc
class TestAgainstOrthanc:
    def test_wadors_equals_wadouri_apart_from_the_urls(
        self, orthanc: Orthanc, tmp_path: Path
    ) -> None:
        uri = snap(orthanc.dicomweb_url, tmp_path / "uri.json", "--image-urls", "wadouri")
        rs = snap(orthanc.dicomweb_url, tmp_path / "rs.json", "--image-urls", "wadors")
        assert without_urls(rs) == without_urls(uri)
        uri_named = [named(e["url"]) for e in entries(uri)]
        rs_named = [named(e["url"]) for e in entries(rs)]
        # the same objects, one entry per frame; single frames are frame 1 in wadors
        assert [n[:3] for n in rs_named] == [n[:3] for n in uri_named]
        for e, r, u in zip(entries(rs), rs_named, uri_named, strict=True):
            if e["metadata"].get("Rows"):
                assert r[3] == (u[3] or "1")
                assert e["url"].startswith(f"wadors:{orthanc.dicomweb_url}/studies/")
            else:  # SR, PDF: the instance itself
                assert r[3] == "" and e["url"].startswith(f"dicomweb:{orthanc.dicomweb_url}/")
        assert validate(rs) == []
        # Every frame URL answers a frame (multipart) on the server.
        for e in entries(rs)[:3]:
            if e["url"].startswith("wadors:"):
                answer = http_session.get(
                    e["url"].removeprefix("wadors:"),
                    headers={"Accept": "multipart/related; type=application/octet-stream"},
                    timeout=30,
                )
                assert answer.status_code == 200
                assert answer.headers["Content-Type"].startswith("multipart/related")

    def test_auto_is_wadouri_on_orthanc(
        self, orthanc: Orthanc, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        snap(orthanc.dicomweb_url, tmp_path / "uri.json", "--image-urls", "wadouri")
        capsys.readouterr()
        snap(orthanc.dicomweb_url, tmp_path / "auto.json", quiet=False)
        err = capsys.readouterr().err
        assert "written" in err and "WADO" not in err
        assert (tmp_path / "auto.json").read_bytes() == (tmp_path / "uri.json").read_bytes()

    def test_auto_is_wadors_without_wado_uri(
        self, orthanc: Orthanc, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        with no_wado_uri_server(orthanc.url) as server:
            rs = snap(server.dicomweb(), tmp_path / "rs.json", "--image-urls", "wadors")
            capsys.readouterr()
            before = len(server.asked)
            auto = snap(server.dicomweb(), tmp_path / "auto.json", "--workers", "2", quiet=False)
            err = capsys.readouterr().err
            probes = server.requests_to("/wado")[-1:]
            asked = server.asked[before:]
        assert (tmp_path / "auto.json").read_bytes() == (tmp_path / "rs.json").read_bytes()
        assert auto == rs
        lines = [line for line in err.splitlines() if "WADO" in line]
        assert lines == [
            f"warning: the server's WADO-URI ({server.origin}/wado) answered 404: "
            "writing WADO-RS frame URLs instead"
        ]
        # One request per run asks WADO-URI, and it is the one refused.
        assert [a.status for a in asked if a.target.startswith("/wado")] == [404]
        assert probes and probes[0].method == "GET"

    def test_serve_proxy_relays_frames_and_answers_the_pdf(
        self, orthanc: Orthanc, tmp_path: Path
    ) -> None:
        fixture = pydicom.dcmread(FIXTURE_DICOM / "study_a" / "doc" / "PDF001.dcm")
        want = bytes(fixture.EncapsulatedDocument)[: fixture.EncapsulatedDocumentLength]
        with no_wado_uri_server(orthanc.url) as upstream:
            snap(upstream.dicomweb(), tmp_path / "all.json", "--image-urls", "wadors")
            server = Server(
                ServeOptions(folder=tmp_path, port=0, upstream=Upstream.parse(upstream.origin))
            )
            server.start()
            try:
                served = http_session.get(server.launch_url("all.json"), timeout=30).json()
                urls = [e["url"] for e in entries(served)]
                assert all(u.startswith(("wadors:", "dicomweb:")) for u in urls)
                assert all(server.origin + "/proxy/dicom-web/" in u for u in urls)
                frame = next(u for u in urls if u.endswith("/frames/2"))
                accept = "multipart/related; type=application/octet-stream; transfer-syntax=*"
                via = http_session.get(frame[7:], headers={"Accept": accept}, timeout=30)
                direct = http_session.get(
                    frame[7:].replace(server.origin + "/proxy", orthanc.url),
                    headers={"Accept": accept},
                    timeout=30,
                )
                [document] = [
                    e["metadata"]["EncapsulatedDocument"]["DirectRetrieveURL"]
                    for e in entries(served)
                    if "EncapsulatedDocument" in e["metadata"]
                ]
                pdf = http_session.get(document, timeout=30)
                # An object read whole (here the SR) through its WADO-RS url, with the
                # browser's Accept: one Part 10 body, as OHIF's fetch of the url parses it.
                [sr] = [e["url"] for e in entries(served) if e["metadata"]["Modality"] == "SR"]
                whole = http_session.get(
                    sr.removeprefix("dicomweb:"), headers={"Accept": "*/*"}, timeout=30
                )
                assert server.check() == []
            finally:
                server.stop()
            relayed = upstream.requests_to("/frames/2")
        assert via.status_code == direct.status_code == 200
        boundary = via.headers["Content-Type"].split("boundary=")[1]
        assert via.content.replace(boundary.encode(), b"") == direct.content.replace(
            direct.headers["Content-Type"].split("boundary=")[1].encode(), b""
        )
        assert relayed and relayed[0].accept == accept  # the Accept header went through
        assert pdf.status_code == 200 and pdf.headers["Content-Type"] == "application/pdf"
        assert pdf.content == want
        assert whole.status_code == 200 and whole.headers["Content-Type"] == "application/dicom"
        assert whole.content == (FIXTURE_DICOM / "study_a" / "sr" / "SR001.dcm").read_bytes()


class TestLibrary:
    def test_unknown_mode_is_a_usage_error_naming_the_argument(self) -> None:
        with pytest.raises(UsageError, match=r"image_urls 'frames': one of wadouri, wadors, auto"):
            choose_urls("http://pacs/rs", image_urls="frames")

    @pytest.mark.orthanc
    def test_snapshot_server_takes_image_urls(self, orthanc: Orthanc) -> None:
        import converter

        said: list[str] = []
        with no_wado_uri_server(orthanc.url) as server:
            report = converter.snapshot_server(server.dicomweb(), warn=said.append)
        assert report.document is not None
        urls = [e["url"] for e in entries(report.document)]
        assert any(u.startswith("wadors:") for u in urls)
        assert [m for m in said if "WADO" in m] == [
            f"the server's WADO-URI ({server.origin}/wado) answered 404: "
            "writing WADO-RS frame URLs instead"
        ]
