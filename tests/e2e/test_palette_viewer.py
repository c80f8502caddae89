"""Palette colour images in the real OHIF Viewer (each proven version), from ``snapshot`` and ``folder`` output.

One launch file holds three real palette-colour images made by others (pydicom-data:
``OT-PAL-8-face.dcm``, whose descriptors Orthanc leaves out of its metadata, which
made OHIF's metadata provider throw; ``OBXXXX1A.dcm``, US; ``gdcm-US-ALOKA-16_big.dcm``,
segmented tables, big endian) and a plain CT study. (Not ``OBXXXX1A_expb*.dcm``: measured,
cornerstone shows 8-bit big endian pixel data with the bytes of each 16-bit word
swapped, pixel 2k as 2k+1, palette or not; its tables come out right.) The whole file is opened (OHIF opens every
study of it), so one page load judges all of it: no error boundary, no console
error, and each palette image decoded by cornerstone into the RGB pixels that
pydicom's ``apply_color_lut`` gives for the file (reduced to 8 bits as cornerstone
does when the table has 16-bit entries).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import data_store
import numpy as np
import pydicom
import pytest
from pydicom.pixels import apply_color_lut
from pydicom.uid import ImplicitVRLittleEndian

from converter.cli import main
from converter.serve.server import viewer_url
from converter.validate.validator import load_launch_file, validate
from fixtures.orthanc import Orthanc
from tests.conftest import FIXTURE_DICOM
from tests.e2e.conftest import serve_process
from tests.e2e.ohif import JS_BOUNDARY, Viewer
from tests.e2e.static_host import static_host

pytestmark = [pytest.mark.e2e, pytest.mark.orthanc]

DATA = Path(data_store.__file__).parent / "data"
PALETTE_FILES = ("OT-PAL-8-face.dcm", "OBXXXX1A.dcm", "gdcm-US-ALOKA-16_big.dcm")
PLAIN = FIXTURE_DICOM / "study_a" / "ct" / "CT005.dcm"
STEP = 97  # every 97th pixel is compared exactly; the means over all of them

# Load one instance's first image through cornerstone (as the viewport does) and
# describe its decoded pixels: channels, per-channel means, every STEP-th pixel.
JS_DECODED = """async ([sop, step]) => {
  const sets = window.services.displaySetService.getActiveDisplaySets();
  const image = sets.flatMap(d => d.images || []).find(i => i.SOPInstanceUID === sop);
  if (!image) return null;
  const cs = window.cornerstone;
  const loaded = await cs.imageLoader.loadAndCacheImage(image.imageId);
  const pixels = loaded.getPixelData();
  const channels = pixels.length / (loaded.rows * loaded.columns);
  const sums = [0, 0, 0];
  const sample = [];
  for (let p = 0, k = 0; k < pixels.length; p++, k += channels) {
    for (let c = 0; c < 3; c++) sums[c] += pixels[k + c];
    if (p % step === 0) sample.push(pixels[k], pixels[k + 1], pixels[k + 2]);
  }
  const count = pixels.length / channels;
  return {channels, rows: loaded.rows, columns: loaded.columns,
          means: sums.map(s => s / count), sample};
}"""

IMPLICIT_VR_NOTE = re.compile(r"^console error: Invalid vr type (xs|ox) - using (US|OW)$")
"""What dcmjs in the viewer logs reading the implicit VR OT-PAL-8-face.dcm itself (the
dictionary's "US or SS"/"OB or OW"), as an error although it reads on; not about the
launch file."""


def expected_rgb(path: Path) -> np.ndarray:
    """The file's pixels through its palette, 8 bits per channel as cornerstone shows them."""
    ds = pydicom.dcmread(path, force=True)
    if "TransferSyntaxUID" not in ds.file_meta:  # OT-PAL-8-face: no File Meta Information
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    rgb = apply_color_lut(ds.pixel_array, ds).astype(np.int64)
    if int(ds.RedPaletteColorLookupTableDescriptor[2]) > 8 and rgb.max() > 255:
        rgb >>= 8
    return rgb.reshape(-1, 3)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("palette-files")
    for name in PALETTE_FILES:
        shutil.copy(DATA / name, folder / name)
    shutil.copy(PLAIN, folder / "plain.dcm")
    return folder


@pytest.fixture(scope="module")
def static_files(corpus: Path) -> Iterator[str]:
    with static_host(corpus) as origin:
        yield origin


@pytest.fixture(scope="module")
def palette_orthanc(corpus: Path) -> Iterator[Orthanc]:
    with Orthanc() as server:
        server.upload(sorted(corpus.iterdir()))
        yield server


def served_launch(
    kind: str, palette_orthanc: Orthanc, static_files: str, corpus: Path, folder: Path
) -> tuple[str, str]:
    """Write the launch file with ``kind`` (snapshot or folder); its name and proxy target."""
    out = folder / f"{kind}.json"
    if kind == "snapshot":
        assert main(["snapshot", palette_orthanc.dicomweb_url, "-o", str(out), "-q"]) == 0
        target = palette_orthanc.url
    else:
        assert (
            main(["folder", str(corpus), "--url-prefix", static_files + "/", "-o", str(out), "-q"])
            == 0
        )
        target = static_files
    assert validate(load_launch_file(out)) == []
    return out.name, target


@pytest.mark.parametrize("kind", ["snapshot", "folder"])
def test_whole_file_opens_and_palette_images_show(
    kind: str,
    palette_orthanc: Orthanc,
    static_files: str,
    corpus: Path,
    ohif_version: str,
    ohif_dist: Path,
    viewer: Viewer,
    tmp_path: Path,
) -> None:
    name, target = served_launch(kind, palette_orthanc, static_files, corpus, tmp_path)
    face = pydicom.dcmread(DATA / PALETTE_FILES[0], stop_before_pixels=True, force=True)
    with serve_process(tmp_path, target, ohif_version, urls=len(PALETTE_FILES) + 1) as served:
        whole = viewer_url(
            served.origin, f"{served.origin}/launch/{name}", face.StudyInstanceUID
        )  # the whole file: every study opened
        viewer.open(whole)
        assert not viewer.page.evaluate(JS_BOUNDARY)
        for file_name in PALETTE_FILES:
            ds = pydicom.dcmread(DATA / file_name, stop_before_pixels=True, force=True)
            decoded = viewer.page.evaluate(JS_DECODED, [ds.SOPInstanceUID, STEP])
            assert decoded is not None, f"{file_name} not among the display sets"
            expected = expected_rgb(DATA / file_name)
            assert decoded["means"] == pytest.approx(expected.mean(axis=0).tolist(), abs=0.5), (
                file_name
            )
            sample = np.array(decoded["sample"]).reshape(-1, 3)
            assert np.abs(sample - expected[::STEP]).max() <= 1, file_name
        assert not viewer.page.evaluate(JS_BOUNDARY)
        assert [e for e in viewer.errors if not IMPLICIT_VR_NOTE.search(e)] == []
