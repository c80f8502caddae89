"""Whole-study metadata requests, snapshot's fast path, against real Orthanc servers.

A run of many studies asks for each study's metadata in one request. These tests
prove it writes byte for byte what series-by-series requests write (on the
fixtures and on the real-world corpus), and that every answer it cannot trust
sends it back to the series-by-series path: a server building study metadata
from its index (Orthanc ``StudiesMetadata: MainDicomTags``), an answer short of
the searched count, a server without study-level metadata, a study listed twice.
Requests are watched through the fault proxy (tests/faultproxy.py).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from converter.launch.urls import WadoUriUrls, default_wado_uri_root
from converter.output.store import SingleFile
from converter.snapshot.report import SnapshotReport
from converter.snapshot.run import snapshot
from converter.snapshot.selection import Selection, plan
from converter.source.client import DicomWebSource
from fixtures.orthanc import Orthanc
from tests.faultproxy import Fault, FaultProxy, Rule, fault_proxy

pytestmark = pytest.mark.orthanc

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "dicom"
STUDY_LEVEL = re.compile(r"/studies/[^/]+/metadata$")
SERIES_SEARCH = re.compile(r"/studies/[^/]+/series$")


def run(url: str, by_study: bool) -> tuple[SnapshotReport, bytes, list[str]]:
    """Snapshot every study of ``url`` into one launch file: (report, file, warnings)."""
    warnings: list[str] = []
    source = DicomWebSource(url, warn=warnings.append)
    planned = plan(source, Selection())
    written: list[bytes] = []
    store = SingleFile([s.uid for s in planned], sink=written.append)
    report = snapshot(
        source,
        Selection(),
        WadoUriUrls(default_wado_uri_root(source.root)),
        store,
        studies=planned,
        by_study=by_study,
        warn=warnings.append,
    )
    return report, b"".join(written), sorted(warnings)


def requests_of(proxy: FaultProxy, pattern: re.Pattern[str]) -> int:
    return sum(1 for s in proxy.served if pattern.search(s.path.split("?")[0]))


def both_ways(upstream: str, **proxy_options: Any) -> tuple[Any, Any, FaultProxy]:
    """(series-by-series run, whole-study run, the proxy of the whole-study run)."""
    with fault_proxy(upstream) as plain:
        per_series = run(plain.dicomweb(), by_study=False)
    assert requests_of(plain, STUDY_LEVEL) == 0
    with fault_proxy(upstream, **proxy_options) as proxy:
        whole = run(proxy.dicomweb(), by_study=True)
    # The two proxies listen on different ports, which the launch files name.
    per_series_file = per_series[1].replace(plain.url.encode(), proxy.url.encode())
    return (per_series[0], per_series_file, per_series[2]), whole, proxy


@pytest.fixture(scope="module")
def index_built() -> Any:
    """An Orthanc that builds study-level metadata from its index, not from the files."""
    with Orthanc(extra_config={"DicomWeb": {"StudiesMetadata": "MainDicomTags"}}) as server:
        server.upload_dir(FIXTURES)
        yield server


def test_fixtures_written_alike(orthanc: Orthanc) -> None:
    (per_report, per_file, per_warn), (report, file, warned), proxy = both_ways(orthanc.url)
    assert report.written == per_report.written == 3 and not report.failures
    assert requests_of(proxy, STUDY_LEVEL) == 3
    assert requests_of(proxy, SERIES_SEARCH) == 0
    assert file == per_file
    assert warned == per_warn


def test_real_world_corpus_written_alike(realworld_orthanc: Orthanc) -> None:
    (per_report, per_file, per_warn), (report, file, warned), proxy = both_ways(
        realworld_orthanc.url
    )
    assert report.written == per_report.written > 20
    assert [(f.uid, f.message) for f in report.failures] == [
        (f.uid, f.message) for f in per_report.failures
    ]
    assert requests_of(proxy, STUDY_LEVEL) == report.written + len(report.failures)
    assert file == per_file
    assert warned == per_warn


def test_index_built_study_metadata_is_not_taken(index_built: Orthanc, orthanc: Orthanc) -> None:
    (_, per_file, _), (report, file, _), proxy = both_ways(index_built.url)
    assert report.written == 3
    assert requests_of(proxy, STUDY_LEVEL) == 3  # asked, found without SOPClassUID,
    assert requests_of(proxy, SERIES_SEARCH) == 3  # and fetched series by series
    assert file == per_file
    with fault_proxy(orthanc.url) as full:  # what a server sending full metadata gives
        _, full_file, _ = run(full.dicomweb(), by_study=True)
    assert file == full_file.replace(full.url.encode(), proxy.url.encode())


def test_answer_short_of_the_searched_count(orthanc: Orthanc) -> None:
    def drop_last(path: str, document: Any) -> Any:
        return document[:-1] if STUDY_LEVEL.search(path) else document

    (_, per_file, _), (report, file, _), proxy = both_ways(orthanc.url, rewriters=[drop_last])
    assert report.written == 3
    assert requests_of(proxy, SERIES_SEARCH) == 3
    assert file == per_file


def test_server_without_study_level_metadata(orthanc: Orthanc) -> None:
    rules = [Rule(r"/studies/[^/]+/metadata$", Fault.NOT_FOUND)]
    (_, per_file, _), (report, file, _), proxy = both_ways(orthanc.url, rules=rules)
    assert report.written == 3 and not report.failures
    assert requests_of(proxy, SERIES_SEARCH) == 3
    assert file == per_file


def test_default_depends_on_the_number_of_studies(orthanc: Orthanc) -> None:
    with fault_proxy(orthanc.url) as proxy:
        source = DicomWebSource(proxy.dicomweb())
        planned = plan(source, Selection())
        store = SingleFile([s.uid for s in planned], sink=lambda data: None)
        urls = WadoUriUrls(default_wado_uri_root(source.root))
        snapshot(source, Selection(), urls, store, studies=planned, workers=2)
        assert requests_of(proxy, STUDY_LEVEL) == 0  # 3 studies, 2 workers: share them
        snapshot(source, Selection(), urls, store, studies=planned, workers=1)
        assert requests_of(proxy, STUDY_LEVEL) == 3


def test_study_listed_twice_is_fetched_series_by_series(orthanc: Orthanc) -> None:
    """Orthanc lists a study twice when it splits it (files that disagree on the
    patient); neither record's count is the study's, so no answer is checked against it."""

    def list_first_twice(path: str, document: Any) -> Any:
        if not path.split("?")[0].endswith("/studies"):
            return document
        return [*document, {**document[0], "00201208": {"vr": "IS", "Value": [1]}}]

    with fault_proxy(orthanc.url, rewriters=[list_first_twice]) as proxy:
        report, _, _ = run(proxy.dicomweb(), by_study=True)
    twice = [s.path for s in proxy.served if SERIES_SEARCH.search(s.path)]
    assert report.written == 3
    assert requests_of(proxy, STUDY_LEVEL) == 2 and len(twice) == 1
