"""``folder`` into a directory parks the metadata on disk (converter/folder/spill.py): the
study files are byte-for-byte those of the in-memory path, and the parking place goes
away after the run, also when the run fails.
"""

from __future__ import annotations

import gzip
import shutil
import tempfile
from pathlib import Path

import pytest

from converter.cli import main
from converter.folder.reader import read_folder
from converter.folder.spill import Spill
from converter.launch.encoding import dumps, launch_file
from converter.output.store import StudyFolder
from tests.realworld import realworld_files

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "dicom"
PREFIX = "https://files.example/dicom/"


def parked() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("dicomweb2ohif-folder-*")}


def corpus(tmp_path: Path) -> Path:
    """The fixture studies and the real-world corpus in one folder tree."""
    root = tmp_path / "in"
    shutil.copytree(FIXTURES, root / "fixtures")
    for path in realworld_files():
        (root / "realworld").mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, root / "realworld" / path.name)
    return root


@pytest.mark.parametrize("compressed", [False, True])
def test_directory_output_is_the_in_memory_output(tmp_path: Path, compressed: bool) -> None:
    root = corpus(tmp_path)
    before = parked()
    out = tmp_path / "out"
    flags = ["--gzip"] if compressed else []
    assert main(["folder", str(root), "--url-prefix", PREFIX, *flags, "-q", "-o", f"{out}/"]) == 0
    assert parked() == before
    in_memory = read_folder(root, PREFIX)
    assert len(in_memory.studies) > 20
    names = {p.name for p in out.iterdir()} - {"index.json", "index.html"}
    assert len(names) == len(in_memory.studies)
    for study in in_memory.studies:
        name = StudyFolder(out, compress=compressed).file_name(study.uid)
        written = (out / name).read_bytes()
        if compressed:
            written = gzip.decompress(written)
        assert written == dumps(launch_file([study])), study.uid


def test_parked_studies_come_back_exactly(tmp_path: Path) -> None:
    result = read_folder(corpus(tmp_path), PREFIX)
    with Spill() as spill:
        parked_result = read_folder(corpus(tmp_path / "again"), PREFIX, spill=spill)
        assert parked_result.studies == []
        assert sorted(parked_result.study_uids) == sorted(s.uid for s in result.studies)
        back = {s.uid: s for s in parked_result.iter_studies()}
    assert {uid: dumps(launch_file([s])) for uid, s in back.items()} == {
        s.uid: dumps(launch_file([s])) for s in result.studies
    }
    assert parked_result.warnings == result.warnings


def test_values_survive_the_round_trip() -> None:
    values = {"Big": 2**80, "Float": 0.1 + 0.2, "Nested": [{"A": [1.5e-300, None, "é"]}]}
    with Spill() as spill:
        spill.add("s", "a", {"N": 1, **values})
        spill.add("t", "x", {"N": 9})
        spill.add("s", "b", {"N": 2})
        spill.add("s", "a", {"N": 3})
        assert spill.study_uids() == ["s", "t"]
        assert spill.series_of("s") == [[{"N": 1, **values}, {"N": 3}], [{"N": 2}]]
        folder = Path(spill._folder.name)
    assert not folder.exists()


def test_failed_run_leaves_nothing_parked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = corpus(tmp_path)
    out = tmp_path / "out"
    first = read_folder(root, PREFIX).studies[0].uid
    (out / StudyFolder(out).file_name(first)).mkdir(parents=True)  # cannot be replaced
    before = parked()
    code = main(["folder", str(root), "--url-prefix", PREFIX, "-q", "-o", f"{out}/"])
    assert code == 1 and "error:" in capsys.readouterr().err
    assert parked() == before
