"""A real fault-injecting HTTP proxy for tests, in front of a real server (loopback only).

``tests/httpfaults.py`` serves canned answers; this module forwards every GET to a
real upstream (the throwaway Orthanc) and, by seeded chance or by rule per path,
replaces the answer with a fault a busy or broken server gives: 500/502/503/504,
429 and 503 with and without ``Retry-After``, a stall past the client's timeout
(before the answer or halfway through the body), a reset connection, a body cut
short, HTML instead of JSON, JSON of the wrong shape; by rule also a 404, and a
500 whose page echoes the request's headers (credentials included). Rewriters
change real answers into hostile content (bad UIDs, broken elements, invalid
UTF-8); ``tls`` serves HTTPS. No monkeypatching: the code under test talks HTTP
to it like to any server.

Seeded chance is deterministic per request: whether the n-th request to a path
is faulted depends only on ``(seed, path, n)``, never on thread scheduling, so a
seed always gives the same number of faults and retries. Which kind a faulted
request gets is drawn from a seeded shuffle of every kind, in turn, so every
kind occurs as soon as there are as many faults as kinds.
"""

from __future__ import annotations

import http.client
import json
import random
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import formatdate
from enum import Enum
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from tests.local_http import serving


class Fault(Enum):
    """What a faulted request gets instead of the upstream's answer."""

    HTTP_500 = "500"
    HTTP_502 = "502"
    HTTP_503 = "503"
    HTTP_504 = "504"
    HTTP_503_RETRY_AFTER = "503 Retry-After: 1"
    HTTP_429 = "429"
    HTTP_429_RETRY_AFTER = "429 Retry-After: <HTTP date>"
    STALL = "stall before the answer"
    STALL_BODY = "stall halfway through the body"
    RESET = "connection reset"
    TRUNCATED = "body cut short"
    HTML = "HTML instead of JSON"
    WRONG_SHAPE = "JSON of the wrong shape"
    NOT_FOUND = "404"
    ECHO_REQUEST = "500 whose page shows the request's headers"


TRANSIENT = tuple(f for f in Fault if f not in (Fault.NOT_FOUND, Fault.ECHO_REQUEST))
"""Every fault a busy server gives, which a client gets over by asking again."""

_STATUS = {
    Fault.HTTP_500: 500,
    Fault.HTTP_502: 502,
    Fault.HTTP_503: 503,
    Fault.HTTP_504: 504,
    Fault.HTTP_503_RETRY_AFTER: 503,
    Fault.HTTP_429: 429,
    Fault.HTTP_429_RETRY_AFTER: 429,
    Fault.NOT_FOUND: 404,
}
_FORWARDED_HEADERS = ("Accept", "Authorization", "Content-Type", "X-Api-Key")
_RETURNED_HEADERS = ("Content-Type", "Warning", "WWW-Authenticate", "Retry-After")


@dataclass(frozen=True)
class RawBody:
    """What a rewriter returns to send bytes that are not JSON (e.g. invalid UTF-8)."""

    data: bytes


Rewriter = Callable[[str, Any], Any]
"""``(path with query, parsed JSON answer) -> new JSON value or RawBody``; 200 answers only."""


@dataclass
class Rule:
    """Requests whose path (with query) matches ``pattern`` get ``fault``.

    ``times``: only the first ``times`` matching requests (None: every one).
    """

    pattern: str
    fault: Fault
    times: int | None = None
    hits: int = 0

    def take(self, path: str) -> bool:
        if not re.search(self.pattern, path):
            return False
        if self.times is not None and self.hits >= self.times:
            return False
        self.hits += 1
        return True


@dataclass(frozen=True)
class Served:
    """One request the proxy answered: path, the fault injected (None: forwarded), headers."""

    path: str
    fault: Fault | None
    headers: dict[str, str]


@dataclass
class FaultProxy:
    """A running proxy: its URL, what it served, and its settings (changeable while running)."""

    url: str
    upstream: str
    seed: int = 0
    chance: float = 0.0
    kinds: Sequence[Fault] = TRANSIENT
    stall: float = 3.0
    rules: list[Rule] = field(default_factory=list)
    rewriters: list[Rewriter] = field(default_factory=list)
    unfaulted: Sequence[str] = ()
    served: list[Served] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _turns: dict[str, int] = field(default_factory=dict)
    _first_round: list[Fault] | None = None

    def dicomweb(self, root_path: str = "/dicom-web") -> str:
        """The DICOMweb root as seen through the proxy."""
        return self.url + root_path

    def injected(self) -> list[Fault]:
        """The faults injected so far, in the order served."""
        return [s.fault for s in self.served if s.fault is not None]

    def requests_to(self, pattern: str) -> list[Served]:
        return [s for s in self.served if re.search(pattern, s.path)]

    def choose(self, path: str) -> Fault | None:
        """The fault for this request, or None to forward it (see the module docstring)."""
        with self._lock:
            for rule in self.rules:
                if rule.take(path):
                    return rule.fault
            turn = self._turns.get(path, 0)
            self._turns[path] = turn + 1
            if self.chance <= 0 or any(re.search(p, path) for p in self.unfaulted):
                return None
            draw = random.Random(f"{self.seed}|{path}|{turn}")
            if draw.random() >= self.chance:
                return None
            if self._first_round is None:  # every kind once, in a seeded order
                self._first_round = list(self.kinds)
                random.Random(f"{self.seed}|kinds").shuffle(self._first_round)
            if self._first_round:
                return self._first_round.pop(0)
            return draw.choice(list(self.kinds))

    def record(self, served: Served) -> None:
        with self._lock:
            self.served.append(served)


def _html() -> bytes:
    return (
        b"<!DOCTYPE html><html><head><title>503 Service Unavailable</title></head>"
        b"<body><h1>Down for maintenance</h1><p>Please try again later.</p></body></html>"
    )


def _wrong_shape(draw: random.Random) -> bytes:
    return json.dumps(
        draw.choice(
            [
                {"error": "Internal error", "details": "database locked"},
                [1, 2, 3],
                [["not", "a", "dataset"]],
                "OK",
            ]
        )
    ).encode()


@contextmanager
def fault_proxy(
    upstream: str,
    *,
    seed: int = 0,
    chance: float = 0.0,
    kinds: Sequence[Fault] = TRANSIENT,
    stall: float = 3.0,
    rules: Sequence[Rule] = (),
    rewriters: Sequence[Rewriter] = (),
    unfaulted: Sequence[str] = (),
    tls: ssl.SSLContext | None = None,
) -> Iterator[FaultProxy]:
    """Run a proxy to ``upstream`` (e.g. ``http://127.0.0.1:8042``) on a free loopback port.

    ``chance``: the share of requests faulted at random (seeded by ``seed``) with
    one of ``kinds``; ``rules`` fault matching paths first; ``unfaulted`` path
    patterns are never faulted by chance; ``stall`` is how long a stall lasts
    (longer than the client's timeout); ``rewriters`` change 200 JSON answers in
    turn; ``tls`` serves HTTPS with that context.
    """
    target = urlsplit(upstream)
    host, port = target.hostname or "127.0.0.1", target.port or 80
    if host not in ("127.0.0.1", "localhost"):
        raise ValueError("the fault proxy only forwards to loopback")
    state = FaultProxy(
        url="",
        upstream=upstream,
        seed=seed,
        chance=chance,
        kinds=tuple(kinds),
        stall=stall,
        rules=list(rules),
        rewriters=list(rewriters),
        unfaulted=tuple(unfaulted),
    )

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            path = self.path
            fault = state.choose(path)
            state.record(Served(path, fault, dict(self.headers.items())))
            if fault is Fault.RESET:
                self._reset()
                return
            if fault is Fault.STALL:
                time.sleep(state.stall)
                self._reset()
                return
            if fault in _STATUS:
                self._status(fault)
                return
            if fault is Fault.ECHO_REQUEST:  # as a debugging error page does
                first = ("Authorization", "X-Api-Key")  # before the excerpt's cut
                items = sorted(self.headers.items(), key=lambda kv: kv[0] not in first)
                shown = "".join(f"<li>{k}: {v}</li>" for k, v in items)
                echo = f'299 proxy "{self.headers.get("Authorization", "")}"'
                self._send(
                    500, f"<html><ul>{shown}</ul></html>".encode(), "text/html", {"Warning": echo}
                )
                return
            if fault is Fault.HTML:
                self._send(200, _html(), "text/html; charset=utf-8")
                return
            if fault is Fault.WRONG_SHAPE:
                self._send(
                    200,
                    _wrong_shape(random.Random(f"{state.seed}|{path}")),
                    "application/dicom+json",
                )
                return
            status, headers, body = self._forward(path)
            if status == 200 and state.rewriters:
                body, headers = self._rewrite(path, body, headers)
            if fault is Fault.TRUNCATED:
                self._send(
                    status,
                    body,
                    headers.get("Content-Type", ""),
                    headers,
                    cut=max(1, len(body) // 2),
                )
                return
            if fault is Fault.STALL_BODY:
                self._send(
                    status,
                    body,
                    headers.get("Content-Type", ""),
                    headers,
                    cut=max(1, len(body) // 2),
                    stall=state.stall,
                )
                return
            self._send(status, body, headers.get("Content-Type", ""), headers)

        def _forward(self, path: str) -> tuple[int, dict[str, str], bytes]:
            connection = http.client.HTTPConnection(host, port, timeout=60)
            try:
                sent = {k: v for k, v in self.headers.items() if k in _FORWARDED_HEADERS}
                sent["Accept-Encoding"] = "identity"
                connection.request("GET", path, headers=sent)
                answer = connection.getresponse()
                body = answer.read()
                headers = {k: v for k, v in answer.getheaders() if k in _RETURNED_HEADERS}
                return answer.status, headers, body
            finally:
                connection.close()

        def _rewrite(
            self, path: str, body: bytes, headers: dict[str, str]
        ) -> tuple[bytes, dict[str, str]]:
            if "json" not in headers.get("Content-Type", ""):
                return body, headers
            document: Any = json.loads(body)
            for rewriter in state.rewriters:
                document = rewriter(path, document)
                if isinstance(document, RawBody):
                    return document.data, headers
            return json.dumps(document, ensure_ascii=False).encode("utf-8"), headers

        def _status(self, fault: Fault) -> None:
            headers: dict[str, str] = {}
            if fault is Fault.HTTP_503_RETRY_AFTER:
                headers["Retry-After"] = "1"
            elif fault is Fault.HTTP_429_RETRY_AFTER:
                headers["Retry-After"] = formatdate(time.time() + 1, usegmt=True)
            text = {429: b"Too Many Requests", 404: b'{"error": "Unknown resource"}'}.get(
                _STATUS[fault], b"<html><body>Server busy</body></html>"
            )
            kind = "application/json" if fault is Fault.NOT_FOUND else "text/html"
            self._send(_STATUS[fault], text, kind, headers)

        def _send(
            self,
            status: int,
            body: bytes,
            content_type: str,
            headers: dict[str, str] | None = None,
            cut: int | None = None,
            stall: float = 0.0,
        ) -> None:
            try:
                self.send_response(status)
                if content_type:
                    self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for key, value in (headers or {}).items():
                    if key != "Content-Type":
                        self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body if cut is None else body[:cut])
                self.wfile.flush()
                if stall:
                    time.sleep(stall)
                if cut is not None:  # a clean close before Content-Length bytes were sent
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_WR)
            except OSError:
                self.close_connection = True  # the client gave up first (it timed out)

        def _reset(self) -> None:
            self.close_connection = True
            try:
                # SO_LINGER 0: close with a TCP RST, as a crashed server or load balancer does.
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                )
                self.connection.close()
            except OSError:
                pass

        def log_message(self, format: str, *args: object) -> None:  # quiet
            return

    with serving(Handler, tls) as url:  # a client hanging up mid-answer is part of the game
        state.url = url
        yield state
