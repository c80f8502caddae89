"""The snapshot through proxies that behave as Google Cloud Healthcare, Azure DICOM service,
AWS HealthImaging and dcm4chee-arc are documented to (tests/cloud_servers.py), and through
Orthanc configured as newer DICOMweb plugins answer.

For each: every fixture study is written, byte for byte as the plain-Orthanc snapshot
(the instance URLs come from a fixed ``--wado-uri-root``, so they do not name the
server), or the run says in one line what the server could not give. Caps that three
fixture studies never reach are scaled down (``scaled``) where the test is about
reaching them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from converter.cli import main
from fixtures.orthanc import Orthanc
from tests.cloud_servers import (
    AWS,
    AZURE,
    DCM4CHEE,
    GOOGLE,
    ORTHANC_NUMBERS,
    Behaviour,
    CloudServer,
    cloud_server,
    scaled,
)

pytestmark = pytest.mark.orthanc

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "dicom"
FIXED = ["--wado-uri-root", "http://viewer.example/wado", "--retry-backoff", "0.05"]
STUDIES = 3


@pytest.fixture(scope="module")
def plain(orthanc: Orthanc, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The launch file straight from Orthanc."""
    out = tmp_path_factory.mktemp("plain") / "all.json"
    assert main(["snapshot", orthanc.dicomweb_url, *FIXED, "-q", "-o", str(out)]) == 0
    return out.read_bytes()


def run(
    server: CloudServer, tmp_path: Path, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[int, bytes, str]:
    out = tmp_path / "all.json"
    code = main(["snapshot", server.dicomweb(), *FIXED, *extra, "-o", str(out)])
    err = capsys.readouterr().err
    return code, out.read_bytes() if out.exists() else b"", err


def through(
    orthanc: Orthanc,
    behaviour: Behaviour,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    *extra: str,
) -> tuple[int, bytes, str, CloudServer]:
    with cloud_server(orthanc.url, behaviour) as server:
        code, written, err = run(server, tmp_path, capsys, *extra)
    return code, written, err, server


def warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("warning")]


# -- paging ------------------------------------------------------------------------


def test_azure_refuses_a_page_above_200(
    orthanc: Orthanc, plain: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The default page (500) gets 400; the tool asks 200 at a time instead, says so once."""
    code, written, err, server = through(orthanc, AZURE, tmp_path, capsys)
    assert code == 0, err
    assert written == plain
    assert server.statuses(r"/studies\?")[:2] == [400, 200]
    assert any("limit=500" in line and "200" in line for line in warnings(err)), err


def test_azure_answers_204_past_the_end(
    orthanc: Orthanc, plain: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Pages of one study: the fourth page is past the end and gets 204 No Content."""
    code, written, err, server = through(orthanc, AZURE, tmp_path, capsys, "--page-size", "1")
    assert code == 0, err
    assert written == plain
    assert server.statuses(r"/studies\?") == [200, 200, 200, 204]
    assert not warnings(err), err


def test_azure_busy_503_and_424_are_retried(
    orthanc: Orthanc, plain: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    busy = scaled(AZURE, busy=(503, 424))
    code, written, err, server = through(orthanc, busy, tmp_path, capsys)
    assert code == 0, err
    assert written == plain
    statuses = server.statuses("/metadata")
    assert statuses.count(503) == statuses.count(424) > 0


def test_google_caps(
    orthanc: Orthanc, plain: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """At Google's documented caps a page of 500 is taken as it is; scaled down to a limit
    to 100, the tool shrinks its pages step by step (500, 200, 100) as for Azure."""
    code, written, err, server = through(orthanc, GOOGLE, tmp_path, capsys)
    assert code == 0 and written == plain, err
    assert not server.requests_to("/wado")  # it has none (404): the snapshot never asks
    code, written, err, server = through(orthanc, scaled(GOOGLE, limit_max=100), tmp_path, capsys)
    assert code == 0, err
    assert written == plain
    assert server.statuses(r"/studies\?") == [400, 400, 200]


def test_google_offset_cap_is_named(
    orthanc: Orthanc, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Past the largest offset (1,000,000; scaled to 1) the listing cannot go on: the run
    says in one line where the list stopped and how to reach the rest, and writes what
    it listed."""
    capped = scaled(GOOGLE, offset_max=1)
    code, written, err, _ = through(orthanc, capped, tmp_path, capsys, "--page-size", "1")
    assert code == 0, err
    offset = [line for line in warnings(err) if "offset=2" in line]
    assert len(offset) == 1, err
    assert "2 studies" in offset[0] and "filter" in offset[0]
    assert written.count(b'"StudyInstanceUID"') >= 2
    assert "2 studies selected" in err


def test_dcm4chee_caps_answers_with_a_warning(
    orthanc: Orthanc, plain: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """QIDO Max Number of Results (scaled to 2) below the page size: the capped answer's
    Warning announces more, and the tool pages on to get them."""
    code, written, err, server = through(orthanc, scaled(DCM4CHEE, results_max=2), tmp_path, capsys)
    assert code == 0, err
    assert written == plain
    assert len(server.statuses(r"/studies\?")) == 2
    assert any("additional results" in line for line in warnings(err)), err


def test_aws_record_cap_at_documented_values(
    orthanc: Orthanc, plain: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No study-level metadata (404), 50 requests/s per action: every study, as Orthanc's."""
    code, written, err, server = through(orthanc, AWS, tmp_path, capsys, "--workers", "1")
    assert code == 0, err
    assert written == plain
    refused = server.statuses(r"/studies/[^/]+/metadata$")
    assert set(refused) == {404} and len(refused) < STUDIES  # asked until refused, then not
    assert sum("refuses study-level metadata" in line for line in warnings(err)) == 1, err


def test_aws_throttling(
    orthanc: Orthanc, plain: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """50 requests/s scaled to 5/s per action: four workers are throttled (429) and retried."""
    slow = scaled(AWS, rate=5.0, burst=2)
    code, written, err, server = through(
        orthanc, slow, tmp_path, capsys, "--workers", "4", "--retry-backoff", "0.3"
    )
    assert code == 0, err
    assert written == plain
    throttled = server.statuses().count(429)
    assert throttled > 0
    print(f"aws at 5 requests/s: {throttled} of {len(server.served)} requests got 429")


# -- binary values -----------------------------------------------------------------


@pytest.mark.parametrize(
    "behaviour",
    [GOOGLE, DCM4CHEE, AZURE, ORTHANC_NUMBERS],
    ids=lambda b: b.name,
)
def test_binary_values(
    orthanc: Orthanc,
    plain: bytes,
    behaviour: Behaviour,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """BulkDataURIs under the request's base URL (Google, dcm4chee), binary values left
    out (Azure) or sent as numbers (Orthanc): the same launch file, the PDF included."""
    code, written, err, _ = through(
        orthanc, behaviour, tmp_path, capsys, "--per-series", "--page-size", "200"
    )
    assert code == 0, err
    assert written == plain
    assert not warnings(err), err


# -- Orthanc's own StudiesMetadata modes ----------------------------------------------


@pytest.fixture(scope="module", params=["MainDicomTags", "Extrapolate"])
def orthanc_mode(request: pytest.FixtureRequest) -> Iterator[Orthanc]:
    mode = {"DicomWeb": {"StudiesMetadata": request.param}}
    with Orthanc(extra_config=mode) as server:
        server.upload_dir(FIXTURES)
        yield server


def test_orthanc_studies_metadata_modes(
    orthanc_mode: Orthanc, plain: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Study-level metadata built from the index: not taken whole, fetched series by series."""
    out = tmp_path / "all.json"
    url = orthanc_mode.dicomweb_url
    assert main(["snapshot", url, *FIXED, "--workers", "1", "-q", "-o", str(out)]) == 0
    assert out.read_bytes() == plain


def test_dcm4chee_paths(
    orthanc: Orthanc, plain: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Root ``.../aets/DCM4CHEE/rs``: without ``--wado-uri-root`` the instance URLs name
    ``.../aets/DCM4CHEE/wado`` next to it, and they answer."""
    with cloud_server(orthanc.url, DCM4CHEE) as server:
        out = tmp_path / "all.json"
        code = main(["snapshot", server.dicomweb(), "-q", "-o", str(out)])
        wado = server.dicomweb().rpartition("/")[0] + "/wado"
        assert code == 0
        written = out.read_bytes()
        assert written == plain.replace(b"http://viewer.example/wado", wado.encode())
        first = json.loads(written)["studies"][0]["series"][0]["instances"][0]["url"]
        answer = requests.get(first.removeprefix("dicomweb:"), timeout=30)
        assert answer.status_code == 200 and answer.content[128:132] == b"DICM"


# -- the real-world corpus: palettes, icons, small binary values ------------------------


def without_bulk(document: Any) -> Any:
    """``document`` with every BulkDataURI (which names the server it came from) as ``*``."""
    if isinstance(document, dict):
        if "BulkDataURI" in document:
            return {**document, "BulkDataURI": "*"}
        return {key: without_bulk(value) for key, value in document.items()}
    if isinstance(document, list):
        return [without_bulk(value) for value in document]
    return document


def left_out(plain: Any, got: Any, where: str = "") -> list[str]:
    """Where ``got`` differs from ``plain`` other than by leaving out an element that
    ``plain`` has as a BulkDataURI or empty (a binary value the server does not send)."""
    if isinstance(plain, dict) and isinstance(got, dict):
        problems = [f"{where}.{key}: added" for key in got.keys() - plain.keys()]
        for key, value in plain.items():
            if key in got:
                problems += left_out(value, got[key], f"{where}.{key}")
            elif not (value is None or (isinstance(value, dict) and "BulkDataURI" in value)):
                problems.append(f"{where}.{key}: left out, was {str(value)[:60]}")
        return problems
    if isinstance(plain, list) and isinstance(got, list) and len(plain) == len(got):
        return [
            p
            for i, (a, b) in enumerate(zip(plain, got, strict=True))
            for p in left_out(a, b, f"{where}[{i}]")
        ]
    return [] if plain == got else [f"{where}: {str(plain)[:60]} != {str(got)[:60]}"]


@pytest.mark.parametrize("behaviour", [GOOGLE, AZURE], ids=lambda b: b.name)
def test_real_world_corpus(
    realworld_orthanc: Orthanc,
    behaviour: Behaviour,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Real files (palette colour images, icons, small binary values): through Google's
    BulkDataURIs the same launch file but for the URIs; through Azure, which leaves binary
    values out of metadata, the same but for those elements (palette tables, which OHIF
    needs, are fetched from each instance's own header as from Orthanc)."""
    baseline = tmp_path / "plain.json"
    args = [*FIXED, "--page-size", "200", "-q"]
    assert main(["snapshot", realworld_orthanc.dicomweb_url, *args, "-o", str(baseline)]) == 0
    plain_doc = json.loads(baseline.read_bytes())
    capsys.readouterr()
    code, written, err, _ = through(
        realworld_orthanc, behaviour, tmp_path, capsys, "--page-size", "200"
    )
    assert code == 0, err
    got = json.loads(written)
    assert b"InlineBinary" in baseline.read_bytes()  # palette tables, inline
    if behaviour is GOOGLE:
        assert without_bulk(got) == without_bulk(plain_doc)
    else:
        assert left_out(plain_doc, got) == []
