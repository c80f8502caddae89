"""Security: credentials never shown, nothing written outside the output folder, TLS verified.

Against the real fixture Orthanc behind tests/faultproxy.py: the proxy faults
requests (some with an error page that echoes the request's headers, as a
debugging server does), rewrites answers into hostile UIDs, or serves HTTPS
with a certificate made here by a CA made here (the ``cryptography`` package).
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import re
import ssl
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from converter.cli import main
from fixtures.orthanc import Orthanc
from tests.faultproxy import Fault, Rule, fault_proxy

pytestmark = pytest.mark.orthanc

USER, PASSWORD, TOKEN, KEY = "alice", "s3cret-Pw!", "tok-9f8e7d", "key-1a2b3c"
OPTIONS = [
    "--retries",
    "3",
    "--retry-backoff",
    "0.01",
    "--timeout",
    "2",
    "--wado-uri-root",
    "http://viewer.example/wado",
]


def studies_on(orthanc: Orthanc) -> list[str]:
    return sorted(r["0020000D"]["Value"][0] for r in orthanc.get("/dicom-web/studies").json())


def leaks(text: str | bytes, secrets: Iterable[str]) -> list[str]:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return [s for s in secrets if s.encode("utf-8") in data]


class TestCredentialsNeverShown:
    """Every secret, also as base64 in a Basic header, is kept out of output, logs and errors."""

    SECRETS = (PASSWORD, TOKEN, KEY, base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode())

    @pytest.mark.parametrize("how", ["basic-in-url", "token-and-header"])
    def test_with_faults_echoing_the_request(
        self,
        orthanc: Orthanc,
        how: str,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        victim = studies_on(orthanc)[0]
        rules = [Rule(rf"/studies/{victim}/series$", Fault.ECHO_REQUEST)]
        out = tmp_path / "out"
        with fault_proxy(orthanc.url, seed=4, chance=0.2, stall=3, rules=rules) as proxy:
            url = proxy.dicomweb()
            extra: list[str] = []
            if how == "basic-in-url":
                url = url.replace("http://", f"http://{USER}:{PASSWORD}@")
                expected = "Basic " + self.SECRETS[3]
            else:
                monkeypatch.setenv("DICOMWEB2OHIF_TOKEN", TOKEN)
                extra = ["--header", f"X-Api-Key: {KEY}"]
                expected = f"Bearer {TOKEN}"
            code = main(["snapshot", url, *OPTIONS, *extra, "--debug", "-o", f"{out}/"])
        captured = capsys.readouterr()
        assert code == 1  # the victim study failed after echoing the headers every time
        assert all(s.headers.get("Authorization") == expected for s in proxy.served)
        echoed = [
            ln for ln in captured.err.splitlines() if ln.startswith(f"error: study {victim} failed")
        ]
        assert len(echoed) == 1 and f"Authorization: {expected.split()[0]} ***" in echoed[0]
        assert (
            f"server warning on {proxy.dicomweb()}/studies/{victim}/series: 299 proxy "
            f'"{expected.split()[0]} ***"' in captured.err
        )
        assert not leaks(captured.out + captured.err, self.SECRETS)
        assert "DEBUG" in captured.err and '"GET /' in captured.err  # --debug logged requests
        for path in out.iterdir():
            assert not leaks(path.read_bytes(), [*self.SECRETS, USER]), path

    def test_debug_traceback_of_a_failed_run(
        self, orthanc: Orthanc, capsys: pytest.CaptureFixture[str]
    ) -> None:
        rules = [Rule(r"/dicom-web/studies\?", Fault.ECHO_REQUEST)]
        with fault_proxy(orthanc.url, rules=rules) as proxy:
            url = proxy.dicomweb().replace("http://", f"http://{USER}:{PASSWORD}@")
            code = main(["snapshot", url, *OPTIONS, "--debug", "-o", "-"])
        captured = capsys.readouterr()
        assert code == 1
        assert "Traceback" in captured.err and "Authorization: Basic ***" in captured.err
        assert not leaks(captured.out + captured.err, self.SECRETS)


class TestNothingOutsideTheOutputFolder:
    # "evil.json" (safe: it would be written as evil.json.json, inside the folder) is kept
    # now; a leading dot (a hidden file, or "." and "..") and the index's own stem are not.
    HOSTILE = (
        "../../evil",
        "..",
        "/tmp/evil",
        "C:\\evil",
        "1.2.3/../../evil",
        "1.2.3\n",
        ".evil.json",
        "index",
        "INDEX-0-of-2",
        "[/]",
        "evil%2F..%2F",
        "1.2.3 ",
    )

    @pytest.mark.parametrize("ways", [[], ["--per-series"]], ids=["whole-studies", "per-series"])
    def test_whatever_the_server_sends(
        self, orthanc: Orthanc, tmp_path: Path, capsys: pytest.CaptureFixture[str], ways: list[str]
    ) -> None:
        good = studies_on(orthanc)

        def hostile(path: str, document: Any) -> Any:
            if re.search(r"/dicom-web/studies(\?|$)", path):  # the study list
                return [
                    *document,
                    *({"0020000D": {"vr": "UI", "Value": [u]}} for u in self.HOSTILE),
                ]
            if path.endswith((f"/studies/{good[0]}/series", f"/studies/{good[0]}/metadata")):
                document[0]["0020000E"]["Value"] = ["../../series"]
            if f"/studies/{good[1]}/" in path and path.endswith("/metadata"):
                for ds in document:
                    ds["00080018"]["Value"] = ["../../../instance"]
                    ds["0020000D"]["Value"] = ["../../study"]
            return document

        out = tmp_path / "deep" / "out"
        out.parent.mkdir()
        with fault_proxy(orthanc.url, rewriters=[hostile]) as proxy:
            code = main(
                [
                    "snapshot",
                    proxy.dicomweb(),
                    *OPTIONS[:6],
                    "-q",
                    "-o",
                    f"{out}/",
                    *ways,
                    "--url-template",
                    "https://bucket.example/{study}/{series}/{instance}",
                ]
            )
        err = capsys.readouterr().err
        assert code == 1
        files = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
        assert files == sorted(
            [f"deep/out/{good[2]}.json", "deep/out/index.html", "deep/out/index.json"]
        ), files
        assert not any(".." in s.path or "evil" in s.path for s in proxy.served)
        assert bool(proxy.requests_to(r"/studies/[0-9.]+/metadata$")) == (not ways)
        failures = [ln for ln in err.splitlines() if ln.startswith("error: study ")]
        assert len(failures) == len(self.HOSTILE) + 2, err  # one line each, none broken
        assert all("not safe in a file name, a request path or a query" in ln for ln in failures)
        assert "error: study '1.2.3\\n' failed and was not written" in err
        assert "Traceback" not in err and "internal error" not in err


def _certificate(
    key: ec.EllipticCurvePrivateKey,
    subject: str,
    issuer: x509.Name,
    signer: ec.EllipticCurvePrivateKey,
    ca: bool,
    names: list[x509.GeneralName],
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(signer, hashes.SHA256())


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A CA, and server certificates it signed: one for 127.0.0.1, one for another host."""
    folder = tmp_path_factory.mktemp("tls")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dicomweb2ohif test CA")])
    ca = _certificate(ca_key, "dicomweb2ohif test CA", ca_name, ca_key, True, [])
    paths = {"ca": folder / "ca.pem"}
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    for name, san in (
        ("loopback", [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
        ("other", [x509.DNSName("pacs.example")]),
    ):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _certificate(key, name, ca_name, ca_key, False, san)
        paths[name] = folder / f"{name}.pem"
        paths[name].write_bytes(
            cert.public_bytes(serialization.Encoding.PEM)
            + key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return paths


def _context(pem: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pem)
    return context


@pytest.fixture
def https(orthanc: Orthanc, tls: dict[str, Path]) -> Iterator[str]:
    with fault_proxy(orthanc.url, tls=_context(tls["loopback"])) as proxy:
        yield proxy.dicomweb()


class TestTls:
    def test_verification_is_on_by_default(
        self, https: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        code = main(["snapshot", https, *OPTIONS, "-q", "-o", "-"])
        captured = capsys.readouterr()
        assert code == 1 and captured.out == ""
        lines = captured.err.splitlines()
        assert len(lines) == 1, captured.err
        assert lines[0] == (
            f"error: cannot connect securely to {https}/studies: its certificate was not "
            "accepted: unable to get local issuer certificate; give the server's CA "
            "certificate with --ca-bundle PEM (or skip verification with --insecure)"
        )

    def test_ca_bundle(
        self, https: str, orthanc: Orthanc, tls: dict[str, Path], capsys: pytest.CaptureFixture[str]
    ) -> None:
        code = main(["snapshot", https, *OPTIONS, "--ca-bundle", str(tls["ca"]), "-q", "-o", "-"])
        captured = capsys.readouterr()
        assert code == 0, captured.err
        assert captured.err == ""
        assert main(["snapshot", orthanc.dicomweb_url, *OPTIONS, "-q", "-o", "-"]) == 0
        assert captured.out == capsys.readouterr().out  # the same file as over plain HTTP

    def test_insecure_works_and_warns(self, https: str, capsys: pytest.CaptureFixture[str]) -> None:
        code = main(["snapshot", https, *OPTIONS, "--insecure", "-o", "-"])
        captured = capsys.readouterr()
        assert code == 0, captured.err
        assert len(json.loads(captured.out)["studies"]) == 3
        assert "warning: TLS certificates are not verified (--insecure)" in captured.err
        assert "InsecureRequestWarning" not in captured.err

    def test_certificate_for_another_host(
        self, orthanc: Orthanc, tls: dict[str, Path], capsys: pytest.CaptureFixture[str]
    ) -> None:
        with fault_proxy(orthanc.url, tls=_context(tls["other"])) as proxy:
            code = main(
                ["studies", proxy.dicomweb(), *OPTIONS[:6], "--ca-bundle", str(tls["ca"]), "-q"]
            )
        err = capsys.readouterr().err
        assert code == 1
        assert err.startswith(f"error: cannot connect securely to {proxy.dicomweb()}/studies: ")
        assert (
            "its certificate is for another host name (IP address mismatch, certificate is "
            "not valid for 127.0.0.1); use the name it was issued for"
        ) in err
        assert len(err.splitlines()) == 1
