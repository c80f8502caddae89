"""The terminal side of the CLI: messages, progress and the final summary, all on stderr.

Part of the command-line layer (with :mod:`converter.cli`): the library never
prints. A terminal gets a live rich progress display (studies and instances done
out of the total, rate, ETA); a pipe or log file gets one plain line per study,
never wrapped or cut, so UIDs can be copied from it.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from converter.cli.wording import flag_worded

if TYPE_CHECKING:  # the snapshot's modules load requests: not needed to print
    from converter.snapshot.report import SnapshotReport
    from converter.snapshot.selection import PlannedStudy
from converter.uids import shown


def shown_uid(uid: str) -> str:
    """A study UID as printed: as it is when safe, else quoted and cut (:mod:`converter.uids`).

    UIDs come from the server; a hostile one with a newline or markup must not
    break a line or forge another one in a log.
    """
    return shown(uid)


class Ui:
    """Where messages go: rich on stderr, silenced by ``--quiet``."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.err = Console(stderr=True, highlight=False, soft_wrap=True)
        self.warnings = 0

    def warn(self, message: str) -> None:
        self.warnings += 1
        if not self.quiet:
            self.err.print(f"[yellow]warning:[/] {escape(message)}")

    def info(self, message: str) -> None:
        if not self.quiet:
            self.err.print(escape(message))

    def error(self, message: str) -> None:
        self.err.print(f"[red]error:[/] {escape(message)}")


class SnapshotProgress:
    """Implements :class:`converter.snapshot.run.Events` for the terminal."""

    def __init__(self, ui: Ui) -> None:
        self.ui = ui
        self.live = ui.err.is_terminal and not ui.quiet
        self.progress: Progress | None = None
        self.studies_task: TaskID | None = None
        self.instances_task: TaskID | None = None
        self.total = 0
        self.done = 0
        self.started = time.monotonic()

    def __enter__(self) -> SnapshotProgress:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.progress is not None:
            self.progress.stop()

    def planned(self, studies: list[PlannedStudy]) -> None:
        self.total = len(studies)
        counts = [s.instances for s in studies]
        instances = sum(c for c in counts if c is not None) if None not in counts else None
        if not self.live:
            total = f", {instances} instances" if instances is not None else ""
            self.ui.info(f"{self.total} studies selected{total}")
            return
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("[progress.data.speed]{task.fields[rate]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.ui.err,
            transient=False,
        )
        self.studies_task = self.progress.add_task("studies  ", total=self.total, rate="")
        self.instances_task = self.progress.add_task("instances", total=instances, rate="")
        self.progress.start()

    def study(self, uid: str, status: str, instances: int, message: str = "") -> None:
        self.done += 1
        if self.progress is not None and self.studies_task is not None:
            elapsed = max(time.monotonic() - self.started, 1e-6)
            self.progress.advance(self.studies_task)
            if self.instances_task is not None:
                self.progress.advance(self.instances_task, instances)
                task = self.progress.tasks[self.instances_task]
                self.progress.update(
                    self.instances_task, rate=f"{task.completed / elapsed:,.0f} inst/s"
                )
            if status == "failed":
                self.ui.err.print(
                    f"[red]failed:[/] study {escape(shown_uid(uid))}: {escape(message)}"
                )
            return
        if self.ui.quiet:
            return
        line = f"[{self.done}/{self.total}] study {shown_uid(uid)}: "
        if status == "failed":
            self.ui.err.print(f"{escape(line)}[red]failed[/]: {escape(message)}")
        else:
            self.ui.info(f"{line}{status}, {instances} instances")


def summary(ui: Ui, report: SnapshotReport, target: str) -> None:
    """The final table (unless ``--quiet``) and, always, one line per failed study."""
    if not ui.quiet:
        table = Table(title=f"snapshot into {target}", title_justify="left", box=None)
        for header in ("written", "skipped", "failed", "instances", "bytes", "seconds"):
            table.add_column(header, justify="right")
        table.add_row(
            str(report.written),
            str(report.skipped),
            str(len(report.failures)),
            f"{report.instances:,}",
            f"{report.bytes:,}",
            f"{report.seconds:.1f}",
        )
        ui.err.print(table)
    for failure in report.failures:
        ui.error(
            f"study {shown_uid(failure.uid)} failed and was not written: "
            f"{flag_worded(failure.error)}"
        )
