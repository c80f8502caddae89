"""``dicomweb2ohif serve``: launch files, the OHIF Viewer and a proxy on one loopback origin.

Paths served (all on ``http://127.0.0.1:PORT``):

``/launch/<file>.json``
    the launch files of the folder, with CORS headers so that a viewer on
    another origin may read them (a ``.json.gz`` file is sent with
    ``Content-Encoding: gzip`` to a client that accepts it, decompressed
    otherwise); with ``--proxy``, the URLs that name the proxied server are
    moved under ``/proxy/`` in the served copy (:func:`converter.serve.proxy.rewrite_launch`).
``/proxy/<path>`` (``--proxy URL``)
    the server's own ``<path>``, streamed; WADO-URI ``application/pdf`` is
    answered from the DICOM object (:mod:`converter.serve.proxy`).
``/``
    the study list page (:mod:`converter.output.study_list`) of the served
    studies, built on the fly: its links open the local viewer with
    ``--viewer`` (relative to the page), else ``--viewer-base`` or the public
    one, and name the launch files under ``/launch/``.
``/app-config.js`` and every other path (``--viewer``)
    the pinned OHIF Viewer build; ``app-config.js`` is the generated one with
    the ``dicomjson`` source (and, with ``--proxy``, OHIF's ``dicomweb`` source
    on the proxied server: ``/viewer/dicomweb?StudyInstanceUIDs=<uid>`` shows a
    study live, to compare with its launch file), and a path that is no file of the build (a route
    such as ``/viewer/dicomjson``) gets ``index.html``, as the viewer's router
    needs.

Only the stdlib server (:class:`http.server.ThreadingHTTPServer`) is used. It
listens on 127.0.0.1 only, answers only requests whose ``Host`` is a loopback
name or the ``--viewer-base`` host (a page on another site cannot reach it
through DNS rebinding), and sends ``Access-Control-Allow-Origin`` only to the
viewer's origin and loopback origins. Nothing here prints: the CLI prints
:meth:`Server.links` and gets errors as exceptions.
"""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit

import requests

from converter.errors import ConverterError, UsageError, arg
from converter.output import study_list
from converter.serve import proxy
from converter.serve.http_handler import LAUNCH_PREFIX, LOOPBACK_HOSTS, Handler, HttpServer
from converter.serve.launch_files import find_launch_files, first_url, one_study, read_launch
from converter.serve.options import Link, ServeOptions
from converter.serve.viewer import LIVE_SOURCE_NAME, live_source
from converter.uids import quote_uid

PUBLIC_VIEWER = study_list.PUBLIC_VIEWER

FRAME_ACCEPT = "multipart/related; type=application/octet-stream; transfer-syntax=*"
"""What cornerstone's ``wadors`` loader asks a frame URL for (PS3.18 10.4.1.1.3)."""


def viewer_url(viewer_base: str, launch_url: str, study_uid: str) -> str:
    """``<viewer>/viewer/dicomjson?url=<encoded>&StudyInstanceUIDs=<uid>``.

    The launch URL is percent-encoded whole (its own ``?``/``&`` must not end
    the parameter). No ``SeriesInstanceUIDs``: with a launch file of several
    studies OHIF 3.13.2 then never shows an image (measured; reported to crash
    the route's hanging protocol service), and it is not needed to open a study.
    """
    return (
        f"{viewer_base.rstrip('/')}/viewer/dicomjson?url={quote(launch_url, safe='')}"
        f"&StudyInstanceUIDs={quote_uid(study_uid)}"
    )


class Server:
    """The HTTP server of ``serve``: :meth:`start` in a thread, or :meth:`serve_forever`."""

    def __init__(self, options: ServeOptions) -> None:
        folder = options.folder.expanduser()
        if folder.is_file():
            options.only = (folder.name,)
            folder = folder.parent
        if not folder.is_dir():
            raise UsageError(f"{options.folder}: no such folder or launch file")
        options.folder = folder.resolve()
        self.options = options
        self.files = find_launch_files(options.folder, options.only, options.warn)
        if not self.files:
            raise ConverterError(
                f"no launch file in {options.folder} (*.json with a studies "
                "list; write one with dicomweb2ohif snapshot)"
            )
        if options.viewer_base is not None:
            parts = urlsplit(options.viewer_base)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise UsageError(
                    f"{arg('viewer_base')} {options.viewer_base!r} is not an http(s) URL"
                )
        try:
            self.httpd = HttpServer(("127.0.0.1", options.port), Handler, self)
        except OSError as exc:
            raise ConverterError(
                f"cannot listen on 127.0.0.1:{options.port}: {exc.strerror} "
                f"(give {arg('port=N')}, or {arg('port=0')} for any free port)"
            ) from exc
        self.port: int = self.httpd.server_address[1]
        self.origin = f"http://127.0.0.1:{self.port}"
        base = options.viewer_base or (self.origin if options.viewer_dist else PUBLIC_VIEWER)
        self.viewer_base = base.rstrip("/")
        self.viewer_origin = "{0.scheme}://{0.netloc}".format(urlsplit(self.viewer_base)).lower()
        self.allowed_hosts = set(LOOPBACK_HOSTS) | {urlsplit(self.viewer_base).hostname or ""}
        self._thread: threading.Thread | None = None
        self._cache: dict[tuple[str, str, str, bool], tuple[tuple[int, int], bytes]] = {}
        self._cache_lock = threading.Lock()
        self._page: bytes | None = None

    # --- what to print ---------------------------------------------------------

    def launch_url(self, relative: str, study_uid: str | None = None) -> str:
        """Where the launch file is served; with ``study_uid``, only that study of it.

        OHIF 3.13.2 opens every study of a launch file whatever
        ``StudyInstanceUIDs`` says (``getStudyInstanceUIDs`` answers with all the
        studies fetched from the URL), so a file with several studies is served
        per study as ``<file>?study=<uid>``.
        """
        query = f"?study={quote_uid(study_uid)}" if study_uid else ""
        return f"{self.origin}{LAUNCH_PREFIX}{proxy.quote_path(relative)}{query}"

    def links(self) -> list[Link]:
        """One viewer URL per study of each launch file, in file then study order."""
        out = []
        for launch in self.files:
            for study in launch.studies:
                uid = study["StudyInstanceUID"]
                one = uid if len(launch.studies) > 1 else None
                url = viewer_url(self.viewer_base, self.launch_url(launch.relative, one), uid)
                out.append(
                    Link(
                        launch.relative,
                        uid,
                        str(study.get("PatientName") or ""),
                        str(study.get("Modalities") or ""),
                        url,
                    )
                )
        return out

    def study_list_page(self) -> bytes:
        """The study list page of the served studies (built once, then kept).

        A folder's own ``index.html`` is not served: its links point at the
        viewer chosen when it was written and at files beside it, while here
        the files are under ``/launch/`` and the viewer is this server's.
        """
        with self._cache_lock:
            if self._page is not None:
                return self._page
        rows = []
        for launch in self.files:
            for study in launch.studies:
                uid = str(study.get("StudyInstanceUID") or "")
                query = f"?study={quote_uid(uid)}" if len(launch.studies) > 1 else ""
                series = study.get("series")
                fields = dict(study)
                if isinstance(series, list):
                    fields["NumSeries"] = len(series)
                file_url = f"{LAUNCH_PREFIX.lstrip('/')}{proxy.quote_path(launch.relative)}{query}"
                rows.append(study_list.row(fields, file_url))
        local = self.options.viewer_dist is not None and self.options.viewer_base is None
        page = study_list.render(rows, "./" if local else self.viewer_base)
        with self._cache_lock:
            self._page = page
        return page

    def live_config(self, local_origin: str) -> dict[str, object] | None:
        """OHIF's ``dicomweb`` source on the proxied server as seen from ``local_origin``
        (:func:`converter.serve.viewer.live_source`); None without ``--proxy``."""
        upstream = self.options.upstream
        if upstream is None:
            return None
        root = local_origin + proxy.PREFIX
        return live_source(
            root + upstream.dicomweb_root, root + upstream.wado_uri_root, upstream.origin, root
        )

    def live_url(self, study_uid: str) -> str | None:
        """The viewer URL that opens a study live from the proxied server
        (``/viewer/dicomweb``), on the local viewer with ``--proxy``; else None."""
        if self.options.upstream is None or self.options.viewer_dist is None:
            return None
        return (
            f"{self.viewer_base}/viewer/{LIVE_SOURCE_NAME}?StudyInstanceUIDs={quote_uid(study_uid)}"
        )

    def notes(self) -> Iterator[str]:
        """Warnings about instance URLs the viewer cannot reach as served."""
        upstream = self.options.upstream
        for launch in self.files:
            elsewhere = {
                o: n for o, n in launch.origins.items() if upstream is None or o != upstream.origin
            }
            if not elsewhere:
                continue
            total = sum(launch.origins.values())
            where = ", ".join(sorted(elsewhere))
            if upstream is not None:
                yield (
                    f"{launch.relative}: {sum(elsewhere.values())} of {total} instance URLs "
                    f"point at {where}, not at the proxied {upstream.origin}"
                )
            elif self.options.viewer_dist is not None:
                yield (
                    f"{launch.relative}: instance URLs point at {where}; unless that server "
                    f"sends CORS headers, add --proxy {sorted(elsewhere)[0]}"
                )

    def check(self) -> list[str]:
        """Ask the running server what a viewer would ask; one line per problem.

        Each launch file, the viewer's ``index.html`` and ``app-config.js``, and
        through the proxy the first instance of each file (a Part 10 object, or for
        a ``wadors:`` URL a multipart frame).
        """
        problems: list[str] = []
        session = requests.Session()
        session.trust_env = False  # loopback: never through an HTTP proxy

        def get(url: str, what: str, accept: str | None = None) -> requests.Response | None:
            headers = {"Accept": accept} if accept else None
            try:
                answer = session.get(url, timeout=60, stream=True, headers=headers)
            except requests.RequestException as exc:
                problems.append(f"{what}: {exc}")
                return None
            if answer.status_code != 200:
                problems.append(
                    f"{what}: HTTP {answer.status_code} "
                    f"{answer.raw.read(200).decode('utf-8', 'replace').strip()}"
                )
                answer.close()
                return None
            return answer

        if self.options.viewer_dist is not None:
            for path, needle in (("/index.html", b"<html"), ("/app-config.js", b"dicomjson")):
                answer = get(self.origin + path, f"viewer {path}")
                if answer is not None and needle not in answer.content:
                    problems.append(f"viewer {path}: no {needle.decode()} in the answer")
        for launch in self.files:
            answer = get(self.launch_url(launch.relative), f"launch file {launch.relative}")
            if answer is None or self.options.upstream is None:
                continue
            loaded = first_url(answer.json()) or ""
            frame = loaded.startswith("wadors:")
            first = loaded.removeprefix("wadors:").removeprefix("dicomweb:")
            if not first.startswith(self.origin + proxy.PREFIX):
                continue
            what = f"{launch.relative}: first instance through the proxy"
            image = get(first, what, FRAME_ACCEPT if frame else None)
            if image is not None:
                head = image.raw.read(132, decode_content=True)
                kind = image.headers.get("Content-Type", "")
                image.close()
                if frame and not kind.lower().startswith("multipart/related"):
                    problems.append(f"{what}: a frame answer that is not multipart ({kind})")
                elif not frame and head[128:132] != b"DICM":
                    problems.append(f"{what} is not a DICOM Part 10 object")
        return problems

    # --- lifecycle -------------------------------------------------------------

    def start(self) -> None:
        """Serve in a background thread (tests, ``--check``)."""
        self._thread = threading.Thread(
            target=self.httpd.serve_forever,
            name="serve",
            kwargs={"poll_interval": 0.2},
            daemon=True,
        )
        self._thread.start()

    def serve_forever(self) -> None:
        """Serve until :meth:`stop` or KeyboardInterrupt (which propagates)."""
        self.httpd.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(5)
            self._thread = None
        self.httpd.server_close()

    # --- served launch files ---------------------------------------------------

    def launch_bytes(
        self,
        path: Path,
        relative: str,
        local_origin: str,
        study_uid: str | None = None,
        gzipped: bool = False,
    ) -> bytes | None:
        """The launch file as served: one study of it if asked, rewritten for the proxy;
        gzip-compressed with ``gzipped`` (a ``.json.gz`` file as stored when nothing is
        rewritten).

        Cached per file, origin, study and encoding while the file's mtime and size stay.
        None when the file has no such study.
        """
        upstream = self.options.upstream
        stat = path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        key = (relative, local_origin, study_uid or "", gzipped)
        with self._cache_lock:
            hit = self._cache.get(key)
        if hit and hit[0] == stamp:
            return hit[1]
        if gzipped:
            if upstream is None and not study_uid and path.name.endswith(".gz"):
                data: bytes | None = path.read_bytes()
            else:
                plain = self.launch_bytes(path, relative, local_origin, study_uid)
                data = None if plain is None else gzip.compress(plain, compresslevel=6, mtime=0)
        elif upstream is None and not study_uid:
            data = path.read_bytes()
            data = gzip.decompress(data) if path.name.endswith(".gz") else data
        else:
            document = read_launch(path)
            if study_uid:
                document = one_study(document, study_uid)
                if document is None:
                    return None
            if upstream is not None:
                document, _ = proxy.rewrite_launch(
                    document, upstream.origin, local_origin + proxy.PREFIX
                )
            data = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
        if data is None:
            return None
        with self._cache_lock:
            self._cache[key] = (stamp, data)
        return data
