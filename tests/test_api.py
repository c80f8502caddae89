"""The public Python API (docs/api.md): the README's example run exactly as written, failures
that keep their kind, messages worded by argument (and by flag in the CLI), and no
process-wide side effects.
"""

from __future__ import annotations

import ast
import gc
import os
import re
import shutil
import signal
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import converter
from converter.cli import main
from converter.cli.wording import FLAGS, LIBRARY_ONLY
from fixtures.orthanc import Orthanc
from fixtures.synthetic import make_studies, study_uid
from tests.faultproxy import Fault, Rule, fault_proxy

ROOT = Path(__file__).resolve().parent.parent
FIXTURE_DICOM = ROOT / "fixtures" / "dicom"


def readme_example() -> str:
    """The first ``python`` block of the README's "Python API" section."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Python API\n", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "the README's Python API section has no python block"
    return match.group(1)


# --- the names ----------------------------------------------------------------


def test_every_public_name_resolves_and_is_documented() -> None:
    documented = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    for name in converter.__all__:
        assert getattr(converter, name) is not None
        if name != "__version__":
            assert f"`{name}" in documented, f"{name} is not in docs/api.md"
    assert set(converter.__all__) - {"__version__"} == set(converter._EXPORTS)
    # A name equal to a subpackage's would be replaced by it once that is imported.
    subpackages = {p.name for p in (ROOT / "converter").iterdir() if (p / "__init__.py").is_file()}
    assert subpackages & set(converter.__all__) == set()


def test_import_converter_loads_no_library_module() -> None:
    """The CLI's start-up pays nothing for the API: names are imported on first use."""
    code = (
        "import sys, converter; print(sorted(m for m in sys.modules if m.startswith('converter')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    assert out.strip() == "['converter']"


# --- wording ------------------------------------------------------------------


def _argument_wordings() -> set[str]:
    found: set[str] = set()
    for path in (ROOT / "converter").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "arg"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                found.add(str(node.args[0].value))
    return found


def test_every_argument_named_in_a_message_has_its_flag() -> None:
    used = _argument_wordings()
    assert used - set(FLAGS) - LIBRARY_ONLY == set()
    assert set(FLAGS) - used == set(), "flags for wordings no message uses"
    assert all(flag.startswith("-") for flag in FLAGS.values())


def test_library_names_arguments_and_cli_names_flags(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with pytest.raises(converter.UsageError) as raised:
        converter.snapshot_server("http://127.0.0.1:9/dicom-web", tmp_path / "a.json", gzip=True)
    assert str(raised.value) == "gzip goes with folder output (output=DIR/)"
    assert "\x1f" in raised.value.message  # the marks the CLI words by flag
    code = main(["snapshot", "http://127.0.0.1:9/dicom-web", "--gzip", "-o", str(tmp_path / "a")])
    assert code == 2
    assert capsys.readouterr().err.strip() == "error: --gzip goes with folder output (-o DIR/)"


# --- against a real Orthanc -----------------------------------------------------

A, B, C, D = (study_uid(n) for n in range(200, 204))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    """Four studies of 2 series x 2 instances."""
    files = list(make_studies(tmp_path_factory.mktemp("api"), 4, 2, 2, first=200))
    with Orthanc() as orthanc:
        orthanc.upload(files)
        yield orthanc


@pytest.mark.orthanc
def test_readme_example_runs_as_written(orthanc: Orthanc, tmp_path: Path) -> None:
    shutil.copytree(FIXTURE_DICOM, tmp_path / "dicom")
    done = subprocess.run(
        [sys.executable, "-c", readme_example()],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "DICOMWEB_URL": orthanc.dicomweb_url, "PYTHONPATH": str(ROOT)},
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    studies = len(orthanc.get("/studies").json())
    assert lines[0] == f"{studies} studies, {orthanc.instance_count()} instances"
    assert "gzip goes with folder output (output=DIR/)" in lines
    assert re.search(r"^\d+ studies from \d+ files$", done.stdout, re.M)
    index = tmp_path / "launch" / "index.json"
    assert index.is_file() and list((tmp_path / "launch").glob("*.json.gz"))
    assert done.stderr == ""


@pytest.mark.orthanc
def test_each_failure_keeps_its_kind(server: Orthanc) -> None:
    """One study per kind of failure, through a real proxy in front of Orthanc; the fourth
    is written, and the document holds it alone."""

    def hostile(path: str, document: Any) -> Any:
        if path.endswith(f"/studies/{A}/series"):
            document[0]["0020000E"]["Value"] = ["../../x"]
        if re.search(rf"/studies/{B}/series/[^/]+/metadata$", path):
            document[0]["00100010"] = 5  # an element that is not a JSON object
        return document

    rules = [Rule(rf"/studies/{re.escape(C)}/series/[^/?]+/metadata", Fault.HTTP_500)]
    warned: list[str] = []
    with fault_proxy(server.url, rewriters=[hostile], rules=rules) as proxy:
        source = converter.open_server(
            proxy.dicomweb(),
            retry=converter.RetryPolicy(attempts=2, backoff=0.01),
            warn=warned.append,
        )
        report = converter.snapshot_server(
            source, studies=[A, B, C, D], wado_uri_root="http://viewer.example/wado"
        )
    kinds = {f.uid: f.error for f in report.failures}
    unsafe, mapping, server_error = kinds[A], kinds[B], kinds[C]
    assert isinstance(unsafe, converter.UnsafeUidError) and unsafe.uid == "../../x"
    assert isinstance(mapping, converter.MappingError) and mapping.tag == "00100010"
    assert isinstance(server_error, converter.ServerError) and server_error.status == 500
    assert "(after 2 attempts)" in str(server_error)
    assert set(kinds) == {A, B, C} and report.written == 1 and not report.ok
    assert report.document is not None
    assert [s["StudyInstanceUID"] for s in report.document["studies"]] == [D]
    assert converter.validate_document(report.document) == []


@pytest.mark.orthanc
def test_own_session_is_used_and_left_unchanged(server: Orthanc) -> None:
    import requests

    session = requests.Session()
    session.headers["X-Api-Key"] = "mine"
    before = (dict(session.headers), dict(session.hooks), session.auth, session.verify)
    with fault_proxy(server.url) as proxy:
        report = converter.snapshot_server(proxy.dicomweb(), studies=[D], session=session)
    assert report.written == 1
    assert all(s.headers.get("X-Api-Key") == "mine" for s in proxy.served)
    assert (dict(session.headers), dict(session.hooks), session.auth, session.verify) == before
    with pytest.raises(converter.UsageError, match="session"):
        converter.open_server(server.dicomweb_url, session=session, token="t")


@pytest.mark.orthanc
def test_no_process_wide_side_effects(server: Orthanc, tmp_path: Path) -> None:
    gc_before = (gc.get_threshold(), gc.get_freeze_count(), gc.isenabled())
    sigterm = signal.getsignal(signal.SIGTERM)
    sigint = signal.getsignal(signal.SIGINT)
    filters = list(warnings.filters)
    report = converter.snapshot_server(server.dicomweb_url, f"{tmp_path}/out/", gzip=True)
    assert report.ok and report.written == 4
    converter.read_folder(FIXTURE_DICOM)
    assert (gc.get_threshold(), gc.get_freeze_count(), gc.isenabled()) == gc_before
    assert signal.getsignal(signal.SIGTERM) is sigterm
    assert signal.getsignal(signal.SIGINT) is sigint
    assert list(warnings.filters) == filters
