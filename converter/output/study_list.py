"""The study list page, ``index.html`` beside ``index.json``: find a study and open it in OHIF.

OHIF's ``dicomjson`` route opens the file it is given and has no work list, so a
folder (or bucket) of launch files gets a page of its own: one static HTML file,
no build step, no CDN, no framework, written from the index alone. The page
holds its data as a JSON ``<script type="application/json">`` block (a page
opened from ``file://`` may not ``fetch`` the ``index.json`` beside it), every
``<`` of it written ``\\u003c`` so no value can end the block; the script puts
every value into the document as text (``textContent``), never as markup, and
a Content-Security-Policy allows only the page's own script and style (by hash).

Each row links to ``<viewer>/viewer/dicomjson?url=<launch file>&StudyInstanceUIDs=<uid>``,
the launch file's URL being the row's ``file`` resolved against the page's own
address in the browser, so the same page works on disk, on a bucket and behind
``serve``. ``viewer`` may be relative to the page (a viewer served beside it).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from importlib.resources import files
from typing import Any
from urllib.parse import quote, urlsplit

from converter.errors import UsageError, arg
from converter.output.targets import Target

STUDY_LIST_NAME = "index.html"
PUBLIC_VIEWER = "https://viewer.ohif.org"
CONTENT_TYPE = "text/html; charset=utf-8"
INDEX_FIELDS = (
    "StudyInstanceUID",
    "PatientName",
    "PatientID",
    "StudyDate",
    "StudyTime",
    "StudyDescription",
    "AccessionNumber",
    "Modalities",
    "NumSeries",
    "NumInstances",
)
"""The study fields of an ``index.json`` entry (:mod:`converter.output.store`), which the page
shows."""
COLUMNS = (*INDEX_FIELDS, "file")
"""The fields of the page's rows, in the order of each row's array (names once, not per row)."""
SUFFIXES = (".json", ".json.gz")
"""A row's ``file`` is a number k for ``<uid> + SUFFIXES[k]`` (the usual names: a third
of the page's size at 100,000 studies), else a URL relative to the page."""

_TEMPLATE = "study_list.html"


def check_viewer_base(viewer_base: str) -> str:
    """The viewer base, refused unless an http(s) URL or a path relative to the page.

    A ``javascript:`` or ``data:`` base would make every row's link run code.
    """
    parts = urlsplit(viewer_base)
    if parts.scheme not in ("", "http", "https") or (parts.scheme and not parts.netloc):
        raise UsageError(
            f"{arg('viewer_base')} {viewer_base!r} is neither an http(s) URL nor a path "
            "relative to the page"
        )
    return viewer_base


def script_json(value: Any) -> str:
    """JSON that can stand inside an HTML ``<script>`` element as it is.

    ``<`` (hence ``</script>`` and ``<!--``), ``>`` and ``&`` are written as JSON
    ``\\u`` escapes, which ``JSON.parse`` reads back to the same characters.
    """
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def row(entry: Mapping[str, Any], file_url: str | None = None) -> list[Any]:
    """One index entry as a page row; ``file_url`` (relative to the page) defaults to its file."""
    values = [entry.get(name) for name in COLUMNS]
    if file_url is not None:
        values[-1] = file_url
        return values
    name = str(entry.get("file") or "")
    uid = str(entry.get("StudyInstanceUID"))
    suffix = name[len(uid) :] if name.startswith(uid) and quote(uid) == uid else None
    values[-1] = SUFFIXES.index(suffix) if suffix in SUFFIXES else quote(name)
    return values


def _hash(source: str) -> str:
    digest = hashlib.sha256(source.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def _template() -> str:
    return files("converter.output").joinpath(_TEMPLATE).read_text(encoding="utf-8")


def _policy(template: str) -> str:
    """Only the page's own script and style run (CSP hashes of their exact text)."""
    script = re.search(r"<script>(.*?)</script>", template, re.S)
    style = re.search(r"<style>(.*?)</style>", template, re.S)
    assert script is not None and style is not None, "study_list.html lost its script or style"
    return (
        "default-src 'none'; "
        f"script-src {_hash(script.group(1))}; style-src {_hash(style.group(1))}; "
        "img-src data:; base-uri 'none'; form-action 'none'"
    )


def render(rows: Iterable[list[Any]], viewer_base: str = PUBLIC_VIEWER, title: str = "") -> bytes:
    """The page's bytes for these rows (see :func:`row`), deterministic for the same input."""
    template = _template()
    config = {"viewer": check_viewer_base(viewer_base), "title": title}
    data = {"columns": list(COLUMNS), "suffixes": list(SUFFIXES), "rows": list(rows)}
    values = {"CSP": _policy(template), "CONFIG": script_json(config), "DATA": script_json(data)}
    page = re.sub(r"\{\{(CSP|CONFIG|DATA)\}\}", lambda m: values[m.group(1)], template)
    return page.encode("utf-8")


def index_rows(entries: Iterable[Mapping[str, Any]]) -> list[list[Any]]:
    """The rows of an index's entries, in the index's order (date, time, UID)."""
    ordered = sorted(
        entries,
        key=lambda e: (
            str(e.get("StudyDate") or ""),
            str(e.get("StudyTime") or ""),
            str(e.get("StudyInstanceUID")),
        ),
    )
    return [row(e) for e in ordered]


def write_study_list(
    target: Target, entries: Iterable[Mapping[str, Any]], viewer_base: str = PUBLIC_VIEWER
) -> int:
    """Write ``index.html`` into the folder (atomically, as every file); returns its size."""
    data = render(index_rows(entries), viewer_base)
    target.write(STUDY_LIST_NAME, data, content_type=CONTENT_TYPE, content_encoding=None)
    return len(data)
