"""Viewer benchmark: OHIF opening our launch file against its own live DICOMweb source.

    .venv/bin/python -m benchmarks.viewer [--rounds 5] [--ohif-version 3.13.2]

The study (benchmarks/viewer_data.py: a CT of 500 slices of 512x512 and a 300-frame
ultrasound, one study of two series) sits in a local Orthanc kept under
``benchmarks/.data``. One run snapshots it twice (``snapshot -o bench.json`` and
``snapshot --gzip -o DIR/``), starts ``dicomweb2ohif serve DIR --viewer --proxy URL``
on each folder, and opens, in Debian's headless chromium, alternating the order of the
contenders on every round, each on a fresh browser context (cold HTTP cache):

* ``static``: ``/viewer/dicomjson?url=<bench.json>`` (the plain launch file);
* ``static gzip``: the ``.json.gz`` launch file, which serve sends with
  ``Content-Encoding: gzip``;
* ``live``: ``/viewer/dicomweb?StudyInstanceUIDs=<uid>``, OHIF's own ``dicomweb``
  source on the same Orthanc through the same proxy (serve's ``--proxy``).

Images come through the same proxy in every case (``dicomweb:`` Part 10 URLs for the
launch files, WADO-RS frames for the live source), so what differs is how the viewer
gets the metadata. Times are read in the page (``performance.now()``: milliseconds
since navigation started), sampled every 20 ms by a script installed before the page
loads, from OHIF's services alone:

* **first image**: the active viewport's current imageId is decoded in cornerstone's
  cache (``JS_IMAGE_SHOWN`` of tests/e2e/ohif.py);
* **all ready**: every series of the study is a display set with all its images
  (500 imageIds for the CT, 300 for the US), each display set's thumbnail is drawn
  in the study browser, and every imageId of the viewport's stack is decoded in
  the cache (OHIF prefetches the stack it shows).

It prints the median of each over the rounds, the median of per-round ratios
static/live, the spread (min-max) and the launch-file bytes per instance, ours
(full) against OHIF's own generator (``.scripts/dicom-json-generator.js``, written
the same way by benchmarks/dicom_json_generator.js) on the same files.
The machine is shared: quote ratios, not absolute times.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Browser, sync_playwright

from benchmarks.viewer_data import (
    CT_SERIES,
    CT_SLICES,
    DATA,
    STUDY,
    US_FRAMES,
    US_SERIES,
    load_server,
)
from converter.serve.viewer import OHIF_VERSION, ensure_viewer
from tests.e2e.ohif import Viewer, launch_browser

ROOT = Path(__file__).resolve().parents[1]
GENERATOR = ROOT / "benchmarks" / "dicom_json_generator.js"
TIMEOUT_S = 180.0

# Installed before every page load: records when each condition first holds.
JS_PROBE = """(() => {
  const expected = %s;
  const marks = window.__bench = { first: null, sets: null, ready: null, note: '' };
  const tick = () => {
    try {
      const cs = window.cornerstone, s = window.services;
      if (cs && s && s.displaySetService) {
        const engine = cs.getRenderingEngines()[0];
        const vp = engine && engine.getViewports()[0];
        const id = vp && vp.getCurrentImageId && vp.getCurrentImageId();
        if (marks.first === null && id && cs.cache.getImage(id)) marks.first = performance.now();
        const sets = s.displaySetService.getActiveDisplaySets();
        const whole = Object.entries(expected).every(([series, n]) => sets.some(
          d => d.SeriesInstanceUID === series
            && Math.max((d.imageIds || []).length, d.numImageFrames || 0) === n));
        const thumbs = document.querySelectorAll('[data-cy="study-browser-thumbnail"] img, '
          + '[data-cy="study-browser-thumbnail"] canvas').length;
        marks.note = `${sets.length} sets, ${thumbs} thumbnails`;
        if (whole && marks.sets === null) marks.sets = performance.now();
        if (whole && thumbs >= sets.length && marks.first !== null) {
          const stack = vp.getImageIds();
          const cached = stack.filter(i => cs.cache.getImage(i)).length;
          marks.note += `, stack ${cached}/${stack.length}`;
          if (stack.length && cached === stack.length) marks.ready = performance.now();
        }
      }
    } catch (e) { marks.note = String(e); }
    if (marks.ready === null) setTimeout(tick, 20);
  };
  tick();
})();"""


@dataclass
class Load:
    first: float
    sets: float
    ready: float


def _serve(folder: Path, proxy: str, version: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "converter",
            "serve",
            str(folder),
            "--viewer-version",
            version,
            "--proxy",
            proxy,
            "--port",
            "0",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        text=True,
    )


@contextmanager
def served(folder: Path, proxy: str, version: str) -> Iterator[str]:
    """``serve FOLDER --proxy PROXY`` as a process; yields the viewer URL it printed."""
    process = _serve(folder, proxy, version)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        if "/viewer/" not in url:
            raise RuntimeError(f"serve printed {url!r}")
        yield url
    finally:
        process.terminate()
        process.wait(15)


def open_once(browser: Browser, url: str) -> Load:
    """One navigation on a fresh context; the page's marks in milliseconds."""
    expected = json.dumps({CT_SERIES: CT_SLICES, US_SERIES: US_FRAMES})
    viewer = Viewer.new(browser)
    try:
        viewer.context.add_init_script(JS_PROBE % expected)
        viewer.page.goto(url, wait_until="commit")
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            marks = viewer.page.evaluate("() => window.__bench")
            if marks and marks["ready"] is not None:
                return Load(marks["first"], marks["sets"], marks["ready"])
            if time.monotonic() > deadline:
                raise RuntimeError(f"not ready in {TIMEOUT_S:.0f} s: {marks} {viewer.errors[:3]}")
            viewer.page.wait_for_timeout(250)
    finally:
        viewer.close()


def snapshots(dicomweb_url: str) -> tuple[Path, Path]:
    """The plain and the gzip launch file of the study, written afresh; their folders."""
    plain, packed = DATA / "launch" / "plain", DATA / "launch" / "gzip"
    for folder in (plain, packed):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    run = [sys.executable, "-m", "converter", "snapshot", dicomweb_url, "-q"]
    subprocess.run([*run, "-o", str(plain / "bench.json")], check=True, cwd=ROOT)
    subprocess.run([*run, "--gzip", "-o", f"{packed}/"], check=True, cwd=ROOT)
    return plain, packed


def generator_bytes(files: Path) -> int | None:
    """Bytes of OHIF's generator's launch file of the same files (None without node)."""
    if shutil.which("node") is None or not GENERATOR.is_file():
        return None
    out = DATA / "launch" / "generator.json"
    subprocess.run(
        ["node", str(GENERATOR), str(files), str(out), "https://files.example/"],
        check=True,
        cwd=ROOT,
    )
    return out.stat().st_size


def _med(values: list[float]) -> float:
    return statistics.median(values)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--ohif-version", default=OHIF_VERSION)
    args = parser.parse_args(argv)
    ensure_viewer(version=args.ohif_version)
    server, files = load_server()
    try:
        plain, packed = snapshots(server.dicomweb_url)
        instances = CT_SLICES + 1
        ours = (plain / "bench.json").stat().st_size
        ours_gz = next(packed.glob("*.json.gz")).stat().st_size
        theirs = generator_bytes(files)
        with (
            served(plain, server.url, args.ohif_version) as static_url,
            served(packed, server.url, args.ohif_version) as gzip_url,
            sync_playwright() as playwright,
        ):
            live_url = static_url.split("/viewer/", 1)[0] + (
                f"/viewer/dicomweb?StudyInstanceUIDs={STUDY}"
            )
            urls = {"static": static_url, "static gzip": gzip_url, "live": live_url}
            browser = launch_browser(playwright)
            try:
                for url in urls.values():  # warm the server's caches and the page cache
                    open_once(browser, url)
                loads = rounds(browser, urls, args.rounds, lambda line: print(line, flush=True))
            finally:
                browser.close()
    finally:
        server.stop()
    report(loads, instances, ours, ours_gz, theirs, args.rounds)
    return 0


def rounds(
    browser: Browser, urls: dict[str, str], count: int, log: Callable[[str], None]
) -> dict[str, list[Load]]:
    loads: dict[str, list[Load]] = {name: [] for name in urls}
    names = list(urls)
    for round_ in range(count):
        order = names[round_ % len(names) :] + names[: round_ % len(names)]
        if round_ % 2:
            order.reverse()
        for name in order:
            load = open_once(browser, urls[name])
            loads[name].append(load)
            log(
                f"round {round_ + 1} {name:12s} first image {load.first / 1000:6.2f} s  "
                f"sets {load.sets / 1000:6.2f} s  all ready {load.ready / 1000:6.2f} s"
            )
    return loads


def report(
    loads: dict[str, list[Load]],
    instances: int,
    ours: int,
    ours_gz: int,
    theirs: int | None,
    count: int,
) -> None:
    print(f"\n{count} rounds, medians (min-max) in seconds from navigation:")
    for name, runs in loads.items():
        first = [r.first / 1000 for r in runs]
        ready = [r.ready / 1000 for r in runs]
        print(
            f"  {name:12s} first image {_med(first):5.2f} ({min(first):.2f}-{max(first):.2f})"
            f"  all ready {_med(ready):6.2f} ({min(ready):.2f}-{max(ready):.2f})"
        )
    for name in ("static", "static gzip"):
        for what in ("first", "ready"):
            ratios = [
                getattr(a, what) / getattr(b, what)
                for a, b in zip(loads[name], loads["live"], strict=True)
            ]
            print(
                f"  {name} / live, {'first image' if what == 'first' else 'all ready'}: "
                f"{_med(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})"
            )
    print(f"launch file bytes per instance ({instances} instances):")
    print(f"  ours            {ours / instances:8.0f}  ({ours} bytes)")
    print(f"  ours --gzip     {ours_gz / instances:8.0f}  ({ours_gz} bytes)")
    if theirs is not None:
        print(f"  OHIF generator  {theirs / instances:8.0f}  ({theirs} bytes)")


if __name__ == "__main__":
    sys.exit(main())
