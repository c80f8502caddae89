"""The ``serve`` command of the command line (the CLI layer: this module prints).

stdout gets one viewer URL per study, one per line and never wrapped, so
``dicomweb2ohif serve out/ | head -1`` is the URL to open; what each URL is,
the viewer download and warnings go to stderr. The library side is
:mod:`converter.serve.server`, :mod:`converter.serve.viewer` and :mod:`converter.serve.proxy`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from converter.cli.arguments import add_aws_sigv4, add_google_adc, add_token_command
from converter.cli.console import Ui
from converter.errors import UsageError
from converter.output.study_list import PUBLIC_VIEWER
from converter.serve.viewer import (
    OHIF_PACKAGE,
    OHIF_VERSION,
    PROVEN_VERSIONS,
    cache_root,
    cached_dist,
    check_dist,
    check_version,
    ensure_viewer,
)

if TYPE_CHECKING:  # the server and its proxy load requests: imported when serve runs
    from converter.serve.proxy import Upstream
    from converter.serve.server import Server
    from converter.source.tokens import TokenSource

EXAMPLES = f"""examples:
  # the local OHIF Viewer {OHIF_VERSION}, images through a proxy to the server: open the URL
  dicomweb2ohif serve out/ --viewer --proxy http://127.0.0.1:8042
  # a remote server, credentials kept on this side
  dicomweb2ohif serve snapshot.json --viewer --proxy https://user:pw@pacs.example
  # a cloud server: the proxy signs each request with a token, renewed as needed
  dicomweb2ohif serve out/ --viewer --proxy https://dicom.example/dicom-web \\
      --token-command 'gcloud auth print-access-token'
  # the same in the newest OHIF pre-release
  dicomweb2ohif serve out/ --viewer-version {PROVEN_VERSIONS[-1]} --proxy http://127.0.0.1:8042
  # only the launch files, for a viewer elsewhere (CORS headers for its origin)
  dicomweb2ohif serve out/ --viewer-base https://viewer.example.org
  # check that viewer, files and proxy answer, print the URLs, exit (scripts, CI)
  dicomweb2ohif serve out/ --viewer --proxy http://127.0.0.1:8042 --port 0 --check
"""


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (0-65535; 0: any free port)")
    return value


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Register ``serve`` on the CLI's sub-command set."""
    serve: argparse.ArgumentParser = commands.add_parser(
        "serve",
        help="serve launch files (and the OHIF Viewer) on 127.0.0.1",
        description="Serve a folder of launch files (or one file) on 127.0.0.1 and print the "
        "viewer URL of each study. --viewer also serves OHIF Viewer "
        f"{OHIF_VERSION} (fetched once with npm), --proxy the images' server on the same "
        "origin. Ctrl-C stops.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("folder", metavar="DIR", help="folder of launch files, or one launch file")
    serve.add_argument(
        "--port",
        type=_port,
        default=3000,
        metavar="N",
        help="port on 127.0.0.1 (default 3000; 0: any free port)",
    )
    serve.add_argument(
        "--viewer",
        action="store_true",
        help=f"also serve OHIF Viewer {OHIF_VERSION} ({OHIF_PACKAGE} from npm, "
        "kept in the user cache)",
    )
    serve.add_argument(
        "--viewer-version",
        metavar="VERSION",
        help="serve this published OHIF Viewer version instead (implies --viewer; "
        f"proven: {', '.join(PROVEN_VERSIONS)})",
    )
    serve.add_argument(
        "--viewer-dist",
        type=Path,
        metavar="DIR",
        help="serve this OHIF Viewer build (a dist/ folder) instead of fetching "
        "one (implies --viewer)",
    )
    serve.add_argument(
        "--proxy",
        metavar="URL",
        help="reverse-proxy this server (its origin, e.g. http://127.0.0.1:8042) "
        "under /proxy/ and point the served launch files at it",
    )
    add_token_command(serve)
    add_aws_sigv4(serve)
    add_google_adc(serve)
    serve.add_argument(
        "--viewer-base",
        metavar="URL",
        help="viewer the printed URLs open (default: the local one with "
        f"--viewer, else {PUBLIC_VIEWER})",
    )
    serve.add_argument(
        "--check",
        action="store_true",
        help="start, check that files, viewer and proxy answer, print the URLs "
        "and exit (1 if something does not answer)",
    )
    return serve


class _FetchProgress:
    """Shows the one-time viewer download: a message, then an unpack bar (stderr)."""

    def __init__(self, ui: Ui, version: str) -> None:
        self.ui = ui
        self.version = version
        self.bar: Progress | None = None
        self.task: Any = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage == "download":
            self.ui.info(
                f"fetching OHIF Viewer {self.version} ({OHIF_PACKAGE}, about 50 MB) "
                f"with npm, once, into {cached_dist(version=self.version)} ..."
            )
            return
        if self.ui.quiet:
            return
        if self.bar is None:
            self.bar = Progress(
                TextColumn("unpacking"),
                BarColumn(),
                MofNCompleteColumn(),
                console=self.ui.err,
                transient=True,
                disable=not self.ui.err.is_terminal,
            )
            self.task = self.bar.add_task("unpack", total=total)
            self.bar.start()
        self.bar.update(self.task, completed=done)
        if done == total:
            self.close()
            self.ui.info(f"unpacked {total} files")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def _viewer_dist(args: argparse.Namespace, ui: Ui) -> Path | None:
    if args.viewer_dist is not None:
        if args.viewer_version:
            raise UsageError("give --viewer-dist or --viewer-version, not both")
        return check_dist(args.viewer_dist)
    if not (args.viewer or args.viewer_version):
        return None
    version = check_version(args.viewer_version or OHIF_VERSION)
    if version not in PROVEN_VERSIONS:
        ui.warn(
            f"OHIF Viewer {version} is not one the launch files were proven in "
            f"({', '.join(PROVEN_VERSIONS)})"
        )
    progress = _FetchProgress(ui, version)
    try:
        return ensure_viewer(progress=progress, version=version)
    finally:
        progress.close()


def _upstream(args: argparse.Namespace) -> Upstream | None:
    """``--proxy`` and how it signs in (``--token-command``, ``--aws-sigv4``)."""
    from converter.serve.proxy import Upstream
    from converter.source.token_command import command_token

    given = {
        "--token-command": args.token_command is not None,
        "--aws-sigv4": args.aws_sigv4 is not None,
        "--google-adc": args.google_adc,
    }
    for flag in (f for f, on in given.items() if on and not args.proxy):
        raise UsageError(f"{flag} goes with --proxy (it signs in to that server)")
    if not args.proxy:
        return None
    if sum(given.values()) > 1:
        raise UsageError(f"give one of {', '.join(given)}")
    token: TokenSource | None = None
    if args.token_command is not None:
        token = command_token(args.token_command)
    elif args.google_adc:
        from converter.source.google import GoogleCredentials  # google-auth only when asked

        token = GoogleCredentials()
    signer = None
    if args.aws_sigv4 is not None:
        from converter.source.aws import AwsSigV4  # botocore only when asked for

        signer = AwsSigV4(args.aws_sigv4 or None, url=args.proxy)
    return Upstream.parse(args.proxy, token=token, signer=signer)


def cmd_serve(args: argparse.Namespace, ui: Ui) -> int:
    """Run ``serve``; returns the exit code (Ctrl-C or SIGTERM: 0)."""
    from converter.serve.options import ServeOptions
    from converter.serve.server import Server

    upstream = _upstream(args)
    if (
        args.viewer_base
        and (args.viewer or args.viewer_version or args.viewer_dist)
        and not args.check
    ):
        ui.warn("--viewer-base given: the printed URLs open that viewer, not the local one")
    options = ServeOptions(
        folder=Path(args.folder),
        port=args.port,
        viewer_dist=_viewer_dist(args, ui),
        upstream=upstream,
        viewer_base=args.viewer_base,
        warn=ui.warn,
        log=(lambda line: ui.err.print(escape(line))) if args.debug else None,
    )
    server = Server(options)
    try:
        _announce(server, ui, verbose=args.debug)
        if args.check:
            server.start()
            problems = server.check()
            for problem in problems:
                ui.error(problem)
            if problems:
                return 1
            ui.info(
                "checked: launch files"
                + (", viewer" if options.viewer_dist else "")
                + (", proxy" if upstream else "")
                + " answer"
            )
            return 0
        from converter.cli.process import interrupt_on_sigterm  # kill stops it like Ctrl-C

        interrupt_on_sigterm()
        ui.info("Ctrl-C to stop.")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            ui.info("stopped")
        return 0
    finally:
        server.stop()


def _announce(server: Server, ui: Ui, verbose: bool = False) -> None:
    """The banner, warnings and one viewer URL per study on stdout; with ``-v`` (and
    ``--viewer --proxy``) also the URL that opens each study live from the server."""
    options = server.options
    count = len(server.files)
    plural = "" if count == 1 else "s"
    parts = [f"serving {count} launch file{plural} from {options.folder} on {server.origin}"]
    if options.viewer_dist is not None:
        dist = options.viewer_dist
        cached = dist.parent == cache_root() and dist.name.startswith("ohif-")
        version = dist.name.removeprefix("ohif-") if cached else ""
        parts.append(f"OHIF Viewer {version} from {options.viewer_dist}".replace("  ", " "))
    if options.upstream is not None:
        parts.append(f"/proxy/ -> {options.upstream.origin}")
    ui.info("; ".join(parts))
    for note in server.notes():
        ui.warn(note)
    for link in server.links():
        if not ui.quiet:
            ui.err.print(
                escape(
                    f"{link.file}: {link.patient_name or '(no name)'} "
                    f"{link.modalities} {link.study_uid}"
                )
            )
            ui.err.file.flush()
        sys.stdout.write(link.url + "\n")
        sys.stdout.flush()
        live = server.live_url(link.study_uid)
        if live and verbose and not ui.quiet:
            ui.err.print(escape(f"  live from the server: {live}"))


__all__ = ["add_parser", "cmd_serve"]
