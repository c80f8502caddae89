"""A real local HTTP proxy in front of the test Orthanc that has no WADO-URI service.

Google Cloud Healthcare and AWS HealthImaging implement QIDO-RS and WADO-RS but no
WADO-URI (PS3.18 9): this server forwards every request to the upstream (streamed,
headers and status as they come, so multipart WADO-RS answers pass unchanged) except
those under the WADO-URI path (``/wado``), which get ``404 Not Found``, as those
services answer a path they do not have. It records what it was asked, so a test can
tell which kind of URL a client or viewer used. No monkeypatching: the code under
test talks HTTP to it like to any server.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

from tests.local_http import serving

HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer"}
    | {"transfer-encoding", "upgrade"}
)


@dataclass(frozen=True)
class Asked:
    """One request the server got: method, path with query, Accept header, answer status."""

    method: str
    target: str
    accept: str
    status: int


@dataclass
class NoWadoUri:
    """The running server: its origin and what it was asked."""

    origin: str
    upstream: str
    wado_path: str
    asked: list[Asked] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def dicomweb(self, root_path: str = "/dicom-web") -> str:
        return self.origin + root_path

    def record(self, asked: Asked) -> None:
        with self.lock:
            self.asked.append(asked)

    def requests_to(self, fragment: str) -> list[Asked]:
        with self.lock:
            return [a for a in self.asked if fragment in a.target]


@contextmanager
def no_wado_uri_server(upstream: str, wado_path: str = "/wado") -> Iterator[NoWadoUri]:
    """Serve ``upstream`` (an origin, ``http://127.0.0.1:8042``) on a free loopback port,
    answering 404 to GET/HEAD under ``wado_path``."""
    parts = urlsplit(upstream)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80

    state = NoWadoUri("", upstream, wado_path)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._answer(head=False)

        def do_HEAD(self) -> None:
            self._answer(head=True)

        def _answer(self, head: bool) -> None:
            path = self.path.split("?", 1)[0]
            accept = self.headers.get("Accept", "")
            if path == wado_path or path.startswith(wado_path + "/"):
                body = b'{"error": "no such service"}'
                state.record(Asked(self.command, self.path, accept, 404))
                self.send_response(404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if not head:
                    self.wfile.write(body)
                return
            sent = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            sent["Host"] = f"{host}:{port}"
            conn = http.client.HTTPConnection(host, port, timeout=60)
            try:
                conn.request(self.command, self.path, headers=sent)
                response = conn.getresponse()
                state.record(Asked(self.command, self.path, accept, response.status))
                self.send_response(response.status)
                length = response.getheader("Content-Length")
                for name, value in response.getheaders():
                    if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                        self.send_header(name, value)
                if head or response.status in (204, 304):
                    if length is not None:
                        self.send_header("Content-Length", length)
                    self.end_headers()
                    return
                if length is not None:
                    self.send_header("Content-Length", length)
                    self.end_headers()
                    while chunk := response.read(1 << 16):
                        self.wfile.write(chunk)
                    return
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                while chunk := response.read(1 << 16):
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.write(b"0\r\n\r\n")
            finally:
                conn.close()

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

    with serving(Handler) as url:  # a client going away (a viewer cancelling) is no failure
        state.origin = url
        yield state
