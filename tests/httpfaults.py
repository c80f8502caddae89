"""A real local HTTP server that gives answers a healthy Orthanc never gives.

For faults a real server cannot be made to produce (HTML instead of JSON, a
truncated body, a 503): a ``ThreadingHTTPServer`` on 127.0.0.1 that answers
each path with a canned response. No monkeypatching: the code under test
talks HTTP to it like to any server.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Canned:
    """One answer: status, content type and body.

    ``truncate_to`` cuts the body short; ``delay`` waits before answering (a
    stall past the client's timeout); ``reset`` closes the connection without
    any answer.
    """

    status: int = 200
    body: bytes = b""
    content_type: str = "application/dicom+json"
    truncate_to: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    reset: bool = False
    chunked: bool = False
    """Send the body with ``Transfer-Encoding: chunked`` (no Content-Length)."""


Route = Canned | list[Canned]
"""A list answers the requests to its path in turn (the last one for any after)."""


@dataclass
class FaultServer:
    """Where the server listens and what it was asked."""

    url: str
    requests: list[str]


@contextmanager
def fault_server(
    routes: dict[str, Route],
    default: Canned | None = None,
    headers_seen: list[dict[str, str]] | None = None,
) -> Iterator[FaultServer]:
    """Serve ``routes`` (path without query -> answer) on a free loopback port.

    ``headers_seen`` receives the request headers of every request.
    """
    seen: list[str] = []
    fallback = default or Canned(404, b'{"error": "not here"}', "application/json")
    lock = threading.Lock()
    turns: dict[str, int] = {}

    def pick(path: str) -> Canned:
        route = routes.get(path, fallback)
        if isinstance(route, Canned):
            return route
        with lock:
            turn = turns.get(path, 0)
            turns[path] = turn + 1
        return route[min(turn, len(route) - 1)]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            seen.append(self.path)
            if headers_seen is not None:
                headers_seen.append(dict(self.headers.items()))
            answer = pick(self.path.split("?", 1)[0])
            if answer.delay:
                time.sleep(answer.delay)
            if answer.reset:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            if answer.chunked:
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for start in range(0, len(answer.body), 1 << 16):
                    piece = answer.body[start : start + (1 << 16)]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.write(b"0\r\n\r\n")
                return
            self.send_header("Content-Length", str(len(answer.body)))
            for key, value in answer.headers.items():
                self.send_header(key, value)
            self.end_headers()
            body = answer.body if answer.truncate_to is None else answer.body[: answer.truncate_to]
            self.wfile.write(body)
            if answer.truncate_to is not None:
                self.close_connection = True

        def log_message(self, format: str, *args: object) -> None:  # quiet
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield FaultServer(f"http://127.0.0.1:{server.server_address[1]}", seen)
    finally:
        server.shutdown()
        server.server_close()
