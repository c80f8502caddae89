"""Chaos: a few hundred instances through a proxy that faults 20 % of requests.

A real Orthanc holds 16 synthetic studies x 4 series x 4 instances (256
instances); tests/faultproxy.py sits in front of it and faults one request in
five with every kind of fault a busy server gives (a stall past the timeout
included). With retries the launch files must be byte for byte those of a
fault-free run, for several seeds, in single-file and folder output. A study
whose requests fail every time is named, gets no file, and the run exits 1 while
the others are written.

The fault schedule of a seed is deterministic (see tests/faultproxy.py), so each
seed always injects the same faults; each run checks that every kind was
injected, so a seed that became too gentle fails loudly instead of testing less.
Those runs ask series by series (``--per-series``: about 80 requests, enough for
every kind); runs asking for whole studies (the default for 16 studies, about 20
requests) are faulted more often and checked the same way for what they get.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from converter.cli import main
from fixtures.orthanc import Orthanc
from fixtures.synthetic import make_studies, study_uid
from tests.faultproxy import TRANSIENT, Fault, FaultProxy, Rule, fault_proxy

pytestmark = pytest.mark.orthanc

STUDIES, SERIES, INSTANCES = 16, 4, 4
SEEDS = (1, 2, 3)
TIMEOUT = 1.0
"""Client timeout (s); a stall lasts longer."""
FAST = [
    "--timeout",
    str(TIMEOUT),
    "--retries",
    "8",
    "--retry-backoff",
    "0.02",
    "--wado-uri-root",
    "http://viewer.example/wado",
]
"""URLs in the files must not depend on the proxy's port; 8 attempts make a
request that fails every time at 20 % chance a one-in-400,000 event."""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    files = tmp_path_factory.mktemp("chaos-dicom")
    with Orthanc() as orthanc:
        orthanc.upload(list(make_studies(files, STUDIES, SERIES, INSTANCES)))
        yield orthanc


@pytest.fixture(scope="module")
def baseline(server: Orthanc, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Fault-free single file and folder, straight from Orthanc."""
    out = tmp_path_factory.mktemp("baseline")
    for target in (str(out / "all.json"), f"{out / 'folder'}/"):
        assert main(["snapshot", server.dicomweb_url, *FAST, "-q", "-o", target]) == 0
    return out


def snapshot(
    proxy: FaultProxy, target: str, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[int, str, float]:
    started = time.monotonic()
    code = main(["snapshot", proxy.dicomweb(), *FAST, *extra, "-o", target])
    return code, capsys.readouterr().err, time.monotonic() - started


def study_files(folder: Path) -> dict[str, bytes]:
    return {
        p.name: p.read_bytes()
        for p in sorted(folder.iterdir())
        if p.name not in ("index.json", "index.html")
    }


def index(folder: Path) -> dict[str, dict[str, Any]]:
    """index.json without the write times."""
    studies = json.loads((folder / "index.json").read_text(encoding="utf-8"))["studies"]
    return {e["StudyInstanceUID"]: {k: v for k, v in e.items() if k != "written"} for e in studies}


def assert_every_kind(proxy: FaultProxy) -> None:
    injected = proxy.injected()
    kinds = set(injected)
    assert kinds == set(TRANSIENT), f"missing: {set(TRANSIENT) - kinds}"
    share = len(injected) / len(proxy.served)
    assert 0.12 <= share <= 0.3, share  # about one request in five


class TestTwentyPercentFaulted:
    @pytest.mark.parametrize("seed", SEEDS)
    def test_single_file_is_byte_identical(
        self,
        server: Orthanc,
        baseline: Path,
        seed: int,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        with fault_proxy(server.url, seed=seed, chance=0.2, stall=TIMEOUT + 0.5) as proxy:
            code, err, seconds = snapshot(proxy, str(tmp_path / "all.json"), capsys, "--per-series")
        assert code == 0, err
        assert_every_kind(proxy)
        assert (tmp_path / "all.json").read_bytes() == (baseline / "all.json").read_bytes()
        assert f"{STUDIES} studies selected, {STUDIES * SERIES * INSTANCES} instances" in err
        print(
            f"seed {seed}: {len(proxy.injected())} faults in {len(proxy.served)} requests, "
            f"{seconds:.1f} s"
        )

    @pytest.mark.parametrize("seed", SEEDS)
    def test_folder_is_byte_identical(
        self,
        server: Orthanc,
        baseline: Path,
        seed: int,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        out = tmp_path / "folder"
        with fault_proxy(server.url, seed=seed, chance=0.2, stall=TIMEOUT + 0.5) as proxy:
            code, err, _ = snapshot(proxy, f"{out}/", capsys, "--per-series")
        assert code == 0, err
        assert_every_kind(proxy)
        assert study_files(out) == study_files(baseline / "folder")
        assert len(study_files(out)) == STUDIES
        assert index(out) == index(baseline / "folder")

    @pytest.mark.parametrize("seed", SEEDS)
    def test_whole_studies_are_byte_identical(
        self,
        server: Orthanc,
        baseline: Path,
        seed: int,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        with fault_proxy(server.url, seed=seed, chance=0.35, stall=TIMEOUT + 0.5) as proxy:
            code, err, _ = snapshot(proxy, str(tmp_path / "all.json"), capsys)
        assert code == 0, err
        whole = proxy.requests_to(r"/studies/[0-9.]+/metadata$")
        assert len(whole) >= STUDIES and not proxy.requests_to(r"/series/[0-9.]+/metadata$")
        assert len({s.fault for s in whole if s.fault is not None}) >= 4
        assert (tmp_path / "all.json").read_bytes() == (baseline / "all.json").read_bytes()


class TestStudyFailingEveryTime:
    """One study's whole metadata and one of its series answer 500 to every attempt;
    20 % faults everywhere else. The run asks for whole studies, so the victim is
    asked for whole, then series by series, and fails on that series."""

    def _rules(self, server: Orthanc, victim: str) -> list[Rule]:
        series = server.get(f"/dicom-web/studies/{victim}/series").json()
        first = series[0]["0020000E"]["Value"][0]
        return [Rule(rf"/studies/{victim}(/series/{first})?/metadata$", Fault.HTTP_500)]

    def test_folder(
        self, server: Orthanc, baseline: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        victim = study_uid(5)
        out = tmp_path / "folder"
        with fault_proxy(
            server.url,
            seed=SEEDS[0],
            chance=0.2,
            stall=TIMEOUT + 0.5,
            rules=self._rules(server, victim),
        ) as proxy:
            code, err, _ = snapshot(proxy, f"{out}/", capsys)
        assert code == 1
        assert f"error: study {victim} failed and was not written: HTTP 500" in err
        assert "(after 8 attempts)" in err
        assert len(proxy.requests_to(rf"/studies/{victim}/metadata")) == 8
        assert len(proxy.requests_to(rf"/studies/{victim}/series/[0-9.]+/metadata")) >= 8
        expected = {
            n: b for n, b in study_files(baseline / "folder").items() if n != f"{victim}.json"
        }
        assert study_files(out) == expected  # the others byte-identical, no file for the victim
        assert set(index(out)) == {n.removesuffix(".json") for n in expected}

    def test_single_file(
        self, server: Orthanc, baseline: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        victim = study_uid(9)
        with fault_proxy(
            server.url,
            seed=SEEDS[1],
            chance=0.2,
            stall=TIMEOUT + 0.5,
            rules=self._rules(server, victim),
        ) as proxy:
            code, err, _ = snapshot(proxy, str(tmp_path / "all.json"), capsys)
        assert code == 1
        assert f"error: study {victim} failed and was not written" in err
        written = json.loads((tmp_path / "all.json").read_bytes())["studies"]
        expected = [
            s
            for s in json.loads((baseline / "all.json").read_bytes())["studies"]
            if s["StudyInstanceUID"] != victim
        ]
        assert written == expected and len(written) == STUDIES - 1


FINAL_MESSAGE = {
    Fault.HTTP_500: r"HTTP 500 from {url}: <html><body>Server busy</body></html>",
    Fault.HTTP_502: r"HTTP 502 from {url}",
    Fault.HTTP_503: r"HTTP 503 from {url}",
    Fault.HTTP_504: r"HTTP 504 from {url}",
    Fault.HTTP_503_RETRY_AFTER: r"HTTP 503 from {url}",
    Fault.HTTP_429: r"HTTP 429 from {url}: Too Many Requests",
    Fault.HTTP_429_RETRY_AFTER: r"HTTP 429 from {url}",
    Fault.STALL: r"no answer from {url} within 1 s \(raise --timeout\?\)",
    Fault.STALL_BODY: r"no answer from {url} within 1 s \(raise --timeout\?\)",
    Fault.RESET: r"the server dropped the connection to {url} \((connection reset by the server"
    r"|the server closed the connection without answering)\)",
    # Under load the kernel may turn the early close into a reset: either is a clear line.
    Fault.TRUNCATED: r"(the answer from {url} was cut short \(connection closed after \d+ bytes, "
    r"\d+ more expected\)|the answer from {url} was cut short \(.*reset.*\)"
    r"|the server dropped the connection to {url} \(.*\))",
    Fault.HTML: r"{url} did not answer JSON \(is this a DICOMweb root\?\)",
    Fault.WRONG_SHAPE: r"{url} answered JSON (that is not an array of datasets|objects that "
    r"are not datasets)",
}


class TestEachFaultEveryTime:
    """One kind, every time, on one series: the final error says what happened, in one line."""

    @pytest.mark.parametrize("fault", TRANSIENT, ids=[f.name for f in TRANSIENT])
    def test_final_message(
        self, server: Orthanc, fault: Fault, capsys: pytest.CaptureFixture[str]
    ) -> None:
        victim = study_uid(3)
        series = server.get(f"/dicom-web/studies/{victim}/series").json()[0]["0020000E"]
        path = f"/dicom-web/studies/{victim}/series/{series['Value'][0]}/metadata"
        with fault_proxy(server.url, stall=TIMEOUT + 0.5, rules=[Rule(path, fault)]) as proxy:
            code = main(
                [
                    "snapshot",
                    proxy.dicomweb(),
                    *FAST[:2],
                    "--retries",
                    "2",
                    "--retry-backoff",
                    "0.01",
                    "--study",
                    victim,
                    "-q",
                    "-o",
                    "-",
                ]
            )
        err = capsys.readouterr().err
        assert code == 1
        assert len(err.splitlines()) == 1, err
        expected = FINAL_MESSAGE[fault].format(url=re.escape(proxy.url + path))
        assert re.fullmatch(
            rf"error: study {victim} failed and was not written: {expected}.*"
            r" \(after 2 attempts\)",
            err.strip(),
        ), err
        assert len(proxy.requests_to(path)) == 2

    def test_reset_of_the_very_first_request_is_retried(
        self, server: Orthanc, capsys: pytest.CaptureFixture[str]
    ) -> None:
        with fault_proxy(server.url, rules=[Rule(r"/studies\?", Fault.RESET, times=1)]) as proxy:
            code = main(["snapshot", proxy.dicomweb(), *FAST, "--limit", "1", "-q", "-o", "-"])
        assert code == 0, capsys.readouterr().err
        assert [s.fault for s in proxy.requests_to(r"/studies\?")] == [Fault.RESET, None]
