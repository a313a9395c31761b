"""Sharing artifacts through DVC remote storage, with the real `dvc` and real remotes.

One tiny project (A) runs the whole pipeline once and is committed to git. Each test pushes A's
artifacts to a remote (a local folder; a real S3 API: moto's server on 127.0.0.1), clones A with git
into a new folder (B, a teammate's checkout with an empty DVC cache) and checks that B gets every
artifact byte for byte without running a stage. The last test shares the run-cache: after a params
change in A, B restores the changed stages' results instead of recomputing them (once
`python -m humpback.run_cache` has pushed what `dvc push --run-cache` leaves behind).

In B, `python` on PATH is a stub that fails: every stage command starts with `python`, so if DVC ran
any stage in B, the `dvc` call would fail. That is a stronger check than reading DVC's log, which
we check as well.
"""

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from test_pipeline import _env, make_project, repro

pytestmark = pytest.mark.e2e

DVC = str(Path(sys.executable).parent / "dvc")
HUMPBACK = str(Path(sys.executable).parent / "humpback")
# Fake credentials for the local S3 server: they must reach `dvc` through the environment only.
AWS_KEY_ID, AWS_SECRET = "AKIAHUMPBACKTESTKEY1", "humpback-fake-secret-do-not-commit"


def run(cwd: Path, *args: str, env: dict | None = None) -> str:
    """Run a command (`dvc` or `git`); fail with its output if it fails; return stdout + stderr."""
    done = subprocess.run(args, cwd=cwd, env=env or _env(), capture_output=True, text=True)
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{' '.join(args)} failed in {cwd}:\n{output}"
    return output


def dvc(cwd: Path, *args: str, env: dict | None = None) -> str:
    return run(cwd, DVC, *args, env=env)


def lock_outs(project: Path, stages: set[str] | None = None) -> list[str]:
    """Every output dvc.lock records (cached outs, metrics, plots), of the given stages or all."""
    lock = yaml.safe_load((project / "dvc.lock").read_text())["stages"]
    return sorted(out["path"] for name, stage in lock.items() if stages is None or name in stages
                  for out in stage.get("outs", []))


def snapshot(project: Path, outs: list[str]) -> dict[str, str]:
    """sha256 of every file of the given outputs (directories expanded), by path."""
    digests = {}
    for out in outs:
        root = project / out
        for path in sorted([root] if root.is_file() else (p for p in root.rglob("*") if p.is_file())):
            digests[str(path.relative_to(project))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


def clone(source: Path, tmp_path: Path, name: str = "teammate") -> Path:
    target = tmp_path / name
    run(tmp_path, "git", "clone", "-q", str(source), str(target))
    return target


def env_without_python(tmp_path: Path, **extra: str) -> dict:
    """An environment in which any stage command (`python stages/...`) fails loudly."""
    stub = tmp_path / "no-python"
    stub.mkdir(exist_ok=True)
    for name in ("python", "python3"):
        (stub / name).write_text("#!/bin/sh\necho 'a stage ran in the clone' >&2\nexit 97\n")
        (stub / name).chmod(0o755)
    env = _env()
    return {**env, "PATH": str(stub) + os.pathsep + env["PATH"], **extra}


def commit(project: Path, message: str, *paths: str) -> None:
    run(project, "git", "add", *(paths or ["-A"]))
    run(project, "git", "commit", "-q", "-m", message)


@pytest.fixture(scope="module")
def shared(tmp_path_factory, tiny_model):
    """Project A: the whole (tiny) pipeline run once and committed; its outputs' digests."""
    project = make_project(tmp_path_factory, tiny_model)
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["corpus"]["max_segments"] = 6  # smaller still than test_pipeline's: fewer tokens per stage
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert repro(project) == set(dvc(project, "stage", "list", "--name-only").split())
    run(project, "git", "config", "user.email", "test@example.com")
    run(project, "git", "config", "user.name", "test")
    commit(project, "tiny run")
    outs = lock_outs(project)
    assert {"models/base", "models/forward/2", "data/candidates.jsonl", "data/scores/2.jsonl",
            "data/train/2.jsonl", "metrics/forward/2.json"} <= set(outs)
    return project, snapshot(project, outs)


def assert_restored_without_running(shared, teammate: Path, log: str) -> None:
    project, digests = shared
    assert "Running stage" not in log, log
    assert snapshot(teammate, lock_outs(teammate)) == digests
    assert (teammate / "dvc.lock").read_bytes() == (project / "dvc.lock").read_bytes()
    # And DVC agrees that the clone is up to date.
    assert "up to date" in dvc(teammate, "status", env=env_without_python(teammate.parent))


def test_local_folder_remote_gives_a_clone_every_artifact_without_running_a_stage(shared, tmp_path):
    project, _ = shared
    storage = tmp_path / "storage"
    dvc(project, "remote", "add", "-d", "-f", "shared", str(storage))
    commit(project, "local folder remote", ".dvc/config")
    dvc(project, "push")
    assert any(storage.rglob("*")), "dvc push wrote nothing to the remote"

    teammate = clone(project, tmp_path)
    env = env_without_python(tmp_path)
    log = dvc(teammate, "pull", env=env)
    log += dvc(teammate, "repro", env=env)
    assert "Data and pipelines are up to date" in log, log
    assert_restored_without_running(shared, teammate, log)


@pytest.fixture
def s3_server():
    """A real S3 API over HTTP on 127.0.0.1 (moto in server mode), with an empty bucket."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id=AWS_KEY_ID,
                 aws_secret_access_key=AWS_SECRET).create_bucket(Bucket="humpback")
    yield url
    server.stop()


def test_s3_remote_gives_a_clone_every_artifact_and_keeps_credentials_out_of_git(
        shared, tmp_path, s3_server):
    import boto3

    project, _ = shared
    # Credentials come from the environment of each `dvc` call, never from the repository.
    # Empty AWS config files: nothing from this machine's ~/.aws takes part.
    (tmp_path / "aws-config").write_text("")
    aws = {"AWS_ACCESS_KEY_ID": AWS_KEY_ID, "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
           "AWS_CONFIG_FILE": str(tmp_path / "aws-config"),
           "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "aws-config")}
    dvc(project, "remote", "add", "-d", "-f", "s3", "s3://humpback/dvc")
    dvc(project, "remote", "modify", "s3", "endpointurl", s3_server)
    commit(project, "S3 remote", ".dvc/config")
    dvc(project, "push", env={**_env(), **aws})
    objects = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1",
                           aws_access_key_id=AWS_KEY_ID, aws_secret_access_key=AWS_SECRET
                           ).list_objects_v2(Bucket="humpback", Prefix="dvc/")
    assert objects["KeyCount"] > 0

    teammate = clone(project, tmp_path)
    log = dvc(teammate, "repro", "--pull", env=env_without_python(tmp_path, **aws))
    assert_restored_without_running(shared, teammate, log)

    for repo in (project, teammate):
        assert s3_server in (repo / ".dvc/config").read_text()
        history = run(repo, "git", "log", "--all", "-p")
        assert AWS_KEY_ID not in history and AWS_SECRET not in history
        for path in (repo / ".dvc").glob("config*"):
            text = path.read_text()
            assert AWS_KEY_ID not in text and AWS_SECRET not in text, path


def test_pushed_run_cache_restores_a_params_change_in_a_clone_instead_of_recomputing(
        shared, tmp_path):
    project, digests = shared
    storage = tmp_path / "storage"
    dvc(project, "remote", "add", "-d", "-f", "shared", str(storage))
    commit(project, "local folder remote", ".dvc/config")
    dvc(project, "push")
    committed_params = (project / "params.yaml").read_text()
    env = env_without_python(tmp_path)

    def teammate_tries(name: str) -> subprocess.CompletedProcess:
        """A teammate on the committed state makes the same edit and runs `dvc repro --pull`."""
        teammate = clone(project, tmp_path, name)
        assert (teammate / "params.yaml").read_text() == committed_params
        (teammate / "params.yaml").write_text(changed_params)
        return subprocess.run([DVC, "repro", "--pull", "forward@2"], cwd=teammate, env=env,
                              capture_output=True, text=True)

    try:
        # A tries a stricter curation: keep the better half of iteration 1's and 2's candidates,
        # up to M_2 (the evaluation stages downstream would only add minutes to this test).
        # The edit is not committed: only its results and their run records are pushed.
        params = yaml.safe_load(committed_params)
        params["curate"]["top_fraction"] = 0.5
        changed_params = yaml.safe_dump(params, sort_keys=False)
        (project / "params.yaml").write_text(changed_params)
        changed = {"curate@1", "rewrite@1", "forward@1", "score@2", "curate@2", "rewrite@2",
                   "forward@2"}
        assert repro(project, "forward@2") == changed  # computed for real in A
        up_to_m2 = changed | {"base", "seed", "corpus", "backward", "augment", "forward@0", "score@1"}
        expected = snapshot(project, lock_outs(project, up_to_m2))
        for path in ("data/curated/1.jsonl", "data/train/2.jsonl",
                     "models/forward/2/adapter_model.safetensors"):
            assert expected[path] != digests[path]

        # DVC 3's `dvc push --run-cache` alone is not enough: it uploads the run records but not
        # the `cache: false` metrics they name, so the teammate's restore fails and the stage runs.
        dvc(project, "push", "--run-cache")
        tried = teammate_tries("plain-push")
        assert tried.returncode != 0
        assert "Missing cache files" in tried.stderr + tried.stdout
        assert "a stage ran in the clone" in tried.stderr + tried.stdout

        # `humpback push --run-cache` uploads the records and every file they name: now every
        # changed stage is found in the run-cache (same command, deps and params) and checked out.
        run(project, HUMPBACK, "push", "--run-cache")
        tried = teammate_tries("teammate")
        log = tried.stdout + tried.stderr
        assert tried.returncode == 0, log
        for stage in changed:
            assert f"Stage '{stage}' is cached - skipping run, checking out outputs" in log, log
        assert "Running stage" not in log, log
        teammate = tmp_path / "teammate"
        assert snapshot(teammate, lock_outs(teammate, up_to_m2)) == expected
        assert (teammate / "dvc.lock").read_bytes() == (project / "dvc.lock").read_bytes()
    finally:
        # Put A back to its committed state for the other tests.
        run(project, "git", "checkout", "HEAD", "--", ".")
        dvc(project, "checkout", "--force")
        assert snapshot(project, lock_outs(project)) == digests


def test_humpback_push_can_leave_the_bulky_intermediates_out(shared, tmp_path):
    project, _ = shared
    storage = tmp_path / "lean"
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["storage"]["push_intermediates"] = False
    try:
        (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        dvc(project, "remote", "add", "-f", "lean", str(storage))
        log = run(project, HUMPBACK, "push", "-r", "lean")
        assert "intermediate outputs left out" in log, log
        lock = yaml.safe_load((project / "dvc.lock").read_text())["stages"]
        md5 = {out["path"]: out["md5"] for stage in lock.values() for out in stage.get("outs", [])}

        def in_remote(path: str) -> bool:
            digest = md5[path]
            return (storage / "files" / "md5" / digest[:2] / digest[2:]).exists()
        for left_out in ("models/base", "data/candidates.jsonl", "data/scores/1.jsonl"):
            assert not in_remote(left_out), left_out
        for pushed in ("models/forward/2", "models/backward", "data/curated/1.jsonl",
                       "data/train/2.jsonl", "data/eval/answers/2.json"):
            assert in_remote(pushed), pushed
    finally:
        run(project, "git", "checkout", "HEAD", "--", ".")
