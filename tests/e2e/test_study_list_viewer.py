"""The study list page in Debian's chromium: from ``serve`` over a snapshot folder, and from disk.

One page load of ``serve``'s ``/`` checks the listing, the search, sorting (by
mouse and keyboard) and the link that opens a study in OHIF; only the last step
depends on the viewer, so this runs with one OHIF version (the pinned one when it
is among ``DICOMWEB2OHIF_OHIF_VERSIONS``), not once per version. The hostile-name
page is the one ``folder -o DIR/`` wrote, opened as a file (no viewer at all), and a
page of 5,000 studies shows that only the rows near the window are drawn.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pydicom
import pytest
from playwright.sync_api import Browser, Page

from converter.cli import main
from converter.output.study_list import write_study_list
from converter.output.targets import LocalTarget
from converter.serve.viewer import OHIF_VERSION, ensure_viewer
from fixtures.orthanc import Orthanc
from tests.conftest import FIXTURE_DICOM
from tests.e2e.conftest import OHIF_VERSIONS, Served, serve_process
from tests.e2e.ohif import Viewer

pytestmark = pytest.mark.e2e

VERSION = OHIF_VERSION if OHIF_VERSION in OHIF_VERSIONS else OHIF_VERSIONS[0]

# What the table shows: each study row's cells (the last one is the link), in order.
JS_ROWS = """() => [...document.querySelectorAll('#rows tr.study')].map(tr => ({
  uid: tr.dataset.uid,
  cells: [...tr.cells].map(td => td.textContent),
}))"""


@pytest.fixture(scope="module")
def snapshot_folder(orthanc: Orthanc, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("study-list")
    assert main(["snapshot", orthanc.dicomweb_url, "-o", f"{out}/", "-q"]) == 0
    return out


@pytest.fixture(scope="module")
def served_list(orthanc: Orthanc, snapshot_folder: Path) -> Iterator[Served]:
    ensure_viewer(version=VERSION)
    with serve_process(snapshot_folder, orthanc.url, VERSION) as server:
        yield server


def rows(page: Page) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = page.evaluate(JS_ROWS)
    return result


@pytest.mark.orthanc
def test_list_search_sort_and_open_in_ohif(
    served_list: Served, snapshot_folder: Path, browser: Browser
) -> None:
    index = json.loads((snapshot_folder / "index.json").read_text(encoding="utf-8"))["studies"]
    by_uid = {e["StudyInstanceUID"]: e for e in index}
    viewer = Viewer.new(browser)
    page = viewer.page
    try:
        page.goto(served_list.origin + "/")
        page.wait_for_selector("#rows tr.study")
        listed = rows(page)
        assert sorted(r["uid"] for r in listed) == sorted(by_uid)  # every study
        assert page.text_content("#count") == "3 studies"
        names = {r["uid"]: r["cells"][0] for r in listed}
        assert names[next(u for u, e in by_uid.items() if e["PatientName"] == "Doe^Jane")] == (
            "Doe, Jane"
        )
        for r in listed:
            entry = by_uid[r["uid"]]
            assert r["cells"][1] == entry["PatientID"]
            assert r["cells"][5] == entry["AccessionNumber"]
            assert r["cells"][7] == str(entry["NumInstances"])

        # typing a patient's name leaves only their studies (as one types: key by key)
        page.click("#q")
        page.keyboard.type("jane do", delay=20)
        only = rows(page)
        assert [by_uid[r["uid"]]["PatientName"] for r in only] == ["Doe^Jane"]
        assert page.text_content("#count") == "1 of 3 studies"
        page.fill("#q", "")
        assert len(rows(page)) == 3

        # sorting by date: ascending, then descending; aria-sort says which
        date = page.locator("th button", has_text="Date")
        date.click()
        ascending = [by_uid[r["uid"]]["StudyDate"] for r in rows(page)]
        assert ascending == sorted(ascending) and len(set(ascending)) == 3
        assert date.locator("xpath=..").get_attribute("aria-sort") == "ascending"
        date.press("Enter")  # the keyboard does the same
        assert [by_uid[r["uid"]]["StudyDate"] for r in rows(page)] == ascending[::-1]
        assert date.locator("xpath=..").get_attribute("aria-sort") == "descending"
        assert date.text_content() == "Date\u25bc"  # readable without colour
        assert page.locator("th[aria-sort]").count() == 1

        # a date range and a modality filter
        page.fill("#from", "2020-02-01")
        assert {by_uid[r["uid"]]["StudyDate"] for r in rows(page)} == {"20200202", "20200303"}
        page.select_option("#modality", "PT")
        assert [by_uid[r["uid"]]["PatientName"] for r in rows(page)] == ["Smith^John"]
        page.fill("#from", "")
        page.select_option("#modality", "")
        assert viewer.errors == []  # the policy blocked nothing of the page's own

        # opening a study: OHIF's dicomjson route on the launch file served beside the page
        page.fill("#q", "yamada")
        (target,) = rows(page)
        with page.expect_navigation(url="**/viewer/dicomjson?**"):
            page.click("#rows tr.study a")
        query = parse_qs(urlsplit(page.url).query)
        assert query["url"] == [f"{served_list.origin}/launch/{by_uid[target['uid']]['file']}"]
        assert query["StudyInstanceUIDs"] == [target["uid"]]
        viewer.wait_for_image()
    finally:
        viewer.close()


def test_hostile_names_are_shown_as_text(browser: Browser, tmp_path: Path) -> None:
    name = "<img src=x onerror=alert(1)>"
    description = "</script><script>window.pwned=1</script><b onmouseover=alert(2)>"
    ds = pydicom.dcmread(FIXTURE_DICOM / "study_a" / "ct" / "CT001.dcm")
    ds.PatientName = name
    ds.StudyDescription = description
    (tmp_path / "in").mkdir()
    ds.save_as(tmp_path / "in" / "hostile.dcm")
    out = tmp_path / "out"
    argv = ["folder", str(tmp_path / "in"), "--url-prefix", "../in/", "-o", f"{out}/", "-q"]
    assert main(argv) == 0
    viewer = Viewer.new(browser)
    page = viewer.page
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    try:
        page.goto((out / "index.html").as_uri())  # from disk: readable without a server
        page.wait_for_selector("#rows tr.study")
        (shown,) = rows(page)
        assert shown["cells"][0] == name and shown["cells"][3] == description
        page.hover("#rows tr.study td:nth-child(4)")
        page.wait_for_timeout(200)
        assert page.evaluate("() => document.querySelectorAll('img, b').length") == 0
        assert page.evaluate("() => window.pwned") is None
        assert dialogs == []
        assert "file://" in (page.text_content("#note") or "")
        assert viewer.errors == []
    finally:
        viewer.close()


def test_a_long_list_draws_only_the_rows_near_the_window(browser: Browser, tmp_path: Path) -> None:
    count = 5000
    entries = [
        {
            "StudyInstanceUID": f"1.2.3.{i}",
            "PatientName": f"Patient^{i:05d}",
            "StudyDate": f"2020{1 + i % 12:02d}{1 + i % 28:02d}",
            "NumInstances": i + 1,
            "file": f"1.2.3.{i}.json",
        }
        for i in range(count)
    ]
    write_study_list(LocalTarget(tmp_path), entries)
    viewer = Viewer.new(browser)
    page = viewer.page
    try:
        page.goto((tmp_path / "index.html").as_uri())
        page.wait_for_selector("#rows tr.study")
        assert page.text_content("#count") == "5,000 studies"
        assert page.get_attribute("#studies", "aria-rowcount") == str(count + 1)
        assert 10 < len(rows(page)) < 200  # not 5,000 rows in the document
        page.evaluate("() => window.scrollTo(0, document.documentElement.scrollHeight)")
        page.wait_for_function(
            f"() => [...document.querySelectorAll('#rows tr.study')].some("
            f"tr => tr.getAttribute('aria-rowindex') === '{count + 1}')"
        )
        assert 10 < len(rows(page)) < 200
        page.locator("th button", has_text="Instances").click()
        page.locator("th button", has_text="Instances").click()  # descending: the largest first
        page.evaluate("() => window.scrollTo(0, 0)")
        page.wait_for_function(
            "() => document.querySelector('#rows tr.study').dataset.uid === '1.2.3.4999'"
        )
        assert viewer.errors == []
    finally:
        viewer.close()
