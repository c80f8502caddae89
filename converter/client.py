"""Talking to a DICOMweb server: QIDO-RS searches and WADO-RS metadata (PS3.18 10.4, 10.6).

Built on dicomweb-client with a :class:`requests.Session` of our own so that every
request has a timeout and credentials never travel inside a URL. Every failure
becomes a :class:`~converter.errors.ServerError` that names the URL (without
credentials), the HTTP status and a short excerpt of the answer.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from dicomweb_client.api import DICOMwebClient

from converter.errors import NotFoundError, ServerError, UsageError

DEFAULT_TIMEOUT = 60.0
"""Seconds to wait for a connection or for the next bytes of an answer."""

STUDY_FIELDS = (
    "StudyDescription",
    "ModalitiesInStudy",
    "NumberOfStudyRelatedSeries",
    "NumberOfStudyRelatedInstances",
)
"""Optional study attributes asked for with ``includefield`` (PS3.18 10.6.1.2)."""


def split_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """Return ``url`` without ``user:password@`` and the credentials it carried.

    Credentials go into the session's HTTP basic auth instead, so they are never
    printed in an error or written into a launch file.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(
            f"{redact(url)!r} is not an http(s) URL; give the DICOMweb root, "
            "e.g. http://localhost:8042/dicom-web"
        )
    if parts.username is None and parts.password is None:
        return url.rstrip("/"), None
    host = parts.hostname
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    clean = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return clean.rstrip("/"), (parts.username or "", parts.password or "")


def redact(url: str) -> str:
    """``url`` with any ``user:password@`` part replaced by ``***@`` (for messages)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    netloc = "***@" + parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _excerpt(text: str, limit: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


@dataclass(frozen=True)
class StudyFilter:
    """QIDO-RS study matching keys (PS3.18 10.6.1.2, PS3.4 C.2.2.2).

    ``study_date`` takes a single date or a range ``20200101-20201231`` (either
    end may be left open). Empty fields do not filter.
    """

    patient_id: str | None = None
    study_date: str | None = None
    modality: str | None = None
    accession_number: str | None = None

    def as_params(self) -> dict[str, str]:
        pairs = {
            "PatientID": self.patient_id,
            "StudyDate": self.study_date,
            "ModalitiesInStudy": self.modality,
            "AccessionNumber": self.accession_number,
        }
        return {k: v for k, v in pairs.items() if v}

    def is_empty(self) -> bool:
        return not self.as_params()


@dataclass
class DicomWebSource:
    """One DICOMweb server, e.g. ``http://localhost:8042/dicom-web``.

    Parameters
    ----------
    url:
        The DICOMweb root; ``user:password@`` in it becomes HTTP basic auth.
    timeout:
        Seconds for connecting and between received bytes, on every request.
    session:
        A session to reuse (headers, auth, TLS settings); one is made if omitted.
    """

    url: str
    timeout: float = DEFAULT_TIMEOUT
    session: requests.Session | None = None
    root: str = field(init=False)
    _client: DICOMwebClient = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.root, credentials = split_credentials(self.url)
        session = self.session or requests.Session()
        if credentials is not None:
            session.auth = credentials
        session.headers.setdefault("User-Agent", "dicomweb2ohif")
        self.session = session
        self._client = DICOMwebClient(self.root, session=session, timeout=self.timeout)
        # Retries and backoff on 429/503/504 are handled here with a short budget;
        # longer unattended runs configure more (PS3.18 6.7.1.2 busy answers).
        self._client.set_http_retry_params(
            retry=True, max_attempts=3, wait_exponential_multiplier=200
        )

    # -- searches ------------------------------------------------------------

    def search_studies(self, study_filter: StudyFilter | None = None) -> list[dict[str, Any]]:
        """QIDO-RS ``GET {root}/studies`` with the filter's matching keys."""
        params = study_filter.as_params() if study_filter else {}
        with self._errors(f"{self.root}/studies"):
            return self._client.search_for_studies(
                search_filters=params or None, fields=list(STUDY_FIELDS), get_remaining=False
            )

    def find_study(self, study_uid: str) -> dict[str, Any]:
        """The QIDO-RS study record of one UID, or :class:`NotFoundError`."""
        with self._errors(f"{self.root}/studies?StudyInstanceUID={study_uid}"):
            found = self._client.search_for_studies(
                search_filters={"StudyInstanceUID": study_uid}, fields=list(STUDY_FIELDS)
            )
        for study in found:
            if first_value(study, "0020000D") == study_uid:
                return study
        raise NotFoundError(f"study {study_uid} is not on {self.root}")

    def search_series(self, study_uid: str) -> list[dict[str, Any]]:
        """QIDO-RS ``GET {root}/studies/{uid}/series``."""
        with self._errors(f"{self.root}/studies/{study_uid}/series"):
            return self._client.search_for_series(study_instance_uid=study_uid)

    def series_metadata(self, study_uid: str, series_uid: str) -> list[dict[str, Any]]:
        """WADO-RS ``GET {root}/studies/{s}/series/{se}/metadata`` (PS3.18 10.4.1.1.2).

        Per series rather than per study: study-level metadata of a large study
        is one huge answer that some servers build slowly.
        """
        url = f"{self.root}/studies/{study_uid}/series/{series_uid}/metadata"
        with self._errors(url):
            datasets = self._client.retrieve_series_metadata(study_uid, series_uid)
        if not isinstance(datasets, list) or not all(isinstance(d, dict) for d in datasets):
            raise ServerError(
                f"{url} answered JSON that is not an array of datasets (PS3.18 F.2)", url=url
            )
        return datasets

    # -- errors --------------------------------------------------------------

    @contextmanager
    def _errors(self, url: str) -> Iterator[None]:
        """Turn requests/dicomweb-client failures into one clear :class:`ServerError`."""
        try:
            yield
        except requests.HTTPError as exc:
            response = exc.response
            status = response.status_code if response is not None else None
            body = _excerpt(response.text) if response is not None else ""
            hint = {
                401: "the server wants credentials (put user:password@ in the URL)",
                403: "the credentials were refused",
                404: "check the DICOMweb root URL and the UIDs",
            }.get(status or 0, "")
            detail = f": {body}" if body else ""
            advice = f" ({hint})" if hint else ""
            raise ServerError(
                f"HTTP {status} from {url}{advice}{detail}", url=url, status=status, body=body
            ) from exc
        except requests.exceptions.JSONDecodeError as exc:
            raise ServerError(
                f"{url} did not answer JSON (is this a DICOMweb root?): {exc}", url=url
            ) from exc
        except json.JSONDecodeError as exc:
            raise ServerError(f"{url} did not answer JSON: {exc}", url=url) from exc
        except requests.Timeout as exc:
            raise ServerError(
                f"no answer from {url} within {self.timeout:g} s (raise --timeout?)", url=url
            ) from exc
        except requests.ConnectionError as exc:
            raise ServerError(
                f"cannot connect to {url}: is the server running and the URL right? "
                f"({_reason(exc)})",
                url=url,
            ) from exc
        except requests.RequestException as exc:
            raise ServerError(f"request to {url} failed: {_reason(exc)}", url=url) from exc


def _reason(exc: BaseException) -> str:
    """The innermost cause of a requests failure, in a few words."""
    inner = exc.args[0] if exc.args else exc
    text = str(getattr(inner, "reason", inner))
    if text.startswith("<") and ">: " in text:  # urllib3: "<...Connection object at 0x..>: why"
        text = text.split(">: ", 1)[1]
    return _excerpt(text, 120)


def first_value(dataset: Mapping[str, Any], tag: str) -> Any:
    """The first value of a tag in a PS3.18 dataset (e.g. a QIDO record), or None."""
    element = dataset.get(tag)
    if not isinstance(element, Mapping):
        return None
    values = element.get("Value")
    if isinstance(values, list) and values:
        return values[0]
    return None
