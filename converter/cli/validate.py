"""The ``validate`` command of the command line (the CLI layer: this prints).

It prints one problem per line on stdout, never wrapped, so its output can be grepped;
counts go to stderr; exit code 1 when a file has a problem (library side:
:mod:`converter.validate.validator`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from converter.cli.console import Ui
from converter.cli.wording import flag_worded
from converter.errors import InputError
from converter.validate.problem import Problem
from converter.validate.validator import load_launch_file, parse_launch_file, validate

VALIDATE_EXAMPLES = """examples:
  dicomweb2ohif validate study1.json
  dicomweb2ohif validate launch/                  # every study file of a folder output
  dicomweb2ohif validate a.json b.json.gz | grep PixelSpacing
  curl -s https://viewer.example/launch/study1.json | dicomweb2ohif validate -
"""


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Register ``validate`` on the CLI's sub-command set."""
    check: argparse.ArgumentParser = commands.add_parser(
        "validate",
        help="check launch files before a viewer opens them",
        description="Check launch files (.json or .json.gz) against OHIF's required "
        "attributes per modality, the structure and JSON types of OHIF's docs example, UIDs "
        "(safe in file names and URLs), duplicate entries and urls. Prints each problem with "
        "its JSON path on stdout; exit code 1 if there is any.",
        epilog=VALIDATE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="launch file, folder of launch files, or - for stdin",
    )
    return check


def _launch_files(names: list[str]) -> list[str]:
    """The files to check: folders stand for their ``*.json``/``*.json.gz`` (not index.json)."""
    out: list[str] = []
    for name in names:
        path = Path(name)
        if name != "-" and path.is_dir():
            found = sorted(
                str(p)
                for p in path.iterdir()
                if p.name.endswith((".json", ".json.gz"))
                and p.name != "index.json"
                and not p.name.startswith(".")
            )
            if not found:
                raise InputError(f"{path} holds no launch files (*.json, *.json.gz)")
            out.extend(found)
        else:
            out.append(name)
    return out


def cmd_validate(args: argparse.Namespace, ui: Ui) -> int:
    """Run ``validate``: every problem on stdout; 0 if none, 1 otherwise."""
    failed = 0
    for name in _launch_files(args.files):
        label = "stdin" if name == "-" else name
        try:
            if name == "-":
                document = parse_launch_file(sys.stdin.buffer.read())
            else:
                document = load_launch_file(Path(name))
            problems = validate(document)
        except InputError as exc:
            problems = [Problem("", flag_worded(exc))]
        for problem in problems:
            sys.stdout.write(f"{label}: {problem}\n")
        sys.stdout.flush()
        if problems:
            failed += 1
            ui.info(f"{label}: {len(problems)} problem{'s' if len(problems) > 1 else ''}")
        else:
            ui.info(f"{label}: valid ({_size(document)})")
    return 1 if failed else 0


def _size(document: Any) -> str:
    studies = document["studies"]
    series = sum(len(s["series"]) for s in studies)
    entries = sum(len(se["instances"]) for s in studies for se in s["series"])
    return f"{len(studies)} studies, {series} series, {entries} entries"


__all__ = ["add_parser", "cmd_validate"]
