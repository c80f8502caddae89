"""Folder benchmark: ``dicomweb2ohif folder`` against the reading work of OHIF's generator.

    .venv/bin/python -m benchmarks.folder_vs_dcmjs [--files 3000] [--rows 64] [--runs 5]

Generates a folder of ``--files`` CT slices deterministically into a temporary
folder (the fixture CT slices of ``fixtures/dicom/study_a/ct`` with new UIDs, 10
series per study, 100 slices per series; ``--rows 512`` tiles the pixels up to
a real CT's 512x512 so the files weigh what real ones do), then measures, side by
side in one run and alternating which goes first on every round:

(a) ``dicomweb2ohif folder DIR --url-prefix ... -o OUT`` as a whole process, with
    the default ``--jobs`` (one process per CPU) and with ``--jobs 1``;
(b) ``node benchmarks/dcmjs_generator_read.js DIR``: what OHIF's
    ``.scripts/dicom-json-generator.js`` does per file with the pinned dcmjs
    (``DicomMessage.readFile`` + ``naturalizeDataset``), without its model
    building and JSON writing.

Both are whole-process wall times (interpreter start included) on a warm page
cache. It prints files/second for each and the ratios (medians of per-round
ratios); quote the ratios, the absolute numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pydicom
from pydicom.uid import PYDICOM_ROOT_UID, generate_uid

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "fixtures" / "dicom" / "study_a" / "ct"
NODE_SCRIPT = ROOT / "benchmarks" / "dcmjs_generator_read.js"
PER_SERIES = 100
SERIES_PER_STUDY = 10


def _uid(*names: object) -> str:
    return generate_uid(PYDICOM_ROOT_UID, entropy_srcs=["folder-benchmark", *map(str, names)])


def generate(folder: Path, files: int, rows: int) -> None:
    """``files`` CT slices under ``folder/study_N/series_M/IMnnnnn.dcm``, the same every time."""
    slices = [pydicom.dcmread(p) for p in sorted(SOURCE.glob("*.dcm"))]
    for ds in slices:
        if rows != ds.Rows:
            reps = -(-rows // ds.Rows)
            pixels = np.tile(ds.pixel_array, (reps, reps))[:rows, :rows]
            ds.Rows = ds.Columns = rows
            ds.PixelData = np.ascontiguousarray(pixels).tobytes()
    for i in range(files):
        series, index = divmod(i, PER_SERIES)
        study = series // SERIES_PER_STUDY
        ds = slices[i % len(slices)]
        ds.StudyInstanceUID = _uid("study", study)
        ds.SeriesInstanceUID = _uid("series", series)
        ds.SeriesNumber = series % SERIES_PER_STUDY + 1
        ds.SOPInstanceUID = _uid("instance", i)
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber = index + 1
        ds.ImagePositionPatient = [0.0, 0.0, 2.5 * index]
        target = folder / f"study_{study:03d}" / f"series_{series:04d}" / f"IM{index + 1:05d}.dcm"
        target.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(target, enforce_file_format=True)


def _run(argv: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, check=True, text=True, cwd=ROOT)
    return time.perf_counter() - start, done.stdout


def ours(folder: Path, out: Path, jobs: int | None) -> tuple[float, int]:
    argv = [
        sys.executable,
        "-m",
        "converter",
        "folder",
        str(folder),
        "--url-prefix",
        "https://files.example/dicom/",
        "-o",
        str(out),
        "-q",
    ]
    if jobs is not None:
        argv += ["--jobs", str(jobs)]
    seconds, _ = _run(argv)
    document = json.loads(out.read_bytes())
    return seconds, sum(s["NumInstances"] for s in document["studies"])


def dcmjs(folder: Path) -> tuple[float, int]:
    seconds, stdout = _run(["node", str(NODE_SCRIPT), str(folder)])
    return seconds, int(json.loads(stdout)["instances"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=3000)
    parser.add_argument("--rows", type=int, default=64, help="pixel matrix (64: the fixture)")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    if shutil.which("node") is None or not (ROOT / "tests/dcmjs/node_modules/dcmjs").is_dir():
        print("needs node and the pinned dcmjs (bash scripts/setup)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="folder-bench-") as tmp:
        folder, out = Path(tmp) / "dicom", Path(tmp) / "out.json"
        generate(folder, args.files, args.rows)
        size = sum(p.stat().st_size for p in folder.rglob("*.dcm"))
        contenders = {
            "folder": lambda: ours(folder, out, None),
            "folder --jobs 1": lambda: ours(folder, out, 1),
            "dcmjs": lambda: dcmjs(folder),
        }
        for run in contenders.values():  # warm the page cache and the interpreters
            _, count = run()
            if count != args.files:
                print(f"expected {args.files} instances, got {count}", file=sys.stderr)
                return 1
        times: dict[str, list[float]] = {name: [] for name in contenders}
        names = list(contenders)
        for round_ in range(args.runs):
            order = names if round_ % 2 == 0 else names[::-1]
            for name in order:
                times[name].append(contenders[name]()[0])
    rate = {name: args.files / statistics.median(t) for name, t in times.items()}
    print(
        f"{args.files} files ({args.rows}x{args.rows} CT, {size / args.files / 1024:.0f} KiB "
        f"each), {args.runs} rounds, {os.cpu_count()} CPUs, whole-process wall time"
    )
    for name in names:
        print(f"  {name:16s} {statistics.median(times[name]):6.2f} s  {rate[name]:7.0f} files/s")
    for name in ("folder", "folder --jobs 1"):
        ratio = statistics.median(d / f for f, d in zip(times[name], times["dcmjs"], strict=True))
        print(f"  {name} / dcmjs speed: {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
