"""``map`` benchmark: ``dicomweb2ohif map FILE`` against the same work done with dcmjs.

    .venv/bin/python -m benchmarks.map_vs_dcmjs [--instances 10000] [--runs 7]

Generates (once, kept under benchmarks/.data) a PS3.18 F.2 JSON array of
``--instances`` datasets as a DICOMweb server sends them: the fixture CT slices of
``fixtures/dicom/study_a/ct`` with new UIDs, encoded by pydicom's ``to_json_dict``
(pixel data as a BulkDataURI). Then times, side by side and alternating which goes
first on every round, whole processes writing to a file:

(a) ``dicomweb2ohif map FILE``;
(b) ``node benchmarks/dcmjs_map.js FILE``: JSON.parse, the pinned dcmjs's
    ``naturalizeDataset`` per dataset, JSON.stringify.

and, for where the time goes, (c) the interpreter alone (``python -c pass``) and
(d) the interpreter importing what ``map`` imports. Prints each median and the
ratio b/a (median of per-round ratios, with its range). Quote ratios.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pydicom
from pydicom.uid import PYDICOM_ROOT_UID, generate_uid

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / ".data"
SOURCE = ROOT / "fixtures" / "dicom" / "study_a" / "ct"
NODE_SCRIPT = ROOT / "benchmarks" / "dcmjs_map.js"
CLI = Path(sys.executable).with_name("dicomweb2ohif")


def generate(path: Path, instances: int) -> None:
    """``instances`` CT datasets in PS3.18 F.2 form, the same every time."""
    slices = [pydicom.dcmread(p) for p in sorted(SOURCE.glob("*.dcm"))]
    items = []
    for i in range(instances):
        ds = slices[i % len(slices)]
        ds.StudyInstanceUID = generate_uid(PYDICOM_ROOT_UID, entropy_srcs=["map", str(i // 500)])
        ds.SeriesInstanceUID = generate_uid(PYDICOM_ROOT_UID, entropy_srcs=["map", str(i // 100)])
        ds.SOPInstanceUID = generate_uid(PYDICOM_ROOT_UID, entropy_srcs=["map-sop", str(i)])
        ds.InstanceNumber = i % 100 + 1
        items.append(
            ds.to_json_dict(
                bulk_data_threshold=1024,
                bulk_data_element_handler=lambda e: "http://server.example/bulk",
            )
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(items), encoding="utf-8")


def timed(argv: list[str], out: Path) -> float:
    started = time.perf_counter()
    with out.open("wb") as sink:
        subprocess.run(argv, stdout=sink, check=True)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)
    data = DATA / f"map-{args.instances}.json"
    if not data.is_file():
        generate(data, args.instances)
    out = Path(tempfile.mkdtemp(prefix="bench-map-"))
    contenders = {
        "map": [str(CLI), "map", str(data)],
        "dcmjs": ["node", str(NODE_SCRIPT), str(data)],
        "python": [sys.executable, "-c", "pass"],
        "imports": [sys.executable, "-c", "import converter.cli.entry, converter.cli.map"],
    }
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for name, command in contenders.items():  # warm the page cache and the .pyc files
        timed(command, out / f"{name}.json")
    for round_ in range(args.runs):
        order = list(contenders) if round_ % 2 == 0 else list(reversed(contenders))
        for name in order:
            times[name].append(timed(contenders[name], out / f"{name}.json"))
    mapped = json.loads((out / "map.json").read_bytes())
    natural = json.loads((out / "dcmjs.json").read_bytes())
    assert len(mapped) == len(natural) == args.instances
    size = data.stat().st_size / 2**20
    print(f"{args.instances:,} instances, {size:.1f} MiB of PS3.18 JSON, {args.runs} rounds")
    for name, values in times.items():
        print(f"  {name:8} median {statistics.median(values):.3f} s")
    ratios = [b / a for a, b in zip(times["map"], times["dcmjs"], strict=True)]
    print(
        f"dcmjs / map: {statistics.median(ratios):.2f}x "
        f"({min(ratios):.2f}-{max(ratios):.2f}) (goal: at least 1.5x)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
