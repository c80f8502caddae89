"""A real bearer-token-checking HTTP proxy in front of the test Orthanc (loopback only),
and the token command that issues its tokens (tests/token_issuer.py).

Every GET must carry ``Authorization: Bearer <token>`` with a token the issuer signed
(HMAC with the state folder's secret); otherwise, and once a token has served
``max_requests`` requests or is older than ``lifetime`` seconds, the answer is 401 with
``WWW-Authenticate: Bearer error="invalid_token"`` (RFC 6750 3.1), as Google's and
Azure's DICOM services answer an expired token. Accepted requests are forwarded to the
upstream and its answer passed back. No monkeypatching: the code under test runs the
issuer as its token command and talks HTTP to this proxy like to any server.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import shlex
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.local_http import relay_get, send_answer, serving

ISSUER = Path(__file__).with_name("token_issuer.py")
WRITTEN = re.compile(rb'"written": "[^"]*"')
_TOKEN = re.compile(r"^tk(\d+)-(\d+)-([0-9a-f]{32})$")
_FORWARDED = ("Accept", "Range")
_RETURNED = ("Content-Type", "Warning", "Content-Disposition")


def snapshot_of(orthanc: Any, out: Path) -> Path:
    """The fixture studies snapshot straight from Orthanc (one file per study)."""
    from converter.cli import main

    assert main(["snapshot", orthanc.dicomweb_url, "-o", f"{out}/", "-q"]) == 0
    return out


def same_as_plain(out: Path, plain: Path, proxy_url: str, orthanc: Any) -> None:
    """The folder ``out`` written through a proxy is ``plain`` byte for byte, once the
    proxy's URL is read as Orthanc's and the index's write times are set aside."""
    names = sorted(p.name for p in plain.iterdir())
    assert sorted(p.name for p in out.iterdir()) == names
    for name in names:
        got = (out / name).read_bytes().replace(proxy_url.encode(), orthanc.url.encode())
        want = (plain / name).read_bytes()
        if name == "index.json":
            got, want = (WRITTEN.sub(b"", x) for x in (got, want))
        assert got == want, name


@dataclass
class Issuer:
    """The issuer's state folder: its secret, and what it issued."""

    state: Path
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        (self.state / "secret").write_bytes(os.urandom(16).hex().encode())

    def command(self, *options: str) -> str:
        """The ``--token-command`` value that runs the issuer with ``options``."""
        return shlex.join([sys.executable, str(ISSUER), str(self.state), *options])

    @property
    def runs(self) -> int:
        """How many times the command ran (failed runs included)."""
        count = self.state / "count"
        return int(count.read_text()) if count.exists() else 0

    @property
    def issued(self) -> list[str]:
        path = self.state / "issued"
        return path.read_text().split() if path.exists() else []

    @property
    def overlaps(self) -> int:
        """Runs that started while another was still running."""
        path = self.state / "overlaps"
        return len(path.read_text().split()) if path.exists() else 0

    def issue(self) -> str:
        """A new token, counted and recorded as a run of the command is (the token
        endpoint's way)."""
        from tests.token_issuer import sign

        with self._lock:
            count = self.state / "count"
            n = self.runs + 1
            count.write_text(str(n))
            token = sign((self.state / "secret").read_bytes(), n, int(time.time() * 1000))
            with open(self.state / "issued", "a") as issued:
                issued.write(token + "\n")
            return token

    def issued_at(self, token: str) -> float:
        match = _TOKEN.match(token)
        assert match, token
        return int(match.group(2)) / 1000

    def valid(self, token: str) -> bool:
        match = _TOKEN.match(token)
        if not match:
            return False
        secret = (self.state / "secret").read_bytes()
        body = f"{match.group(1)}-{match.group(2)}"
        mac = hmac.new(secret, body.encode(), hashlib.sha256).hexdigest()[:32]
        return hmac.compare_digest(mac, match.group(3))


@dataclass
class TokenProxy:
    """A running proxy: its URL and what it saw (changeable while running)."""

    url: str
    issuer: Issuer
    max_requests: int | None = None
    lifetime: float | None = None
    delay: float = 0.0
    accepted: dict[str, int] = field(default_factory=dict)
    refused: list[tuple[str, str]] = field(default_factory=list)
    """(token or '' for none, path) of every 401 answer."""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def forwarded(self) -> int:
        return sum(self.accepted.values())

    def admit(self, header: str, path: str) -> bool:
        token = header.removeprefix("Bearer ") if header.startswith("Bearer ") else ""
        with self._lock:
            ok = self.issuer.valid(token)
            if ok and self.lifetime is not None:
                ok = time.time() - self.issuer.issued_at(token) <= self.lifetime
            if ok and self.max_requests is not None:
                ok = self.accepted.get(token, 0) < self.max_requests
            if ok:
                self.accepted[token] = self.accepted.get(token, 0) + 1
            else:
                self.refused.append((token, path))
            return ok


@contextmanager
def token_proxy(
    upstream: str,
    issuer: Issuer,
    *,
    max_requests: int | None = None,
    lifetime: float | None = None,
    delay: float = 0.0,
) -> Iterator[TokenProxy]:
    """Run the proxy to ``upstream`` (e.g. ``http://127.0.0.1:8042``) on a free port.

    ``max_requests``/``lifetime``: when a token starts to be refused; ``delay``: seconds
    each forwarded request takes longer (to stretch a run past a token's lifetime).
    """
    target = urlsplit(upstream)
    host, port = target.hostname or "127.0.0.1", target.port or 80
    if host not in ("127.0.0.1", "localhost"):
        raise ValueError("the token proxy only forwards to loopback")
    state = TokenProxy("", issuer, max_requests, lifetime, delay)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            if not state.admit(self.headers.get("Authorization", ""), self.path):
                body = json.dumps({"error": {"code": 401, "message": "invalid token"}}).encode()
                refused = [
                    ("WWW-Authenticate", 'Bearer error="invalid_token"'),
                    ("Content-Type", "application/json"),
                ]
                send_answer(self, 401, refused, body)
                return
            if state.delay:
                time.sleep(state.delay)
            send_answer(self, *relay_get(self, host, port, _FORWARDED, _RETURNED))

        def log_message(self, format: str, *args: object) -> None:  # quiet
            return

    with serving(Handler) as url:
        state.url = url
        yield state


@dataclass
class OAuthEndpoint:
    """A running OAuth 2.0 token endpoint: its ``token_uri`` and the grants it made."""

    token_uri: str
    grants: int = 0
    refusals: list[str] = field(default_factory=list)


def _b64url(text: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
"""The ``aud`` of a service account's assertion, wherever it is sent (Google's docs)."""


def jwt_problem(assertion: str, public_key: Any, client_email: str) -> str | None:
    """Why a service account's JWT assertion (RFC 7523 2.1, signed RS256 as RFC 7518 3.3
    says) is not good, or None."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    try:
        head, body, signature = assertion.split(".")
        header, claims = json.loads(_b64url(head)), json.loads(_b64url(body))
    except ValueError:
        return "not a JWT"
    if header.get("alg") != "RS256":
        return "not RS256"
    try:
        public_key.verify(
            _b64url(signature), f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256()
        )
    except InvalidSignature:
        return "bad signature"
    now = time.time()
    if claims.get("iss") != client_email or claims.get("aud") != GOOGLE_TOKEN_AUDIENCE:
        return "wrong iss or aud"
    if not claims.get("iat", now + 1) <= now + 60 < claims.get("exp", 0) + 60:
        return "expired or not yet valid"
    if "https://www.googleapis.com/auth/cloud-platform" not in str(claims.get("scope", "")):
        return "scope missing"
    return None


@contextmanager
def oauth_endpoint(
    issuer: Issuer, *, public_key: Any, client_email: str, expires_in: float = 3600.0
) -> Iterator[OAuthEndpoint]:
    """A token endpoint for google-auth's service-account credentials: the JWT bearer
    grant (RFC 7523 2.1: ``POST`` a form with
    ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`` and the signed
    ``assertion``; the answer is ``access_token`` and ``expires_in``, RFC 6749 5.1),
    with tokens from ``issuer`` that the token proxy accepts."""
    from urllib.parse import parse_qs

    state = OAuthEndpoint("")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            problem = (
                "unsupported grant_type"
                if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer"
                else jwt_problem(form.get("assertion", ""), public_key, client_email)
            )
            answer: dict[str, Any]
            if problem:
                state.refusals.append(problem)
                answer = {"error": "invalid_grant", "error_description": problem}
                status = 400
            else:
                state.grants += 1
                answer = {
                    "access_token": issuer.issue(),
                    "expires_in": expires_in,
                    "token_type": "Bearer",
                }
                status = 200
            body = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # quiet
            return

    with serving(Handler) as url:
        state.token_uri = f"{url}/token"
        yield state
