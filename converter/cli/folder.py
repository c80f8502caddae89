"""The ``folder`` command of the command line (the CLI layer: this prints).

``folder`` writes launch files from local DICOM files (library side:
:mod:`converter.folder.reader`), into one file, stdout or a folder of per-study files,
as ``snapshot`` does.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from converter.cli.console import Ui

if TYPE_CHECKING:  # converter.folder.reader reads Part 10 with pydicom: imported when used
    from converter.folder.result import FolderResult

FOLDER_EXAMPLES = """examples:
  # files served from a bucket or web server under the same layout
  dicomweb2ohif folder /data/study1 --url-prefix https://files.example/study1 -o study1.json
  # relative URLs (resolved against the viewer's page), checked on the way
  dicomweb2ohif folder ./dicom --url-prefix /dicom -o - | dicomweb2ohif validate -
  # a large archive: one gzipped launch file per study plus index.json
  dicomweb2ohif folder /mnt/archive --url-prefix https://files.example/archive --gzip -o launch/
"""
NAMES_SHOWN = 5


def _jobs(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return int(text)


def default_jobs() -> int:
    """Processes to read with: the CPUs this process may run on."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else os.cpu_count() or 1


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Register ``folder`` on the CLI's sub-command set."""
    folder: argparse.ArgumentParser = commands.add_parser(
        "folder",
        help="write a launch file from a folder of DICOM files",
        description="Read every DICOM Part 10 file under PATH (headers only) and write an "
        "OHIF DICOM JSON launch file whose urls are --url-prefix + each file's path under "
        "PATH. Files that are not DICOM or cannot be read are skipped and named.",
        epilog=FOLDER_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    folder.add_argument("path", metavar="PATH", help="folder to read (recursively)")
    folder.add_argument(
        "--url-prefix",
        required=True,
        metavar="URL",
        help="where a viewer reaches PATH: an http(s) URL or a relative path",
    )
    folder.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="FILE|DIR/",
        help="launch file to write (atomically), - for stdout, or a folder "
        "(trailing /) or storage URL (s3://...) for one file per study plus "
        "index.json",
    )
    folder.add_argument("--gzip", action="store_true", help="folder output: write <uid>.json.gz")
    folder.add_argument(
        "--keep-private", action="store_true", help="keep private tags (under their 8-hex key)"
    )
    folder.add_argument(
        "--no-inline-documents",
        action="store_true",
        help="do not carry encapsulated PDFs inside the launch file (OHIF "
        "then cannot open them: a static host serves no PDF of its own)",
    )
    folder.add_argument(
        "--jobs",
        type=_jobs,
        default=default_jobs(),
        metavar="N",
        help=f"processes reading files (default {default_jobs()}, the CPUs)",
    )
    folder.add_argument("--indent", type=int, metavar="N", help="pretty-print with N spaces")
    folder.add_argument(
        "--shard",
        metavar="K/N",
        help="write only part K of N of the studies (stable hash of the UID; "
        "default from $JOB_COMPLETION_INDEX or $SLURM_ARRAY_TASK_ID)",
    )
    folder.add_argument(
        "--shard-count",
        type=int,
        metavar="N",
        help="N for $JOB_COMPLETION_INDEX (or $DICOMWEB2OHIF_SHARDS)",
    )
    from converter.cli.arguments import add_study_list_option

    add_study_list_option(folder)
    return folder


class _FileProgress:
    """A transient bar on a terminal (nothing on a pipe or with --quiet)."""

    def __init__(self, ui: Ui) -> None:
        self.ui = ui
        self.bar: Progress | None = None
        self.task: Any = None

    def __enter__(self) -> _FileProgress:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.bar is not None:
            self.bar.stop()

    def update(self, done: int, total: int) -> None:
        if self.ui.quiet or not self.ui.err.is_terminal:
            return
        if self.bar is None:
            self.bar = Progress(
                TextColumn("files"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=self.ui.err,
                transient=True,
            )
            self.task = self.bar.add_task("files", total=total)
            self.bar.start()
        self.bar.update(self.task, completed=done)


def cmd_folder(args: argparse.Namespace, ui: Ui) -> int:
    """Run ``folder``: 0 when a launch file was written (skipped files named), else 1."""
    from converter.cli.options import check_output, open_store, shard_of
    from converter.cli.process import few_collections
    from converter.folder.reader import check_prefix, read_folder
    from converter.folder.spill import Spill

    shard = shard_of(args, ui)
    output = check_output(args, shard)
    path = output.path

    prefix = check_prefix(args.url_prefix)
    # A folder of per-study files: park the metadata on disk, one study in memory at a time.
    spill = Spill() if output.kind == "folder" else None
    try:
        # One block for reading and writing: the collector back at its defaults would scan
        # every study held in memory (converter/cli/process.py).
        with few_collections():
            with _FileProgress(ui) as progress:
                result = read_folder(
                    Path(args.path),
                    prefix,
                    keep_private=args.keep_private,
                    inline_documents=not args.no_inline_documents,
                    jobs=args.jobs,
                    exclude=path,
                    progress=progress.update,
                    spill=spill,
                )
            _report(ui, result)
            owned = [uid for uid in result.study_uids if shard.owns(uid)]
            # Every study is written: a folder's content may change under the same UIDs.
            store, target = open_store(args, ui, shard, output, owned, force=True)
            written = 0
            try:
                for study in result.iter_studies():
                    if shard.owns(study.uid):
                        written += store.write(study)
                written += store.close()
            except KeyboardInterrupt:
                store.abort()
                raise
            counts = (len(owned), len(result.study_uids), result.instances, result.files)
            del result, store
    finally:
        if spill is not None:
            spill.close()
    ui.info(
        f"wrote {counts[0]} of {counts[1]} studies, {counts[2]} instances read from "
        f"{counts[3]} files ({written:,} bytes) to {target}"
    )
    return 0


def _names(paths: list[str]) -> str:
    more = f" and {len(paths) - NAMES_SHOWN} more" if len(paths) > NAMES_SHOWN else ""
    return ", ".join(paths[:NAMES_SHOWN]) + more


def _report(ui: Ui, result: FolderResult) -> None:
    from converter.folder.result import describe_skipped

    for text, paths in result.warnings.items():
        if len(paths) == 1:
            ui.warn(f"{paths[0]}: {text}")
        else:
            ui.warn(f"{text} ({len(paths)} files: {_names(paths)})")
    if result.skipped:
        ui.warn(
            f"skipped {len(result.skipped)} of "
            f"{describe_skipped(result.skipped, result.files, NAMES_SHOWN)}"
        )
    if result.duplicates:
        shown = [f"{d.path} (same SOP instance as {d.kept})" for d in result.duplicates]
        ui.warn(
            f"{len(result.duplicates)} files hold an instance already read, kept once: "
            f"{_names(shown)}"
        )


__all__ = ["add_parser", "cmd_folder"]
