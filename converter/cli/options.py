"""Option handling shared by the commands: the server, the filters, ``-o`` and its store,
sharding, and how SIGTERM stops a command.

One place for these rules so ``snapshot`` and ``folder`` write their output the same way
(one launch file, stdout, or a folder of per-study files with ``index.json``).
"""

from __future__ import annotations

import argparse
import getpass
import os
import signal
import sys
import warnings
from pathlib import Path
from typing import Any

from converter.cli.console import Ui
from converter.errors import OutputError, UsageError
from converter.launch.urls import (
    AutoUrls,
    ImageUrls,
    InstanceUrls,
    TemplateUrls,
    WadoRsUrls,
    WadoUriUrls,
    default_wado_uri_root,
)
from converter.output.store import INDEX_NAME, SingleFile, Store, StudyFolder
from converter.output.targets import LocalTarget, Target, is_remote, open_target
from converter.snapshot.selection import Shard
from converter.source.client import DicomWebSource
from converter.source.query import StudyFilter
from converter.source.session import Credentials, RetryPolicy

PASSWORD_ENV = "DICOMWEB2OHIF_PASSWORD"


TOKEN_ENV = "DICOMWEB2OHIF_TOKEN"


def study_filter(args: argparse.Namespace) -> StudyFilter:
    return StudyFilter(
        patient_id=args.patient_id,
        study_date=args.study_date,
        modality=args.modality,
        accession_number=args.accession,
    )


def instance_urls(args: argparse.Namespace, source: DicomWebSource) -> InstanceUrls | AutoUrls:
    """The URLs ``snapshot`` writes: a template or a WADO-URI root win over
    ``--image-urls auto``; ``auto`` is resolved by the run (one check of the server)."""
    mode = ImageUrls(getattr(args, "image_urls", ImageUrls.AUTO.value))
    if args.url_template:
        if args.wado_uri_root:
            raise UsageError("give --url-template or --wado-uri-root, not both")
        if mode is ImageUrls.WADORS:
            raise UsageError("give --url-template or --image-urls wadors, not both")
        return TemplateUrls(args.url_template, args.document_url_template)
    if args.document_url_template:
        raise UsageError("--document-url-template goes with --url-template")
    if args.wado_uri_root and mode is ImageUrls.WADORS:
        raise UsageError("--wado-uri-root goes with --image-urls wadouri (or auto), not wadors")
    wado_uri = WadoUriUrls((args.wado_uri_root or default_wado_uri_root(source.root)).rstrip("/"))
    if args.wado_uri_root or mode is ImageUrls.WADOURI:
        return wado_uri
    wado_rs = WadoRsUrls(source.root.rstrip("/"))
    return wado_rs if mode is ImageUrls.WADORS else AutoUrls(wado_uri, wado_rs)


def credentials_of(args: argparse.Namespace) -> Credentials:
    password = None
    if args.user:
        password = os.environ.get(PASSWORD_ENV)
        if password is None:
            if not sys.stdin.isatty():
                raise UsageError(f"--user {args.user}: set ${PASSWORD_ENV} (no terminal to ask on)")
            password = getpass.getpass(f"password for {args.user}: ")
    token = args.token or os.environ.get(TOKEN_ENV) or None
    return Credentials(args.user, password, token, tuple(args.header))


def open_source(args: argparse.Namespace, ui: Ui) -> DicomWebSource:
    verify: bool | str = True
    if args.ca_bundle:
        if args.insecure:
            raise UsageError("give --ca-bundle or --insecure, not both")
        if not Path(args.ca_bundle).is_file():
            raise UsageError(f"--ca-bundle {args.ca_bundle}: no such file")
        verify = args.ca_bundle
    elif args.insecure:
        verify = False
        warnings.filterwarnings("ignore", message="Unverified HTTPS request")
        ui.warn(
            "TLS certificates are not verified (--insecure): anyone on the path can "
            "read and change the answers"
        )
    return DicomWebSource(
        args.url,
        timeout=args.timeout,
        credentials=credentials_of(args),
        verify=verify,
        retry=RetryPolicy(args.retries, args.retry_backoff),
        warn=ui.warn,
    )


def local_output(output: str) -> tuple[str, Path | None]:
    """("stdout" | "file" | "folder", path), checked before any request is made."""
    if output == "-":
        return "stdout", None
    path = Path(output)
    if output.endswith(("/", os.sep)) or path.is_dir():
        if path.exists() and not path.is_dir():
            raise OutputError(f"{path} exists and is not a folder")
        parent = path.resolve().parent
        if not parent.is_dir():
            raise OutputError(f"cannot create {path}: folder {parent} does not exist")
        return "folder", path
    if not (path.parent if str(path.parent) else Path(".")).is_dir():
        raise OutputError(f"cannot write {path}: folder {path.parent} does not exist")
    return "file", path


def write_stdout(data: bytes) -> None:
    sys.stdout.buffer.write(data)
    sys.stdout.flush()


def shard_of(args: argparse.Namespace, ui: Ui) -> Shard:
    if args.shard:
        shard = Shard.parse(args.shard)
    else:
        found = Shard.from_environment(os.environ, args.shard_count)
        if found is None:
            if args.shard_count:
                raise UsageError("--shard-count goes with $JOB_COMPLETION_INDEX; or give --shard")
            return Shard()
        shard, variable = found
        ui.info(f"{shard.label} (from ${variable})")
        return shard
    ui.info(shard.label)
    return shard


Output = tuple[str, Path | None, Target | None]
"""(``stdout`` | ``file`` | ``folder``, local path, folder target) of an ``-o`` value."""


def check_output(args: argparse.Namespace, shard: Shard) -> Output:
    """Resolve and check ``-o`` (and the options that need a folder) before any work."""
    folder: Target | None = None
    if is_remote(args.output):
        kind, path = "folder", None
        folder = open_target(args.output)
    else:
        kind, path = local_output(args.output)
    if args.gzip and kind != "folder":
        raise UsageError("--gzip goes with folder output (-o DIR/)")
    if shard.count > 1 and kind != "folder":
        raise UsageError(
            "--shard goes with folder output (-o DIR/ or a storage URL): "
            "each shard writes its own study files and index"
        )
    return kind, path, folder


def open_store(
    args: argparse.Namespace, ui: Ui, shard: Shard, output: Output, order: list[str], *, force: bool
) -> tuple[Store, str]:
    """The store ``-o`` asked for (one file, or a folder with this shard's index) and its name."""
    kind, path, folder = output
    if kind != "folder":
        target = "stdout" if path is None else str(path.resolve())
        return SingleFile(path, order, args.indent, sink=write_stdout), target
    if folder is None:
        assert path is not None
        folder = LocalTarget(path)
    index_name = INDEX_NAME if shard.count == 1 else f"index-{shard.index}-of-{shard.count}.json"
    store = StudyFolder(
        folder,
        compress=args.gzip,
        force=force,
        indent=args.indent,
        index_name=index_name,
        owns=shard.owns,
        warn=ui.warn,
    )
    return store, folder.description


def restore_sigterm(handler: Any) -> None:
    """Put back the caller's SIGTERM handler (``main`` also runs in-process, e.g. in tests)."""
    import threading

    if threading.current_thread() is threading.main_thread() and handler is not None:
        signal.signal(signal.SIGTERM, handler)


def interrupt_on_sigterm() -> None:
    """``kill`` stops a command like Ctrl-C (``snapshot``: finished files kept and indexed,
    nothing partial; ``serve``: a clean shutdown). ``main`` restores the old handler."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)
