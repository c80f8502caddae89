"""Judging a study in the real OHIF Viewer the same way for two data sources.

The parity test opens each study twice on the same ``serve`` origin: from its
launch file (``/viewer/dicomjson?url=...``, the ``dicomjson`` source) and live
from the server (``/viewer/dicomweb?StudyInstanceUIDs=...``, OHIF's own
``dicomweb`` source through ``serve --proxy``). On one page load per study and
source, every display set of the study is put into the active viewport in turn
(OHIF's ``setDisplaySetsForViewports`` command, as the thumbnails do) and
judged from the page alone:

* images: the viewport shows an image of the set; every imageId of its stack
  loads (``cornerstone.imageLoader.loadAndCacheImage``); per image, in stack
  order, the SOP Instance UID, the frame's place in its instance and the
  statistics of the decoded pixels (count, min, max, sum of ``getPixelData()``).
  Multi-frame stacks are loaded a second time from a warm cache, and where
  the first (cold) load differs the image counts as wrong (cornerstone3D issue
  #1194: the first frame loaded can be the next one). Stacks longer than
  :data:`MAX_IMAGES` are judged on that many evenly spaced images.
* SR: loaded, and its measurements (tracking identifier, labels).
* SEG/RTSTRUCT: loaded on the viewport (OHIF puts it on its referenced series),
  and its segments.
* PDF: the document the viewer embeds, fetched, starts with ``%PDF``.

Multi-frame series get a second page load (fresh JS context: cold caches)
opened on that series, where the first frame shown is compared with the warm
one. Per series the two sources give ``both``, ``ours only``, ``live only`` or
``neither``; ``both`` with different statistics is a failure of its own.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page

from tests.e2e.ohif import JS_BOUNDARY

MAX_IMAGES = 24
"""Images judged per stack (evenly spaced, first and last included)."""
SET_TIMEOUT_MS = 10_000
"""How long one display set may take to show after it is put into the viewport."""

OURS = "ours"
LIVE = "live"

# Wait for the study's display sets to exist (or for an error boundary).
JS_READY = """() => {
  if (document.body && /Something went wrong/i.test(document.body.innerText)) return 'error';
  const s = window.services;
  return Boolean(s && s.displaySetService.getActiveDisplaySets().length
                 && window.cornerstone && window.cornerstone.getRenderingEngines().length);
}"""

# The app has settled: the active viewport shows an image (or something that is no image).
JS_SETTLED = """() => {
  try {
    const s = window.services;
    const vpId = s.viewportGridService.getActiveViewportId();
    const vp = s.cornerstoneViewportService.getCornerstoneViewport(vpId);
    const id = vp && vp.getCurrentImageId && vp.getCurrentImageId();
    if (id && window.cornerstone.cache.getImage(id)) return true;
    if (/Something went wrong/i.test(document.body.innerText)) return true;
    // a first set that is no image (SR, SEG, unsupported) never shows one
    const [uid] = s.viewportGridService.getDisplaySetsUIDsForViewport(vpId) || [];
    const ds = uid && s.displaySetService.getDisplaySetByUID(uid);
    return Boolean(ds && (ds.unsupported || !(ds.imageIds || []).length));
  } catch (e) { return false; }
}"""
RETRIES = 2
"""Fresh page loads for a set that raised an error boundary before that is its verdict
(a load landing on a viewport being replaced raises one too, more often on a busy machine)."""
SETTLE_MS = 8_000
"""How long the first viewport may take before display sets are switched anyway (a study
whose first set is no image never settles)."""

JS_SETS = """() => window.services.displaySetService.getActiveDisplaySets().map(d => ({
  uid: d.displaySetInstanceUID, series: d.SeriesInstanceUID, modality: d.Modality,
  handler: d.SOPClassHandlerId || '', images: (d.imageIds || []).length,
  frames: d.numImageFrames || 0,
  key: [d.SeriesInstanceUID, d.SOPClassHandlerId || '',
        ((d.instances || [])[0] || d.instance || {}).SOPInstanceUID || ''].join('|'),
}))"""

# Put one display set into the active viewport and judge it; see the module docstring.
JS_JUDGE = r"""async ([uid, maxImages, timeoutMs]) => {
  const { displaySetService, viewportGridService, cornerstoneViewportService,
          segmentationService } = window.services;
  const cs = window.cornerstone;
  const sleep = ms => new Promise(r => setTimeout(r, ms));
  const ds = displaySetService.getDisplaySetByUID(uid);
  if (!ds) return null;  // replaced meanwhile (OHIF re-creates sets as metadata arrives)
  const out = { uid, kind: 'other', shown: false, failed: [], images: [], cold: [],
                detail: null, note: '' };
  const viewportId = viewportGridService.getActiveViewportId();
  const handler = ds.SOPClassHandlerId || '';
  const errorShown = () => /Something went wrong/i.test(document.body.innerText);
  const stats = (id, image) => {
    const px = image.getPixelData();
    let mn = Infinity, mx = -Infinity, sum = 0;
    for (let k = 0; k < px.length; k++) { const v = px[k]; if (v < mn) mn = v;
                                          if (v > mx) mx = v; sum += v; }
    const inst = cs.metaData.get('instance', id) || {};
    return [inst.SOPInstanceUID || '', Number(inst.InstanceNumber) || 0, px.length, mn, mx, sum];
  };
  try {
    window.commandsManager.runCommand('setDisplaySetsForViewports', {
      viewportsToUpdate: [{ viewportId, displaySetInstanceUIDs: [uid] }] });
  } catch (e) { out.note = 'setDisplaySetsForViewports: ' + e; return out; }
  const deadline = Date.now() + timeoutMs;
  const ids = ds.imageIds || [];
  if (/dicom-sr/.test(handler)) {
    out.kind = 'sr';
    while (!ds.isLoaded && Date.now() < deadline && !errorShown()) await sleep(100);
    out.shown = Boolean(ds.isLoaded) && !errorShown();
    out.detail = (ds.measurements || []).map(m => [m.TrackingIdentifier || '',
                                                   JSON.stringify(m.labels || [])]);
    return out;
  }
  if (/dicom-seg|dicom-rt/.test(handler)) {
    out.kind = /dicom-seg/.test(handler) ? 'seg' : 'rtstruct';
    const seg = () => segmentationService.getSegmentation(uid);
    let loadedAt = 0;
    const notLoaded = Date.now() + Math.min(timeoutMs, 6000);
    while (!(ds.isLoaded && seg()) && Date.now() < deadline && !errorShown()
           && (ds.isLoaded || Date.now() < notLoaded)
           && !(loadedAt && Date.now() - loadedAt > 3000)) {
      if (ds.isLoaded && !loadedAt) loadedAt = Date.now();
      await sleep(100);
    }
    const segmentation = seg();
    out.shown = Boolean(ds.isLoaded && segmentation) && !errorShown();
    out.detail = segmentation ? Object.values(segmentation.segments || {})
      .filter(Boolean).map(s => [s.segmentIndex, s.label || '']) : null;
    return out;
  }
  if (/dicom-pdf/.test(handler)) {
    out.kind = 'pdf';
    let pdf = null;
    while (!pdf && Date.now() < deadline && !errorShown()) {
      pdf = document.querySelector("object[type='application/pdf'], iframe[src]");
      if (!pdf) await sleep(100);
    }
    const url = pdf && (pdf.getAttribute('data') || pdf.getAttribute('src'));
    if (url) {
      try {
        const r = await fetch(url);
        const bytes = new Uint8Array(await r.arrayBuffer());
        const head = String.fromCharCode(...bytes.slice(0, 4));
        // PS3.5 7.1.1: the value may end in one pad byte; it is not part of the document.
        let end = bytes.length;
        while (end > 0 && (bytes[end - 1] === 0 || bytes[end - 1] === 32)) end--;
        let sum = 0;
        for (let i = 0; i < end; i++) sum += bytes[i];
        out.shown = r.ok && head === '%PDF';
        out.detail = [[end, sum]];
      } catch (e) { out.note = 'PDF fetch: ' + e; }
    }
    return out;
  }
  out.kind = 'image';
  if (ds.unsupported) { out.note = 'OHIF: unsupported display set'; return out; }
  const sops = new Set((ds.instances || []).map(i => i.SOPInstanceUID));
  const giveUp = ids.length || sops.size ? deadline : Date.now() + 3000;
  let vp = null;
  while (Date.now() < giveUp && !errorShown()) {
    vp = cornerstoneViewportService.getCornerstoneViewport(viewportId);
    const current = vp && vp.getCurrentImageId && vp.getCurrentImageId();
    const inst = current && (cs.metaData.get('instance', current) || {});
    if (current && cs.cache.getImage(current)
        && (ids.length ? ids.includes(current) : sops.has(inst.SOPInstanceUID))) break;
    vp = null;
    await sleep(100);
  }
  if (!vp) {
    out.note = errorShown() ? 'error boundary on showing it'
      : `no image shown within ${timeoutMs / 1000} s (${handler.split('.').pop()}, `
        + `${ids.length} imageIds${ds.unsupported ? ', unsupported' : ''})`;
    return out;
  }
  const stack = vp.getImageIds();
  const n = stack.length;
  const k = Math.min(n, maxImages);
  const picks = k < 2 ? [0] : [...new Set(Array.from({ length: k },
                                  (_, j) => Math.round(j * (n - 1) / (k - 1))))];
  const load = async () => {
    const got = [];
    for (const i of picks) {
      try { got.push(stats(stack[i], await cs.imageLoader.loadAndCacheImage(stack[i]))); }
      catch (e) { got.push(null); out.failed.push(i + ': ' + String(e && (e.message || e))); }
    }
    return got;
  };
  let images = await load();
  const multiFrame = new Set(images.filter(Boolean).map(s => s[0])).size < images.filter(Boolean).length;
  if (multiFrame) {
    out.cold = images;
    for (const i of picks) cs.cache.removeImageLoadObject(stack[i], { force: true });
    images = await load();
  }
  const seen = {};
  // [stack index, SOP, frame in instance, InstanceNumber, count, min, max, sum]
  out.images = images.map((s, j) => s && [picks[j], s[0], (seen[s[0]] = (seen[s[0]] || 0) + 1),
                                          ...s.slice(1)]);
  out.shown = Boolean(vp) && out.failed.length === 0 && !errorShown();
  out.stack = n;
  // Let the viewport's own loads (prefetch) finish before the next set replaces it: a load
  // landing on a destroyed stack viewport is an uncaught error and an error boundary.
  const pool = cs.imageLoadPoolManager;
  for (let t = 0; t < 50 && pool && pool.numRequests; t++) {
    if (!Object.values(pool.numRequests).some(Boolean)) break;
    await sleep(100);
  }
  return out;
}"""

# The first image the viewport shows after a fresh page load, as soon as it is shown.
JS_FIRST_SHOWN = """(series) => {
  const cs = window.cornerstone;
  const s = window.services;
  if (!cs || !s) return null;
  let vp = null;
  try {  // the services exist before the viewport grid is set up
    const vpId = s.viewportGridService.getActiveViewportId();
    vp = vpId && s.cornerstoneViewportService.getCornerstoneViewport(vpId);
  } catch (e) { return null; }
  const id = vp && vp.getCurrentImageId && vp.getCurrentImageId();
  const image = id && cs.cache.getImage(id);
  if (!image) return null;
  const inst = cs.metaData.get('instance', id) || {};
  if (inst.SeriesInstanceUID !== series) return null;
  const px = image.getPixelData();
  let mn = Infinity, mx = -Infinity, sum = 0;
  for (let k = 0; k < px.length; k++) { const v = px[k]; if (v < mn) mn = v;
                                        if (v > mx) mx = v; sum += v; }
  const index = vp.getCurrentImageIdIndex();
  const stack = vp.getImageIds();
  let frame = 0;
  for (let k = 0; k <= index; k++) {
    if ((cs.metaData.get('instance', stack[k]) || {}).SOPInstanceUID === inst.SOPInstanceUID) frame++;
  }
  return [inst.SOPInstanceUID || '', frame, px.length, mn, mx, sum];
}"""


@dataclass
class SetResult:
    """One display set as one source showed it."""

    series: str
    modality: str
    kind: str
    shown: bool
    images: list[Any] = field(default_factory=list)
    """Per judged image: [stack index, SOP Instance UID, frame in instance, InstanceNumber,
    count, min, max, sum]."""
    detail: Any = None
    failed: list[str] = field(default_factory=list)
    cold_wrong: list[int] = field(default_factory=list)
    """Stack indices whose first (cold) load differed from the warm one."""
    note: str = ""
    uid: str = ""
    """OHIF's displaySetInstanceUID (differs between page loads)."""

    def key(self) -> tuple[Any, ...]:
        """What must agree between the sources for the set to count as the same.

        The images in stack order, except that images with the same Instance
        Number (PS3.3 C.7.6.1) next to each other are compared as a set: OHIF
        sorts a stack by it and keeps the order the source gave for ties, which
        is the order of the launch file for one source and of the server's
        metadata for the other; neither is wrong.
        """
        runs: list[list[Any]] = []
        for image in self.images:
            if image is None:
                runs.append([None])
            elif runs and runs[-1] and runs[-1][0] is not None and runs[-1][0][3] == image[3]:
                runs[-1].append(image)
            else:
                runs.append([image])
        images = [sorted((i[1:] for i in run), key=repr) if run != [None] else None for run in runs]
        return (self.kind, images, self.detail)


@dataclass
class StudyView:
    """Everything one source showed of one study."""

    source: str
    sets: list[SetResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    boundary: bool = False
    seconds: float = 0.0
    cold_first: dict[str, Any] = field(default_factory=dict)
    """Series UID -> the first image shown on a fresh page opened on it (multi-frame series)."""


def _wait_ready(page: Page, timeout_ms: int) -> str | None:
    """Wait for the study's display sets; 'error' for an error boundary, None on timeout."""
    deadline = time.monotonic() + timeout_ms / 1000
    while time.monotonic() < deadline:
        state = page.evaluate(JS_READY)
        if state == "error":
            return "error"
        if state:
            return "ready"
        page.wait_for_timeout(100)
    return None


def _open(page: Page, url: str, timeout_ms: int) -> str | None:
    """Load the study page afresh and wait until its display sets exist and the first
    viewport has settled; 'ready', 'error' (an error boundary) or None (timeout)."""
    page.goto(url)
    state = _wait_ready(page, timeout_ms)
    if state == "ready":
        deadline = time.monotonic() + SETTLE_MS / 1000
        while not page.evaluate(JS_SETTLED) and time.monotonic() < deadline:
            page.wait_for_timeout(100)
    return state


def judge_study(
    page: Page, url: str, source: str, errors: list[str], timeout_ms: int = 12_000
) -> StudyView:
    """Open ``url`` on ``page`` and judge every display set of the study.

    A study that shows no display set or an error boundary on opening is opened
    once more. An error boundary takes the whole page down, so after one the study is
    opened afresh: the set that raised it is judged again first (a boundary after
    :data:`RETRIES` fresh loads is its verdict), then the sets not judged yet. Sets are
    told apart across page loads by series, handler and first SOP Instance UID (OHIF's
    displaySetInstanceUID is new on every load). ``errors`` is the page's error
    list (console errors, page errors); what it gains meanwhile is kept.
    """
    start = len(errors)
    began = time.monotonic()
    view = StudyView(source)
    state = _open(page, url, timeout_ms)
    if state != "ready":  # once more: whether a throwing SR handler stops OHIF from making
        state = _open(page, url, timeout_ms)  # the study's display sets varies by load
    if state != "ready":
        view.boundary = state == "error"
        view.errors = (
            [f"error boundary: {page.evaluate(JS_BOUNDARY)}"]
            if view.boundary
            else [f"no display set within {timeout_ms / 1000:.0f} s"]
        ) + errors[start:]
        return view
    done: dict[str, SetResult] = {}
    retried: list[str] = []
    first: str | None = None
    for _ in range(8):  # page loads; sets made while others were judged get their turn too
        infos = [i for i in page.evaluate(JS_SETS) if i["key"] not in done]
        infos.sort(key=lambda i: i["key"] != first)
        if not infos:
            break
        broke = False
        for info in infos:
            result = _judge_set(page, info)
            if result is None:
                continue
            result.uid = info["uid"]
            if page.evaluate(JS_BOUNDARY):
                view.boundary = True
                if retried.count(info["key"]) < RETRIES:
                    retried.append(info["key"])
                    first = info["key"]
                else:
                    done[info["key"]] = result
                broke = True
                break
            done[info["key"]] = result
        if broke:
            view.errors.append(f"error boundary: {page.evaluate(JS_BOUNDARY)}")
            if _open(page, url, timeout_ms) != "ready":
                break
            page.wait_for_timeout(1500)  # thumbnails and prefetch done before switching
    view.sets = list(done.values())
    view.errors += errors[start:]
    view.seconds = time.monotonic() - began
    return view


def _judge_set(page: Page, info: dict[str, Any]) -> SetResult | None:
    """Judge one display set (JS_JUDGE); None when OHIF replaced it meanwhile."""
    try:
        raw = page.evaluate(JS_JUDGE, [info["uid"], MAX_IMAGES, SET_TIMEOUT_MS])
    except PlaywrightError as exc:
        return SetResult(
            info["series"],
            info["modality"] or "",
            "other",
            False,
            note=f"judging it threw: {str(exc).splitlines()[0][:200]}",
        )
    if raw is None:
        return None
    result = SetResult(
        info["series"],
        info["modality"] or "",
        raw["kind"],
        bool(raw["shown"]),
        raw["images"],
        raw["detail"],
        raw["failed"],
        note=raw["note"],
    )
    for cold, warm in zip(raw["cold"], raw["images"], strict=False):
        if cold is not None and warm is not None and list(cold[2:]) != list(warm[4:]):
            result.cold_wrong.append(warm[0])
    if result.cold_wrong:
        result.shown = False
        result.note = (
            f"cold load differs from warm at stack index {result.cold_wrong} (cornerstone3D #1194)"
        )
    return result


def first_shown(page: Page, url: str, series: str, timeout_ms: int = 15_000) -> Any:
    """On a fresh page opened on ``series``: the first image it shows, as soon as it does,
    as [SOP Instance UID, frame in instance, count, min, max, sum]."""
    page.goto(url)
    deadline = time.monotonic() + timeout_ms / 1000
    while time.monotonic() < deadline:
        try:
            shown = page.evaluate(JS_FIRST_SHOWN, series)
        except PlaywrightError:  # a navigation of the app itself
            shown = None
        if shown:
            return shown
        page.wait_for_timeout(50)
    return None
