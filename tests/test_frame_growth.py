"""A launch file grows linearly with the frames of a real enhanced multi-frame object.

OHIF issue #4259 is a 70 MB launch file: the per-frame functional groups of a
1,000-frame object copied into each of its 1,000 frame entries. Here the same
Enhanced CT (fixtures/make_fixtures.py ``sized_enhanced_ct``) is made with 20,
80 and 320 frames, stored in a real Orthanc and snapshotted by the CLI; every
added frame must cost the same number of bytes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from converter.cli import main
from converter.launch.encoding import dumps
from fixtures.make_fixtures import sized_enhanced_ct, write_dataset
from fixtures.orthanc import Orthanc

pytestmark = pytest.mark.orthanc

FRAMES = (20, 80, 320)


@pytest.fixture(scope="module")
def sized(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[int, dict[str, Any]]]:
    """The snapshot of each size, as its series of the launch file, by frame count."""
    folder = tmp_path_factory.mktemp("sized")
    files = []
    for frames in FRAMES:
        path = folder / f"ECT_{frames}.dcm"
        write_dataset(sized_enhanced_ct(frames), path)
        files.append(path)
    out = folder / "sized.json"
    with Orthanc() as server:
        server.upload(files)
        assert main(["snapshot", server.dicomweb_url, "-o", str(out), "-q"]) == 0
    document = json.loads(out.read_bytes())
    series = document["studies"][0]["series"]
    yield {len(s["instances"]): s for s in series}


def test_one_entry_per_frame(sized: dict[int, dict[str, Any]]) -> None:
    assert sorted(sized) == list(FRAMES)
    for frames, series in sized.items():
        assert [e["metadata"]["NumberOfFrames"] for e in series["instances"]] == [frames] * frames


def test_every_added_frame_costs_the_same(sized: dict[int, dict[str, Any]]) -> None:
    size = {frames: len(dumps(series)) for frames, series in sized.items()}
    small = (size[80] - size[20]) / (80 - 20)
    large = (size[320] - size[80]) / (320 - 80)
    # Quadratic growth would make the second slope about 5 times the first.
    assert 0.95 < large / small < 1.05, size


def test_functional_groups_written_once_per_object(sized: dict[int, dict[str, Any]]) -> None:
    text = dumps(sized[320]).decode("utf-8")
    assert text.count('"PerFrameFunctionalGroupsSequence"') == 1
    assert text.count('"PlanePositionSequence"') == 320
    entries = [len(dumps(e)) for e in sized[320]["instances"][1:]]
    assert max(entries) - min(entries) < 16  # frame entries differ by a few digits only
