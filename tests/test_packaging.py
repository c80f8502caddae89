"""The package as a user gets it: ``python -m build``, then the wheel in a fresh venv.

The project (``pyproject.toml``, ``README.md``, ``converter/``) is copied into a
temporary folder and built there as a user or a release job would build it
(``python -m build``: an sdist, then the wheel from the sdist, each in its own
isolated build environment), so the worktree gets no ``build/`` or egg-info.
Nothing either step prints may be a warning (setuptools deprecations such as the
``license`` table, package discovery, license files). The wheel is then
installed with its dependencies (pinned by ``constraints.txt``, so pip's cache
serves them) into a new virtual environment that has never seen the source
tree, and its console script must answer ``--help``. About 20 s.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _environment() -> dict[str, str]:
    """This process's environment without what would make the build talk of it.

    ``PYTHONDONTWRITEBYTECODE`` (set on some machines) makes setuptools warn
    "byte-compiling is disabled": a warning about the machine, not the project.
    """
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _copy_project(target: Path) -> Path:
    source = target / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "converter",
        source / "converter",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    return source


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """(the folder holding the sdist and the wheel, everything ``python -m build`` printed)."""
    work = tmp_path_factory.mktemp("packaging")
    source = _copy_project(work)
    dist = work / "dist"
    done = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(dist), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
        env=_environment(),
        cwd=work,
    )
    printed = done.stdout + done.stderr
    assert done.returncode == 0, printed[-3000:]
    return dist, printed


def test_build_makes_an_sdist_and_a_wheel_without_a_warning(built: tuple[Path, str]) -> None:
    dist, printed = built
    assert sorted(p.name for p in dist.iterdir()) == [
        "dicomweb2ohif-0.1.0-py3-none-any.whl",
        "dicomweb2ohif-0.1.0.tar.gz",
    ]
    warnings = [
        line
        for line in printed.splitlines()
        if "warn" in line.lower() or "deprecat" in line.lower()
    ]
    assert warnings == [], "\n".join(warnings)


def test_wheel_holds_the_package_its_types_marker_and_an_spdx_license(
    built: tuple[Path, str],
) -> None:
    dist, _ = built
    with zipfile.ZipFile(dist / "dicomweb2ohif-0.1.0-py3-none-any.whl") as wheel:
        names = set(wheel.namelist())
        metadata = wheel.read("dicomweb2ohif-0.1.0.dist-info/METADATA").decode()
        entry_points = wheel.read("dicomweb2ohif-0.1.0.dist-info/entry_points.txt").decode()
    assert {
        "converter/__init__.py",
        "converter/cli/entry.py",
        "converter/mapping/dictionary.py",
        "converter/py.typed",
        "converter/output/study_list.html",
    } <= names
    assert not any(n.startswith(("tests/", "fixtures/", "benchmarks/")) for n in names)
    assert "License-Expression: MIT" in metadata.splitlines()
    assert "dicomweb2ohif = converter.cli:run" in entry_points


def test_installed_wheel_runs_help_in_a_fresh_venv(built: tuple[Path, str], tmp_path: Path) -> None:
    dist, _ = built
    venv = tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120
    )
    python = venv / "bin" / "python"
    # This environment's pip installs into the new one (--python): no pip bootstrap.
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "-q",
            "-c",
            str(ROOT / "constraints.txt"),
            str(dist / "dicomweb2ohif-0.1.0-py3-none-any.whl"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert install.returncode == 0, (install.stdout + install.stderr)[-3000:]
    where = subprocess.run(
        [str(python), "-c", "import converter; print(converter.__file__)"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout + where.stderr
    done = subprocess.run(
        [str(venv / "bin" / "dicomweb2ohif"), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: dicomweb2ohif ")
    assert "snapshot" in done.stdout and "folder" in done.stdout
    assert done.stderr == ""
