"""Option handling shared by the commands: the server, the filters, ``-o`` and its store,
and sharding.

One place for these rules so ``snapshot`` and ``folder`` write their output the same way
(one launch file, stdout, or a folder of per-study files with ``index.json``).
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import warnings
from pathlib import Path

from converter.cli.arguments import PASSWORD_ENV, TOKEN_ENV
from converter.cli.console import Ui
from converter.errors import UsageError
from converter.launch.urls import AutoUrls, InstanceUrls, choose_urls
from converter.output.choose import Output, open_output, resolve_output
from converter.output.store import Store
from converter.output.study_list import PUBLIC_VIEWER, check_viewer_base
from converter.snapshot.selection import Shard
from converter.source.client import DicomWebSource
from converter.source.query import StudyFilter
from converter.source.session import Credentials, RetryPolicy
from converter.source.token_command import command_token


def study_filter(args: argparse.Namespace) -> StudyFilter:
    return StudyFilter(
        patient_id=args.patient_id,
        study_date=args.study_date,
        modality=args.modality,
        accession_number=args.accession,
    )


def instance_urls(args: argparse.Namespace, source: DicomWebSource) -> InstanceUrls | AutoUrls:
    """The URLs ``snapshot`` writes (``auto`` is decided by the run, with one request)."""
    return choose_urls(
        source.root,
        args.url_template,
        args.document_url_template,
        args.wado_uri_root,
        getattr(args, "image_urls", "auto"),
    )


def credentials_of(args: argparse.Namespace) -> Credentials:
    command = getattr(args, "token_command", None)
    region = getattr(args, "aws_sigv4", None)
    if getattr(args, "google_adc", False):
        if args.token or args.user or command or region is not None:
            raise UsageError("give --google-adc or --token/--user/--token-command/--aws-sigv4")
        from converter.source.google import GoogleCredentials  # google-auth only when asked

        return Credentials(headers=tuple(args.header), token_provider=GoogleCredentials())
    if region is not None:
        if args.token or args.user or command:
            raise UsageError("give --aws-sigv4 or --token/--user/--token-command, not both")
        from converter.source.aws import AwsSigV4  # botocore only when asked for

        return Credentials(headers=tuple(args.header), auth=AwsSigV4(region or None, url=args.url))
    if command is not None:
        if args.token or args.user:
            raise UsageError("give --token-command or --token/--user, not both")
        # Not $DICOMWEB2OHIF_TOKEN: a token left in the environment must not win.
        return Credentials(
            headers=tuple(args.header), token_provider=command_token(command, timeout=args.timeout)
        )
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


def study_list_of(args: argparse.Namespace) -> str:
    """The checked ``--viewer-base`` (a usage error when it is no http(s) URL or path)."""
    return check_viewer_base(str(getattr(args, "viewer_base", None) or PUBLIC_VIEWER))


def check_output(args: argparse.Namespace, shard: Shard) -> Output:
    """Resolve and check ``-o`` (and the options that need a folder) before any work."""
    output = resolve_output(args.output, gzip=args.gzip, sharded=shard.count > 1)
    if getattr(args, "viewer_base", None) and output.kind != "folder":
        raise UsageError(
            "--viewer-base goes with folder output (-o DIR/): it is the viewer of the "
            "folder's study list page"
        )
    return output


def open_store(
    args: argparse.Namespace, ui: Ui, shard: Shard, output: Output, order: list[str], *, force: bool
) -> tuple[Store, str]:
    """The store ``-o`` asked for (one file, or a folder with this shard's index) and its name."""
    return open_output(
        output,
        order,
        gzip=args.gzip,
        force=force,
        indent=args.indent,
        index_name=shard.index_name,
        owns=shard.owns,
        study_list=study_list_of(args) if shard.count == 1 else None,
        warn=ui.warn,
        sink=write_stdout,
    )
