"""End-to-end fixtures: Orthanc -> ``snapshot`` -> ``serve --viewer --proxy`` -> chromium.

The chain is the one a user runs: the session Orthanc holding the fixture files
(tests/conftest.py), a launch file written by the CLI, ``dicomweb2ohif serve``
started as its own process (the OHIF Viewer build comes from the user cache,
fetched once with npm), and Debian's chromium driven by Playwright.

Every test runs once per OHIF Viewer version in ``DICOMWEB2OHIF_OHIF_VERSIONS``
(comma-separated; default :data:`converter.serve.viewer.PROVEN_VERSIONS`, the versions
the README calls proven); the test ids carry the version.
A failed test leaves a screenshot; its path is printed in the report.

The server process, its output reader thread and the browser live for this
package only: later tests fork worker processes (converter/folder/reader.py), and a
fork taken while other threads run can deadlock the child.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, sync_playwright

from converter.cli import main
from converter.serve.viewer import PROVEN_VERSIONS, ensure_viewer
from fixtures.orthanc import Orthanc
from tests.e2e.ohif import Viewer, launch_browser

ROOT = Path(__file__).resolve().parents[2]
OHIF_VERSIONS = [
    v.strip() for v in os.environ.get("DICOMWEB2OHIF_OHIF_VERSIONS", "").split(",") if v.strip()
] or list(PROVEN_VERSIONS)


@dataclass
class Served:
    """A running ``serve`` process and the URLs it printed."""

    process: subprocess.Popen[str]
    printed: list[str]
    origin: str

    def url(self, study: str, series: str | None = None) -> str:
        """The viewer URL of a study as ``serve`` printed it, optionally with a series."""
        printed = next(u for u in self.printed if u.endswith(f"StudyInstanceUIDs={study}"))
        return printed + (f"&initialSeriesInstanceUID={series}" if series else "")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="session", params=OHIF_VERSIONS)
def ohif_version(request: pytest.FixtureRequest) -> str:
    """The OHIF Viewer version the test opens launch files in."""
    version: str = request.param
    return version


@pytest.fixture(scope="session")
def ohif_dist(ohif_version: str) -> Path:
    """That version's build, fetched with npm into the user cache on first use."""
    return ensure_viewer(version=ohif_version)


@pytest.fixture(scope="package")
def launch_dir(orthanc: Orthanc, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("launch")
    assert main(["snapshot", orthanc.dicomweb_url, "-o", str(folder / "fixtures.json"), "-q"]) == 0
    return folder


@contextmanager
def serve_process(
    launch_dir: Path, proxy: str, version: str, urls: int = 3, args: Sequence[str] = ()
) -> Iterator[Served]:
    """``dicomweb2ohif serve DIR --viewer-version V --proxy URL --port 0 [args]`` as a
    process, once it has printed ``urls`` viewer URLs (one per study); stopped with SIGTERM
    like Ctrl-C."""
    cmd = [
        sys.executable,
        "-m",
        "converter",
        "serve",
        str(launch_dir),
        "--viewer-version",
        version,
        "--proxy",
        proxy,
        "--port",
        "0",
        *args,
    ]
    process = subprocess.Popen(
        cmd,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        encoding="utf-8",
    )
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    out = process.stdout

    def pump() -> None:
        for line in out:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    printed: list[str] = []
    deadline = time.monotonic() + 120
    while len(printed) < urls:
        try:
            printed.append(lines.get(timeout=max(0.1, deadline - time.monotonic())).rstrip("\n"))
        except queue.Empty:
            process.kill()
            raise AssertionError(
                f"serve printed {printed} then nothing; stderr: {process.communicate()[1][-2000:]}"
            ) from None
    origin = printed[0].split("/viewer/", 1)[0]
    try:
        yield Served(process, printed, origin)
    finally:
        process.send_signal(signal.SIGTERM)  # stops serve like Ctrl-C
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@pytest.fixture(scope="package")
def served(
    orthanc: Orthanc, launch_dir: Path, ohif_version: str, ohif_dist: Path
) -> Iterator[Served]:
    """The fixture snapshot served with the viewer and a proxy to the test Orthanc."""
    with serve_process(launch_dir, orthanc.url, ohif_version) as server:
        yield server


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = launch_browser(playwright)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="session")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e-screenshots")


@pytest.fixture
def viewer(browser: Browser, request: pytest.FixtureRequest, shots: Path) -> Iterator[Viewer]:
    """A fresh page (own cache and storage); a screenshot is kept when the test fails."""
    page = Viewer.new(browser)
    try:
        yield page
    finally:
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            path = shots / f"{request.node.name}.png"
            try:
                page.page.screenshot(path=str(path))
                print(f"\nscreenshot of the failed test: {path}")
                if page.errors:
                    print("browser errors:\n  " + "\n  ".join(page.errors))
            except Exception as exc:  # the page may be gone; the test failure is what matters
                print(f"\nno screenshot ({exc})")
        page.close()
