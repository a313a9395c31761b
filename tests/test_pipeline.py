"""End to end: the real `dvc repro` in a temporary git repository, on a tiny model."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

pytestmark = pytest.mark.e2e

PROJECT_FILES = ["dvc.yaml", "params.yaml", "stages", "humpback", "prompts", "data/seed.jsonl"]


def tiny_params(project: Path, model_dir: Path, backend: str) -> None:
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["base"].update(model=str(model_dir), dtype="float32")
    params["engine"].update(backend=backend, chunk_size=5, cpu_kvcache_gb=1)
    params["corpus"].update(max_segments=12)
    for section in ("backward", "forward"):
        params[section].update(steps=2, batch_size=4, micro_batch_size=2, max_length=128)
    params["augment"].update(max_new_tokens=8, batch_size=4)
    params["score"].update(batch_size=4)
    params["curate"].update(min_score=1.0, top_fraction=None)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def make_project(tmp_path_factory, tiny_model, backend="hf") -> Path:
    project = tmp_path_factory.mktemp("project")
    for name in PROJECT_FILES:
        source, target = ROOT / name, project / name
        target.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if source.is_dir() else shutil.copy)(source, target)
    tiny_params(project, tiny_model, backend)
    for cmd in (["git", "init", "-q"], ["dvc", "init", "-q"]):
        subprocess.run(cmd, cwd=project, check=True, env=_env())
    return project


@pytest.fixture(scope="module")
def project(tmp_path_factory, tiny_model) -> Path:
    return make_project(tmp_path_factory, tiny_model)


def _env() -> dict:
    bin_dir = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": bin_dir + os.pathsep + os.environ["PATH"],
            "DVC_NO_ANALYTICS": "1"}


def repro(project: Path, *targets: str, force: bool = False) -> set[str]:
    """Run the real `dvc repro`; return the names of the stages that actually ran."""
    from dvc.repo import Repo

    old_path, old_cwd = os.environ["PATH"], os.getcwd()
    os.environ["PATH"] = _env()["PATH"]  # stages run `python`: the one running the tests
    os.chdir(project)
    try:
        with Repo(".") as repo:
            ran = repo.reproduce(*targets, run_cache=False, force=force, single_item=force)
            return {stage.addressing for stage in ran}
    finally:
        os.environ["PATH"] = old_path
        os.chdir(old_cwd)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_full_loop_then_only_curation_downstream_reruns(project):
    ran = repro(project)
    assert ran == {"base", "seed", "corpus", "backward", "augment", "forward@0", "forward@1",
                   "forward@2", "score@1", "score@2", "curate@1", "curate@2"}

    segments = read_jsonl(project / "data/corpus.jsonl")
    candidates = read_jsonl(project / "data/candidates.jsonl")
    assert 0 < len(candidates) <= len(segments) == 12
    assert {c["id"] for c in candidates} <= {s["id"] for s in segments}
    for t in (1, 2):
        scores = read_jsonl(project / f"data/scores/{t}.jsonl")
        assert [s["id"] for s in scores] == [c["id"] for c in candidates]
        assert all(1 <= s["score"] <= 5 and abs(sum(s["probs"]) - s["digit_mass"]) < 1e-3
                   for s in scores)
        curated = read_jsonl(project / f"data/curated/{t}.jsonl")
        train = read_jsonl(project / f"data/train/{t}.jsonl")
        assert len(curated) == len(candidates)  # min_score 1 keeps every rated candidate
        assert len(train) == len(read_jsonl(project / "data/train/0.jsonl")) + len(curated)
    for model in ("backward", "forward/0", "forward/1", "forward/2"):
        files = {p.name for p in (project / "models" / model).iterdir()}
        assert {"adapter_model.safetensors", "adapter_config.json"} <= files
        assert not any(name.endswith((".bin", ".pt")) for name in files)
    metrics = json.loads((project / "metrics/score/1.json").read_text())
    assert metrics["candidates"] == len(candidates) and sum(metrics["histogram"].values()) == len(candidates)
    assert json.loads((project / "metrics/forward/1.json").read_text())["augmented_pairs"] == len(candidates)
    assert (project / "plots/loss/forward-2.csv").read_text().startswith("step,loss\n")

    # Same params, same seed: re-running generation, scoring and curation gives the same bytes.
    made = ["data/candidates.jsonl", "data/scores/1.jsonl", "data/curated/1.jsonl"]
    before = [(project / path).read_bytes() for path in made]
    for stage in ("augment", "score@1", "curate@1"):
        assert repro(project, stage, force=True) == {stage}
    assert [(project / path).read_bytes() for path in made] == before

    # Raise the curation threshold just above the lowest score of iteration 1: exactly curation
    # and what depends on it re-runs.
    scores = sorted(s["score"] for s in read_jsonl(project / "data/scores/1.jsonl"))
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["curate"]["min_score"] = min(s for s in scores if s > scores[0])
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert repro(project) == {"curate@1", "forward@1", "score@2", "curate@2", "forward@2"}
    assert len(read_jsonl(project / "data/curated/1.jsonl")) < len(candidates)

    assert repro(project) == set()

    # A third iteration in params adds its three stages and re-runs nothing else.
    params["models"].append(3)
    params["iterations"]["3"] = 2
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert repro(project) == {"score@3", "curate@3", "forward@3"}


def test_augment_and_score_through_the_real_vllm_engine(tmp_path_factory, tiny_model):
    project = make_project(tmp_path_factory, tiny_model, backend="vllm")
    assert repro(project, "score@1") == {"base", "seed", "corpus", "backward", "augment",
                                         "forward@0", "score@1"}
    candidates = read_jsonl(project / "data/candidates.jsonl")
    scores = read_jsonl(project / "data/scores/1.jsonl")
    assert [s["id"] for s in scores] == [c["id"] for c in candidates] and len(candidates) > 0
    assert all(1 <= s["score"] <= 5 for s in scores)
    for stage in ("augment", "score/1"):
        assert json.loads((project / f"metrics/{stage}.json").read_text())["backend"] == "vllm"
    assert not (project / "models/forward/0/model.safetensors").exists()  # adapters, not merged
