"""A real HTTP proxy in front of the test Orthanc that checks AWS Signature Version 4 as
AWS HealthImaging does (loopback only), written from AWS's SigV4 documentation
("Create a signed AWS API request": canonical request, string to sign, signing key),
not from botocore, so that the client's signing is checked by another implementation.

A request whose signature, scope (date, region, service), access key, session token or
``X-Amz-Date`` (more than 5 minutes off) is wrong gets 403 with an AWS-style JSON error
naming the problem; a signed one is forwarded to the upstream.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import posixpath
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from tests.local_http import relay_get, send_answer, serving

_AUTH = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/"
    r"(?P<service>[^/]+)/aws4_request, ?SignedHeaders=(?P<signed>[a-z0-9;-]+), ?"
    r"Signature=(?P<signature>[0-9a-f]{64})$"
)
_FORWARDED = ("Accept", "Range")
_RETURNED = ("Content-Type", "Warning")
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


def _encode(text: str) -> str:
    """RFC 3986 percent-encoding: only A-Z a-z 0-9 - _ . ~ stay as they are."""
    return quote(text, safe="-_.~")


def canonical_query(raw: str) -> str:
    pairs = []
    for part in raw.split("&") if raw else []:
        name, _, value = part.partition("=")
        pairs.append((_encode(unquote(name)), _encode(unquote(value))))
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def canonical_uri(raw_path: str) -> str:
    """Every service but S3: the normalized path, each segment URI-encoded again."""
    path = posixpath.normpath(raw_path or "/")
    if raw_path.endswith("/") and path != "/":
        path += "/"
    return "/".join(_encode(segment) for segment in path.split("/"))


@dataclass
class SigV4Proxy:
    """A running proxy and what it saw."""

    url: str
    access_key: str
    secret_key: str
    region: str
    service: str
    session_token: str | None = None
    accepted: int = 0
    refused: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def problem(self, method: str, target: str, headers: Any) -> str | None:
        """Why the request's signature is not good, or None."""
        match = _AUTH.match(headers.get("Authorization", ""))
        if not match:
            return "missing or malformed AWS4-HMAC-SHA256 Authorization"
        if match["key"] != self.access_key:
            return "unknown access key"
        if (match["region"], match["service"]) != (self.region, self.service):
            return f"wrong scope {match['region']}/{match['service']}"
        stamp = headers.get("X-Amz-Date", "")
        try:
            when = datetime.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.UTC)
        except ValueError:
            return "missing or malformed X-Amz-Date"
        if abs((datetime.datetime.now(datetime.UTC) - when).total_seconds()) > 300:
            return "request time too skewed"
        if stamp[:8] != match["date"]:
            return "scope date differs from X-Amz-Date"
        if self.session_token is not None and (
            headers.get("X-Amz-Security-Token") != self.session_token
        ):
            return "wrong or missing security token"
        signed = match["signed"].split(";")
        if "host" not in signed or "x-amz-date" not in signed:
            return "host and x-amz-date must be signed"
        if self.session_token is not None and "x-amz-security-token" not in signed:
            return "x-amz-security-token must be signed"
        parts = urlsplit(target)
        lines = [
            method,
            canonical_uri(parts.path),
            canonical_query(parts.query),
            "".join(f"{name}:{' '.join(str(headers.get(name, '')).split())}\n" for name in signed),
            match["signed"],
            headers.get("X-Amz-Content-SHA256") or EMPTY_SHA256,
        ]
        scope = f"{match['date']}/{self.region}/{self.service}/aws4_request"
        to_sign = "\n".join(
            [
                "AWS4-HMAC-SHA256",
                stamp,
                scope,
                hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest(),
            ]
        )
        key = _hmac(("AWS4" + self.secret_key).encode("utf-8"), match["date"])
        for step in (self.region, self.service, "aws4_request"):
            key = _hmac(key, step)
        expected = hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, match["signature"]):
            return "signature does not match"
        return None


@contextmanager
def sigv4_proxy(
    upstream: str,
    *,
    access_key: str,
    secret_key: str,
    region: str = "us-east-1",
    service: str = "medical-imaging",
    session_token: str | None = None,
) -> Iterator[SigV4Proxy]:
    """Run the proxy to ``upstream`` (e.g. ``http://127.0.0.1:8042``) on a free port."""
    target = urlsplit(upstream)
    host, port = target.hostname or "127.0.0.1", target.port or 80
    if host not in ("127.0.0.1", "localhost"):
        raise ValueError("the SigV4 proxy only forwards to loopback")
    state = SigV4Proxy("", access_key, secret_key, region, service, session_token)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            problem = state.problem("GET", self.path, self.headers)
            with state._lock:
                if problem:
                    state.refused.append(problem)
                else:
                    state.accepted += 1
            if problem:
                body = json.dumps({"__type": "InvalidSignatureException", "message": problem})
                send_answer(self, 403, [("Content-Type", "application/json")], body.encode())
                return
            send_answer(self, *relay_get(self, host, port, _FORWARDED, _RETURNED))

        def log_message(self, format: str, *args: object) -> None:  # quiet
            return

    with serving(Handler) as url:
        state.url = url
        yield state
