"""Archive benchmark: a 100,000-instance migration, then the nightly re-run.

    .venv/bin/python -m benchmarks.archive [--studies 1000 --series 2 --instances 50]
        [--runs 3] [--reruns 7]

Loads a generated server (a local Orthanc; storage kept under benchmarks/.data, the
upload done once) and measures, as whole processes, alternating on every round:

1. the first run: ``dicomweb2ohif snapshot URL -o DIR/`` against the raw whole-study
   and per-series metadata fetches (benchmarks/contenders.py ``floor``), with its peak
   memory at 10 studies and at all of them;
2. the re-run with nothing changed (same command, same DIR) against its floor: the
   paged QIDO-RS study search alone with the same query (``contenders qido``);
3. the re-run after 1 % of the studies gained an instance (uploaded, then removed
   again at the end): which study files it rewrote, and its time.

``index.json`` is checked after each (every instance counted). Quote the ratios.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import requests

from benchmarks.migration import compile_sources, floor, load_server, ours, series_list
from converter.source.query import STUDY_INCLUDES
from fixtures.orthanc import Orthanc
from fixtures.synthetic import make_studies, study_uid

PAGE_SIZE = 500
"""snapshot's default ``--page-size``."""


def qido_floor(root: str) -> float:
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.contenders",
            "qido",
            root,
            str(PAGE_SIZE),
            urlencode(STUDY_INCLUDES),
        ],
        check=True,
    )
    return time.perf_counter() - started


def rerun(root: str, out: Path) -> float:
    """The same snapshot into the same folder (nothing removed first)."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "converter", "snapshot", root, "-q", "-o", f"{out}/"],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def digests(out: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in out.iterdir()
        if p.name not in ("index.json", "index.html")  # the study list: rewritten every run
    }


def indexed(out: Path) -> tuple[int, int]:
    studies = json.loads((out / "index.json").read_bytes())["studies"]
    return len(studies), sum(s["NumInstances"] for s in studies)


def grow(server: Orthanc, studies: list[int], series: int, instances: int) -> list[str]:
    """Upload one more instance into the first series of each study; their Orthanc IDs."""
    added: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for s in studies:
            files = list(make_studies(Path(tmp) / str(s), 1, 1, instances + 1, first=s))
            added += server.upload([files[-1]])  # the others are stored already
    return added


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--studies", type=int, default=1000)
    parser.add_argument("--series", type=int, default=2)
    parser.add_argument("--instances", type=int, default=50)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--reruns", type=int, default=7)
    args = parser.parse_args(argv)
    compile_sources()
    server, count = load_server(args.studies, args.series, args.instances)
    out = Path(tempfile.mkdtemp(prefix="bench-archive-"))
    lists = out.parent / f"{out.name}-paths"
    lists.mkdir()
    try:
        root = server.dicomweb_url
        pairs = series_list(root)
        series_file, studies_file = lists / "series.json", lists / "studies.json"
        series_file.write_text(
            json.dumps([f"/studies/{s}/series/{se}/metadata" for s, se in pairs])
        )
        studies_file.write_text(
            json.dumps([f"/studies/{s}/metadata" for s in sorted({s for s, _ in pairs})])
        )
        ours(root, args.workers, out)  # warm the server's caches and the page cache
        first: dict[str, list[float]] = {"a": [], "a2": [], "c": []}
        peaks = []
        for _ in range(args.runs):
            first["a"].append(floor(root, series_file, args.workers))
            first["a2"].append(floor(root, studies_file, args.workers))
            seconds, peak = ours(root, args.workers, out)
            first["c"].append(seconds)
            peaks.append(peak)
        assert indexed(out) == (args.studies, count), indexed(out)
        _, peak_small = ours(root, args.workers, out, limit=10)
        ours(root, args.workers, out)  # the folder the re-runs start from
        again: dict[str, list[float]] = {"q": [], "d": []}
        for round_ in range(args.reruns):
            order = ["q", "d"] if round_ % 2 == 0 else ["d", "q"]
            for name in order:
                again[name].append(qido_floor(root) if name == "q" else rerun(root, out))
        assert indexed(out) == (args.studies, count)
        before = digests(out)
        step = max(1, args.studies // 10)
        changed = list(range(0, args.studies, step))[: max(1, args.studies // 100)]
        added = grow(server, changed, args.series, args.instances)
        try:
            changed_seconds = rerun(root, out)
            after = digests(out)
            rewritten = sorted(name for name in after if after[name] != before.get(name))
            expected = sorted(f"{study_uid(s)}.json" for s in changed)
            total = indexed(out)
        finally:
            auth = server.auth
            for orthanc_id in added:
                requests.delete(f"{server.url}/instances/{orthanc_id}", auth=auth, timeout=60)

        def ratio(times: dict[str, list[float]], one: str, other: str) -> str:
            rounds = [x / y for x, y in zip(times[one], times[other], strict=True)]
            return f"{statistics.median(rounds):.2f}x ({min(rounds):.2f}-{max(rounds):.2f})"

        median = {k: statistics.median(v) for k, v in {**first, **again}.items()}
        print(
            f"server: Orthanc, {args.studies} studies x {args.series} series x "
            f"{args.instances} instances = {count:,}; workers {args.workers}"
        )
        print(
            f"first run ({args.runs} rounds): snapshot {median['c']:.1f} s, whole-study floor "
            f"{median['a2']:.1f} s, per-series floor {median['a']:.1f} s; "
            f"c/a' {ratio(first, 'c', 'a2')}, c/a {ratio(first, 'c', 'a')}"
        )
        print(
            f"peak memory: {peak_small / 1024:.0f} MiB for 10 studies, "
            f"{max(peaks) / 1024:.0f} MiB for {args.studies}"
        )
        print(
            f"unchanged re-run ({args.reruns} rounds): {median['d']:.2f} s, paged QIDO study "
            f"search alone {median['q']:.2f} s; d/q {ratio(again, 'd', 'q')}; "
            f"{median['d'] / median['c']:.3f}x the first run"
        )
        print(
            f"re-run after {len(changed)} studies gained an instance: {changed_seconds:.2f} s, "
            f"{len(rewritten)} study files rewritten "
            f"({'exactly the changed ones' if rewritten == expected else 'NOT the changed ones'}); "
            f"index.json then lists {total[0]} studies, {total[1]:,} instances"
        )
    finally:
        shutil.rmtree(out, ignore_errors=True)
        shutil.rmtree(lists, ignore_errors=True)
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
