"""`engine.executor: ray` under the real `dvc repro`: on a two-node Ray cluster started here as
separate `ray start` processes, on a Ray the stage starts itself, with a replica and the driver
killed mid-run. Every time, the output is the same bytes as the local executor's."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from conftest import ROOT
from ray_cluster import TOKEN_AUTH, RayCluster, alive, descendants
from test_pipeline import _env, make_project, repro

pytestmark = [pytest.mark.e2e, pytest.mark.ray]
pytest.importorskip("ray")

OUTPUTS = ["data/candidates.jsonl", "data/scores/1.jsonl"]


@pytest.fixture(scope="module", autouse=True)
def ray_environment(tmp_path_factory):
    """Every Ray process these tests start (nodes, and Ray started by a stage) authenticates
    with a token from the environment and keeps its files in a folder of its own: nothing goes
    to ~/.ray or /tmp/ray, which other Ray users of this machine share."""
    temp = tempfile.mkdtemp(prefix="hb-ray-", dir="/tmp")  # short: Ray's socket paths must be
    settings = {**TOKEN_AUTH, "RAY_TMPDIR": temp}
    saved = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="module")
def project(tmp_path_factory, tiny_model) -> Path:
    """A tiny project run up to score@1 with the local executor; `local/` keeps its outputs."""
    project = make_project(tmp_path_factory, tiny_model)
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["engine"]["chunk_size"] = 2  # 6 chunks of 2 segments: work for every replica
    params["augment"]["max_new_tokens"] = 24
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    repro(project, "score@1")
    for output in OUTPUTS:
        target = project / "local" / output
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(project / output, target)
    return project


@pytest.fixture(scope="module")
def cluster():
    cluster = RayCluster(workers=1, cpus_per_node=1)
    yield cluster
    assert cluster.stop() == []  # every process the cluster started has ended


def use_ray(project: Path, **ray) -> None:
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["engine"]["executor"] = "ray"
    params["engine"]["ray"].update(ray)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def same_as_local(project: Path, outputs=OUTPUTS) -> bool:
    return all((project / o).read_bytes() == (project / "local" / o).read_bytes() for o in outputs)


def metrics(project: Path, stage: str) -> dict:
    return json.loads((project / f"metrics/{stage}.json").read_text())


def start_repro(project: Path, stage: str, log: str) -> subprocess.Popen:
    dvc = Path(sys.executable).parent / "dvc"
    return subprocess.Popen([dvc, "repro", "--force", "--single-item", stage], cwd=project,
                            env=_env(project), stdout=(project / log).open("w"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def wait_for(condition, process: subprocess.Popen, log: Path, seconds: float = 300):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        found = condition()
        if found:
            return found
        time.sleep(0.005)
    raise AssertionError(f"not seen before the run ended: {log.read_text()[-3000:]}")


def replica_running_a_chunk() -> int | None:
    """The pid of a replica process in the middle of a chunk (Ray titles it by its method)."""
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and Path(f"/proc/{entry}/cmdline").read_bytes().startswith(
                    b"ray::EngineReplica.run"):
                return int(entry)
        except OSError:
            continue
    return None


def test_two_nodes_give_the_local_bytes(project, cluster):
    use_ray(project, address=cluster.address, replicas=2, cpus_per_replica=1)
    # where chunks run is not a param (nothing re-runs by itself): run both again, on the cluster
    assert repro(project, "augment", "score@1", force=True) == {"augment", "score@1"}
    assert same_as_local(project)
    # 12 records in chunks of 2; score also rates the 12 with swapped outputs (the rater check)
    for stage, chunks in (("augment", 6), ("score/1", 12)):
        ran = metrics(project, stage)
        assert ran["executor"] == "ray" and ran["ray"]["replicas"] == 2
        assert ran["shards_computed"] == chunks
    assert metrics(project, "augment")["ray"]["nodes"] == 2  # replicas on both nodes did work
    # nodes started with RAY_worker_niceness=0; a torch thread per CPU a replica holds
    assert metrics(project, "augment")["ray"]["replica_niceness"] == 0
    assert metrics(project, "augment")["ray"]["replica_threads"] == 1
    # The code came with Ray's runtime environment, not from the workspace.
    (shipped,) = {p.parent.name: p for p in cluster.shipped_packages()}.values()
    assert (shipped / "cluster.py").read_bytes() == (project / "humpback/cluster.py").read_bytes()


def test_a_replica_killed_mid_chunk_is_restarted_and_loses_nothing(project, cluster):
    use_ray(project, address=cluster.address, replicas=1, cpus_per_replica=1)
    process = start_repro(project, "augment", "replica-killed.log")
    pid = wait_for(replica_running_a_chunk, process, project / "replica-killed.log")
    os.kill(pid, signal.SIGKILL)
    assert process.wait(timeout=600) == 0, (project / "replica-killed.log").read_text()[-3000:]
    assert same_as_local(project, OUTPUTS[:1])
    ran = metrics(project, "augment")
    assert ran["ray"]["restarted_replicas"] == 1 and ran["shards_computed"] == 6


def test_a_killed_driver_loses_no_finished_chunk(project):
    """address null: the stage starts Ray on this machine, and it dies with the stage."""
    use_ray(project, address=None, replicas=1, cpus_per_replica=1)
    shards = project / ".humpback/shards/data__candidates.jsonl"
    process = start_repro(project, "augment", "driver-killed.log")
    wait_for(lambda: list(shards.rglob("*.jsonl")), process, project / "driver-killed.log")
    started = descendants(process.pid)  # dvc, the stage, the Ray it started, its replica
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    kept = len(list(shards.rglob("*.jsonl")))
    assert len(started) > 3 and not (project / "data/candidates.jsonl").exists()
    deadline = time.monotonic() + 30  # the Ray the stage started goes down with it
    while alive(started) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert alive(started) == set()

    # forced: unforced, DVC would restore the output of the last run with these params from its
    # cache (where chunks run is not a param), which is right for a user but not the point here
    assert repro(project, "augment", force=True) == {"augment"}
    assert same_as_local(project, OUTPUTS[:1])
    ran = metrics(project, "augment")
    assert ran["shards_reused"] >= kept >= 1 and ran["shards_reused"] + ran["shards_computed"] == 6
    assert ran["ray"]["replica_niceness"] == 0  # the Ray a stage starts runs replicas at nice 0


def test_replicas_that_cannot_fit_are_refused_in_one_line(project):
    use_ray(project, address=None, replicas=64, cpus_per_replica=1)
    stage = subprocess.run(
        [sys.executable, "stages/augment.py", "models/base", "models/backward",
         "data/corpus.jsonl", "refused.jsonl", "refused.json"], cwd=project, env=_env(project),
        capture_output=True, text=True, timeout=300)
    assert stage.returncode == 1
    assert re.fullmatch(r"error: engine\.ray\.replicas: 64 replicas of 1 CPU and 0 GPU each need "
                        r"more than the cluster has \(\d+ CPU, 0 GPU\)\n", stage.stderr.splitlines(
                            keepends=True)[-1])


POISON = """
import dataclasses, os, sys
from humpback.chunk_runner import ChunkRunner
from humpback.cluster import ClusterError
from humpback.config import RayParams, load_params
from humpback.engines import Endpoint, EngineSpec

params = dataclasses.replace(load_params(sys.argv[1]).engine, executor="ray", chunk_size=1,
                             ray=RayParams(None, replicas=1, cpus_per_replica=1, gpus_per_replica=0))
spec = EngineSpec("http", endpoint=Endpoint("http://127.0.0.1:9/v1", "none", "NO_KEY"))
runner = ChunkRunner("out.jsonl", spec, params, key=("poison",), desc="poison", unit="record")

def work(engine, chunk, seed):
    if chunk[0]["id"] == "poison":
        os._exit(1)  # the replica's process dies, as on a GPU out of memory
    return [{"id": r["id"], "seed": seed} for r in chunk]

records = [{"id": "fine"}, {"id": "poison"}]
try:
    for _ in runner.map(work, records, total=len(records)):
        pass
except ClusterError as err:
    print(f"error: {err}")
print("kept:", runner.shards.load(0, records[:1]))
"""


def test_a_chunk_that_kills_its_replica_every_time_ends_the_stage_in_one_line(tmp_path):
    """Ray restarts the replica and tries the chunk again, 3 more times, then gives up with a
    message naming the chunk; the chunk finished before it is kept. (An endpoint engine: this is
    about the replica, not the model, and it loads in no time.) In a process of its own, which
    reads Ray's settings from its environment when it starts."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, "-c", POISON, str(ROOT / "params.yaml")], cwd=tmp_path,
                         env=env, capture_output=True, text=True, timeout=600)
    said = [line for line in run.stdout.splitlines() if line.startswith(("error:", "kept:"))]
    assert len(said) == 2, run.stdout[-3000:] + run.stderr[-3000:]
    assert said[0].startswith("error: engine.ray: a replica died 4 times running chunk 1 ")
    assert said[1] == "kept: [{'id': 'fine', 'seed': 0}]"


def test_an_address_where_no_cluster_listens_is_named_at_once(project):
    from ray_cluster import free_port

    use_ray(project, address=f"127.0.0.1:{free_port()}", replicas=1, cpus_per_replica=1)
    start = time.monotonic()
    stage = subprocess.run(
        [sys.executable, "stages/score.py", "models/base", "models/forward/0",
         "data/candidates.jsonl", "refused.jsonl", "refused.json", "refused.csv",
         "refused-rater.json", "refused-rater.csv"], cwd=project,
        env=_env(project), capture_output=True, text=True, timeout=300)
    assert stage.returncode == 1 and time.monotonic() - start < 60
    assert re.fullmatch(r"error: engine\.ray\.address 127\.0\.0\.1:\d+: no Ray cluster answers "
                        r"there \(Connection refused\)\n",
                        stage.stderr.splitlines(keepends=True)[-1]), stage.stderr[-2000:]



PROBE = """
import os, ray
from humpback.cluster import connect, replica_options
from humpback.config import RayParams

class Probe:
    def visible(self):
        return os.environ.get("CUDA_VISIBLE_DEVICES")

settings = RayParams(None, 1, 0.5, 0)
connect(settings)  # as a stage starts Ray here, with the job's runtime env
options = replica_options(settings)
options.pop("max_task_retries")
print(repr(ray.get(ray.remote(Probe).options(**options).remote().visible.remote())))
ray.shutdown()
"""


def test_a_replica_without_gpus_sees_none():
    """Ray sets CUDA_VISIBLE_DEVICES only for actors given GPUs; a replica with
    gpus_per_replica: 0 must not see a GPU node's devices (device: auto would pick GPU 0).
    Run as a stage runs it, in a process of its own that starts Ray."""
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "0"}  # what a GPU node's driver may have
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True,
                         timeout=240, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "''"
