"""The argument parser of the command line: every command's options and their checks.

Values are checked as they are parsed (a date range as PS3.18 QIDO-RS ``StudyDate``
matching takes it, PS3.4 C.2.2.2.5; a Modality code string, PS3.5 6.2 CS), so a mistake
is a usage error (exit 2) before any request.
"""

from __future__ import annotations

import argparse
import re
from typing import Any, NoReturn

from converter import __version__
from converter.cli.arguments import (
    PASSWORD_ENV,
    TOKEN_ENV,
    add_aws_sigv4,
    add_google_adc,
    add_study_list_option,
    add_token_command,
)
from converter.cli.folder import add_parser as add_folder_parser
from converter.cli.serve import add_parser as add_serve_parser
from converter.cli.validate import add_parser as add_validate_parser
from converter.defaults import (
    DEFAULT_TIMEOUT,
    DEFAULT_WORKERS,
    RETRY_ATTEMPTS,
    RETRY_BACKOFF,
    STUDY_REQUEST_MAX,
)
from converter.errors import UsageError
from converter.launch.urls import ImageUrls

EXAMPLES = {
    "snapshot": """examples:
  dicomweb2ohif snapshot http://localhost:8042/dicom-web -o all.json
  dicomweb2ohif snapshot http://localhost:8042/dicom-web --study 1.2.3.4 -o study.json
  dicomweb2ohif snapshot https://pacs.example/dicom-web --modality CT \\
      --study-date 20200101-20201231 --wado-uri-root https://viewer.example/wado -o ct.json
  dicomweb2ohif snapshot http://localhost:8042/dicom-web -o - | jq '.studies | length'
  dicomweb2ohif snapshot https://dicom.example/dicomWeb --image-urls wadors -o frames.json
  DICOMWEB2OHIF_PASSWORD=... dicomweb2ohif snapshot https://pacs.example/dicom-web \\
      --user migrator --workers 8 --gzip -o launch-files/
  dicomweb2ohif snapshot https://healthcare.googleapis.com/v1/projects/.../dicomWeb \\
      --token-command 'gcloud auth print-access-token' -o launch-files/
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
        "--timeout",
        type=_positive,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"per-request timeout (default {DEFAULT_TIMEOUT:g})",
    )
    net.add_argument(
        "--retries",
        type=_count,
        default=RETRY_ATTEMPTS,
        metavar="N",
        help="attempts per request on busy answers and dropped connections "
        f"(default {RETRY_ATTEMPTS}, exponential backoff, Retry-After respected)",
    )
    net.add_argument(
        "--retry-backoff",
        type=_positive,
        default=RETRY_BACKOFF,
        metavar="SECONDS",
        help=f"wait before the first retry, doubled for each next one (default {RETRY_BACKOFF:g})",
    )
    net.add_argument(
        "--user",
        metavar="NAME",
        help=f"HTTP basic auth user; password from ${PASSWORD_ENV} or a prompt",
    )
    net.add_argument(
        "--token",
        metavar="TOKEN",
        help=f"bearer token (better: set ${TOKEN_ENV}, kept out of shell history)",
    )
    add_token_command(net)
    add_aws_sigv4(net)
    add_google_adc(net)
    net.add_argument(
        "--header",
        type=_header,
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="extra request header (repeatable)",
    )
    net.add_argument("--ca-bundle", metavar="PEM", help="CA certificates to verify the server with")
    net.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")


def _add_filters(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("QIDO-RS filters (no filter: every study)")
    group.add_argument("--patient-id", metavar="ID", help="PatientID to match")
    group.add_argument(
        "--study-date",
        type=_study_date,
        metavar="DATE",
        help="StudyDate or range, e.g. 20200101-20201231",
    )
    group.add_argument("--modality", type=_modality, help="ModalitiesInStudy, e.g. CT")
    group.add_argument("--accession", metavar="NUMBER", help="AccessionNumber to match")
    group.add_argument(
        "--page-size",
        type=_count,
        default=500,
        metavar="N",
        help="studies per QIDO-RS page (limit/offset paging, default 500)",
    )


def _add_verbosity(parser: argparse.ArgumentParser, default: Any = False) -> None:
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=default,
        help="no progress or warnings on stderr",
    )
    parser.add_argument(
        "-v",
        "--debug",
        action="store_true",
        default=default,
        help="log HTTP requests and show tracebacks",
    )


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
        "snapshot",
        help="write one launch file with the selected studies",
        description="Fetch the WADO-RS metadata of the selected studies and write one OHIF "
        "DICOM JSON launch file.",
        epilog=EXAMPLES["snapshot"],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_server(snap)
    snap.add_argument(
        "--study",
        action="append",
        default=[],
        metavar="UID",
        help="a StudyInstanceUID to take (repeatable)",
    )
    _add_filters(snap)
    snap.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="FILE|DIR/",
        help="launch file to write (atomically), - for stdout, or a folder "
        "(trailing /) for one file per study plus index.json, resumable",
    )
    snap.add_argument("--limit", type=_count, metavar="N", help="take at most N studies")
    run_group = snap.add_argument_group("large runs")
    run_group.add_argument(
        "--workers",
        type=_count,
        default=DEFAULT_WORKERS,
        metavar="N",
        help=f"concurrent requests (default {DEFAULT_WORKERS})",
    )
    run_group.add_argument(
        "--per-series",
        action="store_true",
        help="ask for each series' metadata, never a whole study's at once "
        "(the default asks for whole studies of up to "
        f"{STUDY_REQUEST_MAX} instances when there are at least twice as "
        "many studies as workers)",
    )
    run_group.add_argument("--gzip", action="store_true", help="folder output: write <uid>.json.gz")
    run_group.add_argument(
        "--force", action="store_true", help="folder output: rewrite studies that are up to date"
    )
    run_group.add_argument(
        "--shard",
        metavar="K/N",
        help="take part K of N (0-based) of the studies, split by a stable "
        "hash of the UID; default from $JOB_COMPLETION_INDEX or "
        "$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT",
    )
    run_group.add_argument(
        "--shard-count",
        type=_count,
        metavar="N",
        help="N for $JOB_COMPLETION_INDEX (or $DICOMWEB2OHIF_SHARDS)",
    )
    urls = snap.add_argument_group("instance URLs written into the file")
    urls.add_argument(
        "--image-urls",
        choices=[m.value for m in ImageUrls],
        default=ImageUrls.AUTO.value,
        help="wadouri: whole objects by WADO-URI; wadors: WADO-RS frame URLs "
        "(.../instances/<uid>/frames/<n>) for servers without WADO-URI (Google, AWS); "
        "auto (default): wadouri if the server answers WADO-URI for one listed instance, "
        "else wadors (said on stderr). --wado-uri-root means wadouri",
    )
    urls.add_argument(
        "--wado-uri-root",
        metavar="URL",
        help="public WADO-URI root a viewer will use (default: the DICOMweb "
        "root with its last path segment replaced by 'wado')",
    )
    urls.add_argument(
        "--url-template",
        metavar="TEMPLATE",
        help="instead of WADO-URI, e.g. https://bucket/{study}/{series}/{instance}.dcm",
    )
    urls.add_argument(
        "--document-url-template",
        metavar="TEMPLATE",
        help="with --url-template: where encapsulated PDFs can be read",
    )
    snap.add_argument(
        "--keep-private", action="store_true", help="keep private tags (under their 8-hex key)"
    )
    snap.add_argument("--indent", type=int, metavar="N", help="pretty-print with N spaces")
    add_study_list_option(snap)

    studies = commands.add_parser(
        "studies",
        help="list the studies on a server",
        description="List matching studies (QIDO-RS) as a table, or as JSON with --json.",
        epilog=EXAMPLES["studies"],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_server(studies)
    _add_filters(studies)
    studies.add_argument("--json", action="store_true", help="print keyword-form JSON")

    mapper = commands.add_parser(
        "map",
        help="map saved PS3.18 metadata JSON to keyword form",
        description="Read a PS3.18 JSON array (what .../metadata returns) and print the "
        "naturalized keyword-form array.",
        epilog=EXAMPLES["map"],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    mapper.add_argument("file", nargs="?", default="-", help="JSON file, or - for stdin")
    mapper.add_argument("--keep-private", action="store_true", help="keep private tags")
    mapper.add_argument("--indent", type=int, metavar="N", help="pretty-print with N spaces")
    merge = commands.add_parser(
        "index",
        help="merge shard indexes of a folder into index.json",
        description="Merge index.json, every index-K-of-N.json and study files without an "
        "entry into one index.json, and write its study list page index.html (atomically).",
        epilog="examples:\n  dicomweb2ohif index /srv/launch/\n"
        "  dicomweb2ohif index s3://bucket/launch/\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    merge.add_argument("folder", help="folder or storage URL written by snapshot -o")
    add_study_list_option(merge)
    served = add_serve_parser(commands)
    local = [add_folder_parser(commands), add_validate_parser(commands)]
    for sub in (snap, studies, mapper, merge, served, *local):
        _add_verbosity(sub, default=argparse.SUPPRESS)  # also accepted after the command
    return parser
