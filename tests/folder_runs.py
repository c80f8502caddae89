"""Helpers shared by the ``folder`` tests: running the CLI in-process, reading its output,
naming instances by file, and what ``validate`` finds in the real-world corpus.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pydicom

from converter.cli import main
from converter.validate.validator import validate

PREFIX = "https://files.example/dicom/"


def run(*argv: str) -> int:
    return main(list(argv))


def read_json(path: Path) -> Any:
    return json.loads(path.read_bytes())


def sop_names(files: list[Path]) -> dict[str, str]:
    return {
        pydicom.dcmread(p, stop_before_pixels=True, force=True).SOPInstanceUID: p.name
        for p in files
    }


def problems_by_file(document: dict[str, Any], names: dict[str, str]) -> set[tuple[str, str]]:
    """validate()'s problems as (file name, attribute or series.<field>)."""
    found = set()
    for problem in validate(document):
        study, series, *rest = problem.path.split(".")
        first = document["studies"][int(study[8:-1])]["series"][int(series[7:-1])]
        name = names[first["instances"][0]["metadata"]["SOPInstanceUID"]]
        found.add(
            (
                name,
                ".".join(rest[2:])
                if rest[0].startswith("instances[")
                else "series." + ".".join(rest),
            )
        )
    return found


# What the real-world files themselves lack or break (validate's findings on them).
REALWORLD_PROBLEMS = {
    # Secondary Captures without Modality (Type 1 in the General Series module)
    ("GDCMJ2K_TextGBR.dcm", "series.Modality"),
    ("GDCMJ2K_TextGBR.dcm", "Modality"),
    ("SC_jpeg_no_color_transform.dcm", "series.Modality"),
    ("SC_jpeg_no_color_transform.dcm", "Modality"),
    ("ExplVR_BigEnd.dcm", "PixelSpacing"),  # an ultrasound image with no calibration at all
    ("badVR.dcm", "NumberOfFrames"),  # the invalid IS "1A"
    # Objects OHIF throws on when it shows them (converter/validate/ohif_traps.py; the parity run):
    ("test-SR.dcm", "ContentSequence[3]"),  # a COMPOSITE item without a concept name
    ("waveform_ecg.dcm", "WaveformSequence"),  # OHIF's ECG viewport
    (
        "rtstruct.dcm",
        "ReferencedFrameOfReferenceSequence[0].RTReferencedStudySequence[0]."
        "RTReferencedSeriesSequence[0].ContourImageSequence",
    ),  # OHIF's RT handler
}
