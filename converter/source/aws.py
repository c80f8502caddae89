"""AWS Signature Version 4 on every request, for AWS HealthImaging's DICOMweb APIs
(``https://dicom-medical-imaging.REGION.amazonaws.com/datastore/ID``, signing name
``medical-imaging``), with botocore's signer and credential chain: environment
variables, ``~/.aws`` profiles (``AWS_PROFILE``), SSO, container and instance roles.
Temporary credentials are renewed by botocore as they expire.

botocore is imported only when SigV4 is asked for (``pip install botocore``; the
``storage`` extra brings it too).
"""

from __future__ import annotations

import re
import threading
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import requests
import requests.auth

from converter.errors import SignInError, UsageError, arg

SERVICE = "medical-imaging"
"""The signing name of AWS HealthImaging (its API model's ``signingName``)."""

_REGION_IN_HOST = re.compile(r"^(?:dicom-|runtime-)?medical-imaging\.([a-z0-9-]+)\.amazonaws\.com$")


def region_of(url: str) -> str | None:
    """The AWS region in a HealthImaging endpoint's host name, or None."""
    match = _REGION_IN_HOST.match((urlsplit(url).hostname or "").lower())
    return match.group(1) if match else None


class AwsSigV4(requests.auth.AuthBase):
    """Signs each request (a requests auth, shared by every worker thread's session).

    ``region`` None: taken from a HealthImaging host name in ``url``. ``profile``:
    a named profile of ``~/.aws/config`` instead of the default chain.
    """

    def __init__(
        self,
        region: str | None = None,
        *,
        url: str = "",
        service: str = SERVICE,
        profile: str | None = None,
    ) -> None:
        region = region or region_of(url)
        if not region:
            raise UsageError(
                f"{arg('aws_region')}: give the AWS region (it is not in the host name)"
            )
        try:
            import botocore.session
            from botocore.exceptions import BotoCoreError
        except ImportError as exc:
            raise UsageError("AWS SigV4 needs botocore: pip install botocore") from exc
        try:
            self._credentials = botocore.session.Session(profile=profile).get_credentials()
        except BotoCoreError as exc:
            raise SignInError(f"AWS credentials cannot be read: {exc}") from None
        if self._credentials is None:
            raise SignInError(
                "no AWS credentials found (environment, ~/.aws/credentials, SSO, "
                "container or instance role)"
            )
        self.region = region
        self.service = service
        self._lock = threading.Lock()
        self._seen: set[str] = set()

    def secrets(self) -> list[str]:
        """The secret key and session tokens used so far (to hide in messages)."""
        with self._lock:
            return list(self._seen)

    def headers(self, method: str, url: str, body: bytes = b"") -> dict[str, str]:
        """The headers that sign ``method url`` now (``Authorization``, ``X-Amz-Date``,
        ``X-Amz-Security-Token`` with temporary credentials)."""
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.exceptions import BotoCoreError

        try:
            frozen = self._credentials.get_frozen_credentials()
        except BotoCoreError as exc:  # temporary credentials that cannot be renewed
            raise SignInError(f"AWS credentials cannot be renewed: {exc}") from None
        with self._lock:
            self._seen.update(s for s in (frozen.secret_key, frozen.token) if s)
        # The query as decoded pairs: botocore then encodes them as SigV4 asks (RFC 3986,
        # "/" as %2F), whatever encoding the URL uses (a literal "/" in contentType=).
        parts = urlsplit(url)
        bare = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        params = parse_qsl(parts.query, keep_blank_values=True)
        request = AWSRequest(method=method, url=bare, data=body, params=params)
        SigV4Auth(frozen, self.service, self.region).add_auth(request)
        return {k: str(v) for k, v in request.headers.items()}

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body: Any = request.body or b""
        data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        request.headers.update(self.headers(request.method or "GET", request.url or "", data))
        return request
