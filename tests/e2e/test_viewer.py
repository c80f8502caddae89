"""Each fixture kind, opened in the real OHIF Viewer (each proven version), shows what it holds.

The oracle is pydicom reading the fixture files (fixtures/dicom); what is
checked is what the viewer page holds and draws. One browser page per test,
opened with the URL ``serve`` printed (plus ``initialSeriesInstanceUID``).
"""

from __future__ import annotations

import io
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from PIL import Image

from converter.cli import main
from fixtures.orthanc import Orthanc
from tests.conftest import FIXTURE_DICOM
from tests.e2e.conftest import Served, serve_process
from tests.e2e.ohif import LOAD_TIMEOUT_MS, Viewer

pytestmark = [pytest.mark.e2e, pytest.mark.orthanc]


def read(relative: str) -> pydicom.Dataset:
    return pydicom.dcmread(FIXTURE_DICOM / relative)


CT = "study_a/ct/CT005.dcm"  # OHIF stacks the CT head first: z = 10 is shown first
SR = "study_a/sr/SR001.dcm"
PDF = "study_a/doc/PDF001.dcm"
US = "study_b/us/US_MF001.dcm"
ECT = "study_b/enhanced_ct/ECT_MF001.dcm"
PT = "study_c/pt/PT001.dcm"
RGB = ("study_c/sc/RGB_PC0.dcm", "study_c/sc/RGB_PC1.dcm")


def voi_window(voi: dict[str, float]) -> tuple[float, float]:
    """(centre, width) of a cornerstone voiRange (PS3.3 C.11.2.1.2.1, linear)."""
    return (voi["lower"] + voi["upper"]) / 2, voi["upper"] - voi["lower"]


class TestCt:
    def test_ct_renders_with_the_window_from_the_file(self, served: Served, viewer: Viewer) -> None:
        ds = read(CT)
        viewer.open(served.url(ds.StudyInstanceUID))
        shown = viewer.show(0)
        assert shown["count"] == 5
        centre, width = voi_window(shown["voi"])
        assert abs(centre - float(ds.WindowCenter)) <= 1 and abs(width - float(ds.WindowWidth)) <= 1
        overlay = " ".join(viewer.page.locator("[data-cy^='viewport-overlay']").all_inner_texts())
        assert re.search(rf"W:\s*{ds.WindowWidth}\s+L:\s*{ds.WindowCenter}\b", overlay), overlay
        # Pixels through that window: the disc (HU 40) is mid-grey, air black, bone white.
        hu = ds.pixel_array.astype(float) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        low = float(ds.WindowCenter) - float(ds.WindowWidth) / 2
        for column, row in ((32, 32), (62, 62), (4, 4)):
            want = np.clip((hu[row, column] - low) / float(ds.WindowWidth), 0, 1) * 255
            got = viewer.canvas_at(column, row)
            assert abs(got[0] - want) <= 6, (column, row, got, want)
        assert viewer.errors == []


class TestMultiFrame:
    def test_us_cine_shows_every_frame_in_order(self, served: Served, viewer: Viewer) -> None:
        ds = read(US)
        frames, count = ds.pixel_array, int(ds.NumberOfFrames)
        viewer.open(served.url(ds.StudyInstanceUID, ds.SeriesInstanceUID))
        canvas_means = []
        for index in range(count):
            shown = viewer.show(index)
            assert shown["count"] == count, "images in the viewport's stack"
            assert shown["index"] == index
            assert shown["pixelMean"] == pytest.approx(float(frames[index].mean()))
            canvas_means.append(shown["canvasMean"])
        assert canvas_means == sorted(canvas_means) and len(set(canvas_means)) == len(canvas_means)
        assert viewer.errors == []

    def test_enhanced_ct_frames_are_the_right_frames_in_the_right_place(
        self, served: Served, viewer: Viewer
    ) -> None:
        ds = read(ECT)
        frames, count = ds.pixel_array, int(ds.NumberOfFrames)
        shared = ds.SharedFunctionalGroupsSequence[0]
        transform = shared.PixelValueTransformationSequence[0]
        window = shared.FrameVOILUTSequence[0]
        viewer.open(served.url(ds.StudyInstanceUID, ds.SeriesInstanceUID))
        for index, item in enumerate(ds.PerFrameFunctionalGroupsSequence):
            shown = viewer.show(index)
            assert shown["count"] == count, "images in the viewport's stack"
            want_position = [float(v) for v in item.PlanePositionSequence[0].ImagePositionPatient]
            assert shown["position"] == pytest.approx(want_position)
            want_mean = float(frames[index].mean()) * float(transform.RescaleSlope) + float(
                transform.RescaleIntercept
            )
            assert shown["pixelMean"] == pytest.approx(want_mean)
            centre, width = voi_window(shown["voi"])
            assert abs(centre - float(window.WindowCenter)) <= 1
            assert abs(width - float(window.WindowWidth)) <= 1
        ect = [d for d in viewer.display_sets() if d["series"] == ds.SeriesInstanceUID]
        assert ect[0]["frames"] == count and ect[0]["reconstructable"] is True
        assert viewer.errors == []


def _measured_values(items: Any, concept: str) -> list[tuple[float, str]]:
    """(value, unit code) of every NUM content item named ``concept`` in an SR tree."""
    found = []
    for item in items:
        name = (
            item.ConceptNameCodeSequence[0].CodeMeaning if "ConceptNameCodeSequence" in item else ""
        )
        if item.ValueType == "NUM" and name == concept:
            value = item.MeasuredValueSequence[0]
            found.append(
                (float(value.NumericValue), str(value.MeasurementUnitsCodeSequence[0].CodeValue))
            )
        found += _measured_values(item.get("ContentSequence", []), concept)
    return found


class TestStructuredReport:
    def test_sr_loads_and_its_measurement_is_listed(self, served: Served, viewer: Viewer) -> None:
        ds = read(SR)
        [(value, unit)] = _measured_values(ds.ContentSequence, "Length")
        text = f"{value:g} {unit}"
        viewer.open(served.url(ds.StudyInstanceUID, ds.SeriesInstanceUID))
        sr = next(d for d in viewer.display_sets() if d["series"] == ds.SeriesInstanceUID)
        assert sr["isLoaded"] and sr["isRehydratable"]
        assert [m["tracking"] for m in sr["measurements"]] == ["Cornerstone3DTools@^0.1.0:Length"]
        viewer.page.get_by_role("button", name="Yes").click()  # track the report's measurements
        viewer.page.wait_for_function(
            "() => window.services.measurementService.getMeasurements().length > 0",
            timeout=LOAD_TIMEOUT_MS,
        )
        measurements = viewer.measurements()
        assert [(m["tool"], m["primary"]) for m in measurements] == [("Length", [text])]
        viewer.page.locator("[data-cy='trackedMeasurements-btn']").click()
        row = viewer.page.locator("[data-cy='measurement-table-row-0']")
        row.wait_for(timeout=LOAD_TIMEOUT_MS)
        assert text in row.inner_text()
        assert viewer.errors == []


class TestPatientName:
    def test_non_ascii_name_is_shown_intact(self, served: Served, viewer: Viewer) -> None:
        ds = read(CT)
        alphabetic, ideographic, phonetic = str(ds.PatientName).split("=")
        viewer.open(served.url(ds.StudyInstanceUID))
        viewer.page.get_by_text("Patient", exact=True).click()
        shown = viewer.page.locator("body").inner_text()
        # OHIF writes "Family, Given" for the first group and "Family Given" for the others.
        family, given = alphabetic.split("^")
        groups = [f"{family}, {given}", ideographic.replace("^", " "), phonetic.replace("^", " ")]
        assert "=".join(groups) in shown, shown[:400]
        assert "\ufffd" not in shown
        assert viewer.errors == []


class TestPdf:
    def test_pdf_opens(self, served: Served, viewer: Viewer) -> None:
        ds = read(PDF)
        document = bytes(ds.EncapsulatedDocument)[: int(ds.EncapsulatedDocumentLength)]
        viewer.page.goto(served.url(ds.StudyInstanceUID, ds.SeriesInstanceUID))
        pdf = viewer.page.locator("object[type='application/pdf']")
        pdf.wait_for(timeout=LOAD_TIMEOUT_MS)
        source = pdf.get_attribute("data") or ""
        assert source.startswith(served.origin + "/proxy/"), source
        fetched = viewer.page.evaluate(
            """async (url) => { const r = await fetch(url);
                 return [r.status, r.headers.get('content-type'),
                         Array.from(new Uint8Array(await r.arrayBuffer()))]; }""",
            source,
        )
        assert fetched[:2] == [200, "application/pdf"]
        assert bytes(fetched[2]) == document
        # Chromium's PDF viewer paints the (white) page inside the object.
        viewer.page.wait_for_function(
            "() => document.querySelector(\"object[type='application/pdf']\").contentDocument",
            timeout=LOAD_TIMEOUT_MS,
        )
        white = 0.0
        for _ in range(40):
            picture = np.asarray(Image.open(io.BytesIO(pdf.screenshot())).convert("L"))
            white = float((picture > 245).mean())
            if white > 0.05:
                break
            viewer.page.wait_for_timeout(250)
        assert white > 0.05, f"no PDF page painted ({white:.1%} white)"
        assert viewer.errors == []


def _suv_bw_factor(ds: pydicom.Dataset) -> float:
    """SUVbw per Bq/ml (PS3.3 C.8.9.1, decay corrected from START to the series time)."""
    drug = ds.RadiopharmaceuticalInformationSequence[0]
    start = datetime.strptime(str(drug.RadiopharmaceuticalStartDateTime)[:14], "%Y%m%d%H%M%S")
    scan = datetime.strptime(f"{ds.SeriesDate}{ds.SeriesTime}"[:14], "%Y%m%d%H%M%S")
    decayed = float(drug.RadionuclideTotalDose) * 2 ** (
        -(scan - start).total_seconds() / float(drug.RadionuclideHalfLife)
    )
    return float(ds.PatientWeight) * 1000 / decayed


class TestPetAndColour:
    def test_pt_renders_in_suv(self, served: Served, viewer: Viewer) -> None:
        ds = read(PT)
        viewer.open(served.url(ds.StudyInstanceUID, ds.SeriesInstanceUID))
        shown = viewer.show(0)
        factor = _suv_bw_factor(ds)
        assert shown["scaling"]["suvbw"] == pytest.approx(factor, rel=1e-6)
        activity = ds.pixel_array.astype(float) * float(ds.RescaleSlope)
        assert shown["pixelMean"] == pytest.approx(float(activity.mean()) * factor, rel=1e-6)
        # Drawn through the viewport's SUV window: the cone's peak and the corner.
        low, high = shown["voi"]["lower"], shown["voi"]["upper"]
        for column, row in ((16, 16), (0, 0)):
            suv = activity[row, column] * factor
            want = np.clip((suv - low) / (high - low), 0, 1) * 255
            got = viewer.canvas_at(column, row)
            assert abs(got[0] - want) <= 6, (column, row, got, want, shown["voi"])
        assert viewer.canvas_at(16, 16)[0] > 100 > viewer.canvas_at(0, 0)[0]
        assert viewer.errors == []

    def test_rgb_renders_in_both_planar_configurations(
        self, served: Served, viewer: Viewer
    ) -> None:
        files = [read(name) for name in RGB]
        assert {int(ds.PlanarConfiguration) for ds in files} == {0, 1}
        viewer.open(served.url(files[0].StudyInstanceUID, files[0].SeriesInstanceUID))
        for index, ds in enumerate(sorted(files, key=lambda d: int(d.InstanceNumber))):
            viewer.show(index)
            rgb = ds.pixel_array
            for column, row in ((0, 0), (31, 0), (0, 31), (31, 31), (16, 8)):
                got = viewer.canvas_at(column, row)[:3]
                want = [int(v) for v in rgb[row, column]]
                assert max(abs(g - w) for g, w in zip(got, want, strict=True)) <= 8, (
                    ds.PlanarConfiguration,
                    column,
                    row,
                    got,
                    want,
                )
        assert viewer.errors == []


class TestLiveSource:
    def test_live_dicomweb_source_shows_the_study_through_the_proxy(
        self, served: Served, viewer: Viewer
    ) -> None:
        ds = read(CT)
        viewer.open(f"{served.origin}/viewer/dicomweb?StudyInstanceUIDs={ds.StudyInstanceUID}")
        shown = viewer.show(0)
        assert shown["imageId"].startswith(f"wadors:{served.origin}/proxy/dicom-web/studies/")
        assert shown["count"] == 5
        assert shown["pixelMean"] == pytest.approx(
            float(ds.pixel_array.mean()) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        )
        assert viewer.errors == []


class TestGzipServed:
    def test_gzip_launch_file_arrives_encoded_and_shows_the_same(
        self,
        orthanc: Orthanc,
        ohif_version: str,
        ohif_dist: Path,
        viewer: Viewer,
        tmp_path_factory: pytest.TempPathFactory,
    ) -> None:
        """``snapshot --gzip -o DIR/``: serve sends the ``.json.gz`` file with
        ``Content-Encoding: gzip``, the browser decodes it, the CT shows as from ``.json``."""
        folder = tmp_path_factory.mktemp("gzip-launch")
        assert main(["snapshot", orthanc.dicomweb_url, "--gzip", "-o", f"{folder}/", "-q"]) == 0
        ds = read(CT)
        encodings: list[str | None] = []
        viewer.page.on(
            "response",
            lambda r: "/launch/" in r.url and encodings.append(r.headers.get("content-encoding")),
        )
        with serve_process(folder, orthanc.url, ohif_version) as served:
            url = served.url(ds.StudyInstanceUID)
            assert ".json.gz" in url
            viewer.open(url)
            shown = viewer.show(0)
        assert encodings == ["gzip"]
        assert shown["count"] == 5
        assert shown["position"] == [float(v) for v in ds.ImagePositionPatient]
        assert shown["pixelMean"] == pytest.approx(
            float(ds.pixel_array.mean()) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        )
        assert viewer.errors == []
