"""Talking to a DICOMweb server: QIDO-RS searches and WADO-RS metadata (PS3.18 10.4, 10.6).

Plain GETs on one :class:`requests.Session` per worker thread, a timeout on every
request, retries with exponential backoff on the answers a busy
server gives (connection errors after first contact, 429, 500, 502, 503, 504,
truncated or unparsable bodies; ``Retry-After`` respected), and credentials kept
out of every URL and message. Every final failure becomes a
:class:`~converter.errors.ServerError` that names the URL (without credentials),
the HTTP status and a short excerpt of the answer.

Answers are parsed with orjson straight from bytes (see :mod:`converter.source.answers`).
dicomweb-client, which the first version used for the searches, is not imported:
it loads pydicom, which cost 0.14-0.23 s of every run's start-up here (more than
all 50 study and series searches of a 10,000-instance benchmark run), and the
searches need nothing from it that a GET with query parameters does not do.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any, TypeVar

import requests

from converter.defaults import DEFAULT_TIMEOUT
from converter.errors import NotFoundError, ServerError, SignInError, UsageError, arg
from converter.mapping.ps3_18 import first_value
from converter.source import paging
from converter.source.answers import check_datasets, load_json
from converter.source.failures import excerpt, never_connected, reason, stalled_in_body, tls_message
from converter.source.query import STUDY_INCLUDES, StudyFilter
from converter.source.session import (
    RETRY_STATUSES,
    Credentials,
    RetryPolicy,
    Transient,
    auth_secrets,
    on_loopback,
    redact,
    session_auth,
    split_credentials,
    thread_session,
)
from converter.source.tokens import refused_after_refresh
from converter.uids import quote_uid

ACCEPT_JSON = {"Accept": "application/dicom+json, application/json"}
"""PS3.18 8.7.3.5 (QIDO-RS) and 10.4.1.1.2 (metadata): DICOM JSON, plain JSON as a fallback."""


T = TypeVar("T")


Warn = Callable[[str], None]


class DicomWebSource:
    """One DICOMweb server, e.g. ``http://localhost:8042/dicom-web``; safe to share between threads.

    Parameters
    ----------
    url:
        The DICOMweb root; ``user:password@`` in it becomes HTTP basic auth.
    timeout:
        Seconds for connecting and between received bytes, on every request.
    credentials:
        Basic auth, bearer token and extra headers (see :class:`Credentials`).
    verify:
        TLS verification: ``True`` (default), a CA bundle path, or ``False``.
    retry:
        Attempts and backoff for transient failures.
    warn:
        Receives server ``Warning`` headers (PS3.18 6.7.1.2: results were capped).
    session:
        Your own :class:`requests.Session` (custom auth, proxies, client
        certificates), used as it is for every request from every worker
        thread; it is never changed. Without it each thread gets its own
        session with ``credentials`` and ``verify``, which cannot be given too.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        credentials: Credentials | None = None,
        verify: bool | str = True,
        retry: RetryPolicy | None = None,
        warn: Warn | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.root, from_url = split_credentials(url)
        if session is not None and (
            credentials is not None or from_url is not None or verify is not True
        ):
            raise UsageError(
                f"give {arg('session')} or credentials and {arg('verify')}, not both: "
                "set them on the session"
            )
        self._own_session = session
        creds = credentials or Credentials()
        if from_url is not None and creds.user is None:
            creds = replace(creds, user=from_url[0], password=from_url[1])
        self.credentials = creds
        self._auth = session_auth(creds)
        self.timeout = timeout
        self.verify = verify
        self.retry = retry or RetryPolicy()
        self.warn = warn
        self._identity = on_loopback(self.root)
        self._local = threading.local()
        self._contacted = threading.Event()
        self._warned: set[str] = set()
        self._lock = threading.Lock()

    # -- sessions --------------------------------------------------------------

    def session(self) -> requests.Session:
        """This thread's session (one per worker: connections are reused, never shared),
        or the caller's own session."""
        if self._own_session is not None:
            return self._own_session
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = thread_session(
                self.credentials, self.verify, identity=self._identity, auth=self._auth
            )
            self._local.session = session
        return session

    def _hide_secrets(self, text: str) -> str:
        """``text`` from an answer with every credential replaced by ``***``.

        A hostile or badly configured server may echo the request's
        ``Authorization`` header or password in its error page or a ``Warning``
        header; what it sends goes into messages and so into logs.
        """
        secrets = self.credentials.secrets() + auth_secrets(self._auth)
        if self.credentials.user is not None:
            pair = f"{self.credentials.user}:{self.credentials.password or ''}"
            secrets.append(base64.b64encode(pair.encode("utf-8")).decode("ascii"))
        for secret in sorted(secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text

    def _on_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        warning = response.headers.get("Warning")
        self._local.warning = warning  # for paging: a capped search says so here
        if warning and self.warn is not None:
            key = f"{response.url.split('?')[0]} {warning}"
            with self._lock:
                if key in self._warned:
                    return
                self._warned.add(key)
            self.warn(
                f"server warning on {redact(response.url.split('?')[0])}: "
                f"{self._hide_secrets(warning)}"
            )

    # -- requests with retries -------------------------------------------------

    def _call(
        self, url: str, fn: Callable[[], T], check: Callable[[T], str | None] | None = None
    ) -> T:
        """Run one request, retrying transient failures; ``check`` names a bad answer's problem."""
        attempt = 0
        while True:
            attempt += 1
            try:
                result = self._once(url, fn, check)
                self._contacted.set()
                return result
            except Transient as transient:
                if attempt >= self.retry.attempts:
                    error = transient.error
                    if attempt > 1:
                        error = ServerError(
                            f"{error.message} (after {attempt} attempts)",
                            url=error.url,
                            status=error.status,
                            body=error.body,
                        )
                    raise error from transient
                time.sleep(self.retry.wait(attempt, transient.retry_after))

    def retrying(self, url: str, fn: Callable[[], T]) -> T:
        """Run ``fn`` (a request on :meth:`session` to ``url``) with this source's retries
        and error messages, for the modules that fetch more than metadata."""
        return self._call(url, fn)

    def _no_answer(self, shown: str) -> ServerError:
        return ServerError(
            f"no answer from {shown} within {self.timeout:g} s (raise {arg('timeout')}?)",
            url=shown,
        )

    def _once(self, url: str, fn: Callable[[], T], check: Callable[[T], str | None] | None) -> T:
        shown = redact(url)
        try:
            result = fn()
        except requests.HTTPError as exc:
            response = exc.response
            status = response.status_code if response is not None else None
            body = excerpt(self._hide_secrets(response.text)) if response is not None else ""
            hint = {
                401: f"the server wants credentials ({arg('credentials')}, or user:password@ "
                "in the URL)",
                403: "the credentials were refused",
                404: "check the DICOMweb root URL and the UIDs",
            }.get(status or 0, "")
            detail = f": {body}" if body else ""
            if refused_after_refresh(response):
                raise SignInError(
                    f"HTTP 401 from {shown}: the server refused a new token from "
                    f"{arg('token_provider')} too{detail}"
                ) from exc
            advice = f" ({hint})" if hint else ""
            error = ServerError(
                f"HTTP {status} from {shown}{advice}{detail}", url=shown, status=status, body=body
            )
            if status in RETRY_STATUSES:
                retry_after = response.headers.get("Retry-After") if response is not None else None
                raise Transient(error, retry_after) from exc
            raise error from exc
        except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError: not a JSON answer
            raise Transient(
                ServerError(
                    f"{shown} did not answer JSON (is this a DICOMweb root?): "
                    f"{excerpt(str(exc), 80)}",
                    url=shown,
                )
            ) from exc
        except requests.exceptions.SSLError as exc:
            raise ServerError(tls_message(shown, exc), url=shown) from exc
        except requests.Timeout as exc:
            raise Transient(self._no_answer(shown)) from exc
        except requests.ConnectionError as exc:
            if stalled_in_body(exc):  # requests reports a read timeout inside the body this way
                raise Transient(self._no_answer(shown)) from exc
            if never_connected(exc):
                error = ServerError(
                    f"cannot connect to {shown}: is the server running and the URL right? "
                    f"({reason(exc)})",
                    url=shown,
                )
                if not self._contacted.is_set():
                    raise error from exc  # first contact failed: most likely a wrong URL
            else:  # connected, then dropped (a reset, a restart, a load balancer)
                error = ServerError(
                    f"the server dropped the connection to {shown} ({reason(exc)})", url=shown
                )
            raise Transient(error) from exc
        except (
            requests.exceptions.ChunkedEncodingError,
            requests.exceptions.ContentDecodingError,
        ) as exc:
            raise Transient(
                ServerError(f"the answer from {shown} was cut short ({reason(exc)})", url=shown)
            ) from exc
        except requests.RequestException as exc:
            raise ServerError(f"request to {shown} failed: {reason(exc)}", url=shown) from exc
        problem = check(result) if check is not None else None
        if problem:
            raise Transient(ServerError(f"{shown} {problem}", url=shown))
        return result

    # -- searches ------------------------------------------------------------

    def search_studies(
        self,
        study_filter: StudyFilter | None = None,
        *,
        limit: int | None = None,
        offset: int | None = None,
    ) -> list[dict[str, Any]]:
        """One QIDO-RS ``GET {root}/studies`` page with the filter's matching keys."""
        params: list[tuple[str, str]] = list((study_filter or StudyFilter()).as_params().items())
        params += STUDY_INCLUDES
        params += [
            (key, str(value))
            for key, value in (("limit", limit), ("offset", offset))
            if value is not None
        ]
        return self._datasets(f"{self.root}/studies", params)

    def iter_studies(
        self,
        study_filter: StudyFilter | None = None,
        *,
        page_size: int = 500,
        max_studies: int | None = None,
        repeated: set[str] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every matching study once, paging with ``limit``/``offset`` (PS3.18 8.3.4.4):
        see :func:`converter.source.paging.iter_studies` (capped answers, refused page
        sizes and offsets, a server that ignores ``offset``, records listed twice)."""
        return paging.iter_studies(
            lambda limit, offset: self.search_studies(study_filter, limit=limit, offset=offset),
            self._more_announced,
            self.warn,
            f"{redact(self.root)}/studies",
            page_size=page_size,
            max_studies=max_studies,
            repeated=repeated,
        )

    def find_study(self, study_uid: str) -> dict[str, Any]:
        """The QIDO-RS study record of one UID, or :class:`NotFoundError`."""
        found = self._datasets(
            f"{self.root}/studies", [("StudyInstanceUID", study_uid), *STUDY_INCLUDES]
        )
        for study in found:
            if first_value(study, "0020000D") == study_uid:
                return study
        raise NotFoundError(f"study {study_uid} is not on {self.root}")

    def search_series(self, study_uid: str) -> list[dict[str, Any]]:
        """QIDO-RS ``GET {root}/studies/{uid}/series``.

        UIDs in request paths are percent-encoded (:func:`converter.uids.quote_uid`);
        query values (``StudyInstanceUID=``) are encoded by requests. An answer capped
        with a ``Warning`` announcing more (dcm4chee-arc) is paged on with ``offset``.
        """
        url = f"{self.root}/studies/{quote_uid(study_uid)}/series"
        return paging.capped_on(
            lambda offset: self._datasets(url, [("offset", str(offset))] if offset else None),
            self._more_announced,
            "0020000E",
        )

    def _more_announced(self) -> bool:
        """Whether the last answer on this thread said it was capped (a ``Warning``)."""
        return bool(paging.MORE_RESULTS.search(getattr(self._local, "warning", None) or ""))

    def series_metadata(self, study_uid: str, series_uid: str) -> list[dict[str, Any]]:
        """WADO-RS ``GET {root}/studies/{s}/series/{se}/metadata`` (PS3.18 10.4.1.1.2)."""
        return self._datasets(
            f"{self.root}/studies/{quote_uid(study_uid)}/series/{quote_uid(series_uid)}/metadata"
        )

    def study_metadata(self, study_uid: str) -> list[dict[str, Any]]:
        """WADO-RS ``GET {root}/studies/{s}/metadata`` (PS3.18 10.4.1.1.2): every instance."""
        return self._datasets(f"{self.root}/studies/{quote_uid(study_uid)}/metadata")

    def _datasets(
        self, url: str, params: list[tuple[str, str]] | None = None
    ) -> list[dict[str, Any]]:
        """GET a PS3.18 F.2 array of datasets, retrying as :meth:`_call` does.

        An empty body (204 No Content, a search without matches) is no datasets;
        a lone dataset object, which some servers send for a one-element answer,
        is taken as a one-element array (as dicomweb-client does).
        """

        def fetch() -> Any:
            answer = self.session().get(
                url,
                params=params,
                headers=ACCEPT_JSON,
                timeout=self.timeout,
                hooks={"response": self._on_response},
            )
            answer.raise_for_status()
            if not answer.content:
                return []
            document = load_json(answer.content, self._answer_warning(url))
            return [document] if isinstance(document, dict) else document

        return self._call(url, fetch, check_datasets)

    def _answer_warning(self, url: str) -> Callable[[str], None] | None:
        if self.warn is None:
            return None
        warn = self.warn
        return lambda message: warn(f"{redact(url)}: {message}")
