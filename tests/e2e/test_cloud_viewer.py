"""A snapshot taken through the harshest documented server behaviour opens and shows images.

The proxy (tests/cloud_servers.py) gives every binary value as a BulkDataURI (Google
Cloud Healthcare, dcm4chee-arc), refuses a page size above its cap with 400 and answers
204 past the end (Azure), caps answers with a ``Warning`` (dcm4chee-arc, scaled to two
results) and is busy (503) on the first request for each metadata path. The launch file
is written through it, then served with ``serve --viewer --proxy`` through the same
proxy. Like Google it has no WADO-URI (404), so ``snapshot``'s default ``--image-urls auto``
writes WADO-RS frame URLs, which pass through it to Orthanc. One page load: study B's three image
series (multi-frame enhanced CT, MR, multi-frame US) are put into the viewport in turn
and each must show its own decoded image.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from converter.cli import main
from fixtures.orthanc import Orthanc
from tests.cloud_servers import GOOGLE, cloud_server
from tests.conftest import fixture_files
from tests.e2e.conftest import serve_process
from tests.e2e.ohif import JS_BOUNDARY, Viewer

pytestmark = [pytest.mark.e2e, pytest.mark.orthanc]

HARSHEST = replace(
    GOOGLE,
    name="harshest",
    limit_max=200,
    empty_204=True,
    results_max=2,
    busy=(503,),
    wado_uri=False,  # as Google: snapshot --image-urls auto writes WADO-RS frame URLs
)

# Put display set ``uid`` into the first viewport and describe the image it then shows.
JS_SHOW_SET = """async (uid) => {
  const {viewportGridService} = window.services;
  const viewportId = viewportGridService.getState().activeViewportId;
  viewportGridService.setDisplaySetsForViewport({viewportId, displaySetInstanceUIDs: [uid]});
  const cs = window.cornerstone;
  for (let t = 0; t < 300; t++) {
    await new Promise(r => setTimeout(r, 100));
    const vp = cs.getRenderingEngines()[0].getViewports()[0];
    const id = vp && vp.getCurrentImageId && vp.getCurrentImageId();
    const image = id && cs.cache.getImage(id);
    const set = window.services.displaySetService.getDisplaySetByUID(uid);
    if (image && set.images.some(i => id.includes(i.SOPInstanceUID))) {
      const pixels = image.getPixelData();
      let sum = 0;
      for (let k = 0; k < pixels.length; k++) sum += pixels[k];
      return {series: set.SeriesInstanceUID, frames: vp.getImageIds().length,
              mean: sum / pixels.length};
    }
  }
  return null;
}"""

JS_IMAGE_SETS = """() => window.services.displaySetService.getActiveDisplaySets()
  .filter(d => d.images && d.images.length && ['CT', 'MR', 'US'].includes(d.Modality))
  .map(d => ({uid: d.displaySetInstanceUID, series: d.SeriesInstanceUID, modality: d.Modality}))"""


def test_harshest_server_snapshot_shows_every_image_series(
    orthanc: Orthanc, ohif_version: str, ohif_dist: Path, viewer: Viewer, tmp_path: Path
) -> None:
    study_b = [h for h in map(_header, fixture_files()) if "study_b" in h[2]]
    study_uid = study_b[0][0]
    with cloud_server(orthanc.url, HARSHEST) as server:
        out = tmp_path / "launch"
        assert (
            main(["snapshot", server.dicomweb(), "--retry-backoff", "0.05", "-q", "-o", f"{out}/"])
            == 0
        )
        assert 400 in server.statuses(r"/studies\?") and 503 in server.statuses("/metadata")
        # No WADO-URI (404 to the one check): the images are WADO-RS frame URLs.
        written = "".join(p.read_text() for p in sorted(out.glob("*.json")))
        assert '"url":"wadors:' in written and "requestType=WADO" not in written
        with serve_process(out, server.url, ohif_version) as served:
            viewer.open(served.url(study_uid))
            sets = viewer.page.evaluate(JS_IMAGE_SETS)
            assert sorted(s["modality"] for s in sets) == ["CT", "MR", "US"], sets
            shown = [viewer.page.evaluate(JS_SHOW_SET, s["uid"]) for s in sets]
            assert viewer.page.evaluate(JS_BOUNDARY) == ""
    assert all(s is not None for s in shown), shown
    print(f"{server.behaviour.name}: {len(server.served)} requests, shown {shown}")
    assert [s["series"] for s in shown] == [s["series"] for s in sets]
    assert all(s["mean"] > 0 for s in shown), shown
    assert sorted(s["frames"] for s in shown)[-1] > 1  # a multi-frame series, every frame
    assert not viewer.errors, viewer.errors


def _header(path: Path) -> tuple[str, str, str]:
    import pydicom

    ds = pydicom.dcmread(path, stop_before_pixels=True)
    return str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), str(path)
