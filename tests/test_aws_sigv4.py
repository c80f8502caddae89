"""AWS SigV4 signing (``--aws-sigv4``, botocore's signer and credential chain) against a
real proxy in front of the fixture Orthanc that checks each signature as AWS
HealthImaging does (tests/sigv4_server.py, written from AWS's documentation).

The credentials come through botocore's own chain from environment variables, as
on a machine with ``AWS_ACCESS_KEY_ID`` set (no instance metadata: it is turned off).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from converter.cli import main
from converter.source.aws import region_of
from fixtures.orthanc import Orthanc
from tests.sigv4_server import sigv4_proxy
from tests.token_server import same_as_plain, snapshot_of

pytest.importorskip("botocore")  # the test extra brings it (through s3fs)

KEY, SECRET, SESSION = (
    "AKIDEXAMPLE0TEST",
    "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    "FwoGZXIvYXdzEXAMPLE",
)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_SESSION_TOKEN": SESSION,
        "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def secret_free(*texts: str | bytes) -> None:
    for text in texts:
        data = text.encode() if isinstance(text, str) else text
        assert SECRET.encode() not in data and SESSION.encode() not in data


@pytest.mark.orthanc
class TestSigned:
    def test_snapshot_signed_for_healthimaging(
        self,
        orthanc: Orthanc,
        aws_env: None,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        plain = snapshot_of(orthanc, tmp_path / "plain")
        out = tmp_path / "out"
        with sigv4_proxy(
            orthanc.url, access_key=KEY, secret_key=SECRET, session_token=SESSION
        ) as proxy:
            code, stdout, err = run(
                capsys,
                "snapshot",
                proxy.url + "/dicom-web",
                "--aws-sigv4",
                "us-east-1",
                "--per-series",
                "-o",
                f"{out}/",
                "--debug",
            )
        assert code == 0, err
        assert proxy.refused == [] and proxy.accepted >= 10
        same_as_plain(out, plain, proxy.url, orthanc)
        secret_free(stdout, err, *(p.read_bytes() for p in out.iterdir()))

    def test_a_wrong_secret_or_region_is_refused_in_one_line(
        self,
        orthanc: Orthanc,
        aws_env: None,
        monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        with sigv4_proxy(
            orthanc.url, access_key=KEY, secret_key=SECRET, session_token=SESSION
        ) as proxy:
            code, _, err = run(
                capsys, "studies", proxy.url + "/dicom-web", "--aws-sigv4", "eu-west-1"
            )
            assert code == 1 and err.count("\n") == 1, err
            assert "HTTP 403" in err and "wrong scope eu-west-1/medical-imaging" in err
            monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
            code, _, err = run(
                capsys, "studies", proxy.url + "/dicom-web", "--aws-sigv4", "us-east-1"
            )
            assert code == 1 and "signature does not match" in err, err
        assert proxy.refused == [
            "wrong scope eu-west-1/medical-imaging",
            "signature does not match",
        ]
        secret_free(err)

    def test_serve_proxy_signs_the_images(
        self,
        orthanc: Orthanc,
        aws_env: None,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        with sigv4_proxy(
            orthanc.url, access_key=KEY, secret_key=SECRET, session_token=SESSION
        ) as proxy:
            launch = tmp_path / "launch"
            wado = ["--wado-uri-root", proxy.url + "/wado"]
            assert main(["snapshot", orthanc.dicomweb_url, *wado, "-o", f"{launch}/", "-q"]) == 0
            args = ["serve", str(launch), "--proxy", proxy.url, "--port", "0", "--check"]
            code, _, err = run(capsys, *args)
            assert code == 1 and "HTTP 403" in err  # unsigned: refused
            code, stdout, err = run(capsys, *args, "--aws-sigv4", "us-east-1")
            assert code == 0, err
        assert proxy.accepted == len(list(launch.glob("1.*.json")))
        secret_free(stdout, err)


class TestSetup:
    def test_no_credentials_is_one_line(
        self,
        monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv("AWS_PROFILE", raising=False)
        monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
        monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)
        code, _, err = run(capsys, "studies", "http://127.0.0.1:9/rs", "--aws-sigv4", "us-east-1")
        assert code == 1 and err.count("\n") == 1
        assert "no AWS credentials found" in err

    def test_region_from_the_host_name_or_asked_for(
        self, aws_env: None, capsys: pytest.CaptureFixture[str]
    ) -> None:
        url = "https://dicom-medical-imaging.eu-west-1.amazonaws.com/datastore/abc"
        assert region_of(url) == "eu-west-1"
        assert region_of("http://127.0.0.1:9/rs") is None
        code, _, err = run(capsys, "studies", "http://127.0.0.1:9/rs", "--aws-sigv4")
        assert code == 2 and "--aws-sigv4 REGION: give the AWS region" in err
        code, _, err = run(capsys, "studies", url, "--aws-sigv4", "--token", "t")
        assert code == 2 and "give --aws-sigv4 or --token" in err
