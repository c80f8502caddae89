"""Sharded runs and object storage: N workers write what one run writes, byte for byte.

Shards run as real concurrent processes against a real Orthanc; object storage is a
real local S3 server (moto in server mode on a loopback port), reached through
fsspec/s3fs with credentials from the environment, as in production.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from converter.cli import main
from converter.snapshot.selection import Shard
from fixtures.orthanc import Orthanc
from fixtures.synthetic import make_studies, study_uid
from tests.test_study_list import study_list_rows

ROOT = Path(__file__).resolve().parents[1]


def cli(*argv: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "converter", *argv],
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if not p.name.startswith("index")}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    """30 synthetic studies of 2 series x 2 instances."""
    with Orthanc() as orthanc:
        orthanc.upload(list(make_studies(tmp_path_factory.mktemp("dcm"), 30, 2, 2)))
        yield orthanc


@pytest.fixture(scope="module")
def unsharded(server: Orthanc, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("whole")
    assert main(["snapshot", server.dicomweb_url, "-q", "--gzip", "-o", f"{out}/"]) == 0
    return out


class TestPartition:
    def test_every_uid_in_exactly_one_shard(self) -> None:
        uids = [study_uid(i) for i in range(500)]
        for n in (1, 2, 3, 7):
            owners = [[k for k in range(n) if Shard(k, n).owns(u)] for u in uids]
            assert all(len(o) == 1 for o in owners)
            sizes = [sum(1 for o in owners if o == [k]) for k in range(n)]
            assert min(sizes) > 500 / n * 0.6  # roughly even

    def test_environment(self) -> None:
        assert Shard.from_environment({"JOB_COMPLETION_INDEX": "2"}, 4) == (
            Shard(2, 4),
            "JOB_COMPLETION_INDEX",
        )
        assert Shard.from_environment(
            {"JOB_COMPLETION_INDEX": "1", "DICOMWEB2OHIF_SHARDS": "3"}
        ) == (Shard(1, 3), "JOB_COMPLETION_INDEX")
        assert Shard.from_environment(
            {"SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_MIN": "2"}
        ) == (Shard(3, 4), "SLURM_ARRAY_TASK_ID")
        assert Shard.from_environment({}) is None

    @pytest.mark.orthanc
    @pytest.mark.parametrize(
        ("argv", "message"),
        [
            (["--shard", "3/3"], "need 0 <= K < N"),
            (["--shard", "x"], "give K/N"),
            (["--shard", "0/2", "-o", "one.json"], "--shard goes with folder output"),
        ],
    )
    def test_usage_errors(
        self, argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        args = ["snapshot", "http://127.0.0.1:1/rs", *argv]
        if "-o" not in argv:
            args += ["-o", f"{tmp_path}/"]
        assert main(args) == 2
        assert message in capsys.readouterr().err

    def test_job_completion_index_needs_a_count(self, tmp_path: Path) -> None:
        done = cli(
            "snapshot",
            "http://127.0.0.1:1/rs",
            "-o",
            f"{tmp_path}/",
            env={"JOB_COMPLETION_INDEX": "0"},
        )
        _, err = done.communicate(timeout=60)
        assert done.returncode == 2
        assert "give --shard-count N" in err


@pytest.mark.orthanc
class TestShardedRun:
    def test_three_concurrent_shards_equal_one_run(
        self, server: Orthanc, unsharded: Path, tmp_path: Path
    ) -> None:
        out = tmp_path / "sharded"
        procs = [
            cli("snapshot", server.dicomweb_url, "--gzip", "--shard", f"{k}/3", "-o", f"{out}/")
            for k in range(3)
        ]
        for k, proc in enumerate(procs):
            _, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            assert f"shard {k} of 3" in err
        assert files(out) == files(unsharded)
        partial = [
            json.loads((out / f"index-{k}-of-3.json").read_text())["studies"] for k in range(3)
        ]
        uids = [e["StudyInstanceUID"] for part in partial for e in part]
        assert len(uids) == len(set(uids)) == 30  # no study written twice
        assert main(["index", str(out), "-q"]) == 0
        merged = json.loads((out / "index.json").read_text())["studies"]
        whole = json.loads((unsharded / "index.json").read_text())["studies"]
        strip = [{k: v for k, v in e.items() if k != "written"} for e in merged]
        assert strip == [{k: v for k, v in e.items() if k != "written"} for e in whole]

    def test_shard_from_slurm_environment(self, server: Orthanc, tmp_path: Path) -> None:
        out = tmp_path / "slurm"
        proc = cli(
            "snapshot",
            server.dicomweb_url,
            "-o",
            f"{out}/",
            env={"SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": "2"},
        )
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert "shard 1 of 2 (from $SLURM_ARRAY_TASK_ID)" in err
        expected = {f"{study_uid(i)}.json" for i in range(30) if Shard(1, 2).owns(study_uid(i))}
        assert set(files(out)) == expected

    def test_killed_shard_rerun_finishes_its_part(
        self, server: Orthanc, unsharded: Path, tmp_path: Path
    ) -> None:
        out = tmp_path / "killed"
        proc = cli(
            "snapshot",
            server.dicomweb_url,
            "--gzip",
            "--workers",
            "1",
            "--shard",
            "0/2",
            "-o",
            f"{out}/",
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(list(out.glob("*.json.gz"))) < 3:
            time.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
        before = {p.name: p.stat().st_mtime_ns for p in out.glob("*.json.gz")}
        mine = {f"{study_uid(i)}.json.gz" for i in range(30) if Shard(0, 2).owns(study_uid(i))}
        assert 3 <= len(before) < len(mine)
        rerun = cli("snapshot", server.dicomweb_url, "--gzip", "--shard", "0/2", "-o", f"{out}/")
        _, err = rerun.communicate(timeout=120)
        assert rerun.returncode == 0, err
        assert set(files(out)) == mine
        assert all((out / n).stat().st_mtime_ns == t for n, t in before.items())
        assert {n: files(out)[n] for n in mine} == {n: files(unsharded)[n] for n in mine}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A real local S3 server (moto in server mode) and the environment to reach it."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
    }
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.1)
        import boto3

        client = boto3.client(
            "s3",
            endpoint_url=env["AWS_ENDPOINT_URL"],
            aws_access_key_id="testing",
            aws_secret_access_key="testing-secret",
            region_name="us-east-1",
        )
        client.create_bucket(Bucket="launch-files")
        yield env
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.orthanc
class TestObjectStorage:
    def _client(self, env: dict[str, str]) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=env["AWS_ENDPOINT_URL"],
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            region_name="us-east-1",
        )

    def test_sharded_run_into_s3_gives_the_same_objects(
        self, server: Orthanc, unsharded: Path, s3: dict[str, str]
    ) -> None:
        url = "s3://launch-files/run1/"
        procs = [
            cli("snapshot", server.dicomweb_url, "--gzip", "--shard", f"{k}/3", "-o", url, env=s3)
            for k in range(3)
        ]
        for proc in procs:
            _, err = proc.communicate(timeout=180)
            assert proc.returncode == 0, err
            assert "testing-secret" not in err
        client = self._client(s3)
        listed = client.list_objects_v2(Bucket="launch-files", Prefix="run1/")["Contents"]
        assert "run1/index.html" not in {o["Key"] for o in listed}  # a shard writes no page
        merged = cli("index", url, env=s3)
        _, err = merged.communicate(timeout=60)
        assert merged.returncode == 0, err
        listed = client.list_objects_v2(Bucket="launch-files", Prefix="run1/")["Contents"]
        keys = {o["Key"].removeprefix("run1/") for o in listed}
        assert {k for k in keys if not k.startswith("index")} == set(files(unsharded))
        for name, data in files(unsharded).items():
            obj = client.get_object(Bucket="launch-files", Key=f"run1/{name}")
            assert obj["Body"].read() == data
            assert obj["ContentType"] == "application/json"
            assert obj["ContentEncoding"] == "gzip"
        index = json.loads(
            client.get_object(Bucket="launch-files", Key="run1/index.json")["Body"].read()
        )
        assert len(index["studies"]) == 30
        page = client.get_object(Bucket="launch-files", Key="run1/index.html")
        assert page["ContentType"] == "text/html; charset=utf-8"
        rows = study_list_rows(page["Body"].read())
        assert sorted(r["file"] for r in rows) == sorted(e["file"] for e in index["studies"])

    def test_resume_skips_objects_already_there(self, server: Orthanc, s3: dict[str, str]) -> None:
        url = "s3://launch-files/run2/"
        first = cli("snapshot", server.dicomweb_url, "--limit", "4", "-o", url, env=s3)
        assert first.communicate(timeout=120) and first.returncode == 0
        again = cli("snapshot", server.dicomweb_url, "--limit", "4", "-o", url, env=s3)
        _, err = again.communicate(timeout=120)
        assert again.returncode == 0, err
        assert err.count(": skipped") == 4
        body = (
            self._client(s3)
            .get_object(Bucket="launch-files", Key=f"run2/{study_uid(0)}.json")["Body"]
            .read()
        )
        assert json.loads(body)["studies"][0]["StudyInstanceUID"] == study_uid(0)
        assert gzip.compress(b"") != body  # plain JSON without --gzip


@pytest.mark.orthanc
class TestReadmeExamples:
    """The Kubernetes manifest and the Slurm script in the README run as written."""

    def _block(self, language: str, marker: str) -> str:
        readme = (ROOT / "README.md").read_text(encoding="utf-8")
        blocks = re.findall(rf"```{language}\n(.*?)```", readme, re.S)
        found = [b for b in blocks if marker in b]
        assert found, f"no ```{language} block with {marker!r} in README.md"
        return found[0]

    def _substitute(self, text: str, server: Orthanc, out: Path) -> str:
        return text.replace("https://pacs.example/dicom-web", server.dicomweb_url).replace(
            "s3://launch-files/site/", f"{out}/"
        )

    def test_kubernetes_indexed_job(self, server: Orthanc, unsharded: Path, tmp_path: Path) -> None:
        import yaml

        documents = list(yaml.safe_load_all(self._block("yaml", "kind: Job")))
        job = next(d for d in documents if d and d.get("kind") == "Job")
        assert job["spec"]["completionMode"] == "Indexed"
        completions = int(job["spec"]["completions"])
        container = job["spec"]["template"]["spec"]["containers"][0]
        command = [*container.get("command", []), *container.get("args", [])]
        assert command[0] == "dicomweb2ohif"
        out = tmp_path / "k8s"
        argv = [self._substitute(a, server, out) for a in command[1:]]
        env = {e["name"]: str(e["value"]) for e in container.get("env", []) if "value" in e}
        procs = [
            cli(*argv, env={**env, "JOB_COMPLETION_INDEX": str(k)}) for k in range(completions)
        ]
        for proc in procs:
            _, err = proc.communicate(timeout=180)
            assert proc.returncode == 0, err
        assert main(["index", f"{out}/", "-q"]) == 0
        assert set(files(out)) == set(files(unsharded))

    def test_slurm_array(self, server: Orthanc, unsharded: Path, tmp_path: Path) -> None:
        script = self._block("bash", "#SBATCH --array")
        array = re.search(r"#SBATCH --array=(\d+)-(\d+)", script)
        assert array
        first, last = int(array.group(1)), int(array.group(2))
        lines = [line for line in script.splitlines() if line.strip().startswith("dicomweb2ohif")]
        assert len(lines) == 1
        out = tmp_path / "slurm"
        argv = shlex.split(self._substitute(lines[0], server, out))
        procs = [
            cli(
                *argv[1:],
                env={
                    "SLURM_ARRAY_TASK_ID": str(t),
                    "SLURM_ARRAY_TASK_MIN": str(first),
                    "SLURM_ARRAY_TASK_COUNT": str(last - first + 1),
                },
            )
            for t in range(first, last + 1)
        ]
        for proc in procs:
            _, err = proc.communicate(timeout=180)
            assert proc.returncode == 0, err
        assert main(["index", f"{out}/", "-q"]) == 0
        assert set(files(out)) == set(files(unsharded))


class TestShardedFolder:
    def test_folder_shards_equal_one_folder_run(self, tmp_path: Path) -> None:
        source = tmp_path / "dicom"
        list(make_studies(source, 9, 1, 2))
        whole, parts = tmp_path / "whole", tmp_path / "parts"
        common = [str(source), "--url-prefix", "https://bucket.example/dicom", "-q"]
        assert main(["folder", *common, "-o", f"{whole}/"]) == 0
        for k in range(3):
            assert main(["folder", *common, "--shard", f"{k}/3", "-o", f"{parts}/"]) == 0
        assert main(["index", str(parts), "-q"]) == 0
        assert files(parts) == files(whole)
        assert len(json.loads((parts / "index.json").read_text())["studies"]) == 9
