"""``dicomweb2ohif validate``: one test per kind of problem, and real outputs that pass.

Each problem is made by breaking one thing in a valid launch file (the folder
output of the fixtures); the outputs of ``snapshot`` (a real Orthanc) and of
``folder`` must pass, except where an input file itself lacks what OHIF needs.
"""

from __future__ import annotations

import copy
import gzip
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import pytest

from converter.cli import main
from converter.folder.reader import read_folder
from converter.launch.encoding import launch_file
from converter.uids import RULE, UNSAFE, shown
from converter.validate.ohif_traps import traps
from converter.validate.validator import (
    DOCS_INSTANCE,
    DOCS_SERIES,
    DOCS_STUDY,
    uid_problem,
    validate,
)
from fixtures.orthanc import Orthanc
from tests.conftest import FIXTURE_DICOM
from tests.folder_runs import REALWORLD_PROBLEMS, problems_by_file, sop_names
from tests.realworld import realworld_files

Document = dict[str, Any]


@pytest.fixture(scope="module")
def valid() -> Document:
    studies = read_folder(FIXTURE_DICOM, "https://files.example/").studies
    document: Document = json.loads(json.dumps(launch_file(studies)))
    return document


def entry(document: Document, modality: str, index: int = 0) -> dict[str, Any]:
    series = next(
        se for st in document["studies"] for se in st["series"] if se["Modality"] == modality
    )
    found: dict[str, Any] = series["instances"][index]
    return found


def problems(valid: Document, change: Callable[[Document], Any]) -> list[str]:
    document = copy.deepcopy(valid)
    change(document)
    return [str(p) for p in validate(document)]


CT0 = "studies[0].series[0].instances[0]"  # CT001 in study A
US = "studies[1].series[1]"  # the 5-frame ultrasound in study B


def test_the_valid_file_is_valid(valid: Document) -> None:
    assert validate(valid) == []


class TestStructure:
    def test_not_an_object(self) -> None:
        assert [str(p) for p in validate([1])] == [
            "expected a JSON object with 'studies', got array"
        ]

    def test_no_studies(self) -> None:
        assert [str(p) for p in validate({"studies": []})] == [
            "studies: empty: OHIF has nothing to show"
        ]
        assert [str(p) for p in validate({})] == ["studies: missing"]

    def test_series_not_an_array(self, valid: Document) -> None:
        found = problems(valid, lambda d: d["studies"][2].update(series={}))
        assert found == [
            "studies[2].series: expected array (as in OHIF's docs example), got object"
        ]

    def test_entry_without_metadata(self, valid: Document) -> None:
        found = problems(
            valid, lambda d: d["studies"][0]["series"][0]["instances"][0].pop("metadata")
        )
        assert f"{CT0}.metadata: missing" in found


class TestDocsTypes:
    def test_study_field(self, valid: Document) -> None:
        found = problems(valid, lambda d: d["studies"][0].update(NumInstances="7"))
        assert found == [
            "studies[0].NumInstances: expected integer (as in OHIF's docs example), got string"
        ]

    def test_person_name_as_dcmjs_leaves_it(self, valid: Document) -> None:
        """OHIF's generator writes dcmjs' PN object, which OHIF shows badly (OHIF #3099)."""
        found = problems(
            valid, lambda d: d["studies"][1].update(PatientName=[{"Alphabetic": "Doe^Jane"}])
        )
        assert found == [
            "studies[1].PatientName: expected string (as in OHIF's docs example), got array"
        ]

    def test_missing_study_field(self, valid: Document) -> None:
        found = problems(valid, lambda d: d["studies"][0].pop("PatientID"))
        assert found == ["studies[0].PatientID: missing"]

    def test_series_field(self, valid: Document) -> None:
        found = problems(valid, lambda d: d["studies"][0]["series"][0].update(SeriesNumber="1"))
        assert found == [
            "studies[0].series[0].SeriesNumber: expected integer (as in OHIF's "
            "docs example), got string"
        ]

    def test_instance_field(self, valid: Document) -> None:
        found = problems(valid, lambda d: entry(d, "CT")["metadata"].update(Rows=64.5))
        assert found == [
            f"{CT0}.metadata.Rows: expected integer (as in OHIF's docs example), got number"
        ]

    def test_value_shape(self, valid: Document) -> None:
        found = problems(valid, lambda d: entry(d, "CT")["metadata"].update(PixelSpacing=[0.7]))
        assert found == [f"{CT0}.metadata.PixelSpacing: expected 2 positive numbers, got [0.7]"]

    def test_one_or_several_values(self, valid: Document) -> None:
        assert (
            problems(
                valid,
                lambda d: entry(d, "CT")["metadata"].update(
                    WindowCenter=[40, 50], ImageType="ORIGINAL"
                ),
            )
            == []
        )
        found = problems(valid, lambda d: entry(d, "CT")["metadata"].update(WindowWidth="400"))
        assert found == [
            f"{CT0}.metadata.WindowWidth: expected number or an array of them, got string"
        ]

    def test_tables_are_the_docs_example(self) -> None:
        assert set(DOCS_STUDY) >= {"StudyInstanceUID", "NumInstances", "Modalities", "series"}
        assert DOCS_SERIES["SliceThickness"] == (int, float)
        assert len(DOCS_INSTANCE) == 22


class TestRequiredAttributes:
    def test_image(self, valid: Document) -> None:
        found = problems(valid, lambda d: entry(d, "MR")["metadata"].pop("BitsAllocated"))
        assert found == [
            "studies[1].series[0].instances[0].metadata.BitsAllocated: missing: "
            "required for MR images"
        ]

    def test_every_instance(self, valid: Document) -> None:
        found = problems(valid, lambda d: entry(d, "SR")["metadata"].update(SOPClassUID=""))
        assert found == [
            "studies[0].series[1].instances[0].metadata.SOPClassUID: empty: "
            "required for every instance"
        ]

    def test_pixel_spacing_for_ct(self, valid: Document) -> None:
        found = problems(valid, lambda d: entry(d, "CT")["metadata"].pop("PixelSpacing"))
        assert found == [f"{CT0}.metadata.PixelSpacing: missing: required for CT images"]

    def test_pixel_spacing_from_functional_groups(self, valid: Document) -> None:
        """The first frame of an enhanced image keeps it in its shared functional groups."""

        def change(d: Document) -> None:
            md = d["studies"][1]["series"][2]["instances"][0]["metadata"]
            assert "SharedFunctionalGroupsSequence" in md
            md.pop("PixelSpacing", None)

        assert problems(valid, change) == []

    def test_ultrasound_calibration(self, valid: Document) -> None:
        def change(d: Document) -> None:
            for e in d["studies"][1]["series"][1]["instances"]:
                e["metadata"].pop("SequenceOfUltrasoundRegions")

        found = problems(valid, change)
        assert found[0] == (
            f"{US}.instances[0].metadata.PixelSpacing: missing (nor "
            "SequenceOfUltrasoundRegions): required for US images; ultrasound "
            "needs a calibration"
        )
        assert len(found) == 5

    def test_secondary_capture_needs_no_spacing(self, valid: Document) -> None:
        assert "PixelSpacing" not in entry(valid, "OT")["metadata"]

    def test_pet_suv(self, valid: Document) -> None:
        found = problems(valid, lambda d: entry(d, "PT")["metadata"].update(PatientWeight=None))
        assert found == [
            "studies[2].series[0].instances[0].metadata.PatientWeight: empty: "
            "required for PT images; PT needs it for SUV"
        ]

    def test_colour(self, valid: Document) -> None:
        found = problems(valid, lambda d: entry(d, "OT")["metadata"].pop("PlanarConfiguration"))
        assert found == [
            "studies[2].series[1].instances[0].metadata.PlanarConfiguration: "
            "missing: required for colour images (SamplesPerPixel > 1)"
        ]

    def test_structured_report(self, valid: Document) -> None:
        found = problems(valid, lambda d: entry(d, "SR")["metadata"].pop("ContentSequence"))
        assert found == [
            "studies[0].series[1].instances[0].metadata.ContentSequence: missing: "
            "required for every structured report"
        ]

    def test_pdf(self, valid: Document) -> None:
        found = problems(
            valid,
            lambda d: entry(d, "DOC")["metadata"].update(
                EncapsulatedDocument={"BulkDataURI": "https://files.example/x.dcm"}
            ),
        )
        assert found == [
            "studies[0].series[2].instances[0].metadata.EncapsulatedDocument: OHIF "
            "can open the PDF only from a DirectRetrieveURL or InlineBinary, not a "
            "BulkDataURI"
        ]

    @pytest.mark.parametrize(
        ("sop_class", "modality", "attribute", "what"),
        [
            (
                "1.2.840.10008.5.1.4.1.1.66.4",
                "SEG",
                "ReferencedSeriesSequence",
                "every segmentation",
            ),
            (
                "1.2.840.10008.5.1.4.1.1.481.3",
                "RTSTRUCT",
                "ROIContourSequence",
                "every RT structure set",
            ),
        ],
    )
    def test_segmentation_and_rt_structures(
        self, valid: Document, sop_class: str, modality: str, attribute: str, what: str
    ) -> None:
        """An object of that class that has only the common attributes lacks its own."""

        def change(d: Document) -> None:
            md = entry(d, "SR")["metadata"]
            md.update(SOPClassUID=sop_class, Modality=modality)

        found = problems(valid, change)
        assert (
            f"studies[0].series[1].instances[0].metadata.{attribute}: missing: required for {what}"
        ) in found


class TestUids:
    """converter.uids: conformance to PS3.5 9.1 is not required, safety is."""

    @pytest.mark.parametrize(
        "uid",
        [
            "1.2.03.4",  # leading zero
            "1.2.a",  # a letter
            "1." + "2" * 63,  # 65 characters
            "05fa52f0e599f17b8186ff18fcdf2b5570a52206a75c4d03afebf5c475dc8758",  # hex hash
        ],
    )
    def test_nonconformant_but_safe_is_accepted(self, valid: Document, uid: str) -> None:
        assert uid_problem(uid) is None
        found = problems(valid, lambda d: entry(d, "CT")["metadata"].update(SOPInstanceUID=uid))
        assert found == []

    @pytest.mark.parametrize(
        "uid",
        [
            "1..2",
            "../x",
            "1.2/3",
            "1.2\\3",
            "1.2 3",
            "1.2%2e3",
            "1.2?x",
            "1.2#x",
            "1.2&x",
            "1.2\n",
            ".1.2",
            "index",
            "1.2.\u0663",
            "1." + "2" * 127,
        ],
    )
    def test_unsafe(self, valid: Document, uid: str) -> None:
        why = f"{shown(uid)} is {UNSAFE} (a UID here has {RULE})"
        assert uid_problem(uid) == why
        found = problems(valid, lambda d: entry(d, "CT")["metadata"].update(SOPInstanceUID=uid))
        assert f"{CT0}.metadata.SOPInstanceUID: {why}" in found

    def test_zero_components_are_fine(self) -> None:
        assert uid_problem("1.2.0.3") is None
        assert uid_problem("2.25.0") is None

    def test_listed_under_another_series(self, valid: Document) -> None:
        found = problems(
            valid, lambda d: entry(d, "CT")["metadata"].update(SeriesInstanceUID="1.2.3")
        )
        assert found == [
            f"{CT0}.metadata.SeriesInstanceUID: 1.2.3 differs from the "
            "SeriesInstanceUID it is listed under "
            f"({valid['studies'][0]['series'][0]['SeriesInstanceUID']})"
        ]


class TestDuplicates:
    def test_same_instance_twice(self, valid: Document) -> None:
        def change(d: Document) -> None:
            instances = d["studies"][0]["series"][0]["instances"]
            instances.append(copy.deepcopy(instances[0]))

        found = problems(valid, change)
        sop = valid["studies"][0]["series"][0]["instances"][0]["metadata"]["SOPInstanceUID"]
        assert found == [
            f"studies[0].series[0].instances[5]: duplicate: the same SOP instance "
            f"({sop}, no frame parameter) as {CT0}"
        ]

    def test_same_frame_twice(self, valid: Document) -> None:
        def change(d: Document) -> None:
            frames = d["studies"][1]["series"][1]["instances"]
            frames[4]["url"] = frames[3]["url"]

        found = problems(valid, change)
        assert found[0].startswith(f"{US}.instances[4]: duplicate: the same SOP instance (")
        assert found[0].endswith(f", frame 4) as {US}.instances[3]")

    def test_same_study_twice(self, valid: Document) -> None:
        found = problems(valid, lambda d: d["studies"].append(copy.deepcopy(d["studies"][2])))
        uid = valid["studies"][2]["StudyInstanceUID"]
        assert found[0] == f"studies[3]: study {uid} is listed twice (also studies[2])"


class TestUrls:
    @pytest.mark.parametrize(
        ("url", "why"),
        [
            (None, "missing"),
            (
                "https://files.example/CT001.dcm",
                "'https://files.example/CT001.dcm' does not start "
                "with 'dicomweb:' (the scheme OHIF's loader reads whole Part 10 objects with) "
                "or 'wadors:' (WADO-RS frames)",
            ),
            (
                "wadors:https://pacs.example/rs/studies/1/series/2/instances/3",
                "a wadors: URL names one frame: .../instances/<uid>/frames/<n>",
            ),
            (
                "wadors:https://pacs.example/rs/studies/1/series/2/instances/3/frames/0",
                "frame=0: frame numbers are one-based (frame=0 does not load)",
            ),
            (
                "dicomweb:ftp://files.example/CT001.dcm",
                "scheme 'ftp': a viewer fetches only http(s) or relative URLs",
            ),
            (
                "dicomweb:https://user:pw@files.example/CT001.dcm",
                "holds credentials, readable by every viewer",
            ),
            ("dicomweb:https://files.example/CT 001.dcm", "holds unencoded whitespace"),
            ("dicomweb:", "no URL after 'dicomweb:'"),
            ("dicomweb:https:///CT001.dcm", "no host after the http(s) scheme"),
        ],
    )
    def test_url(self, valid: Document, url: str | None, why: str) -> None:
        found = problems(
            valid, lambda d: d["studies"][0]["series"][0]["instances"][0].update(url=url)
        )
        assert found == [f"{CT0}.url: {why}"]

    def test_relative_urls_are_fine(self, valid: Document) -> None:
        assert problems(valid, lambda d: entry(d, "CT").update(url="dicomweb:dicom/a.dcm")) == []

    def test_frame_zero(self, valid: Document) -> None:
        def change(d: Document) -> None:
            for e in d["studies"][1]["series"][1]["instances"]:
                url, _, n = e["url"].rpartition("=")
                e["url"] = f"{url}={int(n) - 1}"

        found = problems(valid, change)
        assert found[0] == (
            f"{US}.instances[0].url: frame=0: frame numbers are one-based (frame=0 does not load)"
        )

    def test_frames_out_of_order(self, valid: Document) -> None:
        def change(d: Document) -> None:
            frames = d["studies"][1]["series"][1]["instances"]
            frames[1]["url"], frames[2]["url"] = frames[2]["url"], frames[1]["url"]

        found = problems(valid, change)
        sop = entry(valid, "US")["metadata"]["SOPInstanceUID"]
        assert found == [
            f"{US}.instances[0]: frames of {sop} in document order are 1, 3, 2, "
            "4, 5: OHIF takes the i-th entry as frame i, so they must be 1..5"
        ]

    def test_frame_count_against_number_of_frames(self, valid: Document) -> None:
        found = problems(valid, lambda d: d["studies"][1]["series"][1]["instances"].pop())
        sop = entry(valid, "US")["metadata"]["SOPInstanceUID"]
        assert found == [
            f"{US}.instances[0].metadata.NumberOfFrames: says 5 frames, but {sop} has 4 entries"
        ]

    def test_multiframe_in_one_entry(self, valid: Document) -> None:
        def change(d: Document) -> None:
            series = d["studies"][1]["series"][1]
            series["instances"] = series["instances"][:1]
            series["instances"][0]["url"] = series["instances"][0]["url"].split("?")[0]

        found = problems(valid, change)
        assert found == [
            f"{US}.instances[0].metadata.NumberOfFrames: 5 frames in one entry "
            "without a frame parameter: OHIF shows frame 1 again and again; give "
            "one entry per frame with frame=1..5"
        ]

    def test_generator_style_frames_without_number_of_frames(self, valid: Document) -> None:
        """OHIF's own generator writes frames 1..N-1 and no NumberOfFrames in the entries."""

        def change(d: Document) -> None:
            series = d["studies"][1]["series"][1]
            series["instances"] = series["instances"][:4]
            for e in series["instances"]:
                e["metadata"].pop("NumberOfFrames")

        found = problems(valid, change)
        sop = entry(valid, "US")["metadata"]["SOPInstanceUID"]
        assert found == [
            f"{US}.instances[0].metadata.NumberOfFrames: missing in the first "
            f"entry of {sop}: OHIF keeps that entry and shows frame 1 only"
        ]


class TestRealOutputs:
    def test_golden_snapshot(self) -> None:
        golden = Path(__file__).parent / "golden" / "fixtures.json"
        assert validate(json.loads(golden.read_bytes())) == []

    @pytest.mark.orthanc
    def test_snapshot_of_the_fixtures(self, orthanc: Orthanc, tmp_path: Path) -> None:
        out = tmp_path / "s.json"
        assert main(["snapshot", orthanc.dicomweb_url, "-o", str(out), "-q"]) == 0
        assert validate(json.loads(out.read_bytes())) == []

    @pytest.mark.orthanc
    def test_snapshot_of_the_real_world_corpus(
        self, realworld_orthanc: Orthanc, tmp_path: Path
    ) -> None:
        out = tmp_path / "s.json"
        assert main(["snapshot", realworld_orthanc.dicomweb_url, "-o", str(out), "-q"]) == 0
        found = problems_by_file(json.loads(out.read_bytes()), sop_names(realworld_files()))
        assert found == SNAPSHOT_REALWORLD_PROBLEMS


# Snapshot of the corpus: what the files lack (as in folder mode) and what Orthanc breaks.
SNAPSHOT_REALWORLD_PROBLEMS = (REALWORLD_PROBLEMS - {("badVR.dcm", "NumberOfFrames")}) | {
    # Orthanc empties multi-valued DS of this ISO 2022 IR 13 file (see test_folder.py)
    ("J2K_pixelrep_mismatch.dcm", "PixelSpacing"),
}


class TestCommand:
    def test_valid_exit_0(
        self, valid: Document, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        path = tmp_path / "ok.json"
        path.write_text(json.dumps(valid))
        assert main(["validate", str(path)]) == 0
        captured = capsys.readouterr()
        assert captured.out == ""
        assert captured.err == f"{path}: valid (3 studies, 8 series, 22 entries)\n"

    def test_problems_on_stdout_with_path_exit_1(
        self, valid: Document, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        good, bad = tmp_path / "good.json.gz", tmp_path / "bad.json"
        good.write_bytes(gzip.compress(json.dumps(valid).encode()))
        broken = copy.deepcopy(valid)
        entry(broken, "CT")["metadata"].pop("Rows")
        bad.write_text(json.dumps(broken))
        assert main(["validate", str(good), str(bad), "-q"]) == 1
        captured = capsys.readouterr()
        assert captured.out == (f"{bad}: {CT0}.metadata.Rows: missing: required for CT images\n")
        assert captured.err == ""

    @pytest.mark.parametrize(
        ("content", "why"),
        [
            (
                b"{not json",
                "not JSON: Expecting property name enclosed in double quotes: line 1 "
                "column 2 (char 1)",
            ),
            (b"\x1f\x8b\x08rubbish", "not a readable gzip file"),
        ],
    )
    def test_not_a_launch_file(
        self, content: bytes, why: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        path = tmp_path / "x.json"
        path.write_bytes(content)
        assert main(["validate", str(path)]) == 1
        assert capsys.readouterr().out.startswith(f"{path}: {why}")

    def test_missing_file(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["validate", str(tmp_path / "nope.json")]) == 1
        assert capsys.readouterr().out == (
            f"{tmp_path / 'nope.json'}: cannot read: No such file or directory\n"
        )

    def test_folder_of_launch_files(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert (
            main(
                [
                    "folder",
                    str(FIXTURE_DICOM),
                    "--url-prefix",
                    "/d/",
                    "-o",
                    f"{tmp_path}/out/",
                    "-q",
                ]
            )
            == 0
        )
        assert main(["validate", f"{tmp_path}/out"]) == 0
        assert capsys.readouterr().err.count(": valid (1 studies") == 3
        (tmp_path / "empty").mkdir()
        assert main(["validate", str(tmp_path / "empty")]) == 1
        assert "holds no launch files" in capsys.readouterr().err

    def test_help_has_examples(self, capsys: pytest.CaptureFixture[str]) -> None:
        for command in ("validate", "folder"):
            assert main([command, "--help"]) == 0
            assert "examples:" in capsys.readouterr().out


class TestOhifTraps:
    """Objects OHIF throws on when it shows them (converter/validate/ohif_traps.py), as validate says."""

    SR = "1.2.840.10008.5.1.4.1.1.88.33"
    NAME: ClassVar[list[dict[str, str]]] = [
        {"CodeValue": "121071", "CodingSchemeDesignator": "DCM", "CodeMeaning": "Finding"}
    ]

    def sr(self, content: list[dict[str, Any]]) -> dict[str, Any]:
        return {"SOPClassUID": self.SR, "ValueType": "CONTAINER", "ContentSequence": content}

    def test_named_items_are_fine(self) -> None:
        item = {"ValueType": "TEXT", "ConceptNameCodeSequence": self.NAME, "TextValue": "x"}
        assert (
            list(traps(self.sr([item, {"ValueType": "CONTAINER", "ContentSequence": [item]}])))
            == []
        )

    def test_unnamed_item_inside_an_unnamed_container(self) -> None:
        by_reference = {"RelationshipType": "SELECTED FROM", "ReferencedContentItemIdentifier": [1]}
        found = list(
            traps(
                self.sr(
                    [
                        {
                            "ValueType": "CONTAINER",
                            "ContentSequence": [
                                {"ValueType": "TEXT", "ConceptNameCodeSequence": self.NAME},
                                by_reference,
                            ],
                        }
                    ]
                )
            )
        )
        assert [where for where, _ in found] == ["ContentSequence[0].ContentSequence[1]"]
        assert "OHIF's SR viewport throws" in found[0][1]

    def test_only_reports(self) -> None:
        content = [{"ValueType": "TEXT"}]
        assert (
            list(traps({"SOPClassUID": "1.2.840.10008.5.1.4.1.1.2", "ContentSequence": content}))
            == []
        )
        assert [w for w, _ in traps(self.sr(content))] == ["ContentSequence[0]"]

    def test_waveform(self) -> None:
        found = list(traps({"SOPClassUID": "1.2.840.10008.5.1.4.1.1.9.1.1"}))
        assert [w for w, _ in found] == ["WaveformSequence"]

    def test_structure_set_without_contour_images(self) -> None:
        rt = "1.2.840.10008.5.1.4.1.1.481.3"
        series: dict[str, Any] = {"SeriesInstanceUID": "1.2.3"}
        frames = [{"RTReferencedStudySequence": [{"RTReferencedSeriesSequence": [series]}]}]
        md = {"SOPClassUID": rt, "ReferencedFrameOfReferenceSequence": frames}
        assert [w for w, _ in traps(md)] == [
            "ReferencedFrameOfReferenceSequence[0].RTReferencedStudySequence[0]."
            "RTReferencedSeriesSequence[0].ContourImageSequence"
        ]
        series["ContourImageSequence"] = []
        assert list(traps(md)) == []
        del series["ContourImageSequence"]
        assert list(traps({**md, "ReferencedSeriesSequence": [series]})) == []  # not derived

    def test_validate_names_the_instance(self, valid: Document) -> None:
        md = entry(valid, "SR")["metadata"]
        md["ContentSequence"] = [{"ValueType": "COMPOSITE", "RelationshipType": "CONTAINS"}]
        [problem] = validate(valid)
        assert problem.path.endswith(".metadata.ContentSequence[0]")
        assert problem.message.startswith(
            f"instance {md['SOPInstanceUID']} of series "
            f"{md['SeriesInstanceUID']} in study {md['StudyInstanceUID']}: "
        )
        assert problem.message.endswith("open such a study on its own (serve's per-study URLs)")
