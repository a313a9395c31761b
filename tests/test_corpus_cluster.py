"""The corpus stage's tasks on a Ray cluster (`corpus.executor: ray`): a head and a worker
started as separate `ray start` processes on 127.0.0.1, the real `dvc repro corpus`, the same
bytes as the local run, tasks on both nodes, the code shipped in Ray's runtime environment."""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from ray_cluster import TOKEN_AUTH, RayCluster, free_port
from test_corpus_resume import FILES, dvc_repro, env, make_project

pytestmark = [pytest.mark.e2e, pytest.mark.ray]
pytest.importorskip("ray")


@pytest.fixture(scope="module", autouse=True)
def ray_environment():
    """Ray's files in a folder of its own and a token from the environment (as test_cluster)."""
    temp = tempfile.mkdtemp(prefix="hb-ray-", dir="/tmp")
    settings = {**TOKEN_AUTH, "RAY_TMPDIR": temp}
    saved = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)
    yield
    for name, value in saved.items():
        os.environ.pop(name, None) if value is None else os.environ.__setitem__(name, value)
    shutil.rmtree(temp, ignore_errors=True)


def use_ray(project: Path, address) -> None:
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["corpus"].update(executor="ray", ray_address=address, workers=2)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def test_corpus_tasks_on_two_ray_nodes_give_the_local_bytes(tmp_path):
    project = make_project(tmp_path, workers=1)
    dvc_repro(project)
    local = (project / "data/corpus.jsonl").read_bytes()
    cluster = RayCluster(workers=1, cpus_per_node=1)
    try:
        use_ray(project, cluster.address)
        metrics = dvc_repro(project)
        assert metrics["ray_nodes"] == 2 and metrics["workers"] == 2
        assert metrics["tasks"] == FILES and metrics["tasks_reused"] == 0
        assert (project / "data/corpus.jsonl").read_bytes() == local
        # the code came with Ray's runtime environment, not from the workspace
        assert any((p / "corpus/build.py").read_bytes() ==
                   (project / "humpback/corpus/build.py").read_bytes()
                   for p in cluster.shipped_packages())
    finally:
        assert cluster.stop() == []  # every process the cluster started has ended


def test_an_address_where_no_cluster_listens_is_named_at_once(tmp_path):
    project = make_project(tmp_path, workers=1)
    use_ray(project, f"127.0.0.1:{free_port()}")
    result = subprocess.run([sys.executable, "stages/corpus.py", "data/corpus.jsonl",
                             "metrics/corpus.json"], cwd=project, env=env(project),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert re.fullmatch(r"error: corpus\.ray_address 127\.0\.0\.1:\d+: no Ray cluster answers "
                        r"there \(.*\)", result.stderr.strip())
