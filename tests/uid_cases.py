"""UIDs that are not PS3.5 9.1-conformant but safe, and small files written with them:
shared by tests/test_uids.py and the viewer test tests/e2e/test_uids_viewer.py.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import data_store
import pydicom
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

BAD_SEQUENCE = Path(data_store.__file__).parent / "data" / "bad_sequence.dcm"
with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)  # its UIDs are not conformant: that is the point
    HEX = pydicom.dcmread(BAD_SEQUENCE, stop_before_pixels=True).StudyInstanceUID
# Study, series and SOP Instance UIDs of the files written here, by what is odd about them.
ODD = {
    "leading-zero": ("1.2.03.4", "1.2.03.4.5", "1.2.03.4.5.06"),
    "long": ("1." + "2" * 70, "1." + "3" * 70, "1." + "4" * 70),
    "letters": ("1.2.abc.4", "1.2.abc.4.5", "1.2.abc.4.5.6"),
}
GOOD = (
    "1.2.826.0.1.3680043.8.498.1",
    "1.2.826.0.1.3680043.8.498.1.1",
    "1.2.826.0.1.3680043.8.498.1.1.1",
)


def write_file(path: Path, study: str, series: str, sop: str) -> Path:
    """A small secondary-capture image with these UIDs, written by pydicom."""
    ds = pydicom.Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.file_meta.MediaStorageSOPInstanceUID = sop
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID, ds.StudyInstanceUID, ds.SeriesInstanceUID = sop, study, series
    ds.Modality, ds.PatientID, ds.PatientName = "OT", path.stem, path.stem
    ds.StudyDate, ds.SeriesNumber, ds.InstanceNumber = "20200101", 1, 1
    ds.Rows = ds.Columns = 2
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = bytes([10, 20, 30, 40])  # mean 25: what the viewer must decode
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path
