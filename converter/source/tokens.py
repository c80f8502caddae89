"""Bearer tokens that change during a run (RFC 6750): asked for when first needed, again
shortly before a stated expiry, and again when the server answers 401.

A migration of many studies outlasts a cloud sign-in (Google's access tokens last an
hour, Entra ID's 60-90 minutes), so a fixed token is not enough. :class:`TokenSource`
is the protocol the client uses; :class:`RefreshingToken` implements it around any
callable that returns a new token (a :class:`Token`, or a plain string for a token
without a stated expiry), and :func:`converter.source.token_command.command_token`
around a command that prints one.

Every worker thread has its own session but all share one :class:`BearerAuth`, which
asks the token source for the token on each request, so a refresh reaches every thread
at once; a burst of 401 answers for the same token runs one refresh, not one per thread.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import requests
import requests.auth

from converter.errors import SignInError

B64TOKEN = re.compile(r"^[A-Za-z0-9\-._~+/]+=*$")
"""RFC 6750 2.1 ``b64token``: what may follow ``Bearer`` in an Authorization header."""

MARGIN = 60.0
"""Seconds before a stated expiry at which a new token is asked for (at most a tenth of
the token's lifetime, so a short-lived token is not refreshed at once)."""


RESENDS = 3
"""How often one request is sent again with a refreshed token after 401 answers."""

FAILED_FOR = 5.0
"""Seconds during which a failed fetch is not run again for the same refused token."""


@dataclass(frozen=True)
class Token:
    """A bearer token and when it expires (``time.time()`` seconds; None: not stated)."""

    value: str = field(repr=False)
    expires_at: float | None = None


@runtime_checkable
class TokenSource(Protocol):
    """Where the bearer token of every request comes from; must be safe to call from
    several threads at once."""

    def token(self) -> str:
        """The token to send now (a new one once the current one is about to expire)."""
        ...

    def refresh(self, refused: str) -> str:
        """A token to send after the server refused ``refused`` with 401.

        When another thread already replaced ``refused``, that newer token is
        returned without asking again.
        """
        ...


TokenFetch = Callable[[], "Token | str"]
"""A callable that gets a new token (from a command, a cloud SDK, a token endpoint)."""


class RefreshingToken:
    """A :class:`TokenSource` around ``fetch``, which is called once at first use, again
    shortly before a stated expiry, and again when the server refuses the current token.

    ``fetch`` is never called from two threads at once. ``margin`` is how many
    seconds before the stated expiry a new token is fetched (at most a tenth of its
    lifetime). A fetch that raises :class:`~converter.errors.SignInError` fails the
    requests that wait for it; for the same refused token it is run again only
    after :data:`FAILED_FOR` seconds (one run for a burst of 401 answers).
    """

    def __init__(
        self,
        fetch: TokenFetch,
        *,
        margin: float = MARGIN,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._fetch = fetch
        self._margin = margin
        self._clock = clock
        self._lock = threading.Lock()
        self._current: Token | None = None
        self._refresh_at: float | None = None
        self._failed: tuple[str | None, float, SignInError] | None = None
        self.fetches = 0
        """How many times ``fetch`` was called."""
        self.issued: list[str] = []
        """Every token ``fetch`` gave, so that messages can hide them."""

    def token(self) -> str:
        with self._lock:
            current = self._current
            if current is not None and (
                self._refresh_at is None or self._clock() < self._refresh_at
            ):
                return current.value
            return self._renew(current.value if current is not None else None)

    def refresh(self, refused: str) -> str:
        with self._lock:
            current = self._current
            if current is not None and current.value != refused:
                return current.value  # another thread got a new one already
            return self._renew(refused)

    def _renew(self, replacing: str | None) -> str:
        """Fetch a new token (the lock is held), unless fetching for ``replacing`` failed."""
        if (
            self._failed is not None
            and self._failed[0] == replacing
            and self._clock() < self._failed[1]
        ):
            raise self._failed[2]
        self.fetches += 1
        try:
            got = self._fetch()
        except SignInError as exc:
            self._failed = (replacing, self._clock() + FAILED_FOR, exc)
            raise
        token = got if isinstance(got, Token) else Token(str(got))
        value = token.value.strip()
        if not B64TOKEN.match(value):
            error = SignInError(
                "the new bearer token is empty or not one (RFC 6750 allows letters, "
                "digits and -._~+/ only)"
            )
            self._failed = (replacing, self._clock() + FAILED_FOR, error)
            raise error
        self.issued.append(value)
        now = self._clock()
        self._current = Token(value, token.expires_at)
        self._refresh_at = None
        if token.expires_at is not None:
            lifetime = max(token.expires_at - now, 0.0)
            self._refresh_at = token.expires_at - min(self._margin, lifetime / 10)
        self._failed = None
        return value


def bearer_header(token: str) -> str:
    """``Bearer <token>``; a value that is no RFC 6750 token is an error that does not
    show it (requests and http.client would put it into theirs)."""
    token = token.strip()
    if not B64TOKEN.match(token):
        raise SignInError(
            "the bearer token is empty or not one (RFC 6750 allows letters, digits and -._~+/ only)"
        )
    return f"Bearer {token}"


def as_token_source(provider: TokenSource | TokenFetch) -> TokenSource:
    """``provider`` as a :class:`TokenSource` (a plain callable is wrapped in
    :class:`RefreshingToken`)."""
    if isinstance(provider, TokenSource):
        return provider
    return RefreshingToken(provider)


def _sent_token(request: Any) -> str:
    header = str(request.headers.get("Authorization", ""))
    return header.removeprefix("Bearer ")


class BearerAuth(requests.auth.AuthBase):
    """``Authorization: Bearer`` from a :class:`TokenSource` on every request; after a
    401 the request is sent again with a refreshed token (as requests' digest auth
    resends after its challenge). A 401 to a token that has never been accepted is
    returned as it is (the sign-in is wrong); one to a token that was accepted
    before (it expired while this request waited, on a busy machine) gets another
    refresh, at most :data:`RESENDS` in all.

    One instance serves every thread's session. :meth:`secrets` gives every token
    put into a header, so that messages can hide them whatever the source is.
    """

    def __init__(self, source: TokenSource) -> None:
        self.source = source
        self._lock = threading.Lock()
        self._sent: set[str] = set()
        self._good: set[str] = set()

    def secrets(self) -> list[str]:
        """Every token sent so far (to hide in messages)."""
        with self._lock:
            return list(self._sent)

    def _use(self, token: str) -> str:
        header = bearer_header(token)
        with self._lock:
            self._sent.add(header.removeprefix("Bearer "))
        return header

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = self._use(self.source.token())
        request.hooks.setdefault("response", []).append(self._on_401)
        return request

    def _on_401(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        if response.history:
            return response
        refused = _sent_token(response.request)
        if response.status_code != 401:
            self._worked(refused)
            return response
        history = []
        for _ in range(RESENDS):
            fresh = self._use(self.source.refresh(refused))
            response.content  # noqa: B018 - read the refusal so the connection can be reused
            response.close()
            history.append(response)
            again = response.request.copy()
            again.headers["Authorization"] = fresh
            response = response.connection.send(again, **kwargs)
            response.request = again
            refused = fresh.removeprefix("Bearer ")
            if response.status_code != 401:
                self._worked(refused)
                break
            if not self._has_worked(refused):
                break  # a new token refused at once: not an expiry, the sign-in is wrong
        response.history[:0] = history
        return response

    def _worked(self, token: str) -> None:
        with self._lock:
            self._good.add(token)

    def _has_worked(self, token: str) -> bool:
        with self._lock:
            return token in self._good


def refused_after_refresh(response: requests.Response | None) -> bool:
    """Whether ``response`` is a 401 to a request already resent with a refreshed token."""
    return (
        response is not None
        and response.status_code == 401
        and any(r.status_code == 401 for r in response.history)
    )


__all__ = [
    "B64TOKEN",
    "BearerAuth",
    "RefreshingToken",
    "Token",
    "TokenFetch",
    "TokenSource",
    "as_token_source",
    "bearer_header",
    "refused_after_refresh",
]
