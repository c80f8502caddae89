"""Google application default credentials (``--google-adc``, google-auth) against a real
local OAuth 2.0 token endpoint and the token-checking proxy in front of the fixture
Orthanc (tests/token_server.py).

``GOOGLE_APPLICATION_CREDENTIALS`` names a service-account key file (made here, with a
new RSA key) whose ``token_uri`` is the local endpoint, so google-auth's own JWT bearer
grant is what runs, and the endpoint checks its signature with the public key.
(An authorized-user file cannot be pointed elsewhere: google-auth always sends its
refresh to Google.)
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from converter.cli import main
from fixtures.orthanc import Orthanc
from tests.token_server import Issuer, oauth_endpoint, same_as_plain, snapshot_of, token_proxy

pytest.importorskip("google.auth")

EMAIL = "migrator@test-project.iam.gserviceaccount.com"
MARGIN = 225.0
"""google-auth's REFRESH_THRESHOLD: a token is renewed 3 min 45 s before its expiry."""


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def keys() -> tuple[Any, str, str]:
    """A service account's public key, its private key (PEM) and another private key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    def pem(key: Any) -> str:
        return key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.public_key(), pem(key), pem(other)


@pytest.fixture
def adc(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Point google-auth at a key file; returns its path (written by write_adc)."""
    path = tmp_path / "service-account.json"
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
    monkeypatch.setenv("NO_GCE_CHECK", "True")
    return path


def write_adc(path: Path, token_uri: str, private_key: str) -> None:
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "test-project",
                "private_key_id": "k1",
                "private_key": private_key,
                "client_email": EMAIL,
                "client_id": "1234567890",
                "token_uri": token_uri,
            }
        )
    )


def hidden(issuer: Issuer, private_key: str, *texts: str | bytes) -> None:
    secrets = [*issuer.issued, private_key.splitlines()[1]]
    for text in texts:
        data = text.encode() if isinstance(text, str) else text
        assert not [s for s in secrets if s.encode() in data]


@pytest.mark.orthanc
class TestApplicationDefault:
    def test_renewed_on_401_and_before_expiry(
        self,
        orthanc: Orthanc,
        adc: Path,
        keys: Any,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        plain = snapshot_of(orthanc, tmp_path / "plain")
        issuer = Issuer(tmp_path / "issuer")
        out = tmp_path / "out"
        # Tokens good for an hour, which the proxy refuses after 5 requests.
        with (
            oauth_endpoint(
                issuer, public_key=keys[0], client_email=EMAIL, expires_in=MARGIN + 3600
            ) as endpoint,
            token_proxy(orthanc.url, issuer, max_requests=5) as proxy,
        ):
            write_adc(adc, endpoint.token_uri, keys[1])
            code, stdout, err = run(
                capsys,
                "snapshot",
                proxy.url + "/dicom-web",
                "--google-adc",
                "--workers",
                "4",
                "--per-series",
                "-o",
                f"{out}/",
                "--debug",
            )
        assert code == 0, err
        same_as_plain(out, plain, proxy.url, orthanc)
        assert endpoint.grants == math.ceil(proxy.forwarded / 5) >= 3
        hidden(issuer, keys[1], stdout, err, *(p.read_bytes() for p in out.iterdir()))

    def test_renewed_ahead_of_the_stated_expiry(
        self,
        orthanc: Orthanc,
        adc: Path,
        keys: Any,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        issuer = Issuer(tmp_path / "issuer")
        lifetime = 1.5
        with (
            oauth_endpoint(
                issuer, public_key=keys[0], client_email=EMAIL, expires_in=MARGIN + lifetime
            ) as endpoint,
            token_proxy(orthanc.url, issuer, lifetime=lifetime + 0.5, delay=0.4) as proxy,
        ):
            write_adc(adc, endpoint.token_uri, keys[1])
            code, _, err = run(
                capsys,
                "snapshot",
                proxy.url + "/dicom-web",
                "--google-adc",
                "--workers",
                "1",
                "--per-series",
                "-o",
                str(tmp_path / "out.json"),
            )
        assert code == 0, err
        assert endpoint.grants >= 3 and proxy.refused == []

    def test_a_refused_refresh_is_one_line(
        self, adc: Path, keys: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        issuer = Issuer(tmp_path / "issuer")
        with oauth_endpoint(issuer, public_key=keys[0], client_email=EMAIL) as endpoint:
            write_adc(adc, endpoint.token_uri, keys[2])  # signed with another key
            code, _, err = run(capsys, "studies", "http://127.0.0.1:9/dicom-web", "--google-adc")
        assert code == 1 and err.count("\n") == 1, err
        assert "Google credentials cannot be refreshed" in err and "invalid_grant" in err
        assert endpoint.refusals == ["bad signature"]
        hidden(issuer, keys[2], err)

    def test_serve_proxy_with_adc(
        self,
        orthanc: Orthanc,
        adc: Path,
        keys: Any,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        issuer = Issuer(tmp_path / "issuer")
        launch = tmp_path / "launch"
        with (
            oauth_endpoint(issuer, public_key=keys[0], client_email=EMAIL) as endpoint,
            token_proxy(orthanc.url, issuer) as proxy,
        ):
            write_adc(adc, endpoint.token_uri, keys[1])
            wado = ["--wado-uri-root", proxy.url + "/wado"]
            assert main(["snapshot", orthanc.dicomweb_url, *wado, "-o", f"{launch}/", "-q"]) == 0
            code, stdout, err = run(
                capsys,
                "serve",
                str(launch),
                "--proxy",
                proxy.url,
                "--google-adc",
                "--port",
                "0",
                "--check",
            )
        assert code == 0, err
        assert endpoint.grants == 1 and proxy.forwarded == 3 and proxy.refused == []
        hidden(issuer, keys[1], stdout, err)


def test_no_application_default_credentials(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    code, _, err = run(capsys, "studies", "http://127.0.0.1:9/rs", "--google-adc")
    assert code == 1 and err.count("\n") == 1, err
    assert "no Google application default credentials" in err and "missing.json" in err
