"""The mapper agrees with dcmjs naturalizeDataset (pinned, run in node) on the same input.

Inputs: a hand-made dataset with every VR, the fixture studies and the real-world
corpus as a real Orthanc serves them. Only docs/format.md's deliberate differences are
allowed (applied in tests/dcmjs_reference.py, written independently of the mapper).
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from converter.mapping.mapper import map_dataset
from fixtures.orthanc import Orthanc
from tests.dcmjs_reference import expected, naturalize, strip_vrmap


def all_metadata(server: Orthanc) -> list[dict[str, Any]]:
    """Every instance's WADO-RS metadata, fetched series by series with plain requests."""
    out: list[dict[str, Any]] = []
    root = server.dicomweb_url
    for study in requests.get(f"{root}/studies", timeout=60).json():
        s = study["0020000D"]["Value"][0]
        for series in requests.get(f"{root}/studies/{s}/series", timeout=60).json():
            se = series["0020000E"]["Value"][0]
            answer = requests.get(f"{root}/studies/{s}/series/{se}/metadata", timeout=60)
            answer.raise_for_status()
            out.extend(answer.json())
    return out


def assert_agrees(datasets: list[dict[str, Any]], keep_private: bool) -> int:
    natural, names = naturalize(datasets)
    for ds, nat in zip(datasets, natural, strict=True):
        ours = map_dataset(ds, keep_private=keep_private)
        want = expected(ds, strip_vrmap(nat), names, keep_private)
        sop = ds.get("00080018", {}).get("Value", ["?"])[0]
        assert ours == want, f"instance {sop} differs from dcmjs"
    return len(datasets)


EVERY_VR = {
    "00080005": {"vr": "CS", "Value": ["ISO_IR 192"]},
    "00080008": {"vr": "CS", "Value": ["ORIGINAL", "PRIMARY"]},
    "00080020": {"vr": "DA", "Value": ["20200101"]},
    "00080030": {"vr": "TM", "Value": ["101010.5"]},
    "0008002A": {"vr": "DT", "Value": ["20200101101010"]},
    "00080054": {"vr": "AE", "Value": ["ORTHANC"]},
    "00080060": {"vr": "CS"},
    "00080090": {"vr": "PN", "Value": [{"Alphabetic": "Doe^John"}]},
    "00081030": {"vr": "LO", "Value": ["desc"]},
    "00081070": {
        "vr": "PN",
        "Value": [{"Alphabetic": "A"}, {"Alphabetic": "B", "Ideographic": "乙"}],
    },
    "00081140": {"vr": "SQ", "Value": [{"00081150": {"vr": "UI", "Value": ["1.2.3"]}}]},
    "00081190": {"vr": "UR", "Value": ["http://example/x"]},
    "00100010": {"vr": "PN", "Value": [{"Alphabetic": "Yamada^Tarou", "Ideographic": "山田^太郎"}]},
    "00101010": {"vr": "AS", "Value": ["042Y"]},
    "00104000": {"vr": "LT", "Value": ["comment"]},
    "00180050": {"vr": "DS", "Value": [2.5]},
    "00181030": {"vr": "LO", "Value": []},
    "00200011": {"vr": "IS", "Value": [3]},
    "00209165": {"vr": "AT", "Value": ["00209056"]},
    "00280010": {"vr": "US", "Value": [512]},
    "00280030": {"vr": "DS", "Value": [0.703125, 0.703125]},
    "00280106": {"vr": "SS", "Value": [-5]},
    "00281201": {"vr": "OW", "InlineBinary": "AAEC"},
    "00282000": {"vr": "OB", "BulkDataURI": "http://s/bulk"},
    "00324000": {"vr": "LT", "Value": ["retired"]},
    "0040A124": {"vr": "UI", "Value": ["1.2"]},
    "0040A160": {"vr": "UT", "Value": ["text"]},
    "0040A30A": {"vr": "DS", "Value": ["12.5"]},
    "00660023": {"vr": "OF", "InlineBinary": "AAAAAA=="},
    "00660040": {"vr": "OL", "InlineBinary": "AAAAAA=="},
    "00720022": {"vr": "SH", "Value": ["sh"]},
    "00720066": {"vr": "FL", "Value": [1.5]},
    "00720074": {"vr": "FD", "Value": [1.25, 2.5]},
    "00720076": {"vr": "SL", "Value": [-7]},
    "0072007A": {"vr": "UL", "Value": [7]},
    "00720082": {"vr": "SV", "Value": [-9007199254740991]},
    "00720083": {"vr": "UV", "Value": [9007199254740991]},
    "00720071": {"vr": "UC", "Value": ["uc"]},
    "00720062": {"vr": "ST", "Value": ["st"]},
    "00720052": {"vr": "AT", "Value": ["00100010", "00100020"]},
    "0070031B": {"vr": "OD", "InlineBinary": "AAAAAAAAAAA="},
    "00660129": {"vr": "OV", "InlineBinary": "AAAAAAAAAAA="},
    "00091001": {"vr": "UN", "InlineBinary": "AQI="},
    "00090010": {"vr": "LO", "Value": ["CREATOR"]},
    "0008AAAA": {"vr": "LO", "Value": ["unknown public"]},
    "60003000": {"vr": "OW", "BulkDataURI": "http://s/overlay"},
    "7FE00010": {"vr": "OW", "BulkDataURI": "http://s/pixels"},
    "0040A730": {
        "vr": "SQ",
        "Value": [
            {
                "0040A010": {"vr": "CS", "Value": ["CONTAINS"]},
                "0040A043": {
                    "vr": "SQ",
                    "Value": [{"00080100": {"vr": "SH", "Value": ["121071"]}}],
                },
                "0040A730": {"vr": "SQ"},
            },
        ],
    },
}


@pytest.mark.node
class TestHandMade:
    def test_every_vr(self) -> None:
        assert assert_agrees([EVERY_VR], keep_private=False) == 1

    def test_every_vr_keeping_private_tags(self) -> None:
        assert assert_agrees([EVERY_VR], keep_private=True) == 1

    def test_reference_can_fail(self) -> None:
        """The comparison is not vacuous: a mapper output with one key renamed fails it."""
        natural, names = naturalize([EVERY_VR])
        want = expected(EVERY_VR, strip_vrmap(natural[0]), names)
        ours = map_dataset(EVERY_VR)
        ours["StudyComments"] = ours.pop("RETIRED_StudyComments")
        assert ours != want


@pytest.mark.node
@pytest.mark.orthanc
class TestServed:
    def test_fixture_instances(self, orthanc: Orthanc) -> None:
        datasets = all_metadata(orthanc)
        assert assert_agrees(datasets, keep_private=False) == len(datasets) >= 10
        assert assert_agrees(datasets, keep_private=True) == len(datasets)

    def test_realworld_corpus(self, realworld_orthanc: Orthanc) -> None:
        datasets = all_metadata(realworld_orthanc)
        assert assert_agrees(datasets, keep_private=True) == len(datasets) >= 15
