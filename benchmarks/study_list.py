"""Study list benchmark: the page ``index.html`` at 100,000 studies, measured in chromium.

    .venv/bin/python -m benchmarks.study_list [--studies 100000] [--runs 3] [--screenshot PNG]

Generates ``--studies`` index entries deterministically (names, IDs, dates,
descriptions, modalities, accession numbers, series and instance counts; the
launch files themselves are not needed by the page), writes ``index.json`` and
``index.html`` with the project's own writers, serves the folder with a plain
static HTTP server (what a bucket does) and opens the page ``--runs`` times in
Debian's headless chromium (a fresh context each time, so nothing is cached).
Measured in the browser, medians of the runs:

- first rows on screen: ``performance.mark('study-list-rendered')`` (set by the
  page after its first rows are in the document), ms since navigation start,
  and the first contentful paint;
- a filter answering: the search box's value set and its ``input`` event sent,
  until the next frame (rows and count updated), 1 s after the first rows (the
  page builds its search strings when the browser is idle after them); then a
  second word narrowing it;
- sorting by date (click to the next frame) and a jump to the middle of the list
  (scroll to the next frame with the rows there drawn);
- the same page opened from ``file://``.

``--screenshot PNG`` also keeps a small picture of the page (for the README).
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, sync_playwright

from converter.output.store import write_index
from converter.output.study_list import write_study_list
from converter.output.targets import LocalTarget
from tests.e2e.ohif import launch_browser
from tests.e2e.static_host import static_host

FAMILY = "Smith Jones Garcia Müller Rossi Dubois Tanaka Kim Nowak Silva Khan Olsen Costa".split()
GIVEN = "Anna John Maria Pedro Yuki Lena Omar Sara Ivan Chen Ada Noor Paul Eva Li Tom".split()
WHAT = "CT chest,MR brain,CT abdomen pelvis,US liver,PET-CT whole body,XR chest,MR knee".split(",")
MODALITIES = ["CT", "MR", "CT/SR", "US", "PT/CT", "CR", "MR/SR", "DX", "MG"]


def entries(count: int) -> dict[str, dict[str, Any]]:
    """``count`` index entries, the same every time (seeded)."""
    rng = random.Random(15)
    out = {}
    for i in range(count):
        uid = f"1.2.826.0.1.3680043.8.498.{10**12 + i}"
        year, month, day = rng.randint(2000, 2025), rng.randint(1, 12), rng.randint(1, 28)
        series = rng.randint(1, 12)
        out[uid] = {
            "StudyInstanceUID": uid,
            "PatientName": f"{rng.choice(FAMILY)}^{rng.choice(GIVEN)}",
            "PatientID": f"P{rng.randint(0, 40_000):06d}",
            "StudyDate": f"{year}{month:02d}{day:02d}",
            "StudyTime": f"{rng.randint(7, 19):02d}{rng.randint(0, 59):02d}00",
            "StudyDescription": rng.choice(WHAT),
            "AccessionNumber": f"ACC{i:08d}",
            "Modalities": rng.choice(MODALITIES),
            "NumSeries": series,
            "NumInstances": series * rng.randint(1, 300),
            "file": f"{uid}.json",
            "written": "2026-01-01T00:00:00+00:00",
        }
    return out


JS_FIRST = """() => ({
  rendered: performance.getEntriesByName('study-list-rendered')[0].startTime,
  fcp: (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime,
  rows: document.querySelectorAll('#rows tr.study').length,
})"""

JS_NEXT_FRAME = "() => new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)))"

JS_SEARCH = """async (q) => {
  const input = document.getElementById('q');
  const t0 = performance.now();
  input.value = q;
  input.dispatchEvent(new Event('input'));
  await new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)));
  return {ms: performance.now() - t0, count: document.getElementById('count').textContent};
}"""

JS_SORT = """async () => {
  const button = [...document.querySelectorAll('th button')]
    .find(b => b.textContent.startsWith('Date'));
  const t0 = performance.now();
  button.click();
  await new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)));
  return {ms: performance.now() - t0};
}"""

JS_JUMP = """async () => {
  const t0 = performance.now();
  window.scrollTo(0, document.documentElement.scrollHeight / 2);
  const frame = () => new Promise(r => requestAnimationFrame(r));
  await frame();
  await new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)));
  const first = document.querySelector('#rows tr.study');
  return {ms: performance.now() - t0, row: Number(first.getAttribute('aria-rowindex'))};
}"""


def measure(browser: Browser, url: str) -> dict[str, float]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    try:
        page.goto(url, timeout=120_000)
        page.wait_for_function(
            "() => performance.getEntriesByName('study-list-rendered').length", timeout=120_000
        )
        page.evaluate(JS_NEXT_FRAME)
        first = page.evaluate(JS_FIRST)
        assert first["rows"] > 10, first
        page.wait_for_timeout(1000)  # a user moving to the search box
        search = page.evaluate(JS_SEARCH, "smith")
        narrow = page.evaluate(JS_SEARCH, "smith anna")
        assert search["count"].endswith(" studies") and " of " in narrow["count"], narrow
        page.evaluate(JS_SEARCH, "")
        sort = page.evaluate(JS_SORT)
        jump = page.evaluate(JS_JUMP)
        assert jump["row"] > 1000, jump
        return {
            "first rows (ms)": first["rendered"],
            "first contentful paint (ms)": first["fcp"] or float("nan"),
            "search 'smith' (ms)": search["ms"],
            "search 'smith anna' (ms)": narrow["ms"],
            "sort by date (ms)": sort["ms"],
            "jump to the middle (ms)": jump["ms"],
        }
    finally:
        context.close()


def screenshot(browser: Browser, url: str, path: Path) -> None:
    """A small PNG: the list sorted by date, newest first, a search typed."""
    context = browser.new_context(viewport={"width": 1100, "height": 430})
    page: Page = context.new_page()
    try:
        page.goto(url, timeout=120_000)
        page.wait_for_selector("#rows tr.study")
        page.click("th button >> text=Date")
        page.click("th button >> text=Date")
        page.click("#q")
        page.keyboard.type("smith")
        page.evaluate(JS_NEXT_FRAME)
        page.screenshot(path=str(path))
    finally:
        context.close()
    try:  # fewer colours: the text stays sharp, the file small
        from PIL import Image

        with Image.open(path) as image:
            image.convert("RGB").quantize(colors=32).save(path, optimize=True)
    except ImportError:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--studies", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--screenshot", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        target = LocalTarget(folder)
        index = entries(args.studies)
        started = time.perf_counter()
        write_index(target, "index.json", index)
        index_s = time.perf_counter() - started
        started = time.perf_counter()
        size = write_study_list(target, index.values())
        page_s = time.perf_counter() - started
        index_mb = (folder / "index.json").stat().st_size / 1e6
        print(
            f"{args.studies:,} studies: index.json {index_mb:.1f} MB written in {index_s:.2f} s; "
            f"index.html {size / 1e6:.1f} MB written in {page_s:.2f} s"
        )
        with sync_playwright() as playwright, static_host(folder) as origin:
            browser = launch_browser(playwright)
            try:
                for name, url in (
                    ("http (static server)", f"{origin}/index.html"),
                    ("file://", (folder / "index.html").as_uri()),
                ):
                    runs = [measure(browser, url) for _ in range(args.runs)]
                    print(f"\n{name}, median of {args.runs} runs:")
                    for key in runs[0]:
                        print(f"  {key:<30} {statistics.median(r[key] for r in runs):8.0f}")
                if args.screenshot:
                    screenshot(browser, f"{origin}/index.html", args.screenshot)
                    shot = args.screenshot
                    print(f"\nscreenshot: {shot} ({shot.stat().st_size:,} bytes)")
            finally:
                browser.close()


if __name__ == "__main__":
    main()
