"""How the CLI names the library's arguments: each :func:`converter.errors.arg` wording
used in a message, and the flag a command-line user gives instead.

The library's messages speak of its own arguments (``verify=False``); the CLI shows
them as flags (``--insecure``) through :meth:`converter.errors.ConverterError.worded`.
``tests/test_api.py`` checks that every wording the library uses has its flag here.
"""

from __future__ import annotations

from converter.errors import ConverterError

FLAGS: dict[str, str] = {
    "studies": "--study",
    "studies=UIDs": "--study UIDs",
    "limit": "--limit",
    "shard": "--shard",
    "count=N": "--shard-count N",
    "credentials": "--user, --token",
    "token_provider": "--token-command",
    "token_command": "--token-command",
    "auth": "--aws-sigv4",
    "aws_region": "--aws-sigv4 REGION",
    "timeout": "--timeout",
    "verify=False": "--insecure",
    "verify=<PEM file>": "--ca-bundle PEM",
    "wado_uri_root": "--wado-uri-root",
    "url_template": "--url-template",
    "document_url_template": "--document-url-template",
    "image_urls": "--image-urls",
    "image_urls=wadors": "--image-urls wadors",
    "image_urls=wadouri": "--image-urls wadouri",
    "url_prefix": "--url-prefix",
    "jobs=1": "--jobs 1",
    "gzip": "--gzip",
    "output=DIR/": "-o DIR/",
    "proxy": "--proxy",
    "viewer_dist": "--viewer-dist",
    "viewer_dist=DIR": "--viewer-dist DIR",
    "viewer_base": "--viewer-base",
    "port=N": "--port N",
    "port=0": "--port 0",
}

LIBRARY_ONLY = frozenset({"session", "verify"})
"""Wordings of messages the CLI cannot cause (it never passes its own session)."""


def flag_worded(error: ConverterError) -> str:
    """``error``'s message as the command line's user reads it."""
    return error.worded(FLAGS)
