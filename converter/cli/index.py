"""The ``index`` command: merge the per-shard indexes of a folder of launch files into
``index.json``.
"""

from __future__ import annotations

import argparse

from converter.cli.console import Ui
from converter.output.store import INDEX_NAME, merge_indexes
from converter.output.targets import open_target


def cmd_index(args: argparse.Namespace, ui: Ui) -> int:
    target = open_target(args.folder)
    count = merge_indexes(target, warn=ui.warn)
    ui.info(f"{INDEX_NAME} in {target.description} lists {count} studies")
    return 0
