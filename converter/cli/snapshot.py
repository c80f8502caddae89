"""The ``snapshot`` command: studies from a DICOMweb server (PS3.18 QIDO-RS/WADO-RS) into
launch files, with progress on stderr and a summary (library side: :mod:`converter.snapshot`).
"""

from __future__ import annotations

import argparse

from converter.cli.console import SnapshotProgress, Ui, summary
from converter.cli.options import (
    check_output,
    instance_urls,
    open_source,
    open_store,
    shard_of,
    study_filter,
)
from converter.cli.process import few_collections
from converter.snapshot.run import snapshot
from converter.snapshot.selection import Selection, plan


def cmd_snapshot(args: argparse.Namespace, ui: Ui) -> int:
    shard = shard_of(args, ui)
    selection = Selection(tuple(args.study), study_filter(args), args.limit, shard)
    output = check_output(args, shard)
    kind = output.kind
    source = open_source(args, ui)
    urls = instance_urls(args, source)
    studies = plan(source, selection, page_size=args.page_size)
    store, target = open_store(args, ui, shard, output, [s.uid for s in studies], force=args.force)
    try:
        with few_collections(), SnapshotProgress(ui) as progress:  # stopped before any message
            report = snapshot(
                source,
                selection,
                urls,
                store,
                workers=args.workers,
                keep_private=args.keep_private,
                warn=ui.warn,
                events=progress,
                studies=studies,
                by_study=False if args.per_series else None,
            )
    except KeyboardInterrupt:
        done = (
            "nothing was written"
            if kind != "folder"
            else ("finished studies are kept and indexed; run the same command again to finish")
        )
        ui.error(f"interrupted: {done}")
        return 130
    summary(ui, report, target)
    if report.failures:
        return 1
    if report.written == 0 and report.skipped == 0:
        ui.error("no study was written")
        return 1
    return 0
