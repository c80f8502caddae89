"""``auto`` image URLs: does the server answer WADO-URI? Asked once per run.

Google Cloud Healthcare and AWS HealthImaging have no WADO-URI service (PS3.18 9);
their launch files need WADO-RS frame URLs (:class:`~converter.launch.urls.WadoRsUrls`).
When the first study's metadata is in, its first instance is asked for by its
WADO-URI URL (one request per run); only the status line is read, the body is
closed unread. An answer of 400, 404, 405, 406 or
501, or a connection refused on that URL, means there is no WADO-URI: the run writes
WADO-RS URLs and says so in one warning. Anything else (a 2xx or 3xx, a 401/403,
a server error after the retries) keeps WADO-URI: a check that cannot tell must not
change the output.
"""

from __future__ import annotations

import requests

from converter.errors import ServerError
from converter.launch.urls import AutoUrls, InstanceUrls
from converter.mapping.mapper import Warn
from converter.source.client import DicomWebSource
from converter.source.failures import never_connected
from converter.source.session import RETRY_STATUSES, redact

NO_SERVICE_STATUSES = frozenset({400, 404, 405, 406, 501})
"""Answers that say the server has no WADO-URI for this object (PS3.18 9, RFC 9110 15.5)."""

REFUSED = -1
"""The status recorded for a connection refused on the WADO-URI URL."""


def resolve_auto(
    source: DicomWebSource,
    urls: AutoUrls,
    instance: tuple[str, str, str],
    warn: Warn | None = None,
) -> InstanceUrls:
    """WADO-URI URLs when the server answers WADO-URI for ``instance`` (study, series and
    SOP Instance UID of an instance it listed), else WADO-RS ones, with one warning."""
    url = urls.wado_uri.instance(*instance)
    try:
        status = wado_uri_status(source, url)
    except ServerError as exc:
        if warn:
            warn(f"could not check the server's WADO-URI ({exc}); writing WADO-URI URLs")
        return urls.wado_uri
    if status not in NO_SERVICE_STATUSES and status != REFUSED:
        return urls.wado_uri
    if warn:
        said = "refused the connection" if status == REFUSED else f"answered {status}"
        warn(
            f"the server's WADO-URI ({redact(url.split('?')[0])}) {said}: "
            "writing WADO-RS frame URLs instead"
        )
    return urls.wado_rs


def wado_uri_status(source: DicomWebSource, url: str) -> int:
    """The status of a GET of ``url`` (body closed unread), :data:`REFUSED` when no
    connection could be made; busy answers (429, 5xx) are retried as every request is."""

    def ask() -> int:
        try:
            response = source.session().get(url, stream=True, timeout=source.timeout)
        except requests.ConnectionError as exc:
            if never_connected(exc):
                return REFUSED
            raise
        with response:
            if response.status_code in RETRY_STATUSES:
                response.raise_for_status()
            return response.status_code

    return source.retrying(url, ask)
