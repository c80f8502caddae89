"""Viewer benchmark: OHIF opening our launch file against its own live DICOMweb source.

    .venv/bin/python -m benchmarks.viewer [--rounds 7] [--ohif-version 3.13.2] [--whitelist]

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
  source on the same Orthanc through the same proxy (serve's ``--proxy``);
* with ``--whitelist``, ``whitelist``: our plain launch file with each instance's
  metadata cut to :data:`WHITELIST` (what OHIF's generator keeps), to see whether the
  file's size costs the viewer anything.

Images come through the same proxy in every case (``dicomweb:`` Part 10 URLs for the
launch files, WADO-RS frames for the live source), so what differs is how the viewer
gets the metadata. Times are read in the page (``performance.now()``: milliseconds
since navigation started), sampled every 20 ms by a script installed before the page
loads, from OHIF's services alone:

* **app up**: OHIF's services and cornerstone exist (the same work for every contender);
* **metadata done**: the end of the last metadata request made before the display sets
  were complete (Resource Timing: the launch file; QIDO-RS and WADO-RS metadata);
* **sets complete**: every series of the study is a display set with all its images
  (500 imageIds for the CT, 300 frames for the US);
* **first image**: the active viewport's current imageId is decoded in cornerstone's
  cache (``JS_IMAGE_SHOWN`` of tests/e2e/ohif.py);
* **all ready**: the sets complete, each display set's thumbnail drawn in the study
  browser (an ``img`` or ``canvas`` per ``study-browser-thumbnail``), and every imageId
  of the viewport's stack decoded in the cache (OHIF prefetches the stack it shows).

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
from contextlib import ExitStack, contextmanager
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
  const marks = window.__bench = { app: null, first: null, sets: null, ready: null, note: '' };
  performance.setResourceTimingBufferSize(100000);
  const tick = () => {
    try {
      const cs = window.cornerstone, s = window.services;
      if (cs && s && s.displaySetService) {
        if (marks.app === null) marks.app = performance.now();
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


# When the last metadata request ended before the display sets were complete (the launch
# file for a static source; QIDO-RS and WADO-RS metadata for the live one), and its bytes
# on the wire.
JS_METADATA = """(until) => {
  const meta = performance.getEntriesByType('resource').filter(e => e.startTime <= until && (
    e.name.includes('/launch/') || (e.name.includes('/proxy/dicom-web/')
                                    && !/[/](frames|rendered|thumbnail)/.test(e.name))));
  return { end: Math.max(0, ...meta.map(e => e.responseEnd)),
           bytes: meta.reduce((n, e) => n + (e.encodedBodySize || 0), 0),
           requests: meta.length };
}"""


@dataclass
class Load:
    """Milliseconds from navigation: the app's services up, the first image shown, every
    display set complete, all ready; the metadata requests' end and bytes."""

    app: float
    first: float
    sets: float
    ready: float
    metadata_end: float
    metadata_bytes: int
    metadata_requests: int


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
                meta = viewer.page.evaluate(JS_METADATA, marks["sets"])
                return Load(
                    marks["app"],
                    marks["first"],
                    marks["sets"],
                    marks["ready"],
                    meta["end"],
                    meta["bytes"],
                    meta["requests"],
                )
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


# The instance attributes OHIF's generator writes (benchmarks/dicom_json_generator.js),
# plus the multi-frame and cine ones the viewer reads for the ultrasound.
WHITELIST = frozenset(
    "Columns Rows InstanceNumber SOPClassUID AcquisitionNumber PhotometricInterpretation "
    "BitsAllocated BitsStored PixelRepresentation SamplesPerPixel PixelSpacing HighBit "
    "ImageOrientationPatient ImagePositionPatient FrameOfReferenceUID ImageType Modality "
    "SOPInstanceUID SeriesInstanceUID StudyInstanceUID WindowCenter WindowWidth "
    "RescaleIntercept RescaleSlope SeriesDate AcquisitionDate AcquisitionTime PatientWeight "
    "NumberOfFrames FrameTime FrameIncrementPointer SequenceOfUltrasoundRegions".split()
)


def whitelisted(plain: Path) -> Path:
    """``--whitelist``: our launch file with every instance's metadata cut to
    :data:`WHITELIST` (an experiment on size alone, not a profile); its folder."""
    folder = DATA / "launch" / "whitelist"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    document = json.loads((plain / "bench.json").read_bytes())
    for study in document["studies"]:
        for series in study["series"]:
            for entry in series["instances"]:
                entry["metadata"] = {k: v for k, v in entry["metadata"].items() if k in WHITELIST}
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    (folder / "bench.json").write_text(text, encoding="utf-8")
    return folder


@dataclass
class Sizes:
    """Launch-file bytes of the study: ours (plain, gzip) and OHIF's generator's (as it
    writes it, indented, and the same document compact), None without node."""

    instances: int
    ours: int
    ours_gzip: int
    generator: int | None
    generator_compact: int | None
    whitelist: int | None = None


def sizes(plain: Path, packed: Path, files: Path) -> Sizes:
    ours = (plain / "bench.json").stat().st_size
    ours_gzip = next(packed.glob("*.json.gz")).stat().st_size
    if shutil.which("node") is None:
        return Sizes(CT_SLICES + 1, ours, ours_gzip, None, None)
    out = DATA / "launch" / "generator.json"
    done = subprocess.run(
        ["node", str(GENERATOR), str(files), str(out), "https://files.example/dicom"],
        check=True,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    written = json.loads(done.stdout)
    return Sizes(CT_SLICES + 1, ours, ours_gzip, written["bytes"], written["compact"])


def _med(values: list[float]) -> float:
    return statistics.median(values)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--ohif-version", default=OHIF_VERSION)
    parser.add_argument(
        "--whitelist",
        action="store_true",
        help="also open our launch file cut to the attributes OHIF's generator keeps",
    )
    args = parser.parse_args(argv)
    ensure_viewer(version=args.ohif_version)
    server, files = load_server()
    try:
        plain, packed = snapshots(server.dicomweb_url)
        bytes_ = sizes(plain, packed, files)
        with ExitStack() as stack:
            static_url = stack.enter_context(served(plain, server.url, args.ohif_version))
            urls = {
                "static": static_url,
                "static gzip": stack.enter_context(served(packed, server.url, args.ohif_version)),
                "live": static_url.split("/viewer/", 1)[0]
                + f"/viewer/dicomweb?StudyInstanceUIDs={STUDY}",
            }
            if args.whitelist:
                cut = whitelisted(plain)
                bytes_.whitelist = (cut / "bench.json").stat().st_size
                urls["whitelist"] = stack.enter_context(served(cut, server.url, args.ohif_version))
            playwright = stack.enter_context(sync_playwright())
            browser = launch_browser(playwright)
            stack.callback(browser.close)
            for url in urls.values():  # warm the server's caches and the page cache
                open_once(browser, url)
            loads = rounds(browser, urls, args.rounds, lambda line: print(line, flush=True))
    finally:
        server.stop()
    report(loads, bytes_)
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
                f"round {round_ + 1} {name:12s} app {load.app / 1000:5.2f} s  metadata "
                f"{load.metadata_end / 1000:5.2f} s ({load.metadata_requests} requests, "
                f"{load.metadata_bytes} bytes)  sets {load.sets / 1000:5.2f} s  "
                f"first image {load.first / 1000:5.2f} s  all ready {load.ready / 1000:6.2f} s"
            )
    return loads


def _spread(values: list[float]) -> str:
    return f"{_med(values):6.2f} ({min(values):.2f}-{max(values):.2f})"


def report(loads: dict[str, list[Load]], sizes: Sizes) -> None:
    count = len(loads["live"])
    print(f"\n{count} rounds; seconds from navigation, median (min-max):")
    print(
        f"  {'':12s} {'app up':>17s} {'metadata done':>17s} {'sets complete':>17s} "
        f"{'first image':>17s} {'all ready':>17s}"
    )
    for name, runs in loads.items():
        cells = [
            _spread([getattr(r, what) / 1000 for r in runs])
            for what in ("app", "metadata_end", "sets", "first", "ready")
        ]
        print(f"  {name:12s} " + " ".join(f"{c:>17s}" for c in cells))
    print("ratios to live, median of per-round ratios (min-max):")
    for name in [n for n in loads if n != "live"]:
        cells = []
        for what in ("sets", "first", "ready"):
            ratios = [
                getattr(a, what) / getattr(b, what)
                for a, b in zip(loads[name], loads["live"], strict=True)
            ]
            cells.append(f"{what} {_med(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})")
        after = [
            (a.sets - a.app) / (b.sets - b.app)
            for a, b in zip(loads[name], loads["live"], strict=True)
        ]
        cells.append(f"sets after app up {_med(after):.2f}x ({min(after):.2f}-{max(after):.2f})")
        print(f"  {name:12s} " + "  ".join(cells))
    print("OHIF's work from the last metadata byte to the sets complete, median (min-max):")
    for name, runs in loads.items():
        print(f"  {name:12s} {_spread([(r.sets - r.metadata_end) / 1000 for r in runs])} s")
    print("metadata on the wire per page load (median):")
    for name, runs in loads.items():
        print(
            f"  {name:12s} {_med([r.metadata_bytes for r in runs]):10.0f} bytes in "
            f"{_med([r.metadata_requests for r in runs]):.0f} requests"
        )
    n = sizes.instances
    print(
        f"launch file bytes per instance ({n} instances: {CT_SLICES} CT, "
        f"1 US of {US_FRAMES} frames):"
    )
    print(f"  ours                     {sizes.ours / n:7.0f}  ({sizes.ours} bytes)")
    print(f"  ours --gzip              {sizes.ours_gzip / n:7.0f}  ({sizes.ours_gzip} bytes)")
    if sizes.whitelist is not None:
        print(f"  ours cut to whitelist    {sizes.whitelist / n:7.0f}  ({sizes.whitelist} bytes)")
    if sizes.generator is not None and sizes.generator_compact is not None:
        print(f"  OHIF generator           {sizes.generator / n:7.0f}  ({sizes.generator} bytes)")
        print(
            f"  OHIF generator, compact  {sizes.generator_compact / n:7.0f}  "
            f"({sizes.generator_compact} bytes)"
        )


if __name__ == "__main__":
    sys.exit(main())
