"""A command that prints a bearer token, e.g. ``gcloud auth print-access-token`` or
``az account get-access-token --resource https://dicom.healthcareapis.azure.com``.

The command line is split as a POSIX shell splits words (:func:`shlex.split`) and run
without a shell, stdin closed, with a timeout. What it prints on stdout is either the
token alone (no stated expiry: it is asked for again when the server answers 401), or
a JSON object that states when the token expires, as the cloud tools print them:

- an OAuth 2.0 token answer (RFC 6749 5.1): ``access_token`` and ``expires_in`` seconds;
- ``az account get-access-token``: ``accessToken`` and ``expires_on`` (POSIX seconds,
  Azure CLI 2.54 and later) or ``expiresOn`` (a local date and time, older versions);
- ``gcloud config config-helper --format=json``: ``credential.access_token`` and
  ``credential.token_expiry`` (RFC 3339).

A failure (the command cannot be run, exits non-zero, prints nothing, or takes too
long) is a :class:`~converter.errors.SignInError` that names the command's first word
and the first line it wrote to stderr, never what it wrote to stdout.
"""

from __future__ import annotations

import datetime
import json
import shlex
import subprocess
import time
from typing import Any

from converter.errors import SignInError, UsageError, arg
from converter.source.tokens import RefreshingToken, Token

TOKEN_KEYS = ("access_token", "accessToken", "token")
"""Where a JSON answer keeps the token (OAuth 2.0, Azure CLI, gcloud's ``credential``)."""

DEFAULT_TIMEOUT = 60.0
"""Seconds a token command may take (a cloud CLI may ask its token endpoint first)."""


def command_token(command: str, *, timeout: float = DEFAULT_TIMEOUT) -> RefreshingToken:
    """A token source that runs ``command`` for each new token (see the module docstring)."""
    return RefreshingToken(TokenCommand(command, timeout=timeout))


class TokenCommand:
    """A callable that runs ``command`` and returns the :class:`Token` it printed."""

    def __init__(self, command: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        try:
            self.argv = shlex.split(command)
        except ValueError as exc:  # an unclosed quote
            raise UsageError(f"{arg('token_command')}: cannot split it into words ({exc})") from exc
        if not self.argv:
            raise UsageError(f"{arg('token_command')} is empty")
        self.name = self.argv[0]
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"TokenCommand({self.name!r}, ...)"

    def __call__(self) -> Token:
        name = self.name
        try:
            done = subprocess.run(
                self.argv,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=self.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise SignInError(
                f"token command {name!r} printed no token within {self.timeout:g} s"
            ) from exc
        except OSError as exc:
            raise SignInError(
                f"token command {name!r} cannot be run: {exc.strerror or exc}"
            ) from None
        out = done.stdout.decode("utf-8", errors="replace").strip()
        said = first_line(done.stderr.decode("utf-8", errors="replace"), hide=out)
        detail = f": {said}" if said else ""
        if done.returncode != 0:
            raise SignInError(f"token command {name!r} failed (exit {done.returncode}){detail}")
        if not out:
            raise SignInError(f"token command {name!r} printed no token{detail}")
        return parse_token(out, name)


def first_line(text: str, *, hide: str = "", width: int = 200) -> str:
    """The first non-blank line of ``text``, without ``hide`` (what went to stdout), cut
    to ``width`` characters."""
    for line in text.splitlines():
        line = line.strip()
        if line:
            if hide:
                line = line.replace(hide, "***")
            return line if len(line) <= width else line[: width - 3] + "..."
    return ""


def parse_token(out: str, name: str = "the token command", now: float | None = None) -> Token:
    """The token in a command's output: the text itself, or a JSON object's token and
    its stated expiry (see the module's docstring)."""
    if not out.startswith("{"):
        return Token(out)
    try:
        document = json.loads(out)
    except ValueError as exc:
        raise SignInError(f"token command {name!r} printed JSON that cannot be read") from exc
    record = document.get("credential", document) if isinstance(document, dict) else None
    if not isinstance(record, dict):
        raise SignInError(f"token command {name!r} printed JSON that is not an object")
    value = next((record[k] for k in TOKEN_KEYS if isinstance(record.get(k), str)), None)
    if not value:
        raise SignInError(f"token command {name!r} printed JSON without {', '.join(TOKEN_KEYS)}")
    return Token(value, expiry(record, time.time() if now is None else now))


def expiry(record: dict[str, Any], now: float) -> float | None:
    """When a JSON token answer says its token expires (``time.time()`` seconds), or None.

    ``expires_on`` (POSIX seconds) is preferred to Azure's ``expiresOn``, which is a
    local time and ambiguous around a daylight saving change (Azure CLI's advice).
    """
    on = _number(record.get("expires_on"))
    if on is not None:
        return on
    within = _number(record.get("expires_in"))
    if within is not None:
        return now + within
    for key in ("token_expiry", "expiry", "expiresOn", "expires_at"):
        when = _moment(record.get(key))
        if when is not None:
            return when
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _moment(value: Any) -> float | None:
    """An RFC 3339 / ISO 8601 time (one without an offset is local time), or None."""
    number = _number(value)
    if number is not None:
        return number
    if not isinstance(value, str):
        return None
    try:
        return datetime.datetime.fromisoformat(value.strip()).timestamp()
    except ValueError:
        return None
