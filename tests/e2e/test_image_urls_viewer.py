"""A launch file with WADO-RS frame URLs, from a server WITHOUT WADO-URI, shows in the real
OHIF Viewer exactly what the proven WADO-URI launch file shows.

The server is the test Orthanc behind ``tests/no_wado_uri.py`` (404 for ``/wado``, as
Google Cloud Healthcare and AWS HealthImaging have no WADO-URI), holding the fixture
files (CT, MR, SR, PDF, PT, RGB, an ultrasound cine, an Enhanced CT), two compressed
objects from pydicom's test files (JPEG-LS single frame, RLE multi-frame) and a
segmentation of the CT made with highdicom. ``snapshot``
with the default ``--image-urls auto`` finds no WADO-URI there and writes ``wadors:``
frame URLs; ``serve --proxy`` in front of that server serves it. The reference is the
``--image-urls wadouri`` snapshot of the same Orthanc without the proxy, served the same
way. Each file is opened WHOLE (every study of a launch file is opened, so one page load
judges every display set of every study) and judged by :func:`tests.e2e.parity.judge_study`:
per image the decoded pixel count, min, max and sum, every frame of a multi-frame object
cold and warm, SR measurements, the SEG's segments, the PDF's bytes. Two page loads per
OHIF version.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydicom.data import get_testdata_file

from converter.cli import main
from converter.serve import proxy
from converter.serve.server import viewer_url
from fixtures.orthanc import Orthanc
from tests.conftest import FIXTURE_DICOM, fixture_files
from tests.e2e.conftest import serve_process
from tests.e2e.ohif import JS_BOUNDARY, Viewer
from tests.e2e.parity import SetResult, judge_study
from tests.no_wado_uri import NoWadoUri, no_wado_uri_server

pytestmark = [pytest.mark.e2e, pytest.mark.orthanc]

COMPRESSED = ("MR_small_jpeg_ls_lossless.dcm", "emri_small_RLE.dcm")
"""JPEG-LS lossless (one frame) and RLE lossless (10 frames), from pydicom's test files."""


def segmentation(folder: Path) -> Path:
    """A binary SEG (highdicom) of a box on three of the fixture CT's five slices."""
    import highdicom as hd
    import numpy as np
    import pydicom

    cts = sorted(
        (pydicom.dcmread(p) for p in (FIXTURE_DICOM / "study_a" / "ct").glob("*.dcm")),
        key=lambda ds: float(ds.ImagePositionPatient[2]),
    )
    mask = np.zeros((len(cts), cts[0].Rows, cts[0].Columns), dtype=bool)
    mask[1:4, 20:40, 20:40] = True
    segment = hd.seg.SegmentDescription(
        segment_number=1,
        segment_label="Box",
        segmented_property_category=hd.sr.CodedConcept("91723000", "SCT", "Anatomical Structure"),
        segmented_property_type=hd.sr.CodedConcept("12738006", "SCT", "Brain"),
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
    )
    seg = hd.seg.Segmentation(
        source_images=cts,
        pixel_array=mask,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[segment],
        series_instance_uid="1.2.826.0.1.3680043.8.498.14000001",
        series_number=90,
        sop_instance_uid="1.2.826.0.1.3680043.8.498.14000002",
        instance_number=1,
        manufacturer="dicomweb2ohif tests",
        manufacturer_model_name="tests",
        software_versions="1",
        device_serial_number="1",
    )
    path = folder / "SEG001.dcm"
    seg.save_as(path)
    return path


@dataclass(frozen=True)
class Snapshots:
    """The two launch folders and the no-WADO-URI server the wadors one was made from."""

    wadors: Path
    wadouri: Path
    server: NoWadoUri
    orthanc: Orthanc
    studies: list[str]
    series: frozenset[str]


@pytest.fixture(scope="module")
def snapshots(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Snapshots]:
    files = [*fixture_files(), *(Path(str(get_testdata_file(n))) for n in COMPRESSED)]
    files.append(segmentation(tmp_path_factory.mktemp("seg")))
    with Orthanc() as orthanc, no_wado_uri_server(orthanc.url) as server:
        orthanc.upload(files)
        rs, uri = tmp_path_factory.mktemp("wadors"), tmp_path_factory.mktemp("wadouri")
        assert main(["snapshot", orthanc.dicomweb_url, "--image-urls", "wadouri",
                     "-q", "-o", str(uri / "all.json")]) == 0  # fmt: skip
        assert main(["snapshot", server.dicomweb(), "-q", "-o", str(rs / "all.json")]) == 0
        document = json.loads((rs / "all.json").read_text())
        studies = [s["StudyInstanceUID"] for s in document["studies"]]
        series = frozenset(
            se["SeriesInstanceUID"] for s in document["studies"] for se in s["series"]
        )
        yield Snapshots(rs, uri, server, orthanc, studies, series)


def _judge(
    snapshots: Snapshots, folder: Path, upstream: str, version: str, viewer: Viewer
) -> dict[tuple[str, str], SetResult]:
    """Every display set of the file's series (OHIF also makes sets of its own, e.g. a
    key-object set, under a series UID of its own), by (series, kind)."""
    with serve_process(folder, upstream, version, urls=len(snapshots.studies)) as served:
        url = viewer_url(served.origin, f"{served.origin}/launch/all.json", snapshots.studies[0])
        view = judge_study(viewer.page, url, folder.name, viewer.errors, timeout_ms=30_000)
    return {(s.series, s.kind): s for s in view.sets if s.series in snapshots.series}


def test_wadors_file_from_a_server_without_wado_uri_shows_what_wadouri_shows(
    snapshots: Snapshots, ohif_version: str, ohif_dist: Path, viewer: Viewer
) -> None:
    document = json.loads((snapshots.wadors / "all.json").read_text())
    urls = [i["url"] for st in document["studies"] for se in st["series"] for i in se["instances"]]
    assert any(u.startswith("wadors:") and u.endswith("/frames/10") for u in urls)
    reference = _judge(snapshots, snapshots.wadouri, snapshots.orthanc.url, ohif_version, viewer)
    before = len(snapshots.server.asked)
    shown = _judge(snapshots, snapshots.wadors, snapshots.server.origin, ohif_version, viewer)
    asked = snapshots.server.asked[before:]
    assert not viewer.page.evaluate(JS_BOUNDARY)
    kinds = sorted({kind for _, kind in shown})
    assert kinds == ["image", "pdf", "seg", "sr"], kinds
    assert sorted(shown) == sorted(reference)
    assert {series for series, _ in shown} == snapshots.series  # every series of the file
    for key, want in reference.items():
        got = shown[key]
        assert want.shown, (key, want.note)
        assert got.shown, (key, got.note, got.failed)
        assert got.key() == want.key(), key
    frames = [a for a in asked if "/frames/" in a.target]
    assert frames and all(a.status == 200 for a in frames)
    assert all("multipart/related" in a.accept for a in frames)
    assert not [a for a in asked if a.target.startswith("/wado")], "the viewer asked WADO-URI"
    # The PDF: serve's proxy answered its rendered URL from the instance, asked as multipart.
    unwrapped = [a.status for a in asked if a.accept == proxy.INSTANCE_ACCEPT]
    assert unwrapped and set(unwrapped) == {200}  # the viewer's <object> and the judge's fetch
