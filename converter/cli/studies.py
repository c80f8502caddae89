"""The ``studies`` command: the studies a server lists (PS3.18 QIDO-RS ``/studies``), as a
table, JSON or UIDs on stdout.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from converter.cli.console import Ui
from converter.cli.options import open_source, study_filter
from converter.launch.encoding import dumps
from converter.mapping.mapper import map_datasets
from converter.mapping.ps3_18 import first_value

STUDY_COLUMNS = (
    ("StudyInstanceUID", "0020000D"),
    ("PatientName", "00100010"),
    ("PatientID", "00100020"),
    ("StudyDate", "00080020"),
    ("StudyDescription", "00081030"),
    ("ModalitiesInStudy", "00080061"),
    ("NumberOfStudyRelatedSeries", "00201206"),
    ("NumberOfStudyRelatedInstances", "00201208"),
)


def cmd_studies(args: argparse.Namespace, ui: Ui) -> int:
    source = open_source(args, ui)
    records = list(source.iter_studies(study_filter(args), page_size=args.page_size))
    records.sort(
        key=lambda r: (str(first_value(r, "00080020") or ""), str(first_value(r, "0020000D") or ""))
    )
    mapped = map_datasets(records, warn=ui.warn)
    if args.json:
        sys.stdout.buffer.write(dumps(mapped, indent=2))
        return 0
    table = Table(title=None, box=None, show_edge=False, pad_edge=False)
    headers = ("Study UID", "Patient", "ID", "Date", "Description", "Mod", "Ser", "Inst")
    for header, (keyword, _tag) in zip(headers, STUDY_COLUMNS, strict=True):
        numeric = keyword.startswith("NumberOf")
        table.add_column(
            header, no_wrap=True, overflow="ignore", justify="right" if numeric else "left"
        )
    for record in mapped:
        table.add_row(*(escape(_cell(record.get(k))) for k, _ in STUDY_COLUMNS))
    # A width as large as the table needs: UIDs are copied by users, never cut.
    out = Console(width=100_000, highlight=False, soft_wrap=True)
    out.print(table)
    ui.info(f"{len(mapped)} studies on {source.root}")
    return 0


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "\\".join(_cell(v) for v in value)
    return str(value)
