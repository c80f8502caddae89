"""The pydicom-data corpus: larger real-world DICOM files from the ``pydicom-data`` package.

The package (PyPI ``pydicom-data``, imported as ``data_store``, in the test
extras) holds 68 files that pydicom's own tests fetch on demand: the NEMA WG04
compression samples (CT, MR, CR, US, NM in uncompressed, JPEG 2000 reversible
and irreversible form), palette-colour ultrasound (``OBXXXX1A*``, the segmented
palettes of ``gdcm-US-ALOKA-16``), ``OT-PAL-8-face``, multi-frame RGB and US
cine (``color3d_jpeg_baseline``: 120 JPEG baseline frames), enhanced CT and MR
(``eCT_Supplemental``, ``emri_small``), a multi-frame SEG (``liver``),
overlays, big endian, YBR, modality and VOI LUTs, and ``bad_sequence`` (Study,
Series and SOP Instance UIDs that are 64-digit hex hashes). Nothing here was
made by this project.

Selection (fixed order, :data:`CORPUS`): one file per SOP Instance UID, since
Orthanc keeps only the first of several files with the same UID and the
comparison needs to know which one it holds. Where several files share a SOP
Instance UID the one kept is named below with the ones left out:

* ``693_J2KR`` (left out: ``693_UNCR``), ``MR2_J2KI`` (``MR2_UNCI``),
  ``RG1_J2KI`` (``RG1_UNCI``), ``RG3_J2KI`` (``RG3_UNCI``), ``US1_J2KI``
  (``US1_UNCI``): the compressed form.
* ``OBXXXX1A_rle_2frame`` (``OBXXXX1A``, ``OBXXXX1A_2frame``,
  ``OBXXXX1A_expb``, ``OBXXXX1A_expb_2frame``, ``OBXXXX1A_rle``): palette
  colour, RLE and multi-frame at once.
* ``SC_rgb_expb_2frame`` (``SC_rgb``, ``SC_rgb_2frame``, ``SC_rgb_expb``
  and the 16/32-bit variants): multi-frame RGB, big endian.
* ``SC_ybr_full_uncompressed`` (``SC_rgb_dcmtk_ebcyn2_dcmd``): YBR_FULL.
* ``color-pl`` (``color-px``): planar configuration 1.
* ``emri_small`` (``emri_small_RLE``, ``emri_small_big_endian``,
  ``emri_small_jpeg_2k_lossless``, ``emri_small_jpeg_ls_lossless``,
  ``emri_small_jpeg_2k_lossless_too_short``): the uncompressed enhanced MR.
* ``gdcm-US-ALOKA-16`` (``gdcm-US-ALOKA-16_big``), ``liver`` (``liver_expb``).

Every selected file was checked against the Debian Orthanc 1.10.1 + DICOMweb
1.7 of ``fixtures/orthanc.py``: ``POST /instances`` accepts it and the series
metadata answers 200. Run ``python3 -m tests.pydicom_data`` from the
repository root to check this again.
"""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["CORPUS", "corpus_dir", "pydicom_data_files"]

#: file name (under ``data_store/data``) -> what it exercises, in a fixed order.
CORPUS: dict[str, str] = {
    "693_J2KR.dcm": "NEMA WG04 CT, JPEG 2000 reversible",
    "693_UNCI.dcm": "NEMA WG04 CT, uncompressed (the irreversible set's original)",
    "JPEG-LL.dcm": "NM, JPEG lossless process 14 SV1",
    "JPEG2000_UNC.dcm": "NM, uncompressed original of the JPEG 2000 sample",
    "JPGLosslessP14SV1_1s_1f_8b.dcm": "US, 8-bit JPEG lossless",
    "MR-SIEMENS-DICOM-WithOverlays.dcm": "Siemens MR with overlay planes (60xx)",
    "MR2_J2KI.dcm": "NEMA WG04 MR, JPEG 2000 irreversible",
    "MR2_J2KR.dcm": "NEMA WG04 MR, JPEG 2000 reversible",
    "MR2_UNCR.dcm": "NEMA WG04 MR, uncompressed",
    "OBXXXX1A_rle_2frame.dcm": "US palette colour, RLE, two frames",
    "OT-PAL-8-face.dcm": "palette colour 8-bit secondary capture (implicit VR, no meta TS)",
    "RG1_J2KI.dcm": "NEMA WG04 CR, JPEG 2000 irreversible",
    "RG1_J2KR.dcm": "NEMA WG04 CR, JPEG 2000 reversible",
    "RG1_UNCR.dcm": "NEMA WG04 CR, uncompressed",
    "RG3_J2KI.dcm": "NEMA WG04 CR (large), JPEG 2000 irreversible",
    "RG3_J2KR.dcm": "NEMA WG04 CR (large), JPEG 2000 reversible",
    "RG3_UNCR.dcm": "NEMA WG04 CR (large), uncompressed",
    "SC_rgb_expb_2frame.dcm": "RGB secondary capture, big endian, two frames",
    "SC_rgb_dcmtk_ebcr_dcmd.dcm": "RGB, DCMTK-decoded JPEG",
    "SC_rgb_dcmtk_ebcyn1_dcmd.dcm": "RGB, DCMTK-decoded JPEG (YBR, no subsampling)",
    "SC_ybr_full_uncompressed.dcm": "YBR_FULL uncompressed",
    "SC_rgb_dcmtk_ebcynp_dcmd.dcm": "RGB, DCMTK-decoded progressive JPEG",
    "SC_rgb_dcmtk_ebcys2_dcmd.dcm": "RGB, DCMTK-decoded JPEG (4:2:2)",
    "SC_rgb_dcmtk_ebcys4_dcmd.dcm": "RGB, DCMTK-decoded JPEG (4:2:0)",
    "SC_rgb_gdcm2k_uncompressed.dcm": "RGB, GDCM-decoded JPEG 2000",
    "US1_J2KI.dcm": "NEMA WG04 US RGB, JPEG 2000 irreversible",
    "US1_J2KR.dcm": "NEMA WG04 US RGB, JPEG 2000 reversible",
    "US1_UNCR.dcm": "NEMA WG04 US RGB, uncompressed",
    "bad_sequence.dcm": "CT, JPEG lossless; Study/Series/SOP UIDs are 64-digit hex hashes",
    "color-pl.dcm": "US RGB, planar configuration 1",
    "color3d_jpeg_baseline.dcm": "US cine, 120 JPEG baseline RGB frames",
    "eCT_Supplemental.dcm": "enhanced CT, two frames",
    "emri_small.dcm": "enhanced MR, ten frames",
    "explicit_VR-UN.dcm": "CT with UN elements, JPEG 2000",
    "gdcm-US-ALOKA-16.dcm": "US with segmented 16-bit palettes",
    "liver.dcm": "multi-frame SEG (three frames) on a CT not in the corpus",
    "mlut_18.dcm": "modality LUT sequence",
    "vlut_04.dcm": "VOI LUT sequence",
}


def corpus_dir() -> Path:
    """``data_store/data`` of the installed ``pydicom-data`` (the test extras install it)."""
    import data_store  # imported here: only tests that use the corpus need the package

    return Path(data_store.__file__).resolve().parent / "data"


def pydicom_data_files() -> list[Path]:
    """The corpus files, in the fixed order of :data:`CORPUS`.

    Raises:
        FileNotFoundError: the installed package lacks a file of the selection.
    """
    root = corpus_dir()
    paths = [root / name for name in CORPUS]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"pydicom-data in {root} lacks {', '.join(missing)}")
    return paths


def _check() -> int:
    """Upload the corpus to a throwaway Orthanc; check distinct SOP Instance UIDs and
    that every series' metadata answers."""
    root = Path(__file__).resolve().parent.parent
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from fixtures.orthanc import Orthanc  # imported here: only this check needs it

    files = pydicom_data_files()
    problems: list[str] = []
    seen: dict[str, str] = {}
    series: set[tuple[str, str]] = set()
    with Orthanc() as orthanc:
        for path in files:
            (instance_id,) = orthanc.upload([path])
            tags = orthanc.get(f"/instances/{instance_id}/simplified-tags").json()
            if tags["SOPInstanceUID"] in seen:
                problems.append(
                    f"{path.name}: SOP Instance UID also in {seen[tags['SOPInstanceUID']]}"
                )
            seen[tags["SOPInstanceUID"]] = path.name
            series.add((tags["StudyInstanceUID"], tags["SeriesInstanceUID"]))
        for study_uid, series_uid in sorted(series):
            answer = orthanc.get(f"/dicom-web/studies/{study_uid}/series/{series_uid}/metadata")
            if answer.status_code != 200:
                problems.append(f"series {series_uid}: metadata HTTP {answer.status_code}")
        if orthanc.instance_count() != len(files):
            problems.append(f"{len(files)} files but {orthanc.instance_count()} instances")
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{len(files)} files, {len(series)} series: {'OK' if not problems else 'FAILED'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(_check())
