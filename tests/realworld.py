"""A varied corpus of real-world DICOM files shipped inside pydicom.

The files come from the ``pydicom`` package itself (``pydicom/data/test_files``
and ``pydicom/data/charset_files``; selected with pydicom 3.0.2): images from
NEMA WG04, David Clunie's character-set samples, GDCM, DCMTK, dcmqi, vendor
files (GE, Siemens, Philips, Hitachi, Toshiba) and radiotherapy planning
systems.  Nothing is downloaded at run time, and the order is fixed.

Every selected file was checked against the Orthanc 1.10.1 + DICOMweb 1.7
fixture (``fixtures/orthanc.py``): ``POST /instances`` accepts it and
``GET /dicom-web/studies/{st}/series/{se}/metadata`` answers 200.  All SOP
Instance UIDs are distinct, no Study Instance UID is shared by two Patient
IDs and no Series Instance UID by two studies.  Run ``python3 -m
tests.realworld`` from the repository root to check this again.

Use::

    from tests.realworld import CORPUS, realworld_files

    for path in realworld_files():
        print(path.name, CORPUS[path.name])

Excluded files (pydicom 3.0.2):

* Orthanc rejects them (404 "Inexistent tag": no Study/Series/SOP Instance
  UID): ``JPEGLSNearLossless_08.dcm``, ``JPEGLSNearLossless_16.dcm``,
  ``SC_rgb_jls_lossy_line.dcm``, ``SC_rgb_jls_lossy_sample.dcm``,
  ``UN_sequence.dcm``, ``empty_charset_LEI.dcm``, ``meta_missing_tsyntax.dcm``,
  ``nested_priv_SQ.dcm``, ``no_meta_group_length.dcm``, ``priv_SQ.dcm``,
  ``chrSQEncoding.dcm``, ``chrSQEncoding1.dcm``.
* Orthanc rejects them (400 "Bad file format": truncated or no preamble and
  unparseable): ``MR_truncated.dcm``, ``rtplan_truncated.dcm``,
  ``SC_rgb_jpeg.dcm``, ``no_meta.dcm``.
* Same SOP Instance UID as a selected file (only one of each group is kept):
  the ``MR_small*.dcm`` family (kept: ``MR_small_jpeg_ls_lossless.dcm``);
  ``JPEG-lossy.dcm``, ``JPEG2000.dcm``, ``JPEG2000-embedded-sequence-delimiter.dcm``
  (kept: ``JPGExtended.dcm``); ``SC_rgb_rle*.dcm``, ``SC_rgb_jpeg_gdcm.dcm``
  (kept: ``SC_rgb_rle_16bit_2frame.dcm``); ``rtdose*.dcm`` (kept:
  ``badVR.dcm``); ``liver_expb_1frame.dcm`` (kept: ``liver_1frame.dcm``);
  ``reportsi.dcm`` (kept: ``reportsi_with_empty_number_tags.dcm``);
  ``ExplVR_LitEndNoMeta.dcm`` (kept: ``ExplVR_BigEndNoMeta.dcm``);
  ``chrFren.dcm`` (kept: ``chrFrenMulti.dcm``); ``chrJapMultiExplicitIR6.dcm``
  (kept: ``chrJapMulti.dcm``); ``SC_jpeg_no_color_transform_2.dcm`` /
  ``SC_rgb_jpeg_app14_dcmd.dcm``; ``SC_rgb_jpeg_dcmd.dcm`` /
  ``SC_rgb_jpeg.dcm``; ``SC_rgb_small_odd*.dcm``;
  ``SC_ybr_full_422_uncompressed.dcm`` / ``SC_rgb_dcmtk_+eb+cy+n2.dcm``.
* Redundant with a selected file (accepted, but would add nothing new):
  ``chrGerm.dcm``, the other ``SC_rgb_dcmtk_*`` / ``SC_rgb_*jpeg*`` variants,
  ``SC_rgb_gdcm_KY.dcm``, ``examples_jpeg2k.dcm``, ``examples_rgb_color.dcm``,
  the third CR series ``dicomdirtests/77654033/CR3/6278``, the other
  ``dicomdirtests`` series (``98892001/CT5N``, ``98892003/*``) and the 50
  ``TINY_ALPHA`` CT slices.
* Not DICOM instances: ``DICOMDIR*`` files, ``*.json``, ``*.dump``,
  ``zipMR.gz``, ``crayons.icc``.

Gaps: none of pydicom's bundled files has the VRs OV, SV, UV, UC, UR, OD or
OL, a SOP Class without pixel data other than SR/RT/ECG (e.g. encapsulated
PDF), or a Siemens/Philips enhanced multi-frame object; tests for those need
synthetic files.  Other packages were looked at and not used: ``pydicom-data``
(34 MB wheel: NEMA WG04 originals, ``emri_small*``, ``eCT_Supplemental``,
``liver.dcm`` multi-frame SEG ...), ``deid-data`` (42 MB sdist, one 43 MB US
cine) and ``nibabel`` (3.3 MB wheel; ``nibabel/nicom/tests/data`` has a
Siemens mosaic with CSA headers, gzipped Siemens DWI and Philips enhanced MR
files, which Orthanc accepts, and ``decimal_rescale.dcm``, which it rejects
for lack of UIDs).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pydicom

__all__ = ["CORPUS", "PYDICOM_DATA", "corpus_path", "realworld_files"]

#: pydicom's bundled data folder (holds ``test_files`` and ``charset_files``).
PYDICOM_DATA: Path = Path(pydicom.__file__).resolve().parent / "data"

# file name -> (folder under PYDICOM_DATA, what the file exercises)
_FILES: dict[str, tuple[str, str]] = {
    # --- character sets (David Clunie's samples, Secondary Capture / CR) ---
    "chrArab.dcm": (
        "charset_files",
        "ISO_IR 127 Arabic patient name (right-to-left)",
    ),
    "chrFrenMulti.dcm": (
        "charset_files",
        "ISO_IR 100 Latin-1 French accents; multi-valued PN and LO (Other Patient Names/IDs, "
        "retired OtherPatientIDs)",
    ),
    "chrGreek.dcm": ("charset_files", "ISO_IR 126 Greek patient name"),
    "chrH31.dcm": (
        "charset_files",
        "ISO 2022 IR 87 Japanese (Kanji) with code extensions; PN with alphabetic, "
        "ideographic and phonetic groups",
    ),
    "chrH32.dcm": (
        "charset_files",
        "ISO 2022 IR 13 + IR 87 Japanese (half-width Katakana + Kanji); PN with three "
        "component groups",
    ),
    "chrHbrw.dcm": ("charset_files", "ISO_IR 138 Hebrew patient name (right-to-left)"),
    "chrI2.dcm": (
        "charset_files",
        "ISO 2022 IR 149 Korean; PN with alphabetic, ideographic (Hanja) and phonetic "
        "(Hangul) groups",
    ),
    "chrJapMulti.dcm": (
        "charset_files",
        "ISO 2022 IR 87 Japanese in PN and LT; CR image with private tags that Orthanc "
        "returns as UN; group length elements",
    ),
    "chrKoreanMulti.dcm": (
        "charset_files",
        "ISO 2022 IR 149 Korean single-group PN; CR image with private UN tags",
    ),
    "chrRuss.dcm": ("charset_files", "ISO_IR 144 Cyrillic patient name"),
    "chrX1.dcm": (
        "charset_files",
        "ISO_IR 192 UTF-8 Chinese; PN ending with an empty phonetic group ('=')",
    ),
    "chrX2.dcm": ("charset_files", "GB18030 simplified Chinese; PN with ideographic group"),
    # --- transfer syntaxes and image types ---
    "CT_small.dcm": (
        "test_files",
        "CT (NEMA WG04, GE): explicit VR little endian, many GE private tags incl. private "
        "OB, SL/SS/FD, DS/IS numbers",
    ),
    "MR_small_jpeg_ls_lossless.dcm": (
        "test_files",
        "MR: JPEG-LS lossless compressed; no Specific Character Set",
    ),
    "ExplVR_BigEnd.dcm": (
        "test_files",
        "US RGB (Samples per Pixel 3): explicit VR big endian; no Patient ID",
    ),
    "ExplVR_BigEndNoMeta.dcm": (
        "test_files",
        "RT Ion Plan: explicit VR big endian with no preamble and no file meta information; "
        "no Patient ID or Name at all; no pixel data",
    ),
    "693_J2KI.dcm": (
        "test_files",
        "CT: JPEG 2000 (lossy) compressed; Bits Stored differs from the codestream",
    ),
    "J2K_pixelrep_mismatch.dcm": (
        "test_files",
        "CT (Hitachi): JPEG 2000 lossless; Specific Character Set ISO 2022 IR 13 + IR 87 "
        "(Orthanc turns '\\' into U+00A5 so multi-valued DS come back empty); private tags "
        "as UN",
    ),
    "GDCMJ2K_TextGBR.dcm": (
        "test_files",
        "Secondary Capture without Modality, Patient ID or Name: JPEG 2000 lossless with a "
        "JP2 header, YBR_RCT colour",
    ),
    "JPGExtended.dcm": (
        "test_files",
        "NM (NEMA WG04): JPEG extended 12-bit; Number of Frames 1; AT values; retired "
        "OtherPatientIDs; nested sequences",
    ),
    "SC_jpeg_no_color_transform.dcm": (
        "test_files",
        "Secondary Capture without Modality (TCGA slide tile): JPEG baseline RGB without "
        "colour transform; empty Patient ID/Name",
    ),
    "SC_rgb_rle_16bit_2frame.dcm": (
        "test_files",
        "Secondary Capture: RLE lossless, multi-frame (2 frames), 16-bit RGB; ISO_IR 192",
    ),
    "badVR.dcm": (
        "test_files",
        "RT Dose: invalid IS value '1A' in Number of Frames (Orthanc returns an empty Value "
        "list); AT values; 3-level sequences",
    ),
    "examples_overlay.dcm": (
        "test_files",
        "MR (Siemens): overlay plane (6000,3000) OW, Icon Image Sequence, Siemens CSA "
        "private OB (0029,1110); retired StudyComments",
    ),
    "examples_palette.dcm": (
        "test_files",
        "US (Philips, cropped): PALETTE COLOR with OW LUT data (always BulkDataURI), "
        "Sequence of Ultrasound Regions",
    ),
    "examples_ybr_color.dcm": (
        "test_files",
        "US multi-frame (30 frames): JPEG baseline YBR_FULL_422, Sequence of Ultrasound "
        "Regions, Frame Increment Pointer (AT) = Frame Time Vector, UT, retired "
        "OtherPatientIDs",
    ),
    "image_dfl.dcm": (
        "test_files",
        "Secondary Capture: deflated explicit VR little endian (dclunie); empty Patient ID",
    ),
    "liver_1frame.dcm": (
        "test_files",
        "SEG (dcmqi): Segmentation with 4-level sequences (functional groups, segment "
        "sequence, derivation), AT",
    ),
    "reportsi_with_empty_number_tags.dcm": (
        "test_files",
        "Basic Text SR without pixel data: empty FD/FL/SL/SS/UL/US/OF/DA/TM elements, UT, "
        "4-level content tree",
    ),
    "test-SR.dcm": (
        "test_files",
        "Comprehensive SR (DCMTK): 5-level content tree, UT text values, empty Patient ID",
    ),
    "rtplan.dcm": (
        "test_files",
        "RT Plan: implicit VR little endian, 3-level beam sequences, retired "
        "BeamDoseSpecificationPoint; no pixel data",
    ),
    "rtstruct.dcm": (
        "test_files",
        "RTSTRUCT: no preamble and no file meta information (implicit VR), contour "
        "sequences, retired ROI observation attributes",
    ),
    "waveform_ecg.dcm": (
        "test_files",
        "12-lead ECG waveform (OW Waveform Data, no pixel data), private OB group 1455, "
        "retired ReasonForStudy/OtherPatientIDs",
    ),
    # --- a small real patient hierarchy (pcir.org, DICOMDIR test set) ---
    "6154": (
        "test_files/dicomdirtests/77654033/CR1",
        "CR: patient 77654033, study 'XR C Spine', series 1 (one patient, two studies)",
    ),
    "6247": (
        "test_files/dicomdirtests/77654033/CR2",
        "CR: patient 77654033, study 'XR C Spine', series 2",
    ),
    "17106": (
        "test_files/dicomdirtests/77654033/CT2",
        "CT: patient 77654033, second study 'CT HEAD/BRAIN', 4-instance series; retired "
        "ReasonForStudy/StudyPriorityID/StudyStatusID",
    ),
    "17136": ("test_files/dicomdirtests/77654033/CT2", "CT: 4-instance series, slice 2"),
    "17166": ("test_files/dicomdirtests/77654033/CT2", "CT: 4-instance series, slice 3"),
    "17196": ("test_files/dicomdirtests/77654033/CT2", "CT: 4-instance series, slice 4"),
    "6293": (
        "test_files/dicomdirtests/98892001/CT2N",
        "CT (GE LightSpeed): private sequence (0049,1001) GEMS_CT_CARDIAC_001, many GE "
        "private groups, empty private UI; 2-instance series",
    ),
    "6924": (
        "test_files/dicomdirtests/98892001/CT2N",
        "CT (GE LightSpeed): private sequence, 2-instance series, slice 2",
    ),
}

#: file name -> what it exercises, in the order of :func:`realworld_files`.
CORPUS: dict[str, str] = {name: what for name, (_, what) in _FILES.items()}


def corpus_path(name: str) -> Path:
    """Return the path of the corpus file called ``name`` (a key of :data:`CORPUS`).

    Raises:
        KeyError: ``name`` is not in the corpus.
        FileNotFoundError: the installed pydicom does not ship the file.
    """
    folder, _ = _FILES[name]
    path = PYDICOM_DATA / folder / name
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: the corpus was selected from pydicom 3.0.2 "
            f"(installed: {pydicom.__version__})"
        )
    return path


def realworld_files() -> list[Path]:
    """Return the corpus files, in the fixed order of :data:`CORPUS`."""
    return [corpus_path(name) for name in CORPUS]


def _check() -> int:
    """Upload the corpus to a throwaway Orthanc and check it as the docstring says."""
    root = Path(__file__).resolve().parent.parent
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from fixtures.orthanc import Orthanc  # imported here: only this check needs it

    files = realworld_files()
    sops: dict[str, str] = {}
    problems: list[str] = []
    with Orthanc() as orthanc:
        series: set[tuple[str, str]] = set()
        for path in files:
            (instance_id,) = orthanc.upload([path])
            tags = orthanc.get(f"/instances/{instance_id}/simplified-tags").json()
            sop = tags["SOPInstanceUID"]
            if sop in sops:
                problems.append(f"{path.name}: SOP Instance UID also in {sops[sop]}")
            sops[sop] = path.name
            series.add((tags["StudyInstanceUID"], tags["SeriesInstanceUID"]))
        for study_uid, series_uid in sorted(series):
            answer = orthanc.get(f"/dicom-web/studies/{study_uid}/series/{series_uid}/metadata")
            if answer.status_code != 200:
                problems.append(f"series {series_uid}: metadata HTTP {answer.status_code}")
        count = orthanc.instance_count()
        if count != len(files):
            problems.append(f"{len(files)} files but {count} instances in Orthanc")
        studies = orthanc.get("/dicom-web/studies").json()
        study_uids = [s["0020000D"]["Value"][0] for s in studies]
        if len(study_uids) != len(set(study_uids)):
            problems.append("a Study Instance UID is listed twice (shared by two patients)")
    for problem in problems:
        print(problem, file=sys.stderr)
    print(
        f"{len(files)} files, {len(series)} series, {len(study_uids)} studies: "
        f"{'OK' if not problems else 'FAILED'}"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(_check())
