"""Studies with UIDs that are not PS3.5 9.1-conformant, opened in the real OHIF Viewer (each proven version).

The content of ``tests/test_uids.py`` (pydicom-data's ``bad_sequence.dcm`` with
64-digit hex hash UIDs, and files with leading-zero, 72-character and lettered
UIDs), snapshot into a folder of per-study launch files, served by ``serve
--viewer --proxy``. Each study opens from the URL ``serve`` printed and shows
its image: the UIDs kept are usable by the viewer, in its route, in the launch
file and in the instance URLs.

``bad_sequence.dcm`` is loaded with its CTDIPhantomTypeCodeSequence re-encoded
as SQ (pydicom reads the file's UN-encoded sequence, PS3.5 6.2.2, and writes it
back as SQ), UIDs unchanged: as it lies, OHIF 3.13.2's dcmjs cannot parse that
UN sequence ("Invalid vr type", then no pixel data) whatever the UIDs are --
the same file with conformant UIDs fails the same way (measured) -- which is a
matter for the parity work, not for UIDs.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy
import pydicom
import pytest
import requests
from PIL import Image

from converter.cli import main
from converter.uids import quote_uid
from fixtures.orthanc import Orthanc
from tests.e2e.conftest import Served, serve_process
from tests.e2e.ohif import Viewer
from tests.uid_cases import BAD_SEQUENCE, GOOD, HEX, ODD, write_file

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore:Invalid value for VR UI"),
    pytest.mark.filterwarnings("ignore:The value length .* for VR UI"),
]


@pytest.fixture(scope="module")
def odd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    folder = tmp_path_factory.mktemp("odd-uids-e2e")
    files = [write_file(folder / f"{name}.dcm", *uids) for name, uids in ODD.items()]
    files.append(write_file(folder / "good.dcm", *GOOD))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        bad = pydicom.dcmread(BAD_SEQUENCE)
        for _ in bad.iterall():  # UN elements of known tags are read as their VR (SQ)
            pass
        bad.save_as(folder / "bad_sequence_sq.dcm")
    assert bad.StudyInstanceUID == HEX
    files.append(folder / "bad_sequence_sq.dcm")
    with Orthanc() as orthanc:
        orthanc.upload(files)
        yield orthanc


@pytest.fixture(scope="module")
def served_odd(
    odd_server: Orthanc,
    ohif_version: str,
    ohif_dist: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Served]:
    launch = tmp_path_factory.mktemp("odd-launch")
    assert main(["snapshot", odd_server.dicomweb_url, "-q", "-o", f"{launch}/"]) == 0
    with serve_process(launch, odd_server.url, ohif_version, urls=len(ODD) + 2) as server:
        yield server


@pytest.mark.parametrize("name", list(ODD))
def test_made_file_shows_its_pixels(served_odd: Served, viewer: Viewer, name: str) -> None:
    study, series, sop = ODD[name]
    viewer.open(served_odd.url(study))
    shown = viewer.show(0)
    assert shown["count"] == 1
    for uid in (study, series, sop):
        assert quote_uid(uid) in shown["imageId"]
    assert shown["pixelMean"] == pytest.approx(25.0)  # bytes 10, 20, 30, 40
    assert viewer.errors == []


def test_hex_hash_study_shows_its_image(
    served_odd: Served, viewer: Viewer, odd_server: Orthanc
) -> None:
    """bad_sequence.dcm (JPEG Lossless CT, 512 x 512, its sequence as SQ): decoded and drawn.

    The oracle is Orthanc's own decoding of the frame (a 16-bit PNG of the stored
    values), rescaled as cornerstone holds it (Hounsfield units, PS3.3 C.11.1.1.2).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        header = pydicom.dcmread(BAD_SEQUENCE, stop_before_pixels=True)
    found = requests.post(
        f"{odd_server.url}/tools/lookup", data=header.SOPInstanceUID, timeout=30
    ).json()
    png = requests.get(
        f"{odd_server.url}/instances/{found[0]['ID']}/frames/0/image-uint16", timeout=30
    )
    stored = numpy.asarray(Image.open(io.BytesIO(png.content)), dtype=float)
    hu = stored * float(header.RescaleSlope) + float(header.RescaleIntercept)
    viewer.open(served_odd.url(HEX))
    shown = viewer.show(0)
    assert shown["count"] == 1 and HEX in shown["imageId"]
    assert shown["pixelMean"] == pytest.approx(float(hu.mean()))
    assert shown["canvasMean"] > 0  # drawn, not a black canvas
    assert viewer.errors == []
