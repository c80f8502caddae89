"""The OHIF Viewer build that ``dicomweb2ohif serve --viewer`` serves.

The npm package ``@ohif/app`` ships a ready-to-serve production build in its
``dist/`` folder (about 50 MB packed, 200 MB unpacked: ``index.html``, the
bundles, the wasm codecs). It is fetched once per exact version,
with the ordinary npm client (``npm pack``, so the user's npm registry, proxy and
cache settings apply and npm checks the tarball's integrity), unpacked into a
user cache folder (one folder per version), and reused from then on. The
launch-file behaviour of the writer was measured against :data:`PROVEN_VERSIONS`
(the end-to-end and parity tests run on each); :data:`OHIF_VERSION` is the
default, and ``serve --viewer-version`` picks another published version.

Its stock ``app-config.js`` has no ``dicomjson`` data source (the secure default
of OHIF 3.13 leaves out every ``?url=`` source), so :func:`app_config_js` writes
one that has it; ``serve`` answers ``/app-config.js`` with it instead of the
stock file, which stays untouched in the cache.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from converter.errors import ConverterError, UsageError, arg

OHIF_PACKAGE = "@ohif/app"
OHIF_VERSION = "3.13.2"
"""The default build: the newest release (npm dist-tag ``latest``) when this was measured."""
PROVEN_VERSIONS = ("3.13.2", "3.14.0-beta.6")
"""Builds the end-to-end and parity tests open launch files in (the newest release and the
newest 3.14 pre-release on npm)."""
_VERSION_RE = re.compile(r"\d+\.\d+\.\d+(?:-[0-9A-Za-z]+(?:\.[0-9A-Za-z]+)*)?")
DATA_SOURCE_NAME = "dicomjson"
DATA_SOURCE_NAMESPACE = "@ohif/extension-default.dataSourcesModule.dicomjson"
LIVE_SOURCE_NAME = "dicomweb"
LIVE_SOURCE_NAMESPACE = "@ohif/extension-default.dataSourcesModule.dicomweb"
NPM_TIMEOUT = 900.0
"""Seconds ``npm pack`` may take (about 50 MB)."""

_COMPLETE = ".dicomweb2ohif-complete"
_REQUIRED = ("index.html", "app-config.js")

Progress = Callable[[str, int, int], None]
"""Called as (stage, done, total): ``("download", 0, 0)`` once before npm runs,
then ``("unpack", files done, files in all)``."""


class ViewerError(ConverterError):
    """The viewer build cannot be fetched or used; the message says what to do."""


def cache_root(environ: dict[str, str] | None = None) -> Path:
    """``$XDG_CACHE_HOME/dicomweb2ohif``, else ``~/.cache/dicomweb2ohif`` (XDG Base Directory)."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CACHE_HOME") or ""
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".cache"
    return root / "dicomweb2ohif"


def check_version(version: str) -> str:
    """``version`` if it is a plain SemVer version (``3.13.2``, ``3.14.0-beta.6``).

    It becomes an npm package spec and a cache folder name, so ranges, tags
    (``latest``), URLs and paths are refused: a build is always one exact version.

    Raises:
        UsageError: it is not such a version.
    """
    if not _VERSION_RE.fullmatch(version):
        raise UsageError(
            f"OHIF Viewer version {version[:40]!r} is not an exact version such "
            f"as {OHIF_VERSION} or {PROVEN_VERSIONS[-1]} "
            "(npm view @ohif/app versions lists them)"
        )
    return version


def cached_dist(root: Path | None = None, version: str = OHIF_VERSION) -> Path:
    """Where the build of ``version`` lives (or will live) in the cache."""
    return (root or cache_root()) / f"ohif-{check_version(version)}"


def check_dist(folder: Path) -> Path:
    """Check that ``folder`` is a built OHIF Viewer (``--viewer-dist``); return it resolved."""
    folder = folder.expanduser()
    if not folder.is_dir():
        raise UsageError(f"{arg('viewer_dist')} {folder}: no such folder")
    missing = [name for name in _REQUIRED if not (folder / name).is_file()]
    if missing:
        raise UsageError(
            f"{arg('viewer_dist')} {folder} is not an OHIF Viewer build: it has no "
            f"{' or '.join(missing)} (give the dist/ folder of @ohif/app)"
        )
    return folder.resolve()


def ensure_viewer(
    root: Path | None = None, progress: Progress | None = None, version: str = OHIF_VERSION
) -> Path:
    """The OHIF Viewer build of ``version``, fetched with npm into the cache the first time.

    The build is unpacked into a temporary sibling folder and renamed into place
    at the end, so an interrupted fetch leaves nothing that looks complete.

    Raises:
        ViewerError: npm is missing, offline, or the package is not what was expected.
    """
    target = cached_dist(root, version)
    if (target / _COMPLETE).is_file():
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise ViewerError(
            f"npm is needed once to fetch the OHIF Viewer {version} build "
            f"(apt-get install npm), or give {arg('viewer_dist=DIR')}"
        )
    parent = target.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".ohif-{version}.", suffix=".part", dir=parent))
    except OSError as exc:
        raise ViewerError(f"cannot write the viewer cache {parent}: {exc.strerror}") from exc
    try:
        if progress:
            progress("download", 0, 0)
        tarball = _npm_pack(npm, work, version)
        dist = work / "dist"
        _unpack_dist(tarball, dist, progress)
        tarball.unlink()
        (dist / _COMPLETE).write_text(f"{OHIF_PACKAGE}@{version}\n", encoding="utf-8")
        if target.exists():  # an earlier, incomplete copy (or a concurrent fetch)
            shutil.rmtree(target, ignore_errors=True)
        try:
            os.replace(dist, target)
        except OSError as exc:
            if not (target / _COMPLETE).is_file():
                raise ViewerError(f"cannot move the viewer into {target}: {exc.strerror}") from exc
        return target
    except OSError as exc:
        raise ViewerError(
            f"cannot unpack the OHIF Viewer into {parent}: {exc.strerror or exc}"
        ) from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _npm_pack(npm: str, folder: Path, version: str) -> Path:
    """``npm pack @ohif/app@VERSION`` into ``folder``; the path of the tarball."""
    spec = f"{OHIF_PACKAGE}@{version}"
    cmd = [
        npm,
        "pack",
        spec,
        "--json",
        "--pack-destination",
        str(folder),
        "--loglevel=error",
        "--no-fund",
        "--no-audit",
    ]
    try:
        done = subprocess.run(
            cmd,
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=NPM_TIMEOUT,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ViewerError(
            f"npm pack {spec} took more than {NPM_TIMEOUT:.0f} s; "
            f"check the network or give {arg('viewer_dist=DIR')}"
        ) from exc
    except OSError as exc:
        raise ViewerError(f"cannot run npm: {exc.strerror}") from exc
    if done.returncode != 0:
        lines = [ln.strip() for ln in done.stderr.splitlines() if ln.strip()]
        reason = next(
            (ln for ln in lines if "ERR" in ln and ("code" in ln or "network" in ln)),
            lines[-1] if lines else f"exit code {done.returncode}",
        )
        raise ViewerError(
            f"npm could not fetch {spec} (offline or no registry?): "
            f"{reason.removeprefix('npm error ').removeprefix('npm ERR! ')}; "
            f"or give {arg('viewer_dist=DIR')}"
        )
    try:
        name = json.loads(done.stdout)[0]["filename"]
    except (ValueError, LookupError, TypeError) as exc:
        raise ViewerError(
            f"npm pack {spec} gave an unexpected answer: {done.stdout[:200]!r}"
        ) from exc
    tarball = folder / PurePosixPath(str(name).replace("/", "-").lstrip("@")).name
    if not tarball.is_file():
        candidates = sorted(folder.glob("*.tgz"))
        if len(candidates) != 1:
            raise ViewerError(f"npm pack {spec} wrote no tarball into {folder}")
        tarball = candidates[0]
    return tarball


def _unpack_dist(tarball: Path, dest: Path, progress: Progress | None) -> None:
    """Extract ``package/dist/`` of the npm tarball into ``dest``: regular files only,
    no path may leave ``dest`` (absolute paths, ``..`` and links are refused)."""
    prefix = "package/dist/"
    try:
        with tarfile.open(tarball, "r:gz") as tar:
            members = [m for m in tar.getmembers() if m.isfile() and m.name.startswith(prefix)]
            names = [PurePosixPath(m.name[len(prefix) :]) for m in members]
            if not {str(n) for n in names} >= set(_REQUIRED):
                raise ViewerError(
                    f"{tarball.name} has no dist/index.html: not an OHIF Viewer build"
                )
            for done, (member, name) in enumerate(zip(members, names, strict=True), 1):
                if name.is_absolute() or ".." in name.parts:
                    raise ViewerError(f"{tarball.name}: refusing unsafe path {member.name!r}")
                out = dest.joinpath(*name.parts)
                out.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                if source is None:
                    continue
                with source, out.open("wb") as fh:
                    shutil.copyfileobj(source, fh, 1 << 20)
                if progress:
                    progress("unpack", done, len(members))
    except (tarfile.TarError, EOFError) as exc:
        raise ViewerError(f"{tarball.name} is not a readable npm tarball: {exc}") from exc


def live_source(
    dicomweb_root: str, wado_uri_root: str, server_origin: str, served_origin: str
) -> dict[str, object]:
    """OHIF's own ``dicomweb`` data source on the server behind ``serve --proxy``.

    Its QIDO-RS/WADO-RS roots (PS3.18 10.6, 10.4) and WADO-URI root (PS3.18 9)
    are the proxy's (``dicomweb_root`` and ``wado_uri_root``, full URLs on the
    page's origin), so the same page can show the study from the launch file
    and live from the server: ``/viewer/dicomweb?StudyInstanceUIDs=<uid>``.
    The server writes its own origin into the BulkDataURIs of its metadata
    (PS3.18 F.2.6; Orthanc takes it from the Host header the proxy sends), so
    ``bulkDataURI.startsWith``/``prefixWith`` (read by OHIF's fixBulkDataURI)
    move them under the proxy too. The other keys are those of OHIF's own
    Orthanc configuration (``platform/app/public/config/local_orthanc.js``).
    """
    return {
        "namespace": LIVE_SOURCE_NAMESPACE,
        "sourceName": LIVE_SOURCE_NAME,
        "configuration": {
            "friendlyName": "the DICOMweb server behind serve --proxy (live)",
            "name": "dicomweb",
            "wadoUriRoot": wado_uri_root,
            "qidoRoot": dicomweb_root,
            "wadoRoot": dicomweb_root,
            "qidoSupportsIncludeField": False,
            "supportsReject": False,
            "imageRendering": "wadors",
            "thumbnailRendering": "wadors",
            "enableStudyLazyLoad": True,
            "supportsFuzzyMatching": False,
            "supportsWildcard": True,
            "omitQuotationForMultipartRequest": True,
            "bulkDataURI": {
                "enabled": True,
                "startsWith": server_origin.rstrip("/") + "/",
                "prefixWith": served_origin.rstrip("/") + "/",
            },
        },
    }


def app_config_js(live: dict[str, object] | None = None) -> bytes:
    """The ``app-config.js`` served instead of the stock one.

    The ``dicomjson`` reader of DICOM JSON launch files
    (``/viewer/dicomjson?url=...``), made the default; with ``live`` (a
    :func:`live_source`, when ``serve`` has ``--proxy``) also OHIF's
    ``dicomweb`` source on the proxied server, to compare the launch file with
    the server it was taken from. The study list is off: it
    needs a search-capable source, and every study is opened from a printed URL.
    Viewer, launch files and (with ``--proxy``) images share one origin, so the
    cross-origin warning is off too.
    """
    config = {
        "name": "dicomweb2ohif serve",
        "routerBasename": None,
        "extensions": [],
        "modes": [],
        "customizationService": {},
        "showStudyList": False,
        "maxNumberOfWebWorkers": 3,
        "showWarningMessageForCrossOrigin": False,
        "showCPUFallbackMessage": True,
        "showLoadingIndicator": True,
        "strictZSpacingForVolumeViewport": True,
        "maxNumRequests": {"interaction": 100, "thumbnail": 5, "prefetch": 25},
        "showErrorDetails": "always",
        "defaultDataSourceName": DATA_SOURCE_NAME,
        "dataSources": [
            {
                "namespace": DATA_SOURCE_NAMESPACE,
                "sourceName": DATA_SOURCE_NAME,
                "configuration": {
                    "friendlyName": "DICOM JSON launch files (dicomweb2ohif)",
                    "name": "json",
                },
            }
        ]
        + ([live] if live else []),
    }
    text = (
        f"/* Written by dicomweb2ohif serve for OHIF Viewer {OHIF_VERSION}: the stock file\n"
        " * has no dicomjson data source. Open /viewer/dicomjson?url=<launch file URL>"
        + (", or the live server with /viewer/dicomweb?StudyInstanceUIDs=<uid>" if live else "")
        + ". */\n"
        f"window.config = {json.dumps(config, indent=2)};\n"
    )
    return text.encode("utf-8")
