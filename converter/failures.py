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
        getattr(inner, "reason", None), ReadTimeoutError)


def tls_message(shown: str, exc: requests.exceptions.SSLError) -> str:
    """One line that says what failed in TLS and the two ways out."""
    text = str(exc)
    why = re.search(r"certificate verify failed: ([^()'\"]+)", text)
    if why:
        what = f"its certificate was not accepted: {why.group(1).strip().rstrip('.')}"
    elif "hostname" in text.lower() or "doesn't match" in text:
        what = "its certificate is for another host name"
    else:
        what = f"TLS failed ({reason(exc)})"
    return (f"cannot connect securely to {shown}: {what}; give the server's CA certificate "
            "with --ca-bundle PEM (or skip verification with --insecure)")


def reason(exc: BaseException) -> str:
    """The innermost cause of a requests failure, in a few words."""
    inner = exc.args[0] if exc.args else exc
    text = str(getattr(inner, "reason", inner))
    if text.startswith("<") and ">: " in text:  # urllib3: "<...Connection object at 0x..>: why"
        text = text.split(">: ", 1)[1]
    cut = re.search(r"IncompleteRead\((\d+) bytes read, (\d+) more expected\)", text)
    if cut:
        return f"connection closed after {cut.group(1)} bytes, {cut.group(2)} more expected"
    return excerpt(text, 120)
