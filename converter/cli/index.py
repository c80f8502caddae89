"""The ``index`` command: merge the per-shard indexes of a folder of launch files into
``index.json``.
"""

from __future__ import annotations

import argparse

from converter.cli.console import Ui
from converter.cli.options import study_list_of
from converter.output.store import INDEX_NAME, merge_indexes
from converter.output.study_list import STUDY_LIST_NAME
from converter.output.targets import open_target


def cmd_index(args: argparse.Namespace, ui: Ui) -> int:
    target = open_target(args.folder)
    count = merge_indexes(target, warn=ui.warn, study_list=study_list_of(args))
    ui.info(f"{INDEX_NAME} and {STUDY_LIST_NAME} in {target.description} list {count} studies")
    return 0
