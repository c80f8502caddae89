"""A real local HTTP server that gives answers a healthy Orthanc never gives.

For faults a real server cannot be made to produce (HTML instead of JSON, a
truncated body, a 503): a ``ThreadingHTTPServer`` on 127.0.0.1 that answers
each path with a canned response. No monkeypatching: the code under test
talks HTTP to it like to any server.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Canned:
    """One answer: status, content type and body (``truncate_to`` cuts the body short)."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/dicom+json"
    truncate_to: int | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class FaultServer:
    """Where the server listens and what it was asked."""

    url: str
    requests: list[str]


@contextmanager
def fault_server(routes: dict[str, Canned], default: Canned | None = None) -> Iterator[FaultServer]:
    """Serve ``routes`` (path without query -> answer) on a free loopback port."""
    seen: list[str] = []
    fallback = default or Canned(404, b'{"error": "not here"}', "application/json")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            answer = routes.get(self.path.split("?", 1)[0], fallback)
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
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
