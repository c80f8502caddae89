"""Folder memory benchmark: peak memory of ``dicomweb2ohif folder`` against the number of files.

    .venv/bin/python -m benchmarks.folder_memory [--files 10000,100000]

For each size, generates the files once (kept under benchmarks/.data: the fixture CT
slices with new UIDs, 64x64, as benchmarks/folder_vs_dcmjs.py makes them; about 10 KiB
each) and runs, as whole processes:

(a) ``folder DIR -o OUT/``: one file per study, the metadata parked on disk
    (converter/folder/spill.py), one study in memory at a time;
(b) ``folder DIR -o one.json``: one launch file, which has to hold every study.

It prints each run's peak resident memory (the largest of the process and its reading
workers, ``getrusage`` of the children) and wall time. Quote the memory; the times
depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.folder_vs_dcmjs import generate

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / ".data"

_MEASURE = """
import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def peak(argv: list[str]) -> tuple[float, float]:
    """(peak MiB, seconds) of ``argv`` run in a fresh measuring process."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, *argv], capture_output=True, text=True, check=True
    )
    return int(done.stdout.strip()) / 1024, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", default="10000,100000", help="sizes, comma-separated")
    args = parser.parse_args(argv)
    print("files | output | peak memory | seconds")
    for files in (int(n) for n in args.files.split(",")):
        folder = DATA / f"folder-{files}"
        if not folder.is_dir():
            partial = folder.with_name(folder.name + ".partial")
            shutil.rmtree(partial, ignore_errors=True)
            generate(partial, files, 64)
            partial.rename(folder)
        with tempfile.TemporaryDirectory(prefix="folder-memory-") as tmp:
            command = [
                sys.executable,
                "-m",
                "converter",
                "folder",
                str(folder),
                "--url-prefix",
                "https://files.example/dicom/",
                "-q",
                "-o",
            ]
            directory = f"{tmp}/out/"
            mib, seconds = peak([*command, directory])
            index = json.loads(Path(directory, "index.json").read_bytes())
            assert sum(s["NumInstances"] for s in index["studies"]) == files
            print(f"{files:,} | a folder of study files | {mib:.0f} MiB | {seconds:.1f}")
            mib, seconds = peak([*command, f"{tmp}/one.json"])
            print(f"{files:,} | one launch file | {mib:.0f} MiB | {seconds:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
