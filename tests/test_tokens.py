"""Sign-in that lasts a migration: ``--token-command`` (and ``Credentials(token_provider=)``)
against a real token-checking proxy in front of the fixture Orthanc (tests/token_server.py),
with tokens issued by a real command (tests/token_issuer.py) that the proxy starts to
refuse mid-run.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable
from pathlib import Path

import pytest
import requests

from converter.cli import main
from converter.errors import SignInError, UsageError
from converter.serve.options import ServeOptions
from converter.serve.proxy import Upstream
from converter.serve.server import Server
from converter.source.client import DicomWebSource
from converter.source.session import Credentials
from converter.source.token_command import TokenCommand, command_token, parse_token
from converter.source.tokens import RefreshingToken, Token
from fixtures.orthanc import Orthanc
from tests.token_server import Issuer, same_as_plain, snapshot_of, token_proxy


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def no_token_in(issuer: Issuer, texts: Iterable[str | bytes]) -> None:
    tokens = issuer.issued
    assert tokens
    for text in texts:
        data = text.encode() if isinstance(text, str) else text
        for token in tokens:
            assert token.encode() not in data


def every_file(folder: Path) -> list[bytes]:
    return [p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()]


@pytest.fixture(scope="module")
def plain_snapshot(orthanc: Orthanc, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return snapshot_of(orthanc, tmp_path_factory.mktemp("plain"))


@pytest.mark.orthanc
class TestSnapshot:
    def test_tokens_refused_after_n_requests_are_renewed_once_per_refusal(
        self,
        orthanc: Orthanc,
        plain_snapshot: Path,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        issuer = Issuer(tmp_path / "issuer")
        out = tmp_path / "out"
        with token_proxy(orthanc.url, issuer, max_requests=4) as proxy:
            code, stdout, err = run(
                capsys,
                "snapshot",
                proxy.url + "/dicom-web",
                "--token-command",
                issuer.command(),
                "--workers",
                "4",
                "--per-series",
                "-o",
                f"{out}/",
                "--debug",
            )
        assert code == 0, err
        same_as_plain(out, plain_snapshot, proxy.url, orthanc)
        # Each token served exactly 4 requests before it was refused, and each refusal
        # (also a burst of them, from several threads) ran the command once.
        assert proxy.forwarded >= 12
        assert issuer.runs == math.ceil(proxy.forwarded / 4) == len(issuer.issued)
        assert all(n == 4 for n in list(proxy.accepted.values())[:-1])
        assert len(proxy.refused) >= issuer.runs - 1
        assert issuer.overlaps == 0
        assert "GET /dicom-web" in err  # the --debug log was on
        no_token_in(issuer, [stdout, err, *every_file(out)])

    def test_a_stated_expiry_renews_the_token_before_it_is_refused(
        self,
        orthanc: Orthanc,
        plain_snapshot: Path,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        issuer = Issuer(tmp_path / "issuer")
        out = tmp_path / "out"
        lifetime = 1.5
        with token_proxy(orthanc.url, issuer, lifetime=lifetime, delay=0.4) as proxy:
            started = time.time()
            code, stdout, err = run(
                capsys,
                "snapshot",
                proxy.url + "/dicom-web",
                "--token-command",
                issuer.command("--style", "oauth", "--expires-in", str(lifetime)),
                "--workers",
                "1",
                "--per-series",
                "-o",
                f"{out}/",
            )
            took = time.time() - started
        assert code == 0, err
        same_as_plain(out, plain_snapshot, proxy.url, orthanc)
        assert took > 2 * lifetime and issuer.runs == len(issuer.issued) >= 3
        # Renewed ahead of the stated expiry, not after refusals (which would be at
        # least one per renewal); one refusal is allowed for a request that was slow
        # to reach the proxy on a busy machine.
        assert len(proxy.refused) <= 1 < issuer.runs - 1
        no_token_in(issuer, [stdout, err, *every_file(out)])

    def test_a_fresh_token_refused_too_is_one_line(
        self, orthanc: Orthanc, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        issuer = Issuer(tmp_path / "issuer")
        with token_proxy(orthanc.url, issuer, max_requests=0) as proxy:
            code, stdout, err = run(
                capsys,
                "snapshot",
                proxy.url + "/dicom-web",
                "--token-command",
                issuer.command(),
                "-o",
                str(tmp_path / "out.json"),
            )
        assert code == 1
        assert err.count("\n") == 1
        assert "HTTP 401 from" in err and "refused a new token from --token-command too" in err
        assert issuer.runs == 2  # the first token and one fresh one
        no_token_in(issuer, [stdout, err])
        assert not (tmp_path / "out.json").exists()

    def test_a_command_failing_mid_run_stops_the_run_in_one_line(
        self, orthanc: Orthanc, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        issuer = Issuer(tmp_path / "issuer")
        out = tmp_path / "out"
        with token_proxy(orthanc.url, issuer, max_requests=3) as proxy:
            code, stdout, err = run(
                capsys,
                "snapshot",
                proxy.url + "/dicom-web",
                "--token-command",
                issuer.command("--fail-from", "2"),
                "--workers",
                "4",
                "--per-series",
                "-o",
                f"{out}/",
            )
        assert code == 1
        lines = [line for line in err.splitlines() if line.startswith("error:")]
        assert lines == [
            f"error: token command {issuer.command().split()[0]!r} failed (exit 3): "
            "ERROR: (issuer) Reauthentication required, run login"
        ], err
        assert "second line" not in err
        assert issuer.runs == 2  # the burst of 401s after the failure did not rerun it
        no_token_in(issuer, [stdout, err, *every_file(out)])


@pytest.mark.orthanc
def test_python_api_with_a_token_provider(orthanc: Orthanc, tmp_path: Path) -> None:
    import converter

    issuer = Issuer(tmp_path / "issuer")
    with token_proxy(orthanc.url, issuer, max_requests=5) as proxy:
        provider = converter.command_token(issuer.command("--style", "az"))
        server = converter.open_server(proxy.url + "/dicom-web", token_provider=provider)
        report = converter.snapshot_server(server, workers=3)
    assert report.ok and report.written == 3
    assert provider.fetches == issuer.runs == math.ceil(proxy.forwarded / 5) >= 2


class TestCommandFailures:
    """What the user reads when the command fails: one line, its name and stderr."""

    def test_failing_empty_slow_and_missing_commands(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        issuer = Issuer(tmp_path / "issuer")
        python = issuer.command().split()[0]
        cases = [
            (issuer.command("--fail-from", "1"), "failed (exit 3): ERROR: (issuer) Reauth"),
            (issuer.command("--empty"), "printed no token"),
            (issuer.command("--sleep", "3"), "printed no token within 1 s"),
            ("no-such-token-tool --flag", "'no-such-token-tool' cannot be run: No such file"),
        ]
        for command, expected in cases:
            # An unused port: the command runs before any request is sent.
            code, _, err = run(
                capsys,
                "studies",
                "http://127.0.0.1:9/dicom-web",
                "--token-command",
                command,
                "--timeout",
                "1",
            )
            assert code == 1, err
            assert err.count("\n") == 1 and expected in err, err
            assert err.startswith("error: token command"), err
            if command.startswith(python):
                assert repr(python) in err

    def test_token_and_token_command_do_not_go_together(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        for extra in (["--token", "x"], ["--user", "u"]):
            code, _, err = run(
                capsys, "studies", "http://127.0.0.1:9/rs", "--token-command", "true", *extra
            )
            assert code == 2
            assert "give --token-command or --token/--user, not both" in err

    def test_token_command_needs_proxy(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        code, _, err = run(capsys, "serve", str(tmp_path), "--token-command", "true")
        assert code == 2 and "--token-command goes with --proxy" in err

    def test_output_that_is_no_token_is_not_shown(self) -> None:
        source = RefreshingToken(lambda: "two words")
        with pytest.raises(SignInError, match=r"^the new bearer token is empty or not one"):
            source.token()
        with pytest.raises(UsageError, match="cannot split it into words"):
            TokenCommand("gcloud 'unclosed")


class TestOutputFormats:
    """The JSON that cloud CLIs print, and plain text (no stated expiry)."""

    NOW = 1_700_000_000.0

    def test_plain_text_has_no_expiry(self) -> None:
        assert parse_token("ya29.a0Af-x_y", now=self.NOW) == Token("ya29.a0Af-x_y", None)

    def test_oauth_expires_in(self) -> None:
        token = parse_token('{"access_token": "abc", "expires_in": 3599}', now=self.NOW)
        assert token == Token("abc", self.NOW + 3599)

    def test_azure_cli_prefers_expires_on(self) -> None:
        out = (
            '{"accessToken": "eyJ0.x.y", "expiresOn": "2023-11-14 23:13:20.000000", '
            '"expires_on": 1700003600, "tokenType": "Bearer"}'
        )
        assert parse_token(out, now=self.NOW) == Token("eyJ0.x.y", 1700003600.0)

    def test_older_azure_cli_local_expires_on(self) -> None:
        token = parse_token('{"accessToken": "t", "expiresOn": "2023-11-14 23:13:20.5"}')
        assert token.expires_at == pytest.approx(
            time.mktime(time.strptime("2023-11-14 23:13:20", "%Y-%m-%d %H:%M:%S")) + 0.5
        )

    def test_gcloud_config_helper(self) -> None:
        out = '{"credential": {"access_token": "ya29.t", "token_expiry": "2023-11-14T23:13:20Z"}}'
        assert parse_token(out, now=self.NOW) == Token("ya29.t", 1700003600.0)

    def test_json_without_a_token(self) -> None:
        with pytest.raises(SignInError, match=r"printed JSON without access_token, accessToken"):
            parse_token('{"error": "login required"}', "az")


class TestRefreshingToken:
    def test_a_burst_of_refusals_runs_the_fetch_once(self) -> None:
        calls: list[int] = []

        def fetch() -> str:
            calls.append(1)
            time.sleep(0.2)
            return f"token{len(calls)}"

        source = RefreshingToken(fetch)
        first = source.token()
        barrier = threading.Barrier(8)
        got: list[str] = []

        def refused() -> None:
            barrier.wait()
            got.append(source.refresh(first))

        threads = [threading.Thread(target=refused) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(calls) == 2 and got == ["token2"] * 8

    def test_renewed_a_tenth_of_the_lifetime_before_the_expiry(self) -> None:
        now = [1000.0]
        tokens = iter(["a", "b"])
        source = RefreshingToken(lambda: Token(next(tokens), now[0] + 100), clock=lambda: now[0])
        assert source.token() == "a"
        now[0] += 89
        assert source.token() == "a"
        now[0] += 2
        assert source.token() == "b"

    @pytest.mark.orthanc
    def test_a_token_worn_out_while_a_request_waited_gets_another_refresh(
        self, orthanc: Orthanc, tmp_path: Path
    ) -> None:
        """On a busy machine a slow thread's retry may carry a token that other
        threads already used up: that is an expiry too, not a refused sign-in."""
        issuer = Issuer(tmp_path / "issuer")
        fetch = TokenCommand(issuer.command())

        class Lapped:
            """Hands out the worn-out token once more on the first refresh, as the
            token another thread fetched and used up would be."""

            def __init__(self) -> None:
                self.current = fetch().value
                self.refreshes = 0

            def token(self) -> str:
                return self.current

            def refresh(self, refused: str) -> str:
                self.refreshes += 1
                if self.refreshes > 1:
                    self.current = fetch().value
                return self.current

        lapped = Lapped()
        with token_proxy(orthanc.url, issuer, max_requests=1) as proxy:
            source = DicomWebSource(
                proxy.url + "/dicom-web", credentials=Credentials(token_provider=lapped)
            )
            assert source.search_studies()  # the first token works once
            assert source.search_studies()  # refused, the same again, then a new one
        assert lapped.refreshes == 2 and issuer.runs == 2 and len(proxy.refused) == 2

    def test_a_python_callable_as_token_provider(self, tmp_path: Path) -> None:
        issuer = Issuer(tmp_path / "issuer")
        # DicomWebSource wraps a callable; the token is hidden in every message.
        with token_proxy("http://127.0.0.1:9", issuer) as proxy:
            source = DicomWebSource(
                proxy.url + "/rs",
                credentials=Credentials(token_provider=lambda: "tkforged-0-" + "0" * 32),
                retry=None,
            )
            with pytest.raises(SignInError, match="refused a new token from token_provider too"):
                source.search_studies()
        assert len(proxy.refused) == 2
        with pytest.raises(
            UsageError, match="give one of token_provider, auth, a fixed token or a user"
        ):
            DicomWebSource(
                "http://127.0.0.1:9/rs", credentials=Credentials(token="t", token_provider=str)
            )


@pytest.mark.orthanc
class TestServeProxy:
    def test_images_through_serve_proxy_carry_a_renewed_token(
        self, orthanc: Orthanc, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        issuer = Issuer(tmp_path / "issuer")
        launch = tmp_path / "launch"
        with token_proxy(orthanc.url, issuer, max_requests=1) as proxy:
            assert (
                main(
                    [
                        "snapshot",
                        orthanc.dicomweb_url,
                        "--wado-uri-root",
                        proxy.url + "/wado",
                        "-o",
                        f"{launch}/",
                        "-q",
                    ]
                )
                == 0
            )
            # The CLI: --check fetches each file's first instance through the proxy.
            code, stdout, err = run(
                capsys,
                "serve",
                str(launch),
                "--proxy",
                proxy.url,
                "--token-command",
                issuer.command(),
                "--port",
                "0",
                "--check",
            )
            assert code == 0, err
            files = len(list(launch.glob("*.json"))) - 1  # without index.json
            assert proxy.forwarded == files and issuer.runs == files
            # The library: the same image as straight from Orthanc, twice (a refusal between).
            instance = orthanc.get("/instances").json()[0]
            tags = orthanc.get(f"/instances/{instance}/tags?simplify").json()
            query = (
                f"/wado?requestType=WADO&studyUID={tags['StudyInstanceUID']}"
                f"&seriesUID={tags['SeriesInstanceUID']}&objectUID={tags['SOPInstanceUID']}"
                "&contentType=application/dicom"
            )
            direct = requests.get(orthanc.url + query, timeout=30).content
            upstream = Upstream.parse(proxy.url, token=command_token(issuer.command()))
            server = Server(ServeOptions(folder=launch, port=0, upstream=upstream))
            server.start()
            try:
                before = issuer.runs
                for _ in range(2):
                    answer = requests.get(server.origin + "/proxy" + query, timeout=30)
                    assert answer.status_code == 200 and answer.content == direct
                assert issuer.runs == before + 2  # one per refused token
            finally:
                server.stop()
        assert direct[128:132] == b"DICM"
        no_token_in(issuer, [stdout, err])
