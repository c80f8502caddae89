"""``folder`` output opened in the real OHIF Viewer (each proven version): static files, no DICOMweb server.

The fixture files are served as they lie on disk by a plain static HTTP server
(what a bucket or nginx would do); ``dicomweb2ohif folder`` links them with
``--url-prefix``; ``serve --viewer --proxy <static server>`` puts viewer, launch
file and files on one origin. The oracle is pydicom reading the same files; what
is checked is what the viewer page holds and draws.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest

from converter.cli import main
from converter.validate.validator import load_launch_file, validate
from tests.conftest import FIXTURE_DICOM
from tests.e2e.conftest import Served, serve_process
from tests.e2e.ohif import LOAD_TIMEOUT_MS, Viewer
from tests.e2e.static_host import static_host

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def static_files() -> Iterator[str]:
    """fixtures/dicom over plain HTTP on 127.0.0.1, files as they are (a static host)."""
    with static_host(FIXTURE_DICOM) as origin:
        yield origin


@pytest.fixture(scope="module")
def served_folder(
    static_files: str, ohif_version: str, ohif_dist: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    launch = tmp_path_factory.mktemp("folder-launch")
    assert (
        main(
            [
                "folder",
                str(FIXTURE_DICOM),
                "--url-prefix",
                static_files + "/",
                "-o",
                str(launch / "folder.json"),
                "-q",
            ]
        )
        == 0
    )
    assert validate(load_launch_file(launch / "folder.json")) == []
    with serve_process(launch, static_files, ohif_version) as server:  # one URL per fixture study
        yield server


def read(relative: str) -> pydicom.Dataset:
    return pydicom.dcmread(FIXTURE_DICOM / relative)


def test_ct_stack_from_static_files(served_folder: Served, viewer: Viewer) -> None:
    slices = sorted(
        (read(f"study_a/ct/CT00{i}.dcm") for i in range(1, 6)),
        key=lambda ds: -float(ds.ImagePositionPatient[2]),
    )  # OHIF: head first
    viewer.open(served_folder.url(slices[0].StudyInstanceUID))
    for index, ds in enumerate(slices):
        shown = viewer.show(index)
        assert shown["count"] == 5
        assert shown["imageId"].startswith(f"dicomweb:{served_folder.origin}/proxy/study_a/ct/")
        assert shown["position"] == [float(v) for v in ds.ImagePositionPatient]
        hu = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        assert shown["pixelMean"] == pytest.approx(float(hu.mean()))  # cornerstone holds HU
    assert viewer.errors == []


def test_multiframe_frames_in_order(served_folder: Served, viewer: Viewer) -> None:
    ds = read("study_b/us/US_MF001.dcm")
    frames = ds.pixel_array
    viewer.open(served_folder.url(ds.StudyInstanceUID, ds.SeriesInstanceUID))
    for index in range(int(ds.NumberOfFrames)):
        shown = viewer.show(index)
        assert shown["count"] == int(ds.NumberOfFrames)
        assert shown["imageId"].endswith(f"US_MF001.dcm?frame={index + 1}")
        assert shown["pixelMean"] == pytest.approx(float(frames[index].mean()))
    assert viewer.errors == []


def test_pdf_opens_from_the_inline_document(served_folder: Served, viewer: Viewer) -> None:
    """No server answers application/pdf here: OHIF makes a blob: URL of the inline PDF."""
    ds = read("study_a/doc/PDF001.dcm")
    document = bytes(ds.EncapsulatedDocument)[: int(ds.EncapsulatedDocumentLength)]
    viewer.page.goto(served_folder.url(ds.StudyInstanceUID, ds.SeriesInstanceUID))
    pdf = viewer.page.locator("object[type='application/pdf']")
    pdf.wait_for(timeout=LOAD_TIMEOUT_MS)
    source = pdf.get_attribute("data") or ""
    assert source.startswith("blob:"), source
    fetched = viewer.page.evaluate(
        """async (url) => { const r = await fetch(url);
             return [r.headers.get('content-type'),
                     Array.from(new Uint8Array(await r.arrayBuffer()))]; }""",
        source,
    )
    assert fetched[0] == "application/pdf"
    assert bytes(fetched[1]).rstrip(b"\x00") == document
