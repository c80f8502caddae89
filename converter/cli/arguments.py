"""Arguments that several commands declare (sign-in, the study list page's viewer), and the
environment variables they name: declarations only, so the parser imports nothing heavy.

What the values do is in :mod:`converter.cli.options`.
"""

from __future__ import annotations

import argparse
import re
from typing import Any

from converter.output.study_list import PUBLIC_VIEWER

PASSWORD_ENV = "DICOMWEB2OHIF_PASSWORD"


TOKEN_ENV = "DICOMWEB2OHIF_TOKEN"


def add_token_command(group: Any) -> None:
    """``--token-command`` on a parser or argument group (``snapshot``, ``studies``, ``serve``)."""
    group.add_argument(
        "--token-command",
        metavar="CMD",
        help="command that prints a bearer token, run (without a shell) at the start, "
        "again on a 401 and shortly before an expiry it states as JSON "
        "(access_token/accessToken with expires_in/expires_on); the token is never "
        "shown or written. E.g. 'gcloud auth print-access-token'",
    )


def _region(text: str) -> str:
    if text and not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d{1,2}", text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an AWS region such as us-east-1 (put the URL first)"
        )
    return text


def add_aws_sigv4(group: Any) -> None:
    """``--aws-sigv4`` on a parser or argument group."""
    group.add_argument(
        "--aws-sigv4",
        nargs="?",
        const="",
        type=_region,
        metavar="REGION",
        help="sign requests with AWS Signature Version 4 for AWS HealthImaging "
        "(botocore's credentials: environment, ~/.aws, $AWS_PROFILE, roles); REGION "
        "defaults to the one in the host name",
    )


def add_google_adc(group: Any) -> None:
    """``--google-adc`` on a parser or argument group."""
    group.add_argument(
        "--google-adc",
        action="store_true",
        help="bearer tokens from Google application default credentials "
        "($GOOGLE_APPLICATION_CREDENTIALS, gcloud auth application-default login, "
        "or the metadata server; needs google-auth), renewed as they expire",
    )


def add_study_list_option(parser: argparse.ArgumentParser) -> None:
    """``--viewer-base`` of the commands that write a folder's study list page (``index.html``)."""
    parser.add_argument(
        "--viewer-base",
        metavar="URL",
        help="folder output: the OHIF Viewer the study list page index.html opens studies "
        f"in (default {PUBLIC_VIEWER}; a path such as ../ohif/ is relative to the page)",
    )
