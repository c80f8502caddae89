"""The HTTP side of ``serve``: routing, static files, launch files, the proxy relay.

One :class:`Handler` per request (stdlib :mod:`http.server`, HTTP/1.1 keep-alive).
Routing and the security rules are described in :mod:`converter.serve.server`; this
module only answers requests, always with a clean HTTP answer (a short text
body for errors), never with a traceback.
"""

from __future__ import annotations

import contextlib
import http.client
import mimetypes
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

from converter.errors import SignInError
from converter.serve import proxy
from converter.serve.options import ServeOptions
from converter.serve.viewer import app_config_js


class Server(Protocol):
    """What the handler asks of :class:`converter.serve.server.Server` (a protocol, so that
    module and this one do not import each other)."""

    options: ServeOptions
    viewer_origin: str
    allowed_hosts: set[str]

    def study_list_page(self) -> bytes: ...

    def live_config(self, local_origin: str) -> dict[str, object] | None: ...

    def launch_bytes(
        self,
        path: Path,
        relative: str,
        local_origin: str,
        study_uid: str | None = None,
        gzipped: bool = False,
    ) -> bytes | None: ...


LAUNCH_PREFIX = "/launch/"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
CHUNK = 1 << 16
_TYPES = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".wasm": "application/wasm",
    ".json": "application/json",
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".woff2": "font/woff2",
    ".html": "text/html",
    ".map": "application/json",
}


def _accepts_gzip(accept_encoding: str) -> bool:
    """Whether an ``Accept-Encoding`` value (RFC 9110 12.5.3) takes ``gzip``: named (or
    ``x-gzip``), else ``*``, with a q-value above 0."""
    weights: dict[str, float] = {}
    for item in accept_encoding.split(","):
        coding, _, params = item.partition(";")
        name = coding.strip().lower()
        name = "gzip" if name == "x-gzip" else name
        q = params.strip().lower()
        try:
            weights[name] = float(q[2:]) if q.startswith("q=") else 1.0
        except ValueError:
            weights[name] = 0.0
    return weights.get("gzip", weights.get("*", 0.0)) > 0


def _host_name(host_header: str) -> str:
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class HttpServer(ThreadingHTTPServer):
    """A thread per connection (a browser opens several), daemon threads so Ctrl-C ends them."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], app: Server
    ) -> None:
        self.app = app
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A browser that drops a connection is normal; anything else is logged, not printed.
        log = self.app.options.log
        if log:
            log(f"error serving {client_address}: {sys.exc_info()[1]!r}")


class Handler(BaseHTTPRequestHandler):
    """Answers one request of the viewer: launch file, proxy, viewer file or route."""

    protocol_version = "HTTP/1.1"
    server_version = "dicomweb2ohif-serve"
    server: HttpServer

    @property
    def app(self) -> Server:
        return self.server.app

    def log_message(self, format: str, *args: Any) -> None:
        if self.app.options.log:
            self.app.options.log(format % args)

    # --- common ----------------------------------------------------------------

    def _cors(self) -> None:
        origin = self.headers.get("Origin", "")
        parts = urlsplit(origin)
        if origin and (
            origin.lower() == self.app.viewer_origin or (parts.hostname or "") in LOOPBACK_HOSTS
        ):
            self.send_header("Access-Control-Allow-Origin", origin)
            self.send_header("Vary", "Origin")
            self.send_header(
                "Access-Control-Expose-Headers", "Content-Length, Content-Type, Content-Range"
            )

    def _local_origin(self) -> str | None:
        host = self.headers.get("Host", "")
        if _host_name(host) not in self.app.allowed_hosts:
            return None
        return f"http://{host.strip()}"

    def _simple(self, status: int, text: str, head: bool = False) -> None:
        body = (text.rstrip("\n") + "\n").encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self._cors()
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _bytes(
        self,
        data: bytes,
        content_type: str,
        head: bool,
        cache: str = "no-cache",
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", cache)
        self._cors()
        self.end_headers()
        if not head:
            self.wfile.write(data)

    def _file(self, path: Path, head: bool) -> None:
        content_type = _TYPES.get(path.suffix.lower()) or (
            mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        )
        if content_type.startswith("text/"):
            content_type += "; charset=utf-8"
        size = path.stat().st_size
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(size))
        self.send_header(
            "Cache-Control", "no-cache" if path.name == "index.html" else "public, max-age=3600"
        )
        self._cors()
        self.end_headers()
        if head:
            return
        with path.open("rb") as fh:
            while chunk := fh.read(CHUNK):
                self.wfile.write(chunk)

    # --- methods ---------------------------------------------------------------

    def do_OPTIONS(self) -> None:
        self.send_response(204)
        self._cors()
        self.send_header("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
        wanted = self.headers.get("Access-Control-Request-Headers")
        if wanted:
            self.send_header("Access-Control-Allow-Headers", wanted)
        if self.headers.get("Access-Control-Request-Private-Network"):
            # Chrome's Private Network Access: a public viewer asking a loopback server.
            self.send_header("Access-Control-Allow-Private-Network", "true")
        self.send_header("Access-Control-Max-Age", "600")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_HEAD(self) -> None:
        self._get(head=True)

    def do_GET(self) -> None:
        self._get(head=False)

    def _refuse_method(self) -> None:
        self._simple(405, "only GET, HEAD and OPTIONS are served")

    do_POST = do_PUT = do_DELETE = do_PATCH = _refuse_method

    def _get(self, head: bool) -> None:
        try:
            local = self._local_origin()
            if local is None:
                self._simple(421, "unknown Host: serve answers loopback names only", head)
                return
            path, _, query = self.path.partition("?")
            path = path.split("#", 1)[0]
            if path.startswith(LAUNCH_PREFIX):
                self._launch(unquote(path[len(LAUNCH_PREFIX) :]), query, local, head)
            elif path == proxy.PREFIX or path.startswith(proxy.PREFIX + "/"):
                self._proxy(path[len(proxy.PREFIX) :] or "/", query, local, head)
            elif path == "/" or (path == "/index.html" and self.app.options.viewer_dist is None):
                self._bytes(self.app.study_list_page(), "text/html; charset=utf-8", head)
            elif self.app.options.viewer_dist is not None:
                self._viewer(unquote(path), local, head)
            else:
                self._simple(404, f"not found: {path}", head)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:  # a bug: a clean 500 for the browser, the rest in the log
            self.close_connection = True
            if self.app.options.log:
                self.app.options.log(f"error on {self.path}: {exc!r}")
            with contextlib.suppress(OSError):
                self._simple(500, f"internal error: {type(exc).__name__}: {exc}", head)

    def _launch(self, relative: str, query: str, local: str, head: bool) -> None:
        root = self.app.options.folder
        path = (root / relative).resolve()
        named = relative.endswith((".json", ".json.gz"))
        if not named or not path.is_relative_to(root) or not path.is_file():
            self._simple(404, f"no launch file {relative}", head)
            return
        study = dict(parse_qsl(query)).get("study") or None
        # A file stored gzipped goes out gzipped to a client that takes it (RFC 9110 8.4).
        stored_gzip = relative.endswith(".gz")
        gzipped = stored_gzip and _accepts_gzip(self.headers.get("Accept-Encoding", ""))
        try:
            data = self.app.launch_bytes(path, relative, local, study, gzipped)
        except (OSError, ValueError, EOFError) as exc:
            self._simple(500, f"cannot read {relative}: {exc}", head)
            return
        if data is None:
            self._simple(404, f"{relative} has no study {study}", head)
            return
        headers = (("Content-Encoding", "gzip"),) if gzipped else ()
        vary = (("Vary", "Accept-Encoding"),) if stored_gzip else ()
        self._bytes(data, "application/json; charset=utf-8", head, headers=headers + vary)

    def _viewer(self, path: str, local: str, head: bool) -> None:
        if path == "/app-config.js":
            self._bytes(
                app_config_js(self.app.live_config(local)), "text/javascript; charset=utf-8", head
            )
            return
        dist = self.app.options.viewer_dist
        assert dist is not None
        target = (dist / path.lstrip("/")).resolve()
        if target.is_relative_to(dist) and target.is_file():
            self._file(target, head)
        elif "." in path.rsplit("/", 1)[-1]:
            self._simple(404, f"not found: {path}", head)  # a missing asset, not a route
        else:
            self._file(dist / "index.html", head)  # single-page app route

    # --- proxy -----------------------------------------------------------------

    def _proxy(self, path: str, query: str, local: str, head: bool) -> None:
        upstream = self.app.options.upstream
        if upstream is None:
            self._simple(404, "no --proxy given", head)
            return
        method = "HEAD" if head else "GET"
        document = proxy.document_query(query)
        rendered = proxy.rendered_document_path(path, query)
        target = path + (f"?{document or query}" if (document or query) else "")
        headers = proxy.forwarded_headers(self.headers)
        whole = proxy.wants_single_part(path, self.headers.get("Accept", ""))
        if document is not None:
            headers = {"Accept": "application/dicom"}
        elif rendered is not None:
            target, headers = rendered, {"Accept": proxy.INSTANCE_ACCEPT}
        elif whole:
            headers = {"Accept": proxy.INSTANCE_ACCEPT}
        unwrap = document is not None or rendered is not None or whole
        try:
            conn, response = upstream.request("GET" if unwrap else method, target, headers)
        except (OSError, http.client.HTTPException) as exc:
            self._simple(502, f"proxy: {upstream.origin} did not answer ({exc})", head)
            return
        except SignInError as exc:  # the token command failed: say why, never the token
            self.app.options.warn(f"proxy: {exc}")
            self._simple(502, f"proxy: no token for {upstream.origin} ({exc})", head)
            return
        try:
            if unwrap:
                self._document(response, head, whole=whole and rendered is None)
            else:
                self._relay(response, upstream, local, head)
        except TimeoutError:
            self.close_connection = True
        finally:
            conn.close()

    def _document(self, response: Any, head: bool, whole: bool = False) -> None:
        """Answer the object's encapsulated document, or with ``whole`` the object itself."""
        if response.status != 200:
            self._simple(
                response.status,
                f"proxy: the server answered {response.status} "
                "for the DICOM object of this document",
                head,
            )
            return
        size = int(response.getheader("Content-Length") or 0)
        if size > proxy.MAX_DOCUMENT_BYTES:
            self._simple(413, "proxy: the DICOM object is too large to unwrap", head)
            return
        try:
            part10 = proxy.single_part(response.read(), response.getheader("Content-Type") or "")
            data, media = (
                (part10, "application/dicom") if whole else proxy.encapsulated_document(part10)
            )
        except ValueError as exc:
            self._simple(406, f"proxy: {exc}", head)
            return
        self._bytes(data, media, head, cache="public, max-age=3600")

    def _relay(self, response: Any, upstream: proxy.Upstream, local: str, head: bool) -> None:
        self.send_response(response.status)
        for name, value in proxy.answer_headers(response, upstream, local):
            self.send_header(name, value)
        self._cors()
        length = response.getheader("Content-Length")
        no_body = head or response.status in (204, 304) or 100 <= response.status < 200
        if no_body:
            if length is not None:
                self.send_header("Content-Length", length)
            self.end_headers()
            return
        if length is not None:
            self.send_header("Content-Length", length)
            self.end_headers()
            for chunk in proxy.body_chunks(response):
                self.wfile.write(chunk)
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for chunk in proxy.body_chunks(response):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        self.wfile.write(b"0\r\n\r\n")
