"""Where a viewer fetches each object from: the ``url`` of an instance entry.

OHIF's ``dicomjson`` source reads ``dicomweb:<URL>`` and asks that URL with WADO-URI
query parameters (PS3.18 9, ``requestType=WADO``) or a WADO-RS path (PS3.18 10.4); a
multi-frame object gets one URL per frame (one-based ``frame=N``).
"""

from __future__ import annotations

from dataclasses import dataclass
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


def choose_urls(
    dicomweb_root: str,
    template: str | None = None,
    document_template: str | None = None,
    wado_uri_root: str | None = None,
) -> InstanceUrls:
    """The URLs asked for: a template, else WADO-URI at ``wado_uri_root`` or beside the root."""
    if template:
        if wado_uri_root:
            raise UsageError(f"give {arg('url_template')} or {arg('wado_uri_root')}, not both")
        return TemplateUrls(template, document_template)
    if document_template:
        raise UsageError(f"{arg('document_url_template')} goes with {arg('url_template')}")
    return WadoUriUrls((wado_uri_root or default_wado_uri_root(dicomweb_root)).rstrip("/"))


def frame_url(url: str, frame: int) -> str:
    """Append the one-based ``frame=N`` parameter the cornerstone loader reads."""
    return f"{url}{'&' if '?' in url else '?'}frame={frame}"
