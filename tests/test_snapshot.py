"""End to end against a real Orthanc: `dicomweb2ohif snapshot` on the fixture studies.

The oracle is pydicom reading the same Part 10 files directly, and OHIF's docs
example for the field list and JSON types.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pydicom
import pytest

from converter.cli import main
from converter.validate.validator import DOCS_INSTANCE, DOCS_SERIES, DOCS_STUDY
from fixtures.orthanc import Orthanc

pytestmark = pytest.mark.orthanc

PUBLIC = "https://viewer.example/wado"


def run(*argv: str) -> int:
    return main(list(argv))


@pytest.fixture(scope="module")
def launch(orthanc: Orthanc, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("snap") / "all.json"
    assert run("snapshot", orthanc.dicomweb_url, "-o", str(out), "--quiet") == 0
    return json.loads(out.read_text(encoding="utf-8"))


def by_modality(launch: dict[str, Any], modality: str) -> list[dict[str, Any]]:
    return [se for st in launch["studies"] for se in st["series"] if se["Modality"] == modality]


def walk_keys(value: Any) -> set[str]:
    keys: set[str] = set()
    if isinstance(value, dict):
        for k, v in value.items():
            keys.add(k)
            keys |= walk_keys(v)
    elif isinstance(value, list):
        for v in value:
            keys |= walk_keys(v)
    return keys


def headers_of(fixture_headers: list[pydicom.Dataset], modality: str) -> list[pydicom.Dataset]:
    return [h for h in fixture_headers if h.Modality == modality]


class TestWholeFile:
    def test_every_study_and_instance(
        self, launch: dict[str, Any], fixture_headers: list[pydicom.Dataset]
    ) -> None:
        assert {s["StudyInstanceUID"] for s in launch["studies"]} == {
            h.StudyInstanceUID for h in fixture_headers
        }
        sops = {
            i["metadata"]["SOPInstanceUID"]
            for st in launch["studies"]
            for se in st["series"]
            for i in se["instances"]
        }
        assert sops == {h.SOPInstanceUID for h in fixture_headers}
        assert sum(s["NumInstances"] for s in launch["studies"]) == len(fixture_headers)

    def test_docs_example_fields_and_types(self, launch: dict[str, Any]) -> None:
        for study in launch["studies"]:
            for name, kind in DOCS_STUDY.items():
                assert isinstance(study[name], kind), (name, study[name])
        ct = by_modality(launch, "CT")[0]
        for name, kind in DOCS_SERIES.items():
            assert isinstance(ct[name], kind), (name, ct[name])
        for entry in ct["instances"]:
            for name, kind in DOCS_INSTANCE.items():
                assert isinstance(entry["metadata"][name], kind), (
                    name,
                    entry["metadata"].get(name),
                )
            assert entry["url"].startswith("dicomweb:http://127.0.0.1:")

    def test_no_pixel_data_no_vrmap_anywhere(self, launch: dict[str, Any]) -> None:
        keys = walk_keys(launch)
        assert "PixelData" not in keys
        assert "_vrMap" not in keys

    def test_private_tags_dropped_by_default(self, launch: dict[str, Any]) -> None:
        assert not [k for k in walk_keys(launch) if len(k) == 8 and k[:4] == "0009"]

    def test_retired_attribute_keyword(self, launch: dict[str, Any]) -> None:
        ct = by_modality(launch, "CT")[0]["instances"][0]["metadata"]
        assert ct["RETIRED_StudyComments"].startswith("Retired attribute")

    def test_geometry_matches_the_files(
        self, launch: dict[str, Any], fixture_headers: list[pydicom.Dataset]
    ) -> None:
        want = {
            h.SOPInstanceUID: [float(v) for v in h.ImagePositionPatient]
            for h in headers_of(fixture_headers, "CT")
            if "ImagePositionPatient" in h
        }
        got = {
            i["metadata"]["SOPInstanceUID"]: i["metadata"]["ImagePositionPatient"]
            for i in by_modality(launch, "CT")[0]["instances"]
        }
        assert got == {k: v for k, v in want.items() if k in got}
        zs = [p[2] for p in got.values()]
        assert zs == sorted(zs)

    def test_study_summary(self, launch: dict[str, Any]) -> None:
        study_a = next(s for s in launch["studies"] if s["PatientID"] == "DW2O-0001")
        assert study_a["Modalities"] == "CT/SR/DOC"
        assert [s["SeriesNumber"] for s in study_a["series"]] == [1, 2, 3]


class TestNonAsciiName:
    def test_ideographic_and_phonetic_groups_survive(
        self, launch: dict[str, Any], fixture_headers: list[pydicom.Dataset]
    ) -> None:
        header = next(h for h in fixture_headers if h.PatientID == "DW2O-0001")
        name = str(header.PatientName)
        assert "山田" in name
        study = next(s for s in launch["studies"] if s["PatientID"] == "DW2O-0001")
        assert study["PatientName"] == name
        for series in study["series"]:
            for entry in series["instances"]:
                assert entry["metadata"]["PatientName"] == name

    def test_file_is_utf8_not_escaped(self, orthanc: Orthanc, tmp_path: Path) -> None:
        out = tmp_path / "a.json"
        assert (
            run("snapshot", orthanc.dicomweb_url, "--patient-id", "DW2O-0001", "-o", str(out), "-q")
            == 0
        )
        assert "山田^太郎".encode() in out.read_bytes()


class TestStructuredReport:
    def test_sr_keeps_its_code_sequences(self, launch: dict[str, Any]) -> None:
        sr = by_modality(launch, "SR")[0]["instances"][0]["metadata"]
        for name in (
            "ConceptNameCodeSequence",
            "ContentSequence",
            "ContentTemplateSequence",
            "CurrentRequestedProcedureEvidenceSequence",
        ):
            assert isinstance(sr[name], list) and sr[name], name
        assert sr["ConceptNameCodeSequence"][0]["CodeValue"] == "126000"

    def test_measurement_is_in_the_content_tree(
        self, launch: dict[str, Any], fixture_headers: list[pydicom.Dataset]
    ) -> None:
        sr = by_modality(launch, "SR")[0]["instances"][0]["metadata"]
        text = json.dumps(sr["ContentSequence"])
        assert '"NumericValue": 22.5' in text
        assert "Cornerstone3DTools@^0.1.0:Length" in text
        header = headers_of(fixture_headers, "SR")[0]
        assert len(sr["ContentSequence"]) == len(header.ContentSequence)


class TestPetAndColour:
    def test_pt_keeps_radiopharmaceutical_sequence(self, launch: dict[str, Any]) -> None:
        pt = by_modality(launch, "PT")[0]["instances"][0]["metadata"]
        drug = pt["RadiopharmaceuticalInformationSequence"][0]
        assert isinstance(drug["RadionuclideTotalDose"], (int, float))
        assert isinstance(drug["RadionuclideHalfLife"], (int, float))
        assert drug["RadionuclideCodeSequence"][0]["CodeMeaning"]
        for name in (
            "CorrectedImage",
            "Units",
            "DecayCorrection",
            "AcquisitionDate",
            "AcquisitionTime",
            "PatientWeight",
            "SeriesDate",
            "SeriesTime",
        ):
            assert pt[name] not in ("", None), name

    def test_rgb_planar_configuration(self, launch: dict[str, Any]) -> None:
        rgb = [
            i["metadata"]
            for se in launch["studies"][2]["series"]
            for i in se["instances"]
            if i["metadata"].get("PhotometricInterpretation") == "RGB"
        ]
        assert sorted(m["PlanarConfiguration"] for m in rgb) == [0, 1]
        assert all(m["SamplesPerPixel"] == 3 for m in rgb)


class TestMultiFrame:
    def test_one_entry_per_frame_one_based_in_order(
        self, launch: dict[str, Any], fixture_headers: list[pydicom.Dataset]
    ) -> None:
        for series in [*by_modality(launch, "US"), by_modality(launch, "CT")[1]]:
            sop = series["instances"][0]["metadata"]["SOPInstanceUID"]
            header = next(h for h in fixture_headers if h.SOPInstanceUID == sop)
            frames = int(header.NumberOfFrames)
            assert frames > 1
            urls = [i["url"] for i in series["instances"]]
            assert urls == [
                urls[0].rsplit("&frame=", 1)[0] + f"&frame={n}" for n in range(1, frames + 1)
            ]

    def test_enhanced_frames_carry_their_own_position(
        self, launch: dict[str, Any], fixture_headers: list[pydicom.Dataset]
    ) -> None:
        series = by_modality(launch, "CT")[1]
        sop = series["instances"][0]["metadata"]["SOPInstanceUID"]
        header = next(h for h in fixture_headers if h.SOPInstanceUID == sop)
        want = [
            [float(v) for v in item.PlanePositionSequence[0].ImagePositionPatient]
            for item in header.PerFrameFunctionalGroupsSequence
        ]
        first, *rest = series["instances"]
        # Frame 1's position is in the first entry's per-frame groups (written once),
        # never at its top level: OHIF 3.13.2 would put every frame there.
        groups = first["metadata"]["PerFrameFunctionalGroupsSequence"]
        assert "ImagePositionPatient" not in first["metadata"]
        got = [groups[0]["PlanePositionSequence"][0]["ImagePositionPatient"]]
        got += [i["metadata"]["ImagePositionPatient"] for i in rest]
        assert got == want
        assert series["SliceThickness"] == 5
        for entry in series["instances"]:
            assert entry["metadata"]["NumberOfFrames"] == len(want)
            assert isinstance(entry["metadata"]["PixelSpacing"], list)
        for entry in rest:
            assert "PerFrameFunctionalGroupsSequence" not in entry["metadata"]

    def test_num_instances_counts_sop_instances_not_frames(self, launch: dict[str, Any]) -> None:
        study_b = next(s for s in launch["studies"] if s["PatientID"] == "DW2O-0002")
        entries = sum(len(se["instances"]) for se in study_b["series"])
        assert study_b["NumInstances"] == 5 < entries


class TestDeterminism:
    def test_two_runs_byte_identical(self, orthanc: Orthanc, tmp_path: Path) -> None:
        a, b = tmp_path / "a.json", tmp_path / "b.json"
        assert run("snapshot", orthanc.dicomweb_url, "-o", str(a), "-q") == 0
        assert run("snapshot", orthanc.dicomweb_url, "-o", str(b), "-q") == 0
        assert a.read_bytes() == b.read_bytes()

    def test_golden_file(self, orthanc: Orthanc, tmp_path: Path) -> None:
        """The whole launch file, byte for byte (public WADO root so the port does not matter).

        Regenerate after an intended change with UPDATE_GOLDEN=1.
        """
        import os

        golden = Path(__file__).parent / "golden" / "fixtures.json"
        out = tmp_path / "g.json"
        assert (
            run(
                "snapshot",
                orthanc.dicomweb_url,
                "--wado-uri-root",
                PUBLIC,
                "--indent",
                "1",
                "-o",
                str(out),
                "-q",
            )
            == 0
        )
        if os.environ.get("UPDATE_GOLDEN"):
            golden.parent.mkdir(exist_ok=True)
            golden.write_bytes(out.read_bytes())
        assert out.read_text(encoding="utf-8") == golden.read_text(encoding="utf-8")


class TestUrlOptions:
    def test_public_wado_root(self, orthanc: Orthanc, tmp_path: Path) -> None:
        out = tmp_path / "p.json"
        assert (
            run("snapshot", orthanc.dicomweb_url, "--wado-uri-root", PUBLIC, "-o", str(out), "-q")
            == 0
        )
        text = out.read_text()
        assert "127.0.0.1" not in text
        url = json.loads(text)["studies"][0]["series"][0]["instances"][0]["url"]
        assert url.startswith(f"dicomweb:{PUBLIC}?requestType=WADO&studyUID=")
        assert url.endswith("&contentType=application/dicom")

    def test_template(self, orthanc: Orthanc, tmp_path: Path) -> None:
        out = tmp_path / "t.json"
        template = "https://bucket.example/dicom/{study}/{series}/{instance}.dcm"
        assert (
            run(
                "snapshot",
                orthanc.dicomweb_url,
                "--url-template",
                template,
                "--patient-id",
                "DW2O-0002",
                "-o",
                str(out),
                "-q",
            )
            == 0
        )
        study = json.loads(out.read_text())["studies"][0]
        mf = study["series"][1]["instances"]
        assert mf[0]["url"].startswith(
            "dicomweb:https://bucket.example/dicom/" + study["StudyInstanceUID"]
        )
        assert [e["url"].rsplit("?", 1)[1] for e in mf] == [f"frame={n}" for n in range(1, 6)]

    def test_default_wado_urls_fetch_the_part10_object(
        self, orthanc: Orthanc, launch: dict[str, Any]
    ) -> None:
        import requests

        entry = by_modality(launch, "CT")[0]["instances"][0]
        answer = requests.get(entry["url"].removeprefix("dicomweb:"), timeout=30)
        assert answer.status_code == 200
        assert answer.content[128:132] == b"DICM"

    def test_credentials_never_written(self, orthanc: Orthanc, tmp_path: Path) -> None:
        out = tmp_path / "c.json"
        url = orthanc.dicomweb_url.replace("http://", "http://alice:s3cret@")
        assert run("snapshot", url, "--patient-id", "DW2O-0003", "-o", str(out), "-q") == 0
        assert b"s3cret" not in out.read_bytes()
        assert b"alice" not in out.read_bytes()
