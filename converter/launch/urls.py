"""Where a viewer fetches each object from: the ``url`` of an instance entry.

OHIF's ``dicomjson`` source takes the url as cornerstone's imageId, whose scheme picks
the loader: ``dicomweb:<URL>`` reads one whole Part 10 object (WADO-URI, PS3.18 9,
``requestType=WADO``, or a file; a multi-frame object gets one URL per frame, one-based
``frame=N``), ``wadors:<URL>`` one frame of a WADO-RS frame retrieve (PS3.18 10.4,
``.../frames/N``, one-based), for servers without WADO-URI.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

from converter.errors import UsageError, arg
from converter.uids import quote_uid


class InstanceUrls(Protocol):
    """Where a viewer fetches an instance (as a whole Part 10 object) and its document."""

    def instance(self, study: str, series: str, instance: str) -> str:
        """The URL (without the ``dicomweb:`` scheme) of the Part 10 object."""
        ...

    def document(self, study: str, series: str, instance: str) -> str | None:
        """A URL that returns an encapsulated document's bytes, or None if there is none."""
        ...


def default_wado_uri_root(dicomweb_root: str) -> str:
    """The WADO-URI root next to a DICOMweb root: last path segment -> ``wado``.

    Orthanc ``/dicom-web`` -> ``/wado``; dcm4chee ``.../aets/AET/rs`` -> ``.../aets/AET/wado``.
    Credentials in the root are dropped.
    """
    parts = urlsplit(dicomweb_root.rstrip("/"))
    head, _, _last = parts.path.rpartition("/")
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, f"{head}/wado", "", ""))


@dataclass(frozen=True)
class WadoUriUrls:
    """WADO-URI links (PS3.18 9): ``<root>?requestType=WADO&studyUID=..&contentType=...``.

    ``contentType`` is written with a literal ``/``: Orthanc 1.10 answers 400 to
    ``application%2Fdicom``. UIDs are percent-encoded (:func:`converter.uids.quote_uid`):
    a conformant one (PS3.5 9.1: digits and dots) reads as it is.
    """

    root: str

    def __post_init__(self) -> None:
        parts = urlsplit(self.root)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise UsageError(f"{arg('wado_uri_root')} {self.root!r} is not an http(s) URL")
        if parts.username or parts.password:
            raise UsageError(
                f"{arg('wado_uri_root')} must not contain credentials: they would be written "
                "into the launch file for every viewer to read"
            )

    def _query(self, study: str, series: str, instance: str, content_type: str) -> str:
        joiner = "&" if "?" in self.root else "?"
        return (
            f"{self.root}{joiner}requestType=WADO&studyUID={quote_uid(study)}"
            f"&seriesUID={quote_uid(series)}&objectUID={quote_uid(instance)}"
            f"&contentType={content_type}"
        )

    def instance(self, study: str, series: str, instance: str) -> str:
        return self._query(study, series, instance, "application/dicom")

    def document(self, study: str, series: str, instance: str) -> str | None:
        # PS3.18 9.1.2.1: an Encapsulated PDF may be asked for as application/pdf.
        return self._query(study, series, instance, "application/pdf")


@dataclass(frozen=True)
class TemplateUrls:
    """URLs from a template with ``{study}``, ``{series}`` and ``{instance}`` placeholders.

    For static Part 10 files on a bucket, e.g.
    ``https://bucket.example/dicom/{study}/{series}/{instance}.dcm``.
    """

    template: str
    document_template: str | None = None

    def __post_init__(self) -> None:
        for name, text in (
            (arg("url_template"), self.template),
            (arg("document_url_template"), self.document_template),
        ):
            if text is None:
                continue
            if "{instance}" not in text:
                raise UsageError(f"{name} {text!r} needs an {{instance}} placeholder")
            try:
                text.format(study="1", series="2", instance="3")
            except (KeyError, IndexError, ValueError) as exc:
                raise UsageError(
                    f"{name} {text!r}: only {{study}}, {{series}} and {{instance}} "
                    f"placeholders are allowed ({exc})"
                ) from exc
            if urlsplit(text).username:
                raise UsageError(f"{name} must not contain credentials")

    def instance(self, study: str, series: str, instance: str) -> str:
        return self.template.format(
            study=quote_uid(study), series=quote_uid(series), instance=quote_uid(instance)
        )

    def document(self, study: str, series: str, instance: str) -> str | None:
        if self.document_template is None:
            return None
        return self.document_template.format(
            study=quote_uid(study), series=quote_uid(series), instance=quote_uid(instance)
        )


def frame_url(url: str, frame: int) -> str:
    """Append the one-based ``frame=N`` parameter the cornerstone loader reads."""
    return f"{url}{'&' if '?' in url else '?'}frame={frame}"


class ImageUrls(StrEnum):
    """Which URLs a snapshot writes for images: ``auto`` checks the server first."""

    WADOURI = "wadouri"
    WADORS = "wadors"
    AUTO = "auto"


@dataclass(frozen=True)
class WadoRsUrls:
    """WADO-RS links (PS3.18 10.4) under a DICOMweb root, for servers without WADO-URI.

    An image's entries are ``wadors:<root>/studies/<s>/series/<se>/instances/<o>/frames/<N>``
    (N one-based; cornerstone's ``wadors`` loader fetches one frame, multipart, and takes
    the image attributes from the launch file's metadata); a segmentation is one entry,
    ``.../frames/1``. An object without frames (SR, an encapsulated document, an RT
    structure set) or read whole otherwise (RT Dose, Parametric Map) gets the instance,
    ``dicomweb:<root>/studies/<s>/series/<se>/instances/<o>``; an encapsulated PDF's
    document is its rendered form, ``.../instances/<o>/rendered?accept=application/pdf``
    (PS3.18 8.3.3.1 accept query parameter, 10.4.1.1.3 rendered resources).
    """

    root: str

    def __post_init__(self) -> None:
        parts = urlsplit(self.root)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise UsageError(f"DICOMweb root {self.root!r} is not an http(s) URL")
        if parts.username or parts.password or parts.query or parts.fragment:
            raise UsageError(
                f"DICOMweb root {self.root!r} for WADO-RS URLs must have no credentials, "
                "query or fragment"
            )

    def instance(self, study: str, series: str, instance: str) -> str:
        return (
            f"{self.root.rstrip('/')}/studies/{quote_uid(study)}/series/{quote_uid(series)}"
            f"/instances/{quote_uid(instance)}"
        )

    def document(self, study: str, series: str, instance: str) -> str | None:
        return f"{self.instance(study, series, instance)}/rendered?accept=application/pdf"

    def frame(self, study: str, series: str, instance: str, frame: int) -> str:
        """The ``wadors:`` imageId of one frame (one-based)."""
        return f"wadors:{self.instance(study, series, instance)}/frames/{frame}"


@dataclass(frozen=True)
class AutoUrls:
    """WADO-URI links if the server answers WADO-URI, else WADO-RS links: the choice
    is made once per run by :func:`converter.snapshot.url_probe.resolve_auto`."""

    wado_uri: WadoUriUrls
    wado_rs: WadoRsUrls


def choose_urls(
    dicomweb_root: str,
    template: str | None = None,
    document_template: str | None = None,
    wado_uri_root: str | None = None,
    image_urls: ImageUrls | str = ImageUrls.AUTO,
) -> InstanceUrls | AutoUrls:
    """The URLs asked for: a template; else WADO-URI at ``wado_uri_root`` or beside the
    root; else by ``image_urls``: ``wadouri``, ``wadors`` (WADO-RS under the DICOMweb
    root), or ``auto`` (:class:`AutoUrls`, decided by the run with one request).
    A template or a WADO-URI root say where the objects are, so ``auto`` keeps them."""
    try:
        mode = ImageUrls(image_urls)
    except ValueError:
        raise UsageError(
            f"{arg('image_urls')} {image_urls!r}: one of wadouri, wadors, auto"
        ) from None
    if template:
        if wado_uri_root:
            raise UsageError(f"give {arg('url_template')} or {arg('wado_uri_root')}, not both")
        if mode is ImageUrls.WADORS:
            raise UsageError(f"give {arg('url_template')} or {arg('image_urls=wadors')}, not both")
        return TemplateUrls(template, document_template)
    if document_template:
        raise UsageError(f"{arg('document_url_template')} goes with {arg('url_template')}")
    if wado_uri_root and mode is ImageUrls.WADORS:
        raise UsageError(
            f"{arg('wado_uri_root')} goes with {arg('image_urls=wadouri')} (or auto), not wadors"
        )
    wado_uri = WadoUriUrls((wado_uri_root or default_wado_uri_root(dicomweb_root)).rstrip("/"))
    if wado_uri_root or mode is ImageUrls.WADOURI:
        return wado_uri
    wado_rs = WadoRsUrls(dicomweb_root.rstrip("/"))
    return wado_rs if mode is ImageUrls.WADORS else AutoUrls(wado_uri, wado_rs)


EntryUrl = Callable[[int | None], str]
"""The url of one entry of an instance: frame N (one-based), or None for its only entry."""


def entry_urls(
    urls: InstanceUrls, study: str, series: str, instance: str, *, image: bool
) -> EntryUrl:
    """How the entries of one instance are addressed.

    ``image``: the instance has frames a loader fetches one by one
    (:func:`converter.launch.model.has_frames`). WADO-RS links give such an instance
    ``/frames/N`` URLs (``/frames/1`` for its only entry: a single frame, or a
    segmentation, whose other frames OHIF derives from it); every other case gets the
    whole object, ``dicomweb:<URL>``, with ``frame=N`` per frame when there are several.
    """
    if image and isinstance(urls, WadoRsUrls):
        rs = urls
        return lambda frame: rs.frame(study, series, instance, frame or 1)
    whole = "dicomweb:" + urls.instance(study, series, instance)
    return lambda frame: whole if frame is None else frame_url(whole, frame)
