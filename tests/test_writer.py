"""The launch-file model: URLs, ordering, multi-frame entries, atomic files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from converter.errors import OutputError, UsageError
from converter.launch.encoding import dumps, launch_file
from converter.launch.model import build_study, frame_entries
from converter.launch.urls import TemplateUrls, WadoUriUrls, default_wado_uri_root, frame_url
from converter.output.atomic import write_atomic

URLS = WadoUriUrls("http://pacs/wado")


def inst(series: str, number: Any, sop: str, **extra: Any) -> dict[str, Any]:
    return {
        "StudyInstanceUID": "1.2.3",
        "SeriesInstanceUID": series,
        "SOPInstanceUID": sop,
        "InstanceNumber": number,
        "Modality": extra.pop("Modality", "CT"),
        **extra,
    }


class TestUrls:
    @pytest.mark.parametrize(
        ("root", "expected"),
        [
            ("http://localhost:8042/dicom-web", "http://localhost:8042/wado"),
            (
                "https://pacs/dcm4chee-arc/aets/DCM4CHEE/rs",
                "https://pacs/dcm4chee-arc/aets/DCM4CHEE/wado",
            ),
            ("http://u:secret@host:8042/dicom-web/", "http://host:8042/wado"),
        ],
    )
    def test_default_wado_uri_root(self, root: str, expected: str) -> None:
        assert default_wado_uri_root(root) == expected

    def test_wado_uri_has_literal_slash_in_content_type(self) -> None:
        assert URLS.instance("1.2", "3.4", "5.6") == (
            "http://pacs/wado?requestType=WADO&studyUID=1.2&seriesUID=3.4&objectUID=5.6"
            "&contentType=application/dicom"
        )

    def test_wado_uri_root_with_credentials_refused(self) -> None:
        with pytest.raises(UsageError, match="must not contain credentials"):
            WadoUriUrls("http://user:pw@pacs/wado")

    def test_template(self) -> None:
        urls = TemplateUrls("https://b/{study}/{series}/{instance}.dcm")
        assert urls.instance("1.2", "3", "4") == "https://b/1.2/3/4.dcm"
        assert urls.document("1.2", "3", "4") is None

    @pytest.mark.parametrize("template", ["https://b/{study}", "https://b/{patient}/{instance}"])
    def test_bad_template(self, template: str) -> None:
        with pytest.raises(UsageError, match="url_template"):
            TemplateUrls(template)

    def test_frame_url_one_based_parameter(self) -> None:
        assert frame_url("http://h/wado?a=1", 1) == "http://h/wado?a=1&frame=1"
        assert frame_url("https://b/x.dcm", 3) == "https://b/x.dcm?frame=3"


class TestOrderAndSummary:
    def test_series_and_instances_sorted_and_counted(self) -> None:
        series_b = [inst("1.9", 2, "9.2"), inst("1.9", 1, "9.1")]
        series_a = [inst("1.8", 1, "8.1", Modality="SR", SeriesNumber=5)]
        for md in series_b:
            md["SeriesNumber"] = 2
        study = build_study([series_a, series_b], URLS)
        doc = launch_file([study])["studies"][0]
        assert [s["SeriesInstanceUID"] for s in doc["series"]] == ["1.9", "1.8"]
        assert [i["metadata"]["SOPInstanceUID"] for i in doc["series"][0]["instances"]] == [
            "9.1",
            "9.2",
        ]
        assert doc["NumInstances"] == 3
        assert doc["Modalities"] == "CT/SR"

    def test_missing_numbers_sort_last_then_by_uid(self) -> None:
        study = build_study([[inst("1", None, "b"), inst("1", None, "a"), inst("1", 7, "z")]], URLS)
        assert [i.metadata["SOPInstanceUID"] for i in study.series[0].instances] == ["z", "a", "b"]

    def test_study_fields_have_docs_example_types_when_absent(self) -> None:
        study = build_study([[inst("1", 1, "a")]], URLS)
        assert study.fields["PatientName"] == ""
        assert study.fields["StudyDate"] == ""
        assert study.series[0].fields["SeriesNumber"] is None
        assert study.series[0].fields["SliceThickness"] is None

    def test_pdf_gets_direct_retrieve_url(self) -> None:
        md = inst("1", 1, "a", EncapsulatedDocument={"BulkDataURI": "http://internal/bulk"})
        entry = build_study([[md]], URLS).series[0].instances[0]
        assert entry.metadata["EncapsulatedDocument"] == {
            "DirectRetrieveURL": "http://pacs/wado?requestType=WADO&studyUID=1.2.3&seriesUID=1"
            "&objectUID=a&contentType=application/pdf"
        }


def enhanced(frames: int) -> dict[str, Any]:
    return inst(
        "1",
        1,
        "mf",
        NumberOfFrames=frames,
        SharedFunctionalGroupsSequence=[
            {
                "PixelMeasuresSequence": [{"PixelSpacing": [0.5, 0.5], "SliceThickness": 5}],
                "PlaneOrientationSequence": [{"ImageOrientationPatient": [1, 0, 0, 0, 1, 0]}],
            }
        ],
        PerFrameFunctionalGroupsSequence=[
            {
                "PlanePositionSequence": [{"ImagePositionPatient": [0, 0, 5 * k]}],
                "FrameContentSequence": [{"InStackPositionNumber": k + 1}],
            }
            for k in range(frames)
        ],
    )


class TestMultiFrame:
    def test_single_frame_is_one_entry_with_plain_url(self) -> None:
        entries = frame_entries(inst("1", 1, "a", NumberOfFrames=1), "dicomweb:http://h/w?x=1")
        assert [e.url for e in entries] == ["dicomweb:http://h/w?x=1"]

    def test_one_entry_per_frame_one_based(self) -> None:
        entries = frame_entries(enhanced(4), "dicomweb:http://h/w?x=1")
        assert [e.url[-8:] for e in entries] == ["&frame=1", "&frame=2", "&frame=3", "&frame=4"]

    def test_every_frame_entry_keeps_number_of_frames(self) -> None:
        # OHIF 3.13.2 makes NumberOfFrames images of the first entry of a SOP
        # instance; without it the viewer shows frame 1 only (tests/e2e).
        entries = frame_entries(enhanced(4), "dicomweb:u?")
        assert [e.metadata["NumberOfFrames"] for e in entries] == [4, 4, 4, 4]

    def test_first_entry_carries_the_functional_groups_once(self) -> None:
        # OHIF derives every frame from the first entry (combineFrameInstance),
        # where a top-level ImagePositionPatient would win over the per-frame one.
        first, *rest = frame_entries(enhanced(4), "dicomweb:u?")
        assert len(first.metadata["PerFrameFunctionalGroupsSequence"]) == 4
        assert len(first.metadata["SharedFunctionalGroupsSequence"]) == 1
        assert "ImagePositionPatient" not in first.metadata
        assert "InStackPositionNumber" not in first.metadata
        for entry in rest:
            assert "PerFrameFunctionalGroupsSequence" not in entry.metadata
            assert "SharedFunctionalGroupsSequence" not in entry.metadata

    def test_later_frames_carry_their_own_geometry(self) -> None:
        entries = frame_entries(enhanced(4), "dicomweb:u?")
        assert [e.metadata.get("ImagePositionPatient") for e in entries] == [
            None,
            [0, 0, 5],
            [0, 0, 10],
            [0, 0, 15],
        ]
        assert [e.metadata.get("InStackPositionNumber") for e in entries[1:]] == [2, 3, 4]
        # shared attributes are on every entry, the first included
        assert all(e.metadata["PixelSpacing"] == [0.5, 0.5] for e in entries)
        assert all(e.metadata["ImageOrientationPatient"] == [1, 0, 0, 0, 1, 0] for e in entries)
        assert all(e.metadata["SliceThickness"] == 5 for e in entries)

    def test_classic_multiframe_without_groups(self) -> None:
        us = inst("1", 1, "us", NumberOfFrames=3, Modality="US", FrameTime=100)
        entries = frame_entries(us, "dicomweb:http://h/w?x=1")
        assert [e.url[-8:] for e in entries] == ["&frame=1", "&frame=2", "&frame=3"]
        assert all(e.metadata == us for e in entries)

    def test_size_grows_linearly_with_frames(self) -> None:
        def size(n: int) -> int:
            return len(dumps([e.to_json() for e in frame_entries(enhanced(n), "dicomweb:u")]))

        per_frame_small = size(100) / 100
        per_frame_large = size(1000) / 1000
        assert per_frame_large < per_frame_small * 1.1

    def test_segmentation_stays_whole(self) -> None:
        seg = enhanced(4)
        seg["SOPClassUID"] = "1.2.840.10008.5.1.4.1.1.66.4"
        entries = frame_entries(seg, "dicomweb:u")
        assert len(entries) == 1
        assert len(entries[0].metadata["PerFrameFunctionalGroupsSequence"]) == 4


class TestAtomicWrite:
    def test_writes_and_replaces(self, tmp_path: Path) -> None:
        target = tmp_path / "out.json"
        write_atomic(target, b"one")
        write_atomic(target, b"two")
        assert target.read_bytes() == b"two"
        assert [p.name for p in tmp_path.iterdir()] == ["out.json"]

    def test_missing_folder_is_a_clear_error(self, tmp_path: Path) -> None:
        with pytest.raises(OutputError, match="does not exist"):
            write_atomic(tmp_path / "nope" / "out.json", b"x")

    def test_killed_writer_leaves_old_file_whole(self, tmp_path: Path) -> None:
        """A process killed in the middle of writing never leaves a truncated file."""
        target = tmp_path / "launch.json"
        target.write_text(json.dumps({"studies": []}))
        script = textwrap.dedent(f"""
            import sys, time
            from pathlib import Path
            import converter.output.atomic as w
            real = w.os.fdopen
            def slow_fdopen(fd, mode):
                fh = real(fd, mode)
                class F:
                    def __enter__(s): return s
                    def __exit__(s, *a): fh.close()
                    def write(s, data):
                        fh.write(data[:10]); fh.flush()
                        print("half", flush=True); time.sleep(60)
                    def flush(s): fh.flush()
                    def fileno(s): return fh.fileno()
                return F()
            w.os.fdopen = slow_fdopen
            w.write_atomic(Path({str(target)!r}), b'{{"studies": [1, 2, 3]}}' * 1000)
        """)
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "half"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert json.loads(target.read_text()) == {"studies": []}
