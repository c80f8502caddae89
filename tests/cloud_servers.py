"""Real local HTTP proxies in front of the test Orthanc that behave as other DICOMweb
servers are documented to behave.

Each :class:`Behaviour` is written from that server's public documentation (the
sources are named on each preset below and in the README's server table); the proxy
forwards every GET to the throwaway Orthanc and changes what the documentation says
that server does differently: paging caps and how a request past them is answered, a
``204 No Content`` for an empty page, a capped answer with a ``Warning`` header,
BulkDataURIs for every binary value (built from the request's own base URL, and
served), binary values left out of metadata or sent as arrays of numbers, no
study-level metadata, throttling above a request rate, and answers of a busy
service. No monkeypatching: the code under test talks HTTP to it like to any server.

Searches are paged here (every match asked from Orthanc, the page cut by the proxy),
so a cap or an offset means exactly what the documentation says.
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from tests.local_http import serving

BINARY_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})

SEARCH = re.compile(r"/(studies|series|instances)$")
STUDY_METADATA = re.compile(r"/studies/[^/]+/metadata$")
METADATA = re.compile(r"/metadata$")
BULK = "/bulk/"
"""Path prefix of the BulkDataURIs the proxy hands out (and serves)."""


@dataclass(frozen=True)
class Behaviour:
    """What a documented server does differently from Orthanc 1.10. Every field's
    default is Orthanc's behaviour, so ``Behaviour("plain")`` is a transparent proxy."""

    name: str
    limit_max: int | None = None
    """The largest ``limit`` a search takes."""
    limit_over: str = "clamp"
    """A larger ``limit``: ``"clamp"`` (answer at most ``limit_max``) or ``"400"``."""
    limit_default: int | None = None
    """Results of a search without ``limit``."""
    offset_max: int | None = None
    """The largest ``offset`` a search takes; a larger one gets 400."""
    empty_204: bool = False
    """A search with no result (an offset past the end) answers 204 No Content."""
    records_max: int | None = None
    """Only the first N matches of a search can be reached at all, whatever the offset."""
    results_max: int | None = None
    """At most N results per answer; the rest announced in a ``Warning`` header."""
    bulkdata_all: bool = False
    """Every binary value as a BulkDataURI (InlineBinary too), under the request's base URL."""
    drop_binary: bool = False
    """Metadata leaves out every element of VR OB, OD, OF, OL, OV, OW and UN."""
    binary_numbers: bool = False
    """Binary values as ``Value`` arrays of numbers (bytes of OB/UN, words of OW)."""
    study_metadata: int | None = None
    """Study-level ``/metadata`` refused with this status."""
    rate: float | None = None
    """Requests per second per action (study search, series search, metadata...); above: 429."""
    burst: int = 1
    """Requests an action may make at once before the rate applies."""
    busy: tuple[int, ...] = ()
    """Statuses the first requests to each metadata path get, in turn, before an answer."""
    root: str = "/dicom-web"
    """The DICOMweb root path; the WADO-URI service is ``wado`` next to its last segment."""
    wado_uri: bool = True
    """A WADO-URI service (``wado`` next to the root); without one, it answers 404. A
    snapshot reads metadata only, so the launch file is the same either way; the viewer
    gets WADO-RS frame URLs from ``snapshot``'s default ``--image-urls auto``."""


# -- presets, each from its documentation ------------------------------------------

GOOGLE = Behaviour(
    "google",
    # cloud.google.com/healthcare-api/quotas, "Resource limits": search "maximum offset
    # of 1,000,000 and maximum limit of 5,000 for studies/series"; docs/dicom (conformance
    # statement): no URI Service (WADO-URI), BulkDataURIs for binary values.
    limit_max=5000,
    limit_over="400",
    limit_default=100,
    offset_max=1_000_000,
    bulkdata_all=True,
    wado_uri=False,
)
AZURE = Behaviour(
    "azure",
    # learn.microsoft.com .../dicom/dicom-services-conformance-statement-v2: limit
    # "1 >= x <= 200. Defaulted to 100"; "an offset ... larger than the number of search
    # query results, a 204 (no content)"; "If the requested query response limit is
    # outside of the acceptable range, a bad request is returned"; metadata "doesn't
    # return attributes" of VR OB, OD, OF, OL, OV, OW, UN; 424 Failed Dependency and
    # 503 Service Unavailable "busy. Try again later"; its services list no WADO-URI.
    limit_max=200,
    limit_over="400",
    limit_default=100,
    empty_204=True,
    drop_binary=True,
    wado_uri=False,
)
AWS = Behaviour(
    "aws",
    # docs.aws.amazon.com/healthimaging/latest/devguide/dicomweb-search.html: QIDO-RS
    # "can return a maximum of 10,000 records"; dicomweb-retrieve.html: WADO-RS "at the
    # series and instance levels" (no study-level metadata; the answer to one is not
    # documented: 404 here); throttling-limits.html: 50 tps per DICOMweb action; no
    # WADO-URI.
    records_max=10_000,
    study_metadata=404,
    rate=50.0,
    burst=100,
    wado_uri=False,
)
DCM4CHEE = Behaviour(
    "dcm4chee",
    # dcm4chee-arc-light issue #2367 (its QIDO "Max Number of Results"): the answer is
    # capped and carries "Warning: There are xx additional results that can be
    # requested"; BulkDataURIs are built from the request's base URL.
    results_max=500,
    bulkdata_all=True,
    root="/dcm4chee-arc/aets/DCM4CHEE/rs",
)
ORTHANC_NUMBERS = Behaviour("orthanc-numbers", binary_numbers=True)  # newer DICOMweb plugins


@dataclass
class CloudServer:
    """A running proxy: its URL, its behaviour, what it served."""

    url: str
    behaviour: Behaviour
    served: list[tuple[str, int]] = field(default_factory=list)
    bulk: dict[str, bytes | str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _turns: dict[str, int] = field(default_factory=dict)
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def dicomweb(self) -> str:
        return self.url + self.behaviour.root

    def statuses(self, pattern: str = "") -> list[int]:
        """The statuses of the answers to paths matching ``pattern``, in order."""
        return [status for path, status in self.served if re.search(pattern, path)]

    def requests_to(self, pattern: str) -> list[str]:
        return [path for path, _ in self.served if re.search(pattern, path)]

    def record(self, path: str, status: int) -> None:
        with self._lock:
            self.served.append((path, status))

    def busy_status(self, path: str) -> int | None:
        with self._lock:
            turn = self._turns.get(path, 0)
            self._turns[path] = turn + 1
        busy = self.behaviour.busy
        return busy[turn] if turn < len(busy) else None

    def throttled(self, action: str) -> bool:
        """A token bucket per action: ``rate`` per second, ``burst`` deep."""
        rate = self.behaviour.rate
        if rate is None:
            return False
        with self._lock:
            now = time.monotonic()
            tokens, then = self._buckets.get(action, (float(self.behaviour.burst), now))
            tokens = min(float(self.behaviour.burst), tokens + (now - then) * rate)
            if tokens < 1.0:
                self._buckets[action] = (tokens, now)
                return True
            self._buckets[action] = (tokens - 1.0, now)
            return False


def action_of(path: str) -> str:
    """The documented action a path belongs to (the unit AWS throttles by)."""
    if STUDY_METADATA.search(path):
        return "study-metadata"
    if METADATA.search(path):
        return "instance-metadata" if "/instances/" in path else "series-metadata"
    match = SEARCH.search(path)
    if match:
        return f"search-{match.group(1)}"
    return "retrieve"


@contextmanager
def cloud_server(upstream: str, behaviour: Behaviour) -> Iterator[CloudServer]:
    """Run a proxy with ``behaviour`` to ``upstream`` (the Orthanc's http://127.0.0.1:port)."""
    target = urlsplit(upstream)
    host, port = target.hostname or "127.0.0.1", target.port or 80
    if host not in ("127.0.0.1", "localhost"):
        raise ValueError("the proxy only forwards to loopback")
    state = CloudServer(url="", behaviour=behaviour)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            b = state.behaviour
            self.path = _upstream_path(self.path, b.root)
            parts = urlsplit(self.path)
            if b.rate is not None and state.throttled(action_of(parts.path)):
                body = {"__type": "ThrottlingException", "message": "Rate exceeded"}
                return self._json(429, body)
            if parts.path == "/wado" and not b.wado_uri:
                return self._json(404, {"message": "no WADO-URI service"})
            if parts.path.startswith(BULK):
                return self._bulk(parts.path)
            if METADATA.search(parts.path):
                busy = state.busy_status(parts.path)
                if busy is not None:
                    return self._json(busy, {"message": "The service is busy"})
                if b.study_metadata is not None and STUDY_METADATA.search(parts.path):
                    return self._json(b.study_metadata, {"message": "Not found"})
            if SEARCH.search(parts.path):
                return self._search(parts.path, parse_qsl(parts.query, keep_blank_values=True))
            status, headers, body = self._forward(self.path)
            if status == 200 and METADATA.search(parts.path):
                datasets = json.loads(body)
                for dataset in datasets:
                    self._binary(dataset)
                body = json.dumps(datasets).encode()
            self._send(status, body, headers)

        def _search(self, path: str, query: list[tuple[str, str]]) -> None:
            b = state.behaviour
            numbers = {k: v for k, v in query if k in ("limit", "offset")}
            try:
                limit = int(numbers["limit"]) if "limit" in numbers else b.limit_default
                offset = int(numbers.get("offset", "0"))
            except ValueError:
                return self._json(400, {"message": "limit and offset must be integers"})
            if limit is not None and b.limit_max is not None and limit > b.limit_max:
                if b.limit_over == "400":
                    message = f"The limit must be between 1 and {b.limit_max}"
                    return self._json(400, {"message": message})
                limit = b.limit_max
            if b.offset_max is not None and offset > b.offset_max:
                return self._json(400, {"message": f"The offset must be at most {b.offset_max}"})
            rest = [(k, v) for k, v in query if k not in ("limit", "offset")]
            status, headers, body = self._forward(path + ("?" + urlencode(rest) if rest else ""))
            if status != 200:
                return self._send(status, body, headers)
            matches = json.loads(body) if body else []
            if b.records_max is not None:
                matches = matches[: b.records_max]
            page = matches[offset:] if limit is None else matches[offset : offset + limit]
            if b.results_max is not None and len(page) > b.results_max:
                more = len(page) - b.results_max
                page = page[: b.results_max]
                headers["Warning"] = (
                    f"299 {self.headers.get('Host', 'proxy')}: There are {more} additional "
                    "results that can be requested"
                )
            if not page and b.empty_204:
                return self._send(204, b"", {})
            self._send(200, json.dumps(page).encode(), headers)

        def _binary(self, dataset: dict[str, Any]) -> None:
            """Binary values of one dataset (and its sequences) as the behaviour sends them."""
            b = state.behaviour
            for tag in list(dataset):
                element = dataset[tag]
                vr = element.get("vr")
                if vr == "SQ":
                    for item in element.get("Value", []):
                        self._binary(item)
                    continue
                if vr not in BINARY_VRS:
                    continue
                if b.drop_binary:
                    del dataset[tag]
                elif b.binary_numbers:
                    data = self._bytes(element)
                    if data is not None:
                        dataset[tag] = {"vr": vr, "Value": _numbers(vr, data)}
                elif b.bulkdata_all and ("InlineBinary" in element or "BulkDataURI" in element):
                    key = f"{BULK}{len(state.bulk)}"
                    state.bulk[key] = element.get("BulkDataURI") or base64.b64decode(
                        element["InlineBinary"]
                    )
                    host = self.headers.get("Host", "127.0.0.1")
                    dataset[tag] = {"vr": vr, "BulkDataURI": f"http://{host}{key}"}

        def _bytes(self, element: dict[str, Any]) -> bytes | None:
            if "InlineBinary" in element:
                return base64.b64decode(element["InlineBinary"])
            uri = element.get("BulkDataURI")
            if not isinstance(uri, str):
                return None
            status, headers, body = self._forward(urlsplit(uri).path, accept="*/*")
            return _first_part(body, headers.get("Content-Type", "")) if status == 200 else None

        def _bulk(self, path: str) -> None:
            value = state.bulk.get(path)
            if value is None:
                return self._json(404, {"message": "no such bulk data"})
            if isinstance(value, str):  # Orthanc's own BulkDataURI: fetch it now
                status, headers, body = self._forward(urlsplit(value).path, self.headers["Accept"])
                return self._send(status, body, headers)
            boundary = "bulk-boundary"
            body = (
                f"--{boundary}\r\nContent-Type: application/octet-stream\r\n\r\n".encode()
                + value
                + f"\r\n--{boundary}--\r\n".encode()
            )
            kind = f"multipart/related; type=application/octet-stream; boundary={boundary}"
            self._send(200, body, {"Content-Type": kind})

        def _forward(
            self, path: str, accept: str | None = None
        ) -> tuple[int, dict[str, str], bytes]:
            connection = http.client.HTTPConnection(host, port, timeout=60)
            try:
                sent = {k: v for k, v in self.headers.items() if k in ("Accept", "Authorization")}
                if accept is not None:
                    sent["Accept"] = accept
                sent["Accept-Encoding"] = "identity"
                connection.request("GET", path, headers=sent)
                answer = connection.getresponse()
                body = answer.read()
                kept = ("Content-Type", "Warning")
                return answer.status, {k: v for k, v in answer.getheaders() if k in kept}, body
            finally:
                connection.close()

        def _json(self, status: int, document: Any) -> None:
            self._send(status, json.dumps(document).encode(), {"Content-Type": "application/json"})

        def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            state.record(self.path, status)
            try:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:
                self.close_connection = True

        def log_message(self, format: str, *args: object) -> None:  # quiet
            return

    with serving(Handler) as url:
        state.url = url
        yield state


def _upstream_path(path: str, root: str) -> str:
    """A path under the proxy's own root as Orthanc's (``/dicom-web``, ``/wado``)."""
    wado = root.rpartition("/")[0] + "/wado"
    for mine, orthanc in ((root, "/dicom-web"), (wado, "/wado")):
        if path == mine or path.startswith((mine + "/", mine + "?")):
            return orthanc + path[len(mine) :]
    return path


def _numbers(vr: str, data: bytes) -> list[int]:
    if vr == "OW":
        return [int.from_bytes(data[i : i + 2], "little") for i in range(0, len(data) - 1, 2)]
    return list(data)


def _first_part(body: bytes, content_type: str) -> bytes:
    """The payload of the first part of a multipart answer (or the body itself)."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not content_type.startswith("multipart/") or match is None:
        return body
    boundary = b"--" + match.group(1).encode()
    part = body.split(boundary)[1]
    payload = part.split(b"\r\n\r\n", 1)[1]
    return payload[:-2] if payload.endswith(b"\r\n") else payload


def scaled(behaviour: Behaviour, **caps: Any) -> Behaviour:
    """The behaviour with smaller caps, so that three fixture studies reach them."""
    return replace(behaviour, **caps)
