"""What a failed HTTP exchange means, in words a user can act on.

Separates the failures a client should ask again after (a connection dropped
after it was made, a stall in the middle of a body) from those it should report
at once (no connection could be made at all, a TLS certificate that is not
trusted), and turns requests' and urllib3's nested exceptions into a few words.
"""

from __future__ import annotations

import re

import requests
from urllib3.exceptions import NewConnectionError, ReadTimeoutError

from converter.errors import arg


def excerpt(text: str, limit: int = 160) -> str:
    """``text`` on one line, at most ``limit`` characters (for a body quoted in a message)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def never_connected(exc: requests.ConnectionError) -> bool:
    """True when no connection was made (refused, unknown host), not when one was dropped."""
    inner = exc.args[0] if exc.args else None
    return isinstance(getattr(inner, "reason", inner), NewConnectionError)


def stalled_in_body(exc: requests.ConnectionError) -> bool:
    """True for a read timeout in the middle of a body (requests wraps it as ConnectionError)."""
    inner = exc.args[0] if exc.args else None
    return isinstance(inner, ReadTimeoutError) or isinstance(
        getattr(inner, "reason", None), ReadTimeoutError
    )


def tls_message(shown: str, exc: requests.exceptions.SSLError) -> str:
    """One line that says what failed in TLS and the way out.

    OpenSSL's reason comes after "certificate verify failed:" and before
    " (_ssl.c:N)"; a name mismatch needs another URL, not another CA.
    """
    text = str(exc)
    why = re.search(r"certificate verify failed: (.+?)\.? \(_ssl", text)
    detail = why.group(1).replace("'", "") if why else reason(exc)
    if "mismatch" in detail or "doesn't match" in detail or "not valid for" in detail:
        return (
            f"cannot connect securely to {shown}: its certificate is for another host "
            f"name ({detail}); use the name it was issued for (or skip verification "
            f"with {arg('verify=False')})"
        )
    what = f"its certificate was not accepted: {detail}" if why else f"TLS failed ({detail})"
    return (
        f"cannot connect securely to {shown}: {what}; give the server's CA certificate "
        f"with {arg('verify=<PEM file>')} (or skip verification with {arg('verify=False')})"
    )


def reason(exc: BaseException) -> str:
    """The innermost cause of a requests failure, in a few words."""
    inner = exc.args[0] if exc.args else exc
    text = str(getattr(inner, "reason", inner))
    if text.startswith("<") and ">: " in text:  # urllib3: "<...Connection object at 0x..>: why"
        text = text.split(">: ", 1)[1]
    cut = re.search(r"IncompleteRead\((\d+) bytes read, (\d+) more expected\)", text)
    if cut:
        return f"connection closed after {cut.group(1)} bytes, {cut.group(2)} more expected"
    if "Connection reset by peer" in text or "ConnectionResetError" in text:
        return "connection reset by the server"
    if "RemoteDisconnected" in text:
        return "the server closed the connection without answering"
    return excerpt(text, 120)
