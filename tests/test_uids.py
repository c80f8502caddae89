"""UIDs that are not PS3.5 9.1-conformant but safe are kept; only unsafe ones lose a study.

The predicates of :mod:`converter.uids` against a table of cases, then the whole
pipeline against a real Orthanc holding pydicom-data's ``bad_sequence.dcm``
(64-digit hex hash UIDs, as de-identification tools write) and files written
here with leading-zero, longer-than-64 and lettered UIDs: ``snapshot`` to one
file and to a folder, resume, ``--study``, ``folder`` and ``validate``. The
instance URLs written are fetched from the same Orthanc, so they are proven to
name the object.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
import requests

from converter.cli import main
from converter.errors import OutputError
from converter.output.store import StudyFolder, merge_indexes, study_uid_of
from converter.output.targets import LocalTarget
from converter.uids import (
    SAFE_MAX,
    is_conformant_uid,
    is_safe_uid,
    nonconformant_note,
    quote_uid,
)
from fixtures.orthanc import Orthanc
from tests.faultproxy import fault_proxy
from tests.uid_cases import BAD_SEQUENCE, GOOD, HEX, ODD, write_file

# pydicom warns (rightly) about each non-conformant UI value it writes or reads.
pytestmark = [
    pytest.mark.filterwarnings("ignore:Invalid value for VR UI"),
    pytest.mark.filterwarnings("ignore:The value length .* for VR UI"),
]


class TestPredicates:
    @pytest.mark.parametrize(
        ("uid", "conformant", "safe"),
        [
            ("1.2.840.10008.1.2.1", True, True),
            ("0", True, True),
            ("1.2.0.3", True, True),
            ("2.25." + "9" * 59, True, True),  # 64 characters
            ("2.25." + "9" * 60, False, True),  # 65
            ("1." + "2" * (SAFE_MAX - 2), False, True),  # SAFE_MAX
            ("1." + "2" * (SAFE_MAX - 1), False, False),  # one more
            ("1.2.03.4", False, True),  # leading zero
            ("01.2", False, True),
            ("1.2.abc.4", False, True),
            ("05fa52f0e599f17b8186ff18fcdf2b5570a52206a75c4d03afebf5c475dc8758", False, True),
            ("6ba7b810-9dad-11d1-80b4-00c04fd430c8", False, True),  # a UUID
            ("study_1", False, True),
            ("1.2.", False, True),  # empty last component: not conformant, harmless
            ("", False, False),
            (".", False, False),
            ("..", False, False),
            ("1..2", False, False),
            (".1.2", False, False),  # hidden file
            ("-1.2", False, False),  # reads as an option
            ("1.2/3", False, False),
            ("../../x", False, False),
            ("1.2\\3", False, False),
            ("C:\\evil", False, False),
            ("1.2.3\n", False, False),
            ("1.2.3\r", False, False),
            ("1.2\x003", False, False),
            ("1.2\x1b[31m", False, False),
            ("1.2 3", False, False),
            ("1.2.3 ", False, False),
            ("1.2\t3", False, False),
            ("1.2%2F3", False, False),
            ("1.2?x=1", False, False),
            ("1.2#x", False, False),
            ("1.2&contentType=text/html", False, False),
            ("1.2=3", False, False),
            ("1.2+3", False, False),
            ("1.2;3", False, False),
            ("1.2'3", False, False),
            ('1.2"3', False, False),
            ("[/]", False, False),
            ("1.2.\u0663", False, False),  # an Arabic-Indic digit
            ("1.2.\u00e9", False, False),
            ("1.2.\uff11", False, False),  # a full-width digit
            ("index", False, False),  # index.json would be overwritten
            ("INDEX", False, False),  # ... on a case-insensitive file system too
            ("index-0-of-2", False, False),
            ("indexes", False, True),
        ],
    )
    def test_table(self, uid: str, conformant: bool, safe: bool) -> None:
        assert is_conformant_uid(uid) is conformant
        assert is_safe_uid(uid) is safe
        if conformant:
            assert safe  # every conformant UID is safe

    @pytest.mark.parametrize("uid", ["1.2.3", HEX, "1.2.abc_4-5"])
    def test_quote_leaves_safe_uids_as_they_are(self, uid: str) -> None:
        assert quote_uid(uid) == uid

    @pytest.mark.parametrize(
        ("uid", "quoted"),
        [
            ("1.2/3", "1.2%2F3"),
            ("1&x=y", "1%26x%3Dy"),
            ("a b", "a%20b"),
            ("1%2F", "1%252F"),
            ("1?#", "1%3F%23"),
        ],
    )
    def test_quote_encodes_everything_else(self, uid: str, quoted: str) -> None:
        assert quote_uid(uid) == quoted

    def test_note_names_study_series_and_instance(self) -> None:
        groups = [
            [
                {"SeriesInstanceUID": "1.2.3", "SOPInstanceUID": "1.2.3.4"},
                {"SeriesInstanceUID": "1.2.3", "SOPInstanceUID": "1.2.03"},
                {"SeriesInstanceUID": "1.2.3", "SOPInstanceUID": "1.2.04"},
            ]
        ]
        note = nonconformant_note("1.2.3", groups)
        assert note is not None and note.startswith("study 1.2.3: UIDs not conformant")
        assert "instance 1.2.03 and 1 more" in note and "series" not in note.split(":")[2]
        assert (
            nonconformant_note(
                "1.2.3", [[{"SeriesInstanceUID": "1.2.3", "SOPInstanceUID": "1.2.3.4"}]]
            )
            is None
        )


class TestFileNames:
    @pytest.mark.parametrize(
        ("name", "uid"),
        [
            (f"{HEX}.json", HEX),
            ("1.2.03.json.gz", "1.2.03"),
            ("1.2.abc.json", "1.2.abc"),
            ("index.json", None),
            ("Index.json", None),
            ("index-0-of-2.json", None),
            (".1.2.json", None),
            ("..json", None),
            ("1.2 3.json", None),
            ("notes.txt", None),
        ],
    )
    def test_study_uid_of(self, name: str, uid: str | None) -> None:
        assert study_uid_of(name) == uid

    @pytest.mark.parametrize("uid", ["index", "INDEX-1-of-4", "../x", "a/b", ".hidden"])
    def test_unsafe_names_are_refused(self, tmp_path: Path, uid: str) -> None:
        with pytest.raises(OutputError, match="not safe in a file name"):
            StudyFolder(tmp_path).file_name(uid)

    def test_a_many_study_file_in_the_folder_is_not_taken_for_a_study(self, tmp_path: Path) -> None:
        """``all.json`` names a safe "UID", but holds two studies: never indexed as one."""
        studies = [{"StudyInstanceUID": uid, "NumInstances": 1} for uid in ("1.2.3", HEX)]
        (tmp_path / "all.json").write_text(json.dumps({"studies": studies}))
        (tmp_path / "1.2.3.json").write_text(json.dumps({"studies": studies[:1]}))
        (tmp_path / "other.json").write_text(json.dumps({"studies": studies[1:]}))
        assert merge_indexes(LocalTarget(tmp_path)) == 1
        index = json.loads((tmp_path / "index.json").read_text())["studies"]
        assert [e["file"] for e in index] == ["1.2.3.json"]


# --- against a real Orthanc -------------------------------------------------------


@pytest.fixture(scope="module")
def odd_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder: bad_sequence.dcm, one file per odd kind of UID, one conformant file."""
    folder = tmp_path_factory.mktemp("odd-uids")
    (folder / "bad_sequence.dcm").write_bytes(BAD_SEQUENCE.read_bytes())
    for name, uids in ODD.items():
        write_file(folder / f"{name}.dcm", *uids)
    write_file(folder / "good.dcm", *GOOD)
    return folder


@pytest.fixture(scope="module")
def odd(odd_files: Path) -> Iterator[Orthanc]:
    with Orthanc() as orthanc:
        orthanc.upload(sorted(odd_files.iterdir()))
        yield orthanc


ODD_STUDIES = [HEX, *(uids[0] for uids in ODD.values())]


def uid_warnings(err: str) -> list[str]:
    return [ln for ln in err.splitlines() if "UIDs not conformant to PS3.5 9.1" in ln]


def check_warnings(err: str) -> None:
    """One warning line per odd study, naming it; none for the conformant one."""
    lines = uid_warnings(err)
    assert len(lines) == len(ODD_STUDIES), err
    for uid in ODD_STUDIES:
        assert sum(f"study {uid}: " in ln for ln in lines) == 1, (uid, err)
    assert "Traceback" not in err and "error:" not in err


@pytest.mark.orthanc
class TestSnapshot:
    @pytest.mark.parametrize(
        "ways",
        [[], ["--per-series"], ["--workers", "1"]],
        ids=["default", "per-series", "whole-studies"],
    )
    def test_one_file_keeps_every_study(
        self, odd: Orthanc, tmp_path: Path, ways: list[str], capsys: pytest.CaptureFixture[str]
    ) -> None:
        out = tmp_path / "all.json"
        code = main(["snapshot", odd.dicomweb_url, "-o", str(out), *ways])
        err = capsys.readouterr().err
        assert code == 0, err
        document = json.loads(out.read_bytes())
        assert sorted(s["StudyInstanceUID"] for s in document["studies"]) == sorted(
            [*ODD_STUDIES, GOOD[0]]
        )
        check_warnings(err)
        assert main(["validate", str(out)]) == 0

    def test_urls_name_the_objects_on_the_server(self, odd: Orthanc, tmp_path: Path) -> None:
        """Every instance URL (WADO-URI, UIDs percent-encoded) answers that very object."""
        out = tmp_path / "all.json"
        assert main(["snapshot", odd.dicomweb_url, "-q", "-o", str(out)]) == 0
        document = json.loads(out.read_bytes())
        entries = [i for s in document["studies"] for se in s["series"] for i in se["instances"]]
        assert len(entries) == len(ODD_STUDIES) + 1
        for entry in entries:
            answer = requests.get(entry["url"].removeprefix("dicomweb:"), timeout=30)
            assert answer.status_code == 200, entry["url"]
            ds = pydicom.dcmread(io.BytesIO(answer.content), stop_before_pixels=True)
            assert ds.SOPInstanceUID == entry["metadata"]["SOPInstanceUID"]
            assert ds.StudyInstanceUID == entry["metadata"]["StudyInstanceUID"]

    def test_folder_output_index_and_resume(
        self, odd: Orthanc, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        out = tmp_path / "out"
        code = main(["snapshot", odd.dicomweb_url, "-o", f"{out}/"])
        err = capsys.readouterr().err
        assert code == 0, err
        check_warnings(err)
        expected = sorted(f"{uid}.json" for uid in [*ODD_STUDIES, GOOD[0]])
        assert (
            sorted(p.name for p in out.iterdir() if p.name not in ("index.json", "index.html"))
            == expected
        )
        for uid in ODD_STUDIES:
            assert (
                json.loads((out / f"{uid}.json").read_bytes())["studies"][0]["StudyInstanceUID"]
                == uid
            )
        index = json.loads((out / "index.json").read_bytes())["studies"]
        assert sorted(e["file"] for e in index) == expected
        assert main(["validate", str(out)]) == 0
        # Resume: every study is up to date, also when the index has to be rebuilt
        # from the file names (converter.output.store.study_uid_of).
        for lose_index in (False, True):
            if lose_index:
                (out / "index.json").unlink()
            assert main(["snapshot", odd.dicomweb_url, "-o", f"{out}/"]) == 0
            err = capsys.readouterr().err
            assert uid_warnings(err) == [], err  # nothing fetched again
            recovered = [ln for ln in err.splitlines() if "recovered from the file" in ln]
            assert len(recovered) == (len(expected) if lose_index else 0), err
            assert _skipped(err) == len(expected), err

    def test_study_option_takes_a_hex_hash(
        self, odd: Orthanc, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        out = tmp_path / "one.json"
        assert main(["snapshot", odd.dicomweb_url, "--study", HEX, "-o", str(out)]) == 0
        assert [s["StudyInstanceUID"] for s in json.loads(out.read_bytes())["studies"]] == [HEX]
        assert len(uid_warnings(capsys.readouterr().err)) == 1


def _skipped(err: str) -> int:
    """The ``skipped`` column of the summary table."""
    lines = err.splitlines()
    for number, line in enumerate(lines):
        if line.split()[:3] == ["written", "skipped", "failed"]:
            return int(lines[number + 1].split()[1])
    raise AssertionError(err)


@pytest.mark.orthanc
class TestUnsafe:
    """A study with an unsafe UID is skipped, named and counted; the others are written."""

    @pytest.fixture(scope="class")
    def mixed(self, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
        folder = tmp_path_factory.mktemp("unsafe-uids")
        write_file(folder / "slash.dcm", "1.2/3", "1.2/3.4", "1.2/3.4.5")
        write_file(folder / "percent.dcm", "1.2%2e3", "1.2%2e3.4", "1.2%2e3.4.5")
        with Orthanc() as orthanc:  # Orthanc 1.10 stores both as they are
            orthanc.upload([*sorted(folder.iterdir()), BAD_SEQUENCE])
            yield orthanc

    def test_skipped_named_and_never_requested(
        self, mixed: Orthanc, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        out = tmp_path / "out"
        with fault_proxy(mixed.url) as proxy:
            code = main(["snapshot", proxy.dicomweb(), "-o", f"{out}/"])
        err = capsys.readouterr().err
        assert code == 1
        failures = [ln for ln in err.splitlines() if ln.startswith("error: study ")]
        assert sorted(failures) == sorted(
            f"error: study {uid!r} failed and was not written: the server lists a study whose "
            f"UID {uid!r} is not safe in a file name, a request path or a query; skipped"
            for uid in ("1.2/3", "1.2%2e3")
        ), err
        assert _failed(err) == 2
        assert sorted(p.name for p in out.iterdir()) == [f"{HEX}.json", "index.html", "index.json"]
        studies_asked = [s.path for s in proxy.served if "/studies/" in s.path]
        assert studies_asked and all(HEX in path for path in studies_asked), studies_asked


def _failed(err: str) -> int:
    lines = err.splitlines()
    for number, line in enumerate(lines):
        if line.split()[:3] == ["written", "skipped", "failed"]:
            return int(lines[number + 1].split()[2])
    raise AssertionError(err)


class TestFolder:
    def test_folder_keeps_them_and_validate_accepts(
        self, odd_files: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        out = tmp_path / "out"
        code = main(["folder", str(odd_files), "--url-prefix", "/dicom", "-o", f"{out}/"])
        err = capsys.readouterr().err
        assert code == 0, err
        check_warnings(err)
        assert sorted(
            p.name for p in out.iterdir() if p.name not in ("index.json", "index.html")
        ) == sorted(f"{uid}.json" for uid in [*ODD_STUDIES, GOOD[0]])
        assert main(["validate", str(out)]) == 0

    def test_folder_skips_a_file_with_an_unsafe_uid(
        self, odd_files: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        folder = tmp_path / "in"
        write_file(folder / "evil.dcm", "../../evil", "1.2.3.4", "1.2.3.4.5")
        write_file(folder / "good.dcm", *GOOD)
        out = tmp_path / "out"
        code = main(["folder", str(folder), "--url-prefix", "/dicom", "-o", f"{out}/"])
        err = capsys.readouterr().err
        assert code == 0, err
        assert (
            "evil.dcm (StudyInstanceUID '../../evil' is not safe in a file name, a request "
            "path or a query)"
        ) in err
        assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file() and p.parent == out) == [
            f"{GOOD[0]}.json",
            "index.html",
            "index.json",
        ]
