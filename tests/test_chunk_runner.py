"""The chunk runner the generation stages share: record streams cut into chunks of their own,
the shards' key (what changes results changes it, where chunks run does not), the engine
settings read through the stage's view of the params, and what its metrics name. An endpoint
engine that is never called: these are about the runner, not a model."""

import dataclasses
import shutil

import pytest

from conftest import ROOT
from humpback.chunk_runner import ChunkRunner
from humpback.config import ParamsError, load_params
from humpback.engines import Endpoint, EngineSpec

ENDPOINT = EngineSpec("http", endpoint=Endpoint("http://127.0.0.1:9/v1", "none", "NO_KEY"))


@pytest.fixture
def engine(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # shards go to .humpback/ here
    return load_params(ROOT / "params.yaml").engine


def runner(engine, spec=ENDPOINT) -> ChunkRunner:
    return ChunkRunner("out.jsonl", spec, engine, key=("test",), desc="test", unit="record")


def echo(engine, chunk, seed):
    return [{"id": r["id"], "seed": seed} for r in chunk]


def test_each_stream_is_cut_into_chunks_of_its_own_numbered_on(engine):
    run = runner(dataclasses.replace(engine, chunk_size=2))
    done = list(run.map(echo, [{"id": i} for i in "abc"], [{"id": "x"}], total=4, seed=7))
    assert [[r["id"] for r in chunk] for chunk, _ in done] == [["a", "b"], ["c"], ["x"]]
    assert [results[0]["seed"] for _, results in done] == [7, 10_007, 20_007]
    stats = run.finish()
    assert (stats["backend"], stats["executor"], stats["shards_computed"]) == ("http", "local", 3)
    assert set(stats) >= {"startup_seconds", "engine_seconds", "shards_reused"}


def test_where_chunks_run_leaves_the_shards_valid_and_what_changes_results_does_not(engine,
                                                                                   tmp_path):
    key = runner(engine).shards.dir
    elsewhere = dataclasses.replace(engine, executor="ray", ray=dataclasses.replace(
        engine.ray, address="auto", replicas=8, cpus_per_replica=4))
    assert runner(elsewhere).shards.dir == key  # a run killed on a cluster resumes here
    assert runner(dataclasses.replace(engine, chunk_size=3)).shards.dir != key
    assert runner(dataclasses.replace(engine, device="cpu")).shards.dir != key
    # a model folder the spec names is hashed by its contents
    model = tmp_path / "models/sources/judge"
    model.mkdir(parents=True)
    (model / "model.safetensors").write_bytes(b"weights")
    spec = EngineSpec("hf", str(model))
    before = runner(engine, spec).shards.dir
    (model / "model.safetensors").write_bytes(b"other weights")
    assert runner(engine, spec).shards.dir != before


def test_every_engine_key_but_where_chunks_run_must_be_a_declared_param(tmp_path, monkeypatch):
    """A stage that leaves a result-affecting engine key out of its params in dvc.yaml is
    refused before any work, naming the key; engine.executor and engine.ray need no listing."""
    monkeypatch.chdir(tmp_path)
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    keys = ["backend", "device", "chunk_size", "tensor_parallel_size", "gpu_memory_utilization",
            "max_num_seqs", "max_model_len", "enforce_eager", "cpu_kvcache_gb"]

    def stage(declared: list[str]):
        listed = "".join(f"      - engine.{key}\n" for key in declared)
        (tmp_path / "dvc.yaml").write_text(f"stages:\n  gen:\n    cmd: python gen.py\n"
                                           f"    params:\n{listed}")
        return load_params(tmp_path / "params.yaml", stage="gen").engine

    run = runner(stage(keys))
    assert (run.params.executor, run.params.ray.replicas) == ("local", 1)
    with pytest.raises(ParamsError, match=r"^stage 'gen' reads params key 'engine\.device', "
                                          r"which its params: in dvc\.yaml do not list"):
        runner(stage([k for k in keys if k != "device"]))
