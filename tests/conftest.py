"""Shared test fixtures: throwaway Orthanc servers loaded with test data.

Each server is a real Orthanc (Debian packages ``orthanc`` and ``orthanc-dicomweb``)
on a free loopback port with its own temporary storage, started here and stopped
at the end of the session. Nothing relies on a system service.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest

from fixtures.orthanc import Orthanc

ROOT = Path(__file__).resolve().parents[1]
FIXTURE_DICOM = ROOT / "fixtures" / "dicom"


def fixture_files() -> list[Path]:
    """Every Part 10 file that fixtures/make_fixtures.py made."""
    files = sorted(p for p in FIXTURE_DICOM.rglob("*.dcm") if p.is_file())
    assert files, f"no fixture files under {FIXTURE_DICOM}: run fixtures/make_fixtures.py"
    return files


@pytest.fixture(scope="session")
def fixture_headers() -> list[pydicom.Dataset]:
    """The fixture files read directly with pydicom: the oracle the pipeline is checked against."""
    return [pydicom.dcmread(p, stop_before_pixels=True) for p in fixture_files()]


@pytest.fixture(scope="session")
def orthanc() -> Iterator[Orthanc]:
    """An Orthanc holding exactly the fixture files."""
    with Orthanc() as server:
        server.upload(fixture_files())
        yield server


@pytest.fixture(scope="session")
def realworld_orthanc() -> Iterator[Orthanc]:
    """An Orthanc holding the real-world corpus (files made by others, shipped in packages)."""
    from tests.realworld import realworld_files

    with Orthanc() as server:
        server.upload(realworld_files())
        yield server


@pytest.fixture(scope="session")
def pydicom_data_orthanc() -> Iterator[Orthanc]:
    """An Orthanc holding the pydicom-data corpus (tests/pydicom_data.py)."""
    from tests.pydicom_data import pydicom_data_files

    with Orthanc() as server:
        server.upload(pydicom_data_files())
        yield server


# Fixtures that start a real Orthanc: a test that uses one (itself or through another
# fixture) must carry the `orthanc` mark, so `-m "not orthanc"` is a tier without Orthanc.
ORTHANC_FIXTURES = frozenset({"orthanc", "realworld_orthanc", "pydicom_data_orthanc"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Fail the run when a test's marks do not tell the truth about the Orthanc it starts."""
    unmarked = [
        item.nodeid
        for item in items
        if ORTHANC_FIXTURES & set(getattr(item, "fixturenames", ()))
        and item.get_closest_marker("orthanc") is None
    ]
    if unmarked:
        raise pytest.UsageError(
            "these tests start an Orthanc (through a fixture) but are not marked "
            f"@pytest.mark.orthanc: {', '.join(unmarked)}"
        )
