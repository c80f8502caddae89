"""The HTTP side of a DICOMweb source: credentials kept out of URLs and messages
(RFC 7617 basic, RFC 6750 bearer), which answers are retried and how long to wait
(RFC 9110 10.2.3 ``Retry-After``), and the per-thread :class:`requests.Session`.
"""

from __future__ import annotations

import email.utils
import ipaddress
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
import requests.auth

from converter.defaults import RETRY_ATTEMPTS, RETRY_BACKOFF
from converter.errors import ServerError, UsageError, arg
from converter.source.tokens import BearerAuth, TokenFetch, TokenSource, as_token_source

RETRY_STATUSES = frozenset({424, 429, 500, 502, 503, 504})
"""Answers that say "try again later" (RFC 9110 15.6, RFC 6585 4), and 424 Failed
Dependency (RFC 4918 11.4), which Azure's DICOM service answers when it cannot reach a
store it depends on (its conformance statement), as busy as a 503."""


def split_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """Return ``url`` without ``user:password@`` and the credentials it carried.

    Credentials go into the session's HTTP basic auth instead, so they are never
    printed in an error or written into a launch file.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(
            f"{redact(url)!r} is not an http(s) URL; give the DICOMweb root, "
            "e.g. http://localhost:8042/dicom-web"
        )
    if parts.username is None and parts.password is None:
        return url.rstrip("/"), None
    host = parts.hostname
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    clean = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return clean.rstrip("/"), (parts.username or "", parts.password or "")


def on_loopback(url: str) -> bool:
    """Whether ``url`` names this machine (a loopback address, RFC 6890, or ``localhost``)."""
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):  # RFC 6761 6.3
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def redact(url: str) -> str:
    """``url`` with any ``user:password@`` part replaced by ``***@`` (for messages)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    netloc = "***@" + parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


@dataclass(frozen=True)
class Credentials:
    """How to authenticate; never printed (``repr`` hides the secrets).

    ``headers`` are extra request headers such as ``("X-Api-Key", "...")``.
    ``token_provider`` gives bearer tokens that change during a run instead of one
    fixed ``token``: a :class:`~converter.source.tokens.TokenSource`, or a callable
    returning a new token (a string, or a :class:`~converter.source.tokens.Token` with
    its expiry), called again on a 401 answer and shortly before a stated expiry.
    ``auth`` is a requests auth for every request of every thread, e.g.
    :class:`~converter.source.aws.AwsSigV4`; a ``secrets()`` method on it lists what
    to hide in messages.
    """

    user: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    token_provider: TokenSource | TokenFetch | None = field(default=None, repr=False)
    auth: requests.auth.AuthBase | None = field(default=None, repr=False)

    def secrets(self) -> list[str]:
        """Every secret string, so callers can check that none leaks."""
        values = [self.password, self.token, *(v for _, v in self.headers)]
        return [v for v in values if v]


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts and exponential backoff: wait ``backoff * 2**(n-1)`` s, at most ``max_wait``.

    A ``Retry-After`` answer header (seconds or an HTTP date, RFC 9110 10.2.3)
    replaces the computed wait, capped at ``max_wait``.
    """

    attempts: int = RETRY_ATTEMPTS
    backoff: float = RETRY_BACKOFF
    max_wait: float = 30.0

    def wait(self, attempt: int, retry_after: str | None = None) -> float:
        if retry_after:
            seconds = retry_after_seconds(retry_after)
            if seconds is not None:
                return min(max(seconds, 0.0), self.max_wait)
        return min(self.backoff * 2.0 ** (attempt - 1), self.max_wait)


def retry_after_seconds(value: str) -> float | None:
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return when.timestamp() - time.time()


class Transient(Exception):
    """An answer worth asking again for; carries the error to raise when attempts run out."""

    def __init__(self, error: ServerError, retry_after: str | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


def session_auth(creds: Credentials) -> requests.auth.AuthBase | None:
    """The auth of every thread's session: a bearer token source's, or ``creds.auth``
    (None: basic auth or a fixed token, set on each session)."""
    given = [creds.token_provider is not None, creds.auth is not None]
    if sum(given) > 1 or (any(given) and (creds.token or creds.user is not None)):
        raise UsageError(
            f"give one of {arg('token_provider')}, {arg('auth')}, a fixed token or a user "
            "(each replaces the Authorization header)"
        )
    if creds.token_provider is not None:
        return BearerAuth(as_token_source(creds.token_provider))
    return creds.auth


def auth_secrets(auth: Any) -> list[str]:
    """What a session auth has sent that must never be shown (its ``secrets()``)."""
    found = getattr(auth, "secrets", None)
    return list(found()) if callable(found) else []


def thread_session(
    creds: Credentials, verify: bool | str, *, identity: bool, auth: Any = None
) -> Session:
    """A new session with ``creds``, ``verify`` and ``auth`` (a bearer token source's);
    ``identity``: no compression (the server is on loopback)."""
    session = Session()
    if creds.user is not None:
        session.auth = (creds.user, creds.password or "")
    if auth is not None:
        session.auth = auth
    elif creds.token:
        session.headers["Authorization"] = f"Bearer {creds.token}"
    if identity:
        # Compression pays on a network; on loopback it only burns the CPU
        # that server and client share (measured: about 5 % of the server's
        # time and a tenth of ours on Orthanc's metadata).
        session.headers["Accept-Encoding"] = "identity"
    for name, value in creds.headers:  # the user's --header wins
        session.headers[name] = value
    session.headers["User-Agent"] = "dicomweb2ohif"
    session.verify = verify
    return session


class Session(requests.Session):
    """A session whose own ``verify`` (``--ca-bundle``, ``--insecure``) wins over the environment.

    requests lets ``$REQUESTS_CA_BUNDLE``/``$CURL_CA_BUNDLE`` replace a session's
    ``verify`` on every request (psf/requests#3829), so on a machine that sets
    them the user's choice would be silently ignored. Without a choice
    (``verify`` True) the environment's bundle is used, as usual.
    """

    def merge_environment_settings(
        self, url: str | bytes | None, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> Any:
        settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if self.verify is not True and verify is None:
            settings["verify"] = self.verify
        return settings
