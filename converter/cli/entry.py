"""The ``dicomweb2ohif`` entry point: runs a command; the error boundary (only the CLI prints).

stdout carries data (launch files, JSON, tables meant for piping); messages,
warnings and progress go to stderr. Library errors become one line on stderr and
exit code 1 (2 for usage errors); a traceback only with ``--debug``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from rich.markup import escape

from converter.cli.console import Ui
from converter.cli.parser import build_parser
from converter.cli.process import interrupt_on_sigterm, restore_sigterm
from converter.cli.wording import flag_worded
from converter.errors import ConverterError, UsageError

COMMANDS = {
    "index": "converter.cli.index:cmd_index",
    "snapshot": "converter.cli.snapshot:cmd_snapshot",
    "studies": "converter.cli.studies:cmd_studies",
    "map": "converter.cli.map:cmd_map",
    "serve": "converter.cli.serve:cmd_serve",
    "folder": "converter.cli.folder:cmd_folder",
    "validate": "converter.cli.validate:cmd_validate",
}
"""Each command's function, imported when it runs: ``map`` loads no HTTP stack."""


def _command(name: str) -> Callable[[argparse.Namespace, Ui], int]:
    module, _, function = COMMANDS[name].partition(":")
    found: Callable[[argparse.Namespace, Ui], int] = getattr(
        importlib.import_module(module), function
    )
    return found


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 failure, 2 usage)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "-v" in argv or "--debug" in argv
    quiet = "-q" in argv or "--quiet" in argv
    ui = Ui(quiet)
    # Plain lines on stderr: a log line (a URL, a UID) is never wrapped to the terminal.
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        force=True,
        handlers=[_StderrHandler()],
        format="%(levelname)s %(name)s: %(message)s",
    )
    # botocore's debug log (--aws-sigv4) shows each canonical request, session token
    # included: never in ours.
    logging.getLogger("botocore").setLevel(logging.INFO if debug else logging.WARNING)
    previous_sigterm = signal.getsignal(signal.SIGTERM)
    try:
        args = build_parser().parse_args(argv)
        if args.command == "snapshot":
            interrupt_on_sigterm()
        return _command(args.command)(args, ui)
    except SystemExit as exc:  # --help and --version
        return int(exc.code or 0)
    except UsageError as exc:
        if debug:
            traceback.print_exc()
        ui.err.print(f"[red]error:[/] {escape(flag_worded(exc))}")
        return 2
    except ConverterError as exc:
        if debug:
            traceback.print_exc()
        ui.err.print(f"[red]error:[/] {escape(flag_worded(exc))}")
        return 1
    except KeyboardInterrupt:
        ui.err.print("[red]interrupted[/]: nothing was written")
        return 130
    except BrokenPipeError:
        return 1
    except Exception as exc:  # a bug: still one line, the traceback with --debug
        if debug:
            traceback.print_exc()
        ui.err.print(
            f"[red]internal error:[/] {type(exc).__name__}: {escape(str(exc))} "
            "(run with --debug for the traceback and please report it)"
        )
        return 1
    finally:
        restore_sigterm(previous_sigterm)


class _StderrHandler(logging.StreamHandler[Any]):
    """Writes to whatever ``sys.stderr`` is at the time (it is replaced in tests)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def run() -> NoReturn:
    """Console-script entry point."""
    code = main()
    if code == 130:
        # Requests still in flight on worker threads end with the process.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
