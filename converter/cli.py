"""The ``dicomweb2ohif`` command line: the only module that prints.

stdout carries data (launch files, JSON, tables meant for piping); messages,
warnings and progress go to stderr. Library errors become one line on stderr and
exit code 1 (2 for usage errors); a traceback only with ``--debug``.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import re
import signal
import sys
import traceback
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from converter import __version__
from converter.answers import NotJsonError, load_json
from converter.cli_folder import add_parsers as add_folder_parsers
from converter.cli_folder import cmd_folder, cmd_validate
from converter.cli_serve import add_parser as add_serve_parser
from converter.cli_serve import cmd_serve
from converter.client import (
    DEFAULT_TIMEOUT,
    Credentials,
    DicomWebSource,
    RetryPolicy,
    StudyFilter,
    first_value,
)
from converter.console import SnapshotProgress, Ui, summary
from converter.errors import ConverterError, OutputError, UsageError
from converter.mapper import map_datasets
from converter.snapshot import (
    DEFAULT_WORKERS,
    STUDY_REQUEST_MAX,
    Selection,
    Shard,
    plan,
    snapshot,
)
from converter.store import INDEX_NAME, SingleFile, Store, StudyFolder, merge_indexes
from converter.targets import LocalTarget, Target, is_remote, open_target
from converter.writer import (
    InstanceUrls,
    TemplateUrls,
    WadoUriUrls,
    default_wado_uri_root,
    dumps,
)

PASSWORD_ENV = "DICOMWEB2OHIF_PASSWORD"
TOKEN_ENV = "DICOMWEB2OHIF_TOKEN"

EXAMPLES = {
    "snapshot": """examples:
  dicomweb2ohif snapshot http://localhost:8042/dicom-web -o all.json
  dicomweb2ohif snapshot http://localhost:8042/dicom-web --study 1.2.3.4 -o study.json
  dicomweb2ohif snapshot https://pacs.example/dicom-web --modality CT \\
      --study-date 20200101-20201231 --wado-uri-root https://viewer.example/wado -o ct.json
  dicomweb2ohif snapshot http://localhost:8042/dicom-web -o - | jq '.studies | length'
  DICOMWEB2OHIF_PASSWORD=... dicomweb2ohif snapshot https://pacs.example/dicom-web \
      --user migrator --workers 8 --gzip -o launch-files/
""",
    "studies": """examples:
  dicomweb2ohif studies http://localhost:8042/dicom-web
  dicomweb2ohif studies http://localhost:8042/dicom-web --patient-id P123 --json
""",
    "map": """examples:
  dicomweb2ohif map series-metadata.json
  curl -s http://localhost:8042/dicom-web/studies/1.2.3/series/4.5.6/metadata | dicomweb2ohif map -
""",
}

_DATE_RANGE_RE = re.compile(r"^(\d{8})?-?(\d{8})?$")
_MODALITY_RE = re.compile(r"^[A-Z0-9_ ]{1,16}$")


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so ``main`` stays testable in-process."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see --help)")


def _study_date(text: str) -> str:
    match = _DATE_RANGE_RE.match(text)
    if not text or not match or not (match.group(1) or match.group(2)):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date or range (YYYYMMDD, YYYYMMDD-YYYYMMDD, -YYYYMMDD, YYYYMMDD-)"
        )
    return text


def _modality(text: str) -> str:
    if not _MODALITY_RE.match(text.upper()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a modality code such as CT or MR")
    return text.upper()


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return value


def _count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return int(text)


def _header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip() or not re.match(r"^[!#-'*+.^-z|~0-9A-Za-z-]+$", name.strip()):
        raise argparse.ArgumentTypeError("a header is given as 'Name: value'")
    return name.strip(), value.strip()


def _add_server(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("url", help="DICOMweb root, e.g. http://localhost:8042/dicom-web")
    net = parser.add_argument_group("connection")
    net.add_argument(
        "--timeout", type=_positive, default=DEFAULT_TIMEOUT, metavar="SECONDS",
        help=f"per-request timeout (default {DEFAULT_TIMEOUT:g})",
    )
    net.add_argument("--retries", type=_count, default=5, metavar="N",
                     help="attempts per request on busy answers and dropped connections "
                     "(default 5, exponential backoff, Retry-After respected)")
    net.add_argument("--retry-backoff", type=_positive, default=RetryPolicy.backoff,
                     metavar="SECONDS", help="wait before the first retry, doubled for each "
                     f"next one (default {RetryPolicy.backoff:g})")
    net.add_argument("--user", metavar="NAME",
                     help=f"HTTP basic auth user; password from ${PASSWORD_ENV} or a prompt")
    net.add_argument("--token", metavar="TOKEN",
                     help=f"bearer token (better: set ${TOKEN_ENV}, kept out of shell history)")
    net.add_argument("--header", type=_header, action="append", default=[], metavar="'NAME: VALUE'",
                     help="extra request header (repeatable)")
    net.add_argument("--ca-bundle", metavar="PEM", help="CA certificates to verify the server with")
    net.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")


def _add_filters(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("QIDO-RS filters (no filter: every study)")
    group.add_argument("--patient-id", metavar="ID", help="PatientID to match")
    group.add_argument("--study-date", type=_study_date, metavar="DATE",
                       help="StudyDate or range, e.g. 20200101-20201231")
    group.add_argument("--modality", type=_modality, help="ModalitiesInStudy, e.g. CT")
    group.add_argument("--accession", metavar="NUMBER", help="AccessionNumber to match")
    group.add_argument("--page-size", type=_count, default=500, metavar="N",
                       help="studies per QIDO-RS page (limit/offset paging, default 500)")


def _add_verbosity(parser: argparse.ArgumentParser, default: Any = False) -> None:
    parser.add_argument("-q", "--quiet", action="store_true", default=default,
                        help="no progress or warnings on stderr")
    parser.add_argument("-v", "--debug", action="store_true", default=default,
                        help="log HTTP requests and show tracebacks")


def build_parser() -> argparse.ArgumentParser:
    """The whole command line (also used by the docs and tests)."""
    parser = _Parser(
        prog="dicomweb2ohif",
        description="Snapshot studies from a DICOMweb server into OHIF Viewer DICOM JSON "
        "launch files (open with /viewer/dicomjson?url=...).",
        epilog=EXAMPLES["snapshot"],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _add_verbosity(parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    snap = commands.add_parser(
        "snapshot", help="write one launch file with the selected studies",
        description="Fetch the WADO-RS metadata of the selected studies and write one OHIF "
        "DICOM JSON launch file.",
        epilog=EXAMPLES["snapshot"], formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_server(snap)
    snap.add_argument("--study", action="append", default=[], metavar="UID",
                      help="a StudyInstanceUID to take (repeatable)")
    _add_filters(snap)
    snap.add_argument("-o", "--output", required=True, metavar="FILE|DIR/",
                      help="launch file to write (atomically), - for stdout, or a folder "
                      "(trailing /) for one file per study plus index.json, resumable")
    snap.add_argument("--limit", type=_count, metavar="N", help="take at most N studies")
    run_group = snap.add_argument_group("large runs")
    run_group.add_argument("--workers", type=_count, default=DEFAULT_WORKERS, metavar="N",
                           help=f"concurrent requests (default {DEFAULT_WORKERS})")
    run_group.add_argument("--per-series", action="store_true",
                           help="ask for each series' metadata, never a whole study's at once "
                           "(the default asks for whole studies of up to "
                           f"{STUDY_REQUEST_MAX} instances when there are at least twice as "
                           "many studies as workers)")
    run_group.add_argument("--gzip", action="store_true",
                           help="folder output: write <uid>.json.gz")
    run_group.add_argument("--force", action="store_true",
                           help="folder output: rewrite studies that are up to date")
    run_group.add_argument("--shard", metavar="K/N",
                           help="take part K of N (0-based) of the studies, split by a stable "
                           "hash of the UID; default from $JOB_COMPLETION_INDEX or "
                           "$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT")
    run_group.add_argument("--shard-count", type=_count, metavar="N",
                           help="N for $JOB_COMPLETION_INDEX (or $DICOMWEB2OHIF_SHARDS)")
    urls = snap.add_argument_group("instance URLs written into the file")
    urls.add_argument("--wado-uri-root", metavar="URL",
                      help="public WADO-URI root a viewer will use (default: the DICOMweb "
                      "root with its last path segment replaced by 'wado')")
    urls.add_argument("--url-template", metavar="TEMPLATE",
                      help="instead of WADO-URI, e.g. https://bucket/{study}/{series}/{instance}.dcm")
    urls.add_argument("--document-url-template", metavar="TEMPLATE",
                      help="with --url-template: where encapsulated PDFs can be read")
    snap.add_argument("--keep-private", action="store_true",
                      help="keep private tags (under their 8-hex key)")
    snap.add_argument("--indent", type=int, metavar="N", help="pretty-print with N spaces")

    studies = commands.add_parser(
        "studies", help="list the studies on a server",
        description="List matching studies (QIDO-RS) as a table, or as JSON with --json.",
        epilog=EXAMPLES["studies"], formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_server(studies)
    _add_filters(studies)
    studies.add_argument("--json", action="store_true", help="print keyword-form JSON")

    mapper = commands.add_parser(
        "map", help="map saved PS3.18 metadata JSON to keyword form",
        description="Read a PS3.18 JSON array (what .../metadata returns) and print the "
        "naturalized keyword-form array.",
        epilog=EXAMPLES["map"], formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    mapper.add_argument("file", nargs="?", default="-", help="JSON file, or - for stdin")
    mapper.add_argument("--keep-private", action="store_true", help="keep private tags")
    mapper.add_argument("--indent", type=int, metavar="N", help="pretty-print with N spaces")
    merge = commands.add_parser(
        "index", help="merge shard indexes of a folder into index.json",
        description="Merge index.json, every index-K-of-N.json and study files without an "
        "entry into one index.json (written atomically).",
        epilog="examples:\n  dicomweb2ohif index /srv/launch/\n"
        "  dicomweb2ohif index s3://bucket/launch/\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    merge.add_argument("folder", help="folder or storage URL written by snapshot -o")
    served = add_serve_parser(commands)
    local = add_folder_parsers(commands)  # folder, validate
    for sub in (snap, studies, mapper, merge, served, *local):
        _add_verbosity(sub, default=argparse.SUPPRESS)  # also accepted after the command
    return parser


def _filter(args: argparse.Namespace) -> StudyFilter:
    return StudyFilter(
        patient_id=args.patient_id, study_date=args.study_date,
        modality=args.modality, accession_number=args.accession,
    )


def _urls(args: argparse.Namespace, source: DicomWebSource) -> InstanceUrls:
    if args.url_template:
        if args.wado_uri_root:
            raise UsageError("give --url-template or --wado-uri-root, not both")
        return TemplateUrls(args.url_template, args.document_url_template)
    if args.document_url_template:
        raise UsageError("--document-url-template goes with --url-template")
    return WadoUriUrls((args.wado_uri_root or default_wado_uri_root(source.root)).rstrip("/"))


def _credentials(args: argparse.Namespace) -> Credentials:
    password = None
    if args.user:
        password = os.environ.get(PASSWORD_ENV)
        if password is None:
            if not sys.stdin.isatty():
                raise UsageError(f"--user {args.user}: set ${PASSWORD_ENV} (no terminal to ask on)")
            password = getpass.getpass(f"password for {args.user}: ")
    token = args.token or os.environ.get(TOKEN_ENV) or None
    return Credentials(args.user, password, token, tuple(args.header))


def _source(args: argparse.Namespace, ui: Ui) -> DicomWebSource:
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
        ui.warn("TLS certificates are not verified (--insecure): anyone on the path can "
                "read and change the answers")
    return DicomWebSource(args.url, timeout=args.timeout, credentials=_credentials(args),
                          verify=verify, retry=RetryPolicy(args.retries, args.retry_backoff),
                          warn=ui.warn)


def _target(output: str) -> tuple[str, Path | None]:
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


def _write_stdout(data: bytes) -> None:
    sys.stdout.buffer.write(data)
    sys.stdout.flush()


def _shard(args: argparse.Namespace, ui: Ui) -> Shard:
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


def _output(args: argparse.Namespace, shard: Shard) -> Output:
    """Resolve and check ``-o`` (and the options that need a folder) before any work."""
    folder: Target | None = None
    if is_remote(args.output):
        kind, path = "folder", None
        folder = open_target(args.output)
    else:
        kind, path = _target(args.output)
    if args.gzip and kind != "folder":
        raise UsageError("--gzip goes with folder output (-o DIR/)")
    if shard.count > 1 and kind != "folder":
        raise UsageError("--shard goes with folder output (-o DIR/ or a storage URL): "
                         "each shard writes its own study files and index")
    return kind, path, folder


def _store(args: argparse.Namespace, ui: Ui, shard: Shard, output: Output, order: list[str],
           *, force: bool) -> tuple[Store, str]:
    """The store ``-o`` asked for (one file, or a folder with this shard's index) and its name."""
    kind, path, folder = output
    if kind != "folder":
        target = "stdout" if path is None else str(path.resolve())
        return SingleFile(path, order, args.indent, sink=_write_stdout), target
    if folder is None:
        assert path is not None
        folder = LocalTarget(path)
    index_name = INDEX_NAME if shard.count == 1 else f"index-{shard.index}-of-{shard.count}.json"
    store = StudyFolder(folder, compress=args.gzip, force=force, indent=args.indent,
                        index_name=index_name, owns=shard.owns, warn=ui.warn)
    return store, folder.description


def _cmd_snapshot(args: argparse.Namespace, ui: Ui) -> int:
    shard = _shard(args, ui)
    selection = Selection(tuple(args.study), _filter(args), args.limit, shard)
    output = _output(args, shard)
    kind = output[0]
    source = _source(args, ui)
    urls = _urls(args, source)
    studies = plan(source, selection, page_size=args.page_size)
    store, target = _store(args, ui, shard, output, [s.uid for s in studies], force=args.force)
    try:
        with SnapshotProgress(ui) as progress:  # stopped before any message below
            report = snapshot(source, selection, urls, store, workers=args.workers,
                              keep_private=args.keep_private, warn=ui.warn, events=progress,
                              studies=studies, by_study=False if args.per_series else None)
    except KeyboardInterrupt:
        done = "nothing was written" if kind != "folder" else (
            "finished studies are kept and indexed; run the same command again to finish")
        ui.error(f"interrupted: {done}")
        return 130
    summary(ui, report, target)
    if report.failed:
        return 1
    if report.written == 0 and report.skipped == 0:
        ui.error("no study was written")
        return 1
    return 0


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


def _cmd_studies(args: argparse.Namespace, ui: Ui) -> int:
    source = _source(args, ui)
    records = list(source.iter_studies(_filter(args), page_size=args.page_size))
    records.sort(key=lambda r: (str(first_value(r, "00080020") or ""),
                                str(first_value(r, "0020000D") or "")))
    mapped = map_datasets(records, warn=ui.warn)
    if args.json:
        sys.stdout.buffer.write(dumps(mapped, indent=2))
        return 0
    table = Table(title=None, box=None, show_edge=False, pad_edge=False)
    headers = ("Study UID", "Patient", "ID", "Date", "Description", "Mod", "Ser", "Inst")
    for header, (keyword, _tag) in zip(headers, STUDY_COLUMNS, strict=True):
        numeric = keyword.startswith("NumberOf")
        table.add_column(header, no_wrap=True, overflow="ignore",
                         justify="right" if numeric else "left")
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


def _cmd_map(args: argparse.Namespace, ui: Ui) -> int:
    name = "stdin" if args.file == "-" else args.file
    try:
        raw = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {name}: {exc.strerror}") from exc
    try:  # parsed as a server's answer is (converter/answers.py)
        document = load_json(raw, lambda message: ui.warn(f"{name}: {message}"))
    except NotJsonError as exc:
        raise ConverterError(f"{name} is not JSON: {exc}") from exc
    datasets = [document] if isinstance(document, dict) else document
    if not isinstance(datasets, list):
        raise ConverterError(f"{name} holds a JSON {type(document).__name__}, "
                             "not a PS3.18 array of datasets")
    mapped = map_datasets(datasets, keep_private=args.keep_private, warn=ui.warn)
    sys.stdout.buffer.write(dumps(mapped, indent=args.indent))
    return 0


def _cmd_index(args: argparse.Namespace, ui: Ui) -> int:
    target = open_target(args.folder)
    count = merge_indexes(target, warn=ui.warn)
    ui.info(f"{INDEX_NAME} in {target.description} lists {count} studies")
    return 0


COMMANDS = {"index": _cmd_index,
            "snapshot": _cmd_snapshot, "studies": _cmd_studies, "map": _cmd_map,
            "serve": cmd_serve, "folder": cmd_folder, "validate": cmd_validate}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 failure, 2 usage)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "-v" in argv or "--debug" in argv
    quiet = "-q" in argv or "--quiet" in argv
    ui = Ui(quiet)
    # Plain lines on stderr: a log line (a URL, a UID) is never wrapped to the terminal.
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING, force=True,
        handlers=[_StderrHandler()],
        format="%(levelname)s %(name)s: %(message)s",
    )
    previous_sigterm = signal.getsignal(signal.SIGTERM)
    try:
        args = build_parser().parse_args(argv)
        if args.command == "snapshot":
            _interrupt_on_sigterm()
        return COMMANDS[args.command](args, ui)
    except SystemExit as exc:  # --help and --version
        return int(exc.code or 0)
    except UsageError as exc:
        if debug:
            traceback.print_exc()
        ui.err.print(f"[red]error:[/] {escape(str(exc))}")
        return 2
    except ConverterError as exc:
        if debug:
            traceback.print_exc()
        ui.err.print(f"[red]error:[/] {escape(str(exc))}")
        return 1
    except KeyboardInterrupt:
        ui.err.print("[red]interrupted[/]: nothing was written")
        return 130
    except BrokenPipeError:
        return 1
    except Exception as exc:  # a bug: still one line, the traceback with --debug
        if debug:
            traceback.print_exc()
        ui.err.print(f"[red]internal error:[/] {type(exc).__name__}: {escape(str(exc))} "
                     "(run with --debug for the traceback and please report it)")
        return 1
    finally:
        _restore_sigterm(previous_sigterm)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (it is replaced in tests)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def _restore_sigterm(handler: Any) -> None:
    """Put back the caller's SIGTERM handler (``main`` also runs in-process, e.g. in tests)."""
    import threading

    if threading.current_thread() is threading.main_thread() and handler is not None:
        signal.signal(signal.SIGTERM, handler)


def _interrupt_on_sigterm() -> None:
    """``kill`` stops a command like Ctrl-C (``snapshot``: finished files kept and indexed,
    nothing partial; ``serve``: a clean shutdown). ``main`` restores the old handler."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def run() -> NoReturn:
    """Console-script entry point."""
    code = main()
    if code == 130:
        # Requests still in flight on worker threads end with the process.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
