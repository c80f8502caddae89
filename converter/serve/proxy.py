"""The reverse proxy of ``serve --proxy``: one origin for viewer, launch files and images.

A browser only lets the viewer read an image from another origin when that
server sends CORS headers, which most PACS and Orthanc do not. Served through
``/proxy/`` on the viewer's own origin, every request is same-origin instead.

Launch files stay as written (their URLs name the real server, so the file is
still right without ``serve``); :func:`rewrite_launch` changes the URLs only in
the copy that is served, using the origin that the browser itself used to ask
for the file (its ``Host``), so the URLs are right through an SSH tunnel too.

Orthanc 1.10 answers 400 to WADO-URI ``contentType=application/pdf`` (PS3.18
9.1.2.1 allows it for Encapsulated PDF, and the writer uses it for
``EncapsulatedDocument.DirectRetrieveURL``), so :func:`document_query` spots such
a request and :func:`encapsulated_document` answers it from the same object asked
for as ``application/dicom``. The same holds for the WADO-RS form the writer uses for
servers without WADO-URI (``.../instances/<o>/rendered?accept=application/pdf``, PS3.18
8.3.3.1 and 10.4.1.1.3, which Orthanc 1.10 answers 400 too): :func:`rendered_document_path`
spots it, and the document comes from the instance asked for as one multipart
``application/dicom`` part (PS3.18 8.6.1.2), unwrapped by :func:`single_part`; an
instance asked for without a multipart ``Accept`` (:func:`wants_single_part`) is
answered the same way, as its Part 10 object.
WADO-RS frame URLs (``wadors:``) are relayed as they are, ``Accept`` included.
"""

from __future__ import annotations

import http.client
import io
import re
import ssl
from base64 import b64encode
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from converter.errors import UsageError, arg
from converter.source.aws import AwsSigV4
from converter.source.session import redact, split_credentials
from converter.source.tokens import TokenSource, bearer_header

PREFIX = "/proxy"
"""Path under which the upstream server's paths are served."""

URL_SCHEMES = ("dicomweb:", "wadouri:", "wadors:", "")
"""Loader prefixes a launch-file URL may carry before ``http(s)://``."""

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
"""RFC 9110 7.6.1: headers that describe one connection and are never forwarded."""

FORWARDED_REQUEST_HEADERS = (
    "accept",
    "accept-encoding",
    "range",
    "if-none-match",
    "if-modified-since",
    "if-range",
    "user-agent",
)
MAX_DOCUMENT_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True)
class Upstream:
    """The proxied server: its origin (``scheme://host:port``) and optional basic auth.

    Every path on the origin is reachable under ``/proxy/``, because a
    DICOMweb root (``/dicom-web``) and its WADO-URI root (``/wado``) are
    siblings. The URL's path, if any, is the DICOMweb root that the viewer's
    live ``dicomweb`` source uses (``dicomweb_root``; Orthanc's ``/dicom-web``
    when the URL has none). Credentials in the URL, or a bearer token from
    ``token`` (asked again after a 401, and the request sent once more), or an AWS
    SigV4 ``signer``'s signature, are sent to the server and never to the browser.
    """

    origin: str
    auth: tuple[str, str] | None = None
    timeout: float = 60.0
    dicomweb_root: str = "/dicom-web"
    token: TokenSource | None = field(default=None, compare=False, repr=False)
    signer: AwsSigV4 | None = field(default=None, compare=False, repr=False)

    @classmethod
    def parse(
        cls,
        url: str,
        timeout: float = 60.0,
        token: TokenSource | None = None,
        signer: AwsSigV4 | None = None,
    ) -> Upstream:
        """An http(s) URL whose origin is proxied (the command line's ``--proxy URL``)."""
        try:
            clean, auth = split_credentials(url)
        except UsageError as exc:
            raise UsageError(
                f"{arg('proxy')} {redact(url)!r} is not an http(s) URL, e.g. http://127.0.0.1:8042"
            ) from exc
        parts = urlsplit(clean)
        try:
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError as exc:
            raise UsageError(f"{arg('proxy')} {redact(url)!r} has a bad port") from exc
        root = parts.path.rstrip("/") or "/dicom-web"
        if sum(x is not None for x in (auth, token, signer)) > 1:
            raise UsageError(
                f"give user:password@ in {arg('proxy')}, a token or a signer, not several"
            )
        origin = f"{parts.scheme}://{parts.netloc}".lower()
        return cls(origin, auth, timeout, root, token, signer)

    @property
    def wado_uri_root(self) -> str:
        """The WADO-URI root beside the DICOMweb root: its last segment replaced by
        ``wado`` (Orthanc's layout, and the snapshot's default)."""
        return self.dicomweb_root.rsplit("/", 1)[0] + "/wado"

    def connection(self) -> http.client.HTTPConnection:
        parts = urlsplit(self.origin)
        host, port = parts.hostname or "", parts.port
        if parts.scheme == "https":
            return http.client.HTTPSConnection(
                host, port, timeout=self.timeout, context=ssl.create_default_context()
            )
        return http.client.HTTPConnection(host, port, timeout=self.timeout)

    def request(
        self, method: str, target: str, headers: dict[str, str]
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        """Send one request for ``target`` (path and query); the caller closes the connection.

        With a ``token``, a 401 answer gets the token refreshed and the request sent
        once more; a second 401 is passed on.
        """
        sent = dict(headers)
        if self.auth:
            basic = b64encode(f"{self.auth[0]}:{self.auth[1]}".encode()).decode("ascii")
            sent["Authorization"] = f"Basic {basic}"
        if self.token is not None:
            sent["Authorization"] = bearer_header(self.token.token())
        if self.signer is not None:
            sent.update(self.signer.headers(method, self.origin + target))
        conn, response = self._send(method, target, sent)
        if response.status != 401 or self.token is None:
            return conn, response
        refused = sent["Authorization"].removeprefix("Bearer ")
        response.read()
        conn.close()
        sent["Authorization"] = bearer_header(self.token.refresh(refused))
        return self._send(method, target, sent)

    def _send(
        self, method: str, target: str, headers: dict[str, str]
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        conn = self.connection()
        try:
            conn.request(method, target, headers=headers)
            return conn, conn.getresponse()
        except BaseException:
            conn.close()
            raise


def forwarded_headers(incoming: Any) -> dict[str, str]:
    """The request headers worth passing upstream (content negotiation, ranges, caching)."""
    return {name: incoming[name] for name in FORWARDED_REQUEST_HEADERS if incoming.get(name)}


def answer_headers(
    response: http.client.HTTPResponse, upstream: Upstream, local_origin: str
) -> list[tuple[str, str]]:
    """Upstream answer headers minus hop-by-hop and CORS ones; redirects stay in the proxy."""
    kept = []
    for name, value in response.getheaders():
        low = name.lower()
        if low in HOP_BY_HOP or low.startswith("access-control-") or low == "content-length":
            continue
        if low == "location" and value.lower().startswith(upstream.origin):
            value = local_origin + PREFIX + value[len(upstream.origin) :]
        kept.append((name, value))
    return kept


def body_chunks(response: http.client.HTTPResponse, size: int = 1 << 16) -> Iterator[bytes]:
    """The answer body in pieces (never all in memory)."""
    while True:
        chunk = response.read1(size) if hasattr(response, "read1") else response.read(size)
        if not chunk:
            return
        yield chunk


# --- the PDF stand-in --------------------------------------------------------------


def document_query(query: str) -> str | None:
    """For a WADO-URI request for ``application/pdf``, the query asking for the
    whole object as ``application/dicom`` instead; None for any other request.

    ``contentType`` is written with a literal ``/``: Orthanc 1.10 answers 400 to
    ``application%2Fdicom``.
    """
    pairs = parse_qsl(query, keep_blank_values=True)
    values = {k.lower(): v for k, v in pairs}
    if values.get("requesttype", "").upper() != "WADO":
        return None
    if values.get("contenttype", "").split(";")[0].strip().lower() != "application/pdf":
        return None
    kept = [(k, v) for k, v in pairs if k.lower() != "contenttype"]
    return urlencode(kept, safe="./") + "&contentType=application/dicom"


INSTANCE_ACCEPT = 'multipart/related; type="application/dicom"; transfer-syntax=*'
"""What the proxy asks for when it unwraps an instance (PS3.18 10.4.1.1.1): as stored."""


def rendered_document_path(path: str, query: str) -> str | None:
    """For a WADO-RS rendered request for ``application/pdf`` (``.../instances/<o>/rendered``
    with ``accept=application/pdf``), the path of the instance itself; None otherwise."""
    head, _, last = path.rstrip("/").rpartition("/")
    if last != "rendered" or "/instances/" not in head:
        return None
    accepts = [v for k, v in parse_qsl(query, keep_blank_values=True) if k.lower() == "accept"]
    if not any(a.split(";")[0].strip().lower() == "application/pdf" for a in accepts):
        return None
    return head


INSTANCE_PATH = re.compile(r"/studies/[^/]+/series/[^/]+/instances/[^/]+/?$")


def wants_single_part(path: str, accept: str) -> bool:
    """A WADO-RS instance retrieve (PS3.18 10.4.1.1.1) from a client that does not ask for
    multipart: OHIF fetches an object it reads whole (a segmentation, an RT structure set)
    from the entry's url with the browser's ``Accept`` and parses one Part 10 body, which
    a WADO-RS server sends only as a part of a multipart answer."""
    return bool(INSTANCE_PATH.search(path)) and "multipart/related" not in accept.lower()


def single_part(body: bytes, content_type: str) -> bytes:
    """The first part of a ``multipart/related`` body (RFC 2046 5.1.1), or ``body`` itself
    when the answer is not multipart.

    Raises:
        ValueError: a multipart answer without a boundary or whose part never ends.
    """
    media, _, params = content_type.partition(";")
    if media.strip().lower() != "multipart/related":
        return body
    boundary = ""
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "boundary":
            boundary = value.strip().strip('"')
    if not boundary:
        raise ValueError("a multipart answer without a boundary")
    delimiter = b"--" + boundary.encode("latin-1")
    start = body.find(delimiter)
    headers_end = body.find(b"\r\n\r\n", start) if start >= 0 else -1
    end = body.find(b"\r\n" + delimiter, headers_end) if headers_end >= 0 else -1
    if end < 0:
        raise ValueError("a multipart answer whose first part does not end")
    return body[headers_end + 4 : end]


def encapsulated_document(part10: bytes) -> tuple[bytes, str]:
    """The encapsulated document of a Part 10 object and its media type (PS3.3 C.24.2).

    The value is padded to an even length (PS3.5 7.1.1); EncapsulatedDocumentLength,
    when present, gives the true length.

    Raises:
        ValueError: not a DICOM object, or one without an encapsulated document.
    """
    import pydicom  # only for this: keeps pydicom out of every command's start-up
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(io.BytesIO(part10))
    except (InvalidDicomError, EOFError, ValueError, OSError) as exc:
        raise ValueError(f"the server's answer is not a DICOM object ({exc})") from exc
    document = ds.get("EncapsulatedDocument")
    if not isinstance(document, bytes | bytearray) or not document:
        raise ValueError("the object has no EncapsulatedDocument")
    data = bytes(document)
    length = ds.get("EncapsulatedDocumentLength")
    if isinstance(length, int) and 0 < length <= len(data):
        data = data[:length]
    media = str(ds.get("MIMETypeOfEncapsulatedDocument", "") or "application/pdf")
    return data, media


# --- launch files --------------------------------------------------------------------


def rewrite_launch(document: Any, upstream_origin: str, local_base: str) -> tuple[Any, int]:
    """The launch document with every URL on ``upstream_origin`` moved under ``local_base``.

    A string is a URL on the upstream server when it starts with the origin
    (after an optional ``dicomweb:``/``wadouri:`` loader prefix) followed by
    ``/``, ``?`` or its end. Returns the new document and how many strings changed.
    """
    count = 0
    origin = upstream_origin.rstrip("/")
    low_origin = origin.lower()

    def fix(value: Any) -> Any:
        nonlocal count
        if isinstance(value, str):
            for scheme in URL_SCHEMES:
                if not value.startswith(scheme):
                    continue
                rest = value[len(scheme) :]
                head, tail = rest[: len(origin)], rest[len(origin) :]
                if head.lower() == low_origin and (not tail or tail[0] in "/?"):
                    count += 1
                    return f"{scheme}{local_base}{tail or '/'}"
            return value
        if isinstance(value, list):
            return [fix(v) for v in value]
        if isinstance(value, dict):
            return {k: fix(v) for k, v in value.items()}
        return value

    return fix(document), count


def instance_origins(document: Any) -> dict[str, int]:
    """How many instance ``url`` values of a launch document point at each origin."""
    origins: dict[str, int] = {}
    for study in document.get("studies", []) if isinstance(document, dict) else []:
        for series in study.get("series", []) if isinstance(study, dict) else []:
            for entry in series.get("instances", []) if isinstance(series, dict) else []:
                url = entry.get("url") if isinstance(entry, dict) else None
                if not isinstance(url, str):
                    continue
                for scheme in URL_SCHEMES[:-1]:
                    url = url.removeprefix(scheme)
                parts = urlsplit(url)
                key = f"{parts.scheme}://{parts.netloc}".lower() if parts.netloc else "(relative)"
                origins[key] = origins.get(key, 0) + 1
    return origins


def quote_path(relative: str) -> str:
    """A relative file path as a URL path (each segment percent-encoded)."""
    return "/".join(quote(part) for part in relative.split("/"))
