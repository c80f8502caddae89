"""Regenerate converter/mapping/dictionary.py: the data dictionary the mapper names tags with.

    python -m tests.update_dictionary

docs/format.md ("Keys") wants the keys OHIF's own tools write, i.e. dcmjs' names. The table is
PS3.6 as pydicom carries it (keywords, VRs; retired keywords prefixed ``RETIRED_``,
repeating groups 50xx/60xx), with dcmjs' name wherever dcmjs says otherwise
(retirement status, spelling), checked against the dcmjs pinned in tests/dcmjs.
A generated module keeps pydicom (and its numpy) out of the start-up of every
command that does not read Part 10 files. tests/test_keywords.py fails when the
table is stale after a bump of pydicom or dcmjs.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "converter" / "mapping" / "dictionary.py"


def dcmjs_names(tags: list[str] | None = None) -> dict[str, str]:
    """dcmjs' key for each tag (``None``: every tag dcmjs' dictionary has)."""
    script = ROOT / "tests" / "dcmjs" / "names.js"
    args = ["node", str(script)] + (["--all"] if tags is None else [])
    done = subprocess.run(
        args, input=json.dumps(tags or []).encode(), capture_output=True, check=True, timeout=120
    )
    return json.loads(done.stdout)


def _pydicom_name(entry: tuple[str, str, str, str, str]) -> str:
    return f"RETIRED_{entry[4]}" if entry[3] == "Retired" else entry[4]


def _group_repeaters() -> dict[tuple[str, str], tuple[str, str, str, str, str]]:
    """Masks that repeat the group (``60xx3000``); dcmjs handles those, not element masks."""
    from pydicom.datadict import RepeatersDictionary

    return {
        (mask[:2].upper(), mask[4:].upper()): entry
        for mask, entry in RepeatersDictionary.items()
        if entry[4] and mask[2:4].lower() == "xx" and "x" not in mask[4:].lower()
    }


def candidate_tags() -> list[str]:
    """Every even-group tag either dictionary names, plus samples of repeating groups."""
    from pydicom.datadict import DicomDictionary, RepeatersDictionary

    tags = {f"{t:08X}" for t in DicomDictionary}
    tags |= set(dcmjs_names(None))
    for mask in RepeatersDictionary:
        for fill in ("0", "2", "E", "F"):
            tags.add(mask.upper().replace("X", fill))
    return sorted(t for t in tags if int(t[3], 16) % 2 == 0)


def build() -> tuple[dict[str, tuple[str | None, str]], dict[tuple[str, str], tuple[str, str]]]:
    """(exact tag -> (name or None, VRs), (group prefix, element) -> (name, VRs))."""
    from pydicom.datadict import DicomDictionary

    tags = candidate_tags()
    theirs = dcmjs_names(tags)
    repeaters = _group_repeaters()
    exact: dict[str, tuple[str | None, str]] = {}
    for tag in tags:
        entry = DicomDictionary.get(int(tag, 16))
        name = theirs[tag] if theirs[tag] != tag else None
        if entry is not None and entry[4]:
            exact[tag] = (name, entry[0])
        elif name is not None and (tag[:2], tag[4:]) not in repeaters:
            exact[tag] = (name, "")  # dcmjs knows it, pydicom does not: no VR known
        elif (tag[:2], tag[4:]) in repeaters:
            repeater_name = _pydicom_name(repeaters[(tag[:2], tag[4:])])
            if name != repeater_name:
                exact[tag] = (name, repeaters[(tag[:2], tag[4:])][0])
    groups = {key: (_pydicom_name(entry), entry[0]) for key, entry in repeaters.items()}
    return exact, groups


def render() -> str:
    """The module text: one tab-separated table in a string, parsed on import.

    A string constant costs nothing to compile or load, where a 5,000-entry dict
    literal takes tens of milliseconds whenever bytecode is not cached.
    """
    from importlib.metadata import version

    exact, groups = build()
    rows = [f"{tag}\t{name or '-'}\t{vrs or '-'}" for tag, (name, vrs) in sorted(exact.items())]
    repeater_rows = [f"{g}xx{e}\t{name}\t{vrs}" for (g, e), (name, vrs) in sorted(groups.items())]
    lines = [
        '"""PS3.6 data dictionary as the mapper needs it: tag -> (key, VRs). Generated; do not edit.',
        "",
        "Made by ``python -m tests.update_dictionary`` from pydicom "
        f"{version('pydicom')}'s dictionary",
        "with dcmjs' names (the dcmjs pinned in tests/dcmjs). ``None``: dcmjs has no name for",
        "the tag, which is then written under its 8-hex tag. VRs as PS3.6 gives them",
        '("US or SS"); "" where only dcmjs knows the tag. "-" stands for None and "" in the',
        "tables below.",
        '"""',
        "",
        '_EXACT = """\\',
        *rows,
        '"""',
        "",
        '_GROUP_REPEATERS = """\\',
        *repeater_rows,
        '"""',
        "",
        "",
        "def _rows(table: str) -> list[tuple[str, str | None, str]]:",
        "    out = []",
        "    for line in table.splitlines():",
        '        tag, name, vrs = line.split("\\t")',
        '        out.append((tag, None if name == "-" else name, "" if vrs == "-" else vrs))',
        "    return out",
        "",
        "",
        "EXACT: dict[str, tuple[str | None, str]] = {",
        "    tag: (name, vrs) for tag, name, vrs in _rows(_EXACT)",
        "}",
        "# Repeating groups (PS3.5 7.6): (first two hex digits, element) -> (key, VRs).",
        "GROUP_REPEATERS: dict[tuple[str, str], tuple[str, str]] = {",
        "    (mask[:2], mask[4:]): (name or mask, vrs) for mask, name, vrs in _rows(_GROUP_REPEATERS)",
        "}",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    TARGET.write_text(render(), encoding="utf-8")
    print(f"wrote {TARGET}")


if __name__ == "__main__":
    main()
