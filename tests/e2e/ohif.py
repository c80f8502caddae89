"""Driving the real OHIF Viewer in Debian's headless chromium, and reading what it shows.

Everything asserted comes from the page: the DOM, cornerstone's viewport state
(``window.cornerstone`` and ``window.services`` are what OHIF 3.13.2 exposes),
the decoded pixels of the image cornerstone holds, and the pixels of the
viewport's canvas. Nothing is read from the launch file.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, Playwright

CHROMIUM = os.environ.get("DICOMWEB2OHIF_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # root in CI and here
    "--disable-gpu",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",  # software WebGL
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",  # no traffic beyond loopback
]
LOAD_TIMEOUT_MS = 60_000

# A viewport showing an image: a rendering engine, a stack viewport, its current imageId.
JS_IMAGE_SHOWN = """() => {
  const cs = window.cornerstone;
  const engine = cs && cs.getRenderingEngines()[0];
  const vp = engine && engine.getViewports()[0];
  return Boolean(vp && vp.getCurrentImageId && vp.getCurrentImageId()
                 && cs.cache.getImage(vp.getCurrentImageId()));
}"""

# The text of an error boundary ("Something went wrong" and what follows), or ''.
JS_BOUNDARY = """() => {
  const text = document.body ? document.body.innerText : '';
  const at = text.search(/Something went wrong/i);
  return at < 0 ? '' : text.slice(at, at + 300).replace(/\\s+/g, ' ');
}"""

# Show frame ``i`` and describe it: index, imageId, plane, VOI, decoded pixel mean, canvas mean.
JS_SHOW = """async (i) => {
  const cs = window.cornerstone;
  const vp = cs.getRenderingEngines()[0].getViewports()[0];
  const ids = vp.getImageIds();
  await vp.setImageIdIndex(i);
  vp.render();
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  const id = vp.getCurrentImageId();
  const pixels = cs.cache.getImage(id).getPixelData();
  let sum = 0;
  for (let k = 0; k < pixels.length; k++) sum += pixels[k];
  const canvas = vp.canvas;
  const rgba = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let lum = 0;
  for (let k = 0; k < rgba.length; k += 4) lum += rgba[k];
  const plane = cs.metaData.get('imagePlaneModule', id) || {};
  const data = vp.getImageData();
  return {
    index: vp.getCurrentImageIdIndex(), count: ids.length, imageId: id,
    position: plane.imagePositionPatient ? Array.from(plane.imagePositionPatient) : null,
    voi: vp.getProperties().voiRange, pixelMean: sum / pixels.length,
    canvasMean: lum / (rgba.length / 4), scaling: data.preScale && data.preScale.scalingParameters,
  };
}"""

# RGBA of the canvas pixel under image pixel (column, row) of the current image.
JS_CANVAS_AT = """([column, row]) => {
  const cs = window.cornerstone;
  const vp = cs.getRenderingEngines()[0].getViewports()[0];
  const world = cs.utilities.imageToWorldCoords(vp.getCurrentImageId(), [column + 0.5, row + 0.5]);
  const [x, y] = vp.worldToCanvas(world);
  const scale = vp.canvas.width / vp.canvas.clientWidth;
  const px = vp.canvas.getContext('2d').getImageData(Math.round(x * scale), Math.round(y * scale), 1, 1).data;
  return Array.from(px);
}"""

JS_DISPLAY_SETS = """() => window.services.displaySetService.getActiveDisplaySets().map(d => ({
  modality: d.Modality, series: d.SeriesInstanceUID, images: d.images ? d.images.length : null,
  frames: d.numImageFrames, reconstructable: d.isReconstructable,
  isLoaded: d.isLoaded, isRehydratable: d.isRehydratable,
  measurements: (d.measurements || []).map(m => ({
    tracking: m.TrackingIdentifier, labels: m.labels, sop: m.ReferencedSOPInstanceUID})),
}))"""

JS_MEASUREMENTS = """() => window.services.measurementService.getMeasurements().map(m => ({
  tool: m.toolName, primary: m.displayText && m.displayText.primary,
  sop: m.referencedImageId ? null : m.SOPInstanceUID, finding: m.finding && m.finding.text,
}))"""


def launch_browser(playwright: Playwright) -> Browser:
    if not Path(CHROMIUM).is_file() and not shutil.which(CHROMIUM):
        raise RuntimeError(f"{CHROMIUM} not found: scripts/setup installs Debian's chromium")
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


@dataclass
class Viewer:
    """One browser page on the viewer, with what its console said."""

    context: BrowserContext
    page: Page
    errors: list[str] = field(default_factory=list)

    @classmethod
    def new(cls, browser: Browser) -> Viewer:
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        viewer = cls(context, context.new_page())
        viewer.page.on("console", viewer._console)
        viewer.page.on("pageerror", lambda exc: viewer.errors.append(f"page error: {exc}"))
        return viewer

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console error: {message.text[:500]}")

    def open(self, url: str) -> None:
        """Navigate and wait until the first image is decoded and shown.

        Fails at once when the page reports an error first (an image that does
        not load never shows, and waiting out the timeout would only be slow).
        """
        self.page.goto(url)
        self.wait_for_image()

    def wait_for_image(self) -> None:
        """Wait until the viewer on this page shows its first image (see :meth:`open`)."""
        deadline = time.monotonic() + LOAD_TIMEOUT_MS / 1000
        while not self.page.evaluate(JS_IMAGE_SHOWN):
            if self.errors:
                raise AssertionError(
                    "the viewer reported errors before showing an image:\n  "
                    + "\n  ".join(e.splitlines()[0] for e in self.errors)
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"no image shown within {LOAD_TIMEOUT_MS / 1000:.0f} s")
            self.page.wait_for_timeout(100)

    def show(self, index: int) -> dict[str, Any]:
        result: dict[str, Any] = self.page.evaluate(JS_SHOW, index)
        return result

    def canvas_at(self, column: int, row: int) -> list[int]:
        result: list[int] = self.page.evaluate(JS_CANVAS_AT, [column, row])
        return result

    def display_sets(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.page.evaluate(JS_DISPLAY_SETS)
        return result

    def measurements(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.page.evaluate(JS_MEASUREMENTS)
        return result

    def close(self) -> None:
        self.context.close()
