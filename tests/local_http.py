"""A real HTTP server on a free loopback port, in a thread, for the test servers and proxies
(tests/faultproxy.py, tests/cloud_servers.py, tests/token_server.py, ...): one place for
starting, quieting and stopping them.
"""

from __future__ import annotations

import http.client
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class QuietServer(ThreadingHTTPServer):
    """Threads that do not keep the test process alive, and no traceback on stderr for a
    client that hung up mid-answer (a viewer cancelling a frame, a client timing out)."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        return


@contextmanager
def serving(
    handler: type[BaseHTTPRequestHandler], tls: ssl.SSLContext | None = None
) -> Iterator[str]:
    """Serve ``handler`` on 127.0.0.1 (HTTPS with ``tls``); yields the server's origin."""
    server = QuietServer(("127.0.0.1", 0), handler)
    if tls is not None:
        server.socket = tls.wrap_socket(
            server.socket, server_side=True, do_handshake_on_connect=False
        )
    scheme = "https" if tls is not None else "http"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def relay_get(
    handler: BaseHTTPRequestHandler,
    host: str,
    port: int,
    forwarded: tuple[str, ...],
    returned: tuple[str, ...],
) -> tuple[int, list[tuple[str, str]], bytes]:
    """Forward ``handler``'s GET to ``host:port`` with the ``forwarded`` request headers
    (no compression asked); the answer's status, its ``returned`` headers and its body."""
    connection = http.client.HTTPConnection(host, port, timeout=60)
    try:
        sent = {k: v for k, v in handler.headers.items() if k in forwarded}
        sent["Accept-Encoding"] = "identity"
        connection.request("GET", handler.path, headers=sent)
        answer = connection.getresponse()
        body = answer.read()
        return answer.status, [(k, v) for k, v in answer.getheaders() if k in returned], body
    finally:
        connection.close()


def send_answer(
    handler: BaseHTTPRequestHandler, status: int, headers: list[tuple[str, str]], body: bytes
) -> None:
    """Answer with ``status``, ``headers`` and ``body`` (its Content-Length set)."""
    handler.send_response(status)
    for key, value in headers:
        handler.send_header(key, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)
