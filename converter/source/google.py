"""Google application default credentials (ADC) for the Cloud Healthcare API's DICOMweb
service: ``GOOGLE_APPLICATION_CREDENTIALS`` (a service-account or authorized-user JSON
file), ``gcloud auth application-default login``, or the metadata server of a Google
Cloud machine, found by dicomweb-client's GCP session helper
(``dicomweb_client.ext.gcp.session_utils.create_session_from_gcp_credentials``:
``google.auth.default`` with the ``cloud-platform`` scope).

That helper's ``AuthorizedSession`` refreshes on its own, per session, without a lock
shared between sessions; the snapshot has one session per worker thread, so only the
session's credentials are used, as a :class:`~converter.source.tokens.TokenSource`: one
refresh, under a lock, for every thread, within google-auth's own expiry margin and
after a 401.

google-auth is imported only when ADC is asked for (``pip install google-auth``, or
``dicomweb-client[gcp]``).
"""

from __future__ import annotations

import threading
from typing import Any

from converter.errors import SignInError, UsageError

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
"""The OAuth 2.0 scope of the Cloud Healthcare API (the one dicomweb-client asks for)."""


def _said(exc: BaseException, width: int = 200) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= width else text[: width - 3] + "..."


class GoogleCredentials:
    """A token source from google-auth credentials (None: application default)."""

    def __init__(self, credentials: Any = None) -> None:
        try:
            import google.auth
            import google.auth.exceptions
            import google.auth.transport.requests
        except ImportError as exc:
            raise UsageError(
                "Google application default credentials need google-auth: pip install google-auth"
            ) from exc
        if credentials is None:
            # dicomweb-client's helper finds them (google.auth.default, cloud-platform
            # scope); only its credentials are kept, not its session (see above).
            from dicomweb_client.ext.gcp.session_utils import (
                create_session_from_gcp_credentials,
            )

            try:
                session: Any = create_session_from_gcp_credentials()
                credentials = session.credentials
            except google.auth.exceptions.GoogleAuthError as exc:
                raise SignInError(
                    f"no Google application default credentials: {_said(exc)}"
                ) from None
        self._credentials = credentials
        self._errors: tuple[type[BaseException], ...] = (google.auth.exceptions.GoogleAuthError,)
        self._request = google.auth.transport.requests.Request()
        self._lock = threading.Lock()
        self.fetches = 0
        """How many times the credentials were refreshed."""

    def token(self) -> str:
        with self._lock:
            if not self._credentials.valid:  # none yet, or within google-auth's margin
                self._refresh()
            return str(self._credentials.token)

    def refresh(self, refused: str) -> str:
        with self._lock:
            if self._credentials.token != refused and self._credentials.valid:
                return str(self._credentials.token)  # another thread refreshed already
            self._refresh()
            return str(self._credentials.token)

    def _refresh(self) -> None:
        self.fetches += 1
        try:
            self._credentials.refresh(self._request)
        except self._errors as exc:
            raise SignInError(f"Google credentials cannot be refreshed: {_said(exc)}") from None
        if not self._credentials.token:
            raise SignInError("Google credentials gave no access token")
