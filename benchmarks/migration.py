"""Migration benchmark: our snapshot against the server's own speed and a naive client.

    .venv/bin/python -m benchmarks.migration [--studies 50 --series 4 --instances 50]
        [--workers 4] [--runs 3] [--sweep 1,2,4,8]

Loads a generated server (a local Orthanc, storage kept under benchmarks/.data so
later runs skip the upload) and measures, side by side in one run, alternating the
contenders on every round:

(a) the floor: raw GET of every series' WADO-RS metadata with the same concurrency,
    no parsing (the server's own speed), the series list given; and (a') the same
    metadata asked for as whole studies, which is what (c) asks for here (Orthanc
    may answer it faster): the stricter floor;
(b) a naive loop: dicomweb-client ``retrieve_study_metadata`` per study plus
    ``pydicom.Dataset.from_json`` per instance;
(c) ``dicomweb2ohif snapshot URL -o DIR/``.

All three run as whole processes (benchmarks/contenders.py for the first two), so
each pays its own interpreter start-up and imports.

It prints instances/second for each; the time ratios c/a, c/a', b/c and b/a
(medians of the per-round ratios, with their range: rounds vary on a shared
machine); the mapper alone against dcmjs ``naturalizeDataset`` on the same parsed
metadata (in process, mapping only); and the peak memory of (c) for 10 and for all
studies. Numbers are whole-run wall times on this machine; quote ratios.
"""

from __future__ import annotations

import argparse
import compileall
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

from converter.mapping.mapper import map_dataset
from converter.source.session import on_loopback
from fixtures.orthanc import Orthanc
from fixtures.synthetic import make_studies

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / ".data"
NODE_SCRIPT = ROOT / "tests" / "dcmjs" / "naturalize.js"


def load_server(studies: int, series: int, instances: int) -> tuple[Orthanc, int]:
    """Start Orthanc on kept storage; generate and upload the studies on first use."""
    storage = DATA / f"orthanc-{studies}x{series}x{instances}"
    fresh = not storage.exists()
    server = Orthanc(storage_dir=storage)
    server.start()
    expected = studies * series * instances
    if fresh or server.instance_count() != expected:
        with tempfile.TemporaryDirectory() as tmp:
            print(f"generating and uploading {expected} instances (once)...", file=sys.stderr)
            files = list(make_studies(Path(tmp), studies, series, instances))
            with ThreadPoolExecutor(4) as pool:
                list(pool.map(lambda p: server.upload([p]), files))
    count = server.instance_count()
    if count != expected:
        raise SystemExit(f"server holds {count} instances, expected {expected}")
    return server, count


def series_list(root: str) -> list[tuple[str, str]]:
    pairs = []
    for study in requests.get(f"{root}/studies", timeout=120).json():
        s = study["0020000D"]["Value"][0]
        for series in requests.get(f"{root}/studies/{s}/series", timeout=120).json():
            pairs.append((s, series["0020000E"]["Value"][0]))
    return sorted(pairs)


def compile_sources() -> None:
    """Byte-compile this checkout, as ``pip install`` does for an installed tool.

    Without it, where ``PYTHONDONTWRITEBYTECODE`` is set (as on the machine these
    figures come from), every run of (c) would compile the package afresh.
    """
    compileall.compile_dir(ROOT / "converter", quiet=1)
    compileall.compile_dir(ROOT / "benchmarks", quiet=1)


def _timed(cmd: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{cmd[3:5]} failed: {done.stderr[-500:]}")
    return time.perf_counter() - started


def floor(root: str, paths_file: Path, workers: int) -> float:
    """(a) or (a') as a whole process."""
    encoding = "identity" if on_loopback(root) else "gzip, deflate"  # as snapshot asks
    return _timed(
        [
            sys.executable,
            "-m",
            "benchmarks.contenders",
            "floor",
            root,
            str(paths_file),
            str(workers),
            encoding,
        ]
    )


def naive(root: str) -> float:
    """(b) as a whole process."""
    return _timed([sys.executable, "-m", "benchmarks.contenders", "naive", root])


def ours(root: str, workers: int, out: Path, limit: int | None = None) -> tuple[float, int]:
    """(c) the CLI as a whole process; returns (seconds, peak RSS in KiB)."""
    shutil.rmtree(out, ignore_errors=True)
    cmd = [
        "/usr/bin/time",
        "-f",
        "%M",
        sys.executable,
        "-m",
        "converter",
        "snapshot",
        root,
        "--workers",
        str(workers),
        "-q",
        "-o",
        f"{out}/",
    ]
    if limit:
        cmd += ["--limit", str(limit)]
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"snapshot failed: {done.stderr}")
    return seconds, int(done.stderr.strip().splitlines()[-1])


def mapper_vs_dcmjs(
    root: str, pairs: list[tuple[str, str]], passes: int = 5
) -> tuple[float, float]:
    """Instances/second of map_dataset and of dcmjs naturalizeDataset, mapping only."""
    datasets: list[dict[str, Any]] = []
    for s, se in pairs:
        datasets.extend(
            requests.get(f"{root}/studies/{s}/series/{se}/metadata", timeout=120).json()
        )
    for ds in datasets[:200]:  # warm the tag cache, as node warms its JIT below
        map_dataset(ds)
    started = time.perf_counter()
    for _ in range(passes):
        for ds in datasets:
            map_dataset(ds)
    python_rate = passes * len(datasets) / (time.perf_counter() - started)
    done = subprocess.run(
        ["node", str(NODE_SCRIPT), "--bench", str(passes)],
        input=json.dumps(datasets).encode(),
        capture_output=True,
        check=True,
    )
    result = json.loads(done.stdout)
    return python_rate, result["instances"] / result["seconds"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--studies", type=int, default=50)
    parser.add_argument("--series", type=int, default=4)
    parser.add_argument("--instances", type=int, default=50)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sweep", default="", help="worker counts to time (c) with, e.g. 1,2,4,8")
    args = parser.parse_args(argv)

    compile_sources()
    server, count = load_server(args.studies, args.series, args.instances)
    out = Path(tempfile.mkdtemp(prefix="bench-out-"))
    try:
        root = server.dicomweb_url
        pairs = series_list(root)
        series_file = out.parent / f"{out.name}-series.json"
        series_file.write_text(
            json.dumps([f"/studies/{s}/series/{se}/metadata" for s, se in pairs])
        )
        studies_file = out.parent / f"{out.name}-studies.json"
        studies_file.write_text(
            json.dumps([f"/studies/{s}/metadata" for s in sorted({s for s, _ in pairs})])
        )
        ours(root, args.workers, out)  # warm the server's caches and the OS page cache
        times: dict[str, list[float]] = {"a": [], "a2": [], "b": [], "c": []}
        for _ in range(args.runs):
            times["a"].append(floor(root, series_file, args.workers))
            times["a2"].append(floor(root, studies_file, args.workers))
            times["b"].append(naive(root))
            times["c"].append(ours(root, args.workers, out)[0])
        rate = {k: count / statistics.median(v) for k, v in times.items()}
        for name, seconds in times.items():  # rounds vary on a shared machine: show them
            print(
                f"  rounds {name:>2}: " + " ".join(f"{t:5.2f}" for t in seconds) + " s",
                file=sys.stderr,
            )

        def ratio(one: str, other: str) -> str:
            """Median of the per-round time ratios, and their range."""
            rounds = [x / y for x, y in zip(times[one], times[other], strict=True)]
            return f"{statistics.median(rounds):.2f}x ({min(rounds):.2f}-{max(rounds):.2f})"

        print(
            f"server: Orthanc, {args.studies} studies x {args.series} series x "
            f"{args.instances} instances = {count}; workers {args.workers}; {args.runs} rounds"
        )
        print(f"(a)  raw series metadata fetch (floor) {rate['a']:8.0f} instances/s")
        print(f"(a') raw study metadata fetch          {rate['a2']:8.0f} instances/s")
        print(f"(b)  naive dicomweb-client+pydicom     {rate['b']:8.0f} instances/s")
        print(f"(c)  dicomweb2ohif snapshot            {rate['c']:8.0f} instances/s")
        print(
            f"time ratios, median of the rounds (range): c/a {ratio('c', 'a')}, "
            f"c/a' {ratio('c', 'a2')}, b/c {ratio('b', 'c')}, b/a {ratio('b', 'a')}"
        )
        py, js = mapper_vs_dcmjs(root, pairs)
        print(
            f"mapper alone {py:,.0f} instances/s vs dcmjs naturalizeDataset {js:,.0f} "
            f"instances/s: {py / js:.1f}x"
        )
        _, peak_small = ours(root, args.workers, out, limit=10)
        _, peak_all = ours(root, args.workers, out)
        written = json.loads((out / "index.json").read_text())["studies"]
        total = sum(e["NumInstances"] for e in written)
        print(
            f"count check: {len(written)} studies, {total} instances written, "
            f"the server holds {count}: {'OK' if total == count else 'MISMATCH'}"
        )
        print(
            f"peak memory of (c): {peak_small / 1024:.0f} MiB for 10 studies, "
            f"{peak_all / 1024:.0f} MiB for {args.studies} studies"
        )
        for workers in [int(w) for w in args.sweep.split(",") if w]:
            swept = [ours(root, workers, out)[0] for _ in range(args.runs)]
            print(f"workers {workers}: {count / statistics.median(swept):.0f} instances/s")
    finally:
        shutil.rmtree(out, ignore_errors=True)
        for name in ("series", "studies"):
            out.parent.joinpath(f"{out.name}-{name}.json").unlink(missing_ok=True)
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
