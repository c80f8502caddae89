"""The study of benchmarks/viewer.py: a 500-slice CT and a 300-frame ultrasound.

One study, two series, written deterministically (UIDs derive from fixed names, the
pixels from the fixture files tiled up), so two runs write the same files:

* CT: 500 slices of 512x512 16-bit, 2.5 mm apart (the fixture CT slices of
  ``fixtures/dicom/study_a/ct`` tiled up to 512x512, about 512 KiB each);
* US: one Ultrasound Multi-frame Image of 300 frames of 480x640 8-bit (the fixture
  ``US_MF001.dcm`` frames tiled up, about 90 MB).

The files and the Orthanc storage holding them are kept under ``benchmarks/.data``
(outside git), so later runs skip generation and upload.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from pydicom.uid import PYDICOM_ROOT_UID, generate_uid

from fixtures.orthanc import Orthanc

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / ".data" / "viewer"
CT_SOURCE = ROOT / "fixtures" / "dicom" / "study_a" / "ct"
US_SOURCE = ROOT / "fixtures" / "dicom" / "study_b" / "us" / "US_MF001.dcm"
CT_SLICES = 500
CT_SIZE = 512
US_FRAMES = 300
US_SHAPE = (480, 640)


def uid(*names: object) -> str:
    return generate_uid(PYDICOM_ROOT_UID, entropy_srcs=["viewer-benchmark", *map(str, names)])


STUDY = uid("study")
CT_SERIES = uid("series", "ct")
US_SERIES = uid("series", "us")


def _study_identity(ds: pydicom.Dataset) -> None:
    ds.StudyInstanceUID = STUDY
    ds.PatientName = "Benchmark^Viewer"
    ds.PatientID = "VIEWER-BENCH"
    ds.StudyDate = "20240101"
    ds.StudyTime = "120000"
    ds.StudyID = "1"
    ds.AccessionNumber = "VIEWERBENCH"
    ds.StudyDescription = "viewer benchmark: CT 500 x 512x512, US 300 frames"


def _tile(pixels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    reps = (-(-shape[0] // pixels.shape[-2]), -(-shape[1] // pixels.shape[-1]))
    tiled = np.tile(pixels, (1,) * (pixels.ndim - 2) + reps)
    return np.ascontiguousarray(tiled[..., : shape[0], : shape[1]])


def generate(folder: Path) -> list[Path]:
    """Write the study's files under ``folder/ct`` and ``folder/us``; returns their paths."""
    paths: list[Path] = []
    slices = [pydicom.dcmread(p) for p in sorted(CT_SOURCE.glob("*.dcm"))]
    for ds in slices:
        ds.PixelData = _tile(ds.pixel_array, (CT_SIZE, CT_SIZE)).tobytes()
        ds.Rows = ds.Columns = CT_SIZE
        _study_identity(ds)
        ds.SeriesInstanceUID = CT_SERIES
        ds.SeriesNumber = 1
        ds.SeriesDescription = f"CT {CT_SLICES} slices"
    (folder / "ct").mkdir(parents=True, exist_ok=True)
    for i in range(CT_SLICES):
        ds = slices[i % len(slices)]
        ds.SOPInstanceUID = uid("ct", i)
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber = i + 1
        ds.ImagePositionPatient = [-128.0, -128.0, 2.5 * i]
        ds.SliceLocation = 2.5 * i
        path = folder / "ct" / f"CT{i + 1:05d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    us = pydicom.dcmread(US_SOURCE)
    frames = us.pixel_array  # (frames, rows, columns)
    picked = np.stack([frames[k % len(frames)] for k in range(US_FRAMES)])
    us.PixelData = _tile(picked, US_SHAPE).tobytes()
    us.Rows, us.Columns = US_SHAPE
    us.NumberOfFrames = US_FRAMES
    _study_identity(us)
    us.SeriesInstanceUID = US_SERIES
    us.SeriesNumber = 2
    us.SeriesDescription = f"US {US_FRAMES} frames"
    us.SOPInstanceUID = uid("us", 0)
    us.file_meta.MediaStorageSOPInstanceUID = us.SOPInstanceUID
    us.InstanceNumber = 1
    (folder / "us").mkdir(parents=True, exist_ok=True)
    path = folder / "us" / "US00001.dcm"
    us.save_as(path, enforce_file_format=True)
    paths.append(path)
    return paths


def load_server() -> tuple[Orthanc, Path]:
    """Orthanc on the kept storage, holding the study (generated and uploaded on first use);
    returns the running server and the folder of the files."""
    files = DATA / "dicom"
    done = DATA / "uploaded"
    if not done.exists():
        generate(files)
    server = Orthanc(storage_dir=DATA / "orthanc")
    server.start()
    try:
        if not done.exists():
            server.upload(sorted(files.rglob("*.dcm")))
            done.write_text(f"{server.instance_count()}\n")
        if server.instance_count() != CT_SLICES + 1:
            raise RuntimeError(
                f"{DATA / 'orthanc'} holds {server.instance_count()} instances, expected "
                f"{CT_SLICES + 1}: remove {DATA} to start again"
            )
    except BaseException:
        server.stop()
        raise
    return server, files
