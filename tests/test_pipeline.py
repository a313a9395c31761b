"""End to end: the real `dvc repro` in a temporary git repository, on a tiny model."""

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from huggingface_hub import DatasetCard, ModelCard

from conftest import ROOT, needs_vllm

pytestmark = pytest.mark.e2e

PROJECT_FILES = ["dvc.yaml", "params.yaml", "stages", "humpback", "prompts", "configs", "data/seed.jsonl",
                 "data/labels.jsonl", "data/sources", "data/hub", "models/sources"]
EVALUATION = {"evaluate@0", "evaluate@1", "evaluate@2", "judge@0", "judge@1", "judge@2", "compare"}


def tiny_params(project: Path, model_dir: str, backend: str) -> None:
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["base"].update(model=model_dir, dtype="float32")
    params["engine"].update(backend=backend, chunk_size=5, cpu_kvcache_gb=1)
    params["corpus"].update(max_segments=12)
    params["train"].update(batch_size=4, micro_batch_size=2, max_length=128)
    for section in ("backward", "forward"):
        params[section].update(steps=2)
    params["augment"].update(max_new_tokens=8, batch_size=4)
    params["score"].update(batch_size=4)
    params["curate"].update(min_score=None, top_fraction=None)  # keep every scored candidate
    params["evaluate"].update(max_new_tokens=8, batch_size=4, nll_max_length=128)
    params["judge"].update(batch_size=4)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def make_project(tmp_path_factory, tiny_model, backend="hf") -> Path:
    project = tmp_path_factory.mktemp("project")
    for name in PROJECT_FILES:
        source, target = ROOT / name, project / name
        target.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if source.is_dir() else shutil.copy)(source, target)
    # a local base model lives under models/sources, which the base stage depends on
    shutil.copytree(tiny_model, project / "models/sources/tiny")
    tiny_params(project, "models/sources/tiny", backend)
    for cmd in (["git", "init", "-q"], ["dvc", "init", "-q"]):
        subprocess.run(cmd, cwd=project, check=True, env=_env())
    return project


@pytest.fixture(scope="module")
def project(tmp_path_factory, tiny_model) -> Path:
    return make_project(tmp_path_factory, tiny_model)


def _env(project: Path | None = None) -> dict:
    """The environment of a `dvc repro` in `project`: its stages run the `python` running the
    tests and import the project's own copy of humpback (not the installed one)."""
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ["PATH"],
           "DVC_NO_ANALYTICS": "1"}
    if project is not None:
        env["PYTHONPATH"] = str(project)
    return env


def repro(project: Path, *targets: str, force: bool = False) -> set[str]:
    """Run the real `dvc repro`; return the names of the stages that actually ran."""
    from dvc.repo import Repo

    old_env, old_cwd = dict(os.environ), os.getcwd()
    os.environ.update(_env(project))
    os.chdir(project)
    try:
        with Repo(".") as repo:
            ran = repo.reproduce(list(targets) or None, run_cache=False, force=force,
                                 single_item=force)
            return {stage.addressing for stage in ran}
    finally:
        os.environ.clear()
        os.environ.update(old_env)
        os.chdir(old_cwd)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_full_loop_then_only_curation_downstream_reruns(project):
    ran = repro(project)
    assert ran == {"base", "seed", "corpus", "backward", "augment", "forward@0", "forward@1",
                   "forward@2", "score@1", "score@2", "curate@1", "curate@2", "rewrite@1",
                   "rewrite@2"} | EVALUATION

    segments = read_jsonl(project / "data/corpus.jsonl")
    candidates = read_jsonl(project / "data/candidates.jsonl")
    assert 0 < len(candidates) <= len(segments) == 12
    assert {c["id"] for c in candidates} <= {s["id"] for s in segments}
    for t in (1, 2):
        scores = read_jsonl(project / f"data/scores/{t}.jsonl")
        assert [s["id"] for s in scores] == [c["id"] for c in candidates]
        # the default mode, likelihood: the gain in log-likelihood per output token
        assert all(s["score"] == round(s["logprob_given_instruction"] - s["logprob_alone"], 4)
                   and s["output_tokens"] > 0 for s in scores)
        curated = read_jsonl(project / f"data/curated/{t}.jsonl")
        train = read_jsonl(project / f"data/train/{t}.jsonl")
        assert len(curated) == len(candidates)  # no threshold, no fraction: every scored candidate
        assert len(train) == len(read_jsonl(project / "data/train/0.jsonl")) + len(curated)
        # rewriting is off: M_t trains on the curated pairs as they are
        assert (project / f"data/rewritten/{t}.jsonl").read_text() == ""
        assert train[-len(curated):] == curated
        # the rater check: every candidate (12 < score.check_sample) rated again with another's
        # output; the tiny random model cannot tell them apart, and the check says so
        check = json.loads((project / f"metrics/rater/{t}.json").read_text())
        assert check["genuine"] == check["swapped"] == len(candidates)
        assert check["ci_low"] <= check["auc"] <= check["ci_high"]
        assert check == json.loads((project / f"metrics/score/{t}.json").read_text())["rater_check"]
        curve = list(csv.DictReader((project / f"plots/rater/{t}.csv").open()))
        assert curve[0] == {"false_positive_rate": "0.0", "true_positive_rate": "0.0"}
        assert curve[-1] == {"false_positive_rate": "1.0", "true_positive_rate": "1.0"}
    for model in ("backward", "forward/0", "forward/1", "forward/2"):
        files = {p.name for p in (project / "models" / model).iterdir()}
        assert {"adapter_model.safetensors", "adapter_config.json", "README.md"} <= files
        assert not any(name.endswith((".bin", ".pt")) for name in files)
    # Provenance: a model card in every model folder, a data card beside every curated set, as
    # huggingface_hub reads them (the base model here is a local folder: named in the text only).
    card = ModelCard.load(project / "models/forward/1/README.md", ignore_metadata_errors=False)
    assert card.data.library_name == "peft" and "instruction-backtranslation" in card.data.tags
    assert "# M_1: forward model of iteration 1" in card.text
    assert "`models/sources/tiny`" in card.text and card.data.base_model is None
    assert f"curated pairs: {len(candidates)}" in card.text and "learning_rate:" in card.text
    assert "final_loss:" in card.text and "seconds" not in card.text  # no timings: same bytes
    data_card = DatasetCard.load(project / "data/curated/2.md", ignore_metadata_errors=False)
    assert data_card.data.configs == [{"config_name": "default", "data_files": "2.jsonl"}]
    assert f"{len(candidates)} kept of {len(candidates)} candidates" in data_card.text
    assert "M_1 scored" in data_card.text  # the model that rated iteration 2
    assert "mode: likelihood" in data_card.text and "min_chars:" in data_card.text
    metrics = json.loads((project / "metrics/score/1.json").read_text())
    assert metrics["candidates"] == len(candidates) and sum(metrics["histogram"].values()) == len(candidates)
    assert json.loads((project / "metrics/forward/1.json").read_text())["augmented_pairs"] == len(candidates)
    assert (project / "plots/loss/forward-2.csv").read_text().startswith("step,loss\n")

    # Evaluation: answers in alpaca_eval's format, the reference NLL, judging in both orders.
    held_out = read_jsonl(project / "data/seed/eval.jsonl")
    for t in (0, 1, 2):
        answers = json.loads((project / f"data/eval/answers/{t}.json").read_text())
        assert [a["instruction"] for a in answers] == [p["instruction"] for p in held_out]
        assert all(set(a) == {"instruction", "output", "generator"}
                   and a["generator"] == f"humpback-M{t}" for a in answers)
        evaluated = json.loads((project / f"metrics/evaluate/{t}.json").read_text())
        assert evaluated["nll"] > 0 and evaluated["nll_examples"] == len(held_out)
        judged = json.loads((project / f"metrics/judge/{t}.json").read_text())
        opponents = ["vs_reference", "vs_M0"] if t else ["vs_reference"]
        assert [key for key in judged if key.startswith("vs_")] == sorted(opponents)
        for opponent in opponents:
            result = judged[opponent]
            assert result["compared"] == len(held_out)
            assert sum(result[k] for k in ("wins", "ties", "losses", "unparseable")) == 2 * len(held_out)
            assert result["ci_low"] <= result["win_rate"] <= result["ci_high"]
        judgements = read_jsonl(project / f"data/eval/judgements/{t}.jsonl")
        assert len(judgements) == len(opponents) * len(held_out)
    with (project / "plots/iterations.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [row["model"] for row in rows] == ["M_0", "M_1", "M_2"]
    assert [row["curated"] for row in rows] == ["", str(len(candidates)), str(len(candidates))]
    assert [row["rater_auc"] for row in rows][2] == ""  # M_2 rates no iteration
    assert float(rows[0]["rater_auc"]) == json.loads(
        (project / "metrics/rater/1.json").read_text())["auc"]
    for t, row in enumerate(rows):
        assert float(row["nll"]) == json.loads((project / f"metrics/evaluate/{t}.json").read_text())["nll"]

    # Same params, same seed: re-running generation, scoring and curation gives the same bytes.
    made = ["data/candidates.jsonl", "data/scores/1.jsonl", "data/curated/1.jsonl",
            "data/curated/1.md", "models/forward/1/README.md"]
    before = [(project / path).read_bytes() for path in made]
    for stage in ("augment", "score@1", "curate@1", "forward@1"):
        assert repro(project, stage, force=True) == {stage}
    assert [(project / path).read_bytes() for path in made] == before

    # Raise the curation threshold just above the lowest score of iteration 1: exactly curation
    # and what depends on it re-runs.
    scores = sorted(s["score"] for s in read_jsonl(project / "data/scores/1.jsonl"))
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["curate"]["min_score"] = min(s for s in scores if s > scores[0])
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    after_curate_1 = {"curate@1", "rewrite@1", "forward@1", "score@2", "curate@2", "rewrite@2",
                      "forward@2", "evaluate@1", "evaluate@2", "judge@1", "judge@2", "compare"}
    assert repro(project) == after_curate_1
    assert len(read_jsonl(project / "data/curated/1.jsonl")) < len(candidates)

    assert repro(project) == set()

    # Hand labels for these candidates (every other one good): only the comparison re-runs, and
    # it reports the precision and recall of each curated set against them.
    good = {c["id"] for c in candidates[::2]}
    (project / "data/labels.jsonl").write_text("".join(
        json.dumps({"id": c["id"], "instruction": c["instruction"],
                    "label": "good" if c["id"] in good else "bad"}) + "\n" for c in candidates))
    assert repro(project) == {"compare"}
    quality = json.loads((project / "metrics/curation.json").read_text())["curation_quality"]
    for t in ("1", "2"):
        kept_good = sum(c["id"] in good for c in read_jsonl(project / f"data/curated/{t}.jsonl"))
        kept = len(read_jsonl(project / f"data/curated/{t}.jsonl"))
        assert quality[t]["labelled"] == len(candidates)
        assert quality[t]["precision"] == round(kept_good / kept, 4)
        assert quality[t]["recall"] == round(kept_good / len(good), 4)

    # A third iteration in params adds its three stages and re-runs nothing else.
    params["models"].append(3)
    params["iterations"]["3"] = 2
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert repro(project) == {"score@3", "curate@3", "rewrite@3", "forward@3", "evaluate@3",
                              "judge@3", "compare"}

    # Answer rewriting on: exactly the rewrites and what follows them re-run. The tiny random
    # model never ends a reply, so every rewrite runs past its budget: each is caught, counted
    # and left out of training, and M_t trains on the seed pairs alone.
    params["rewrite"].update(enabled=True, max_new_tokens=8)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    ran = repro(project)
    assert ran == {f"{stage}@{t}" for t in (1, 2, 3) for stage in ("rewrite", "forward",
                                                                    "evaluate", "judge")} | {
        "score@2", "score@3", "curate@2", "curate@3", "compare"}
    seed_pairs = read_jsonl(project / "data/train/0.jsonl")
    for t in (1, 2, 3):
        curated = read_jsonl(project / f"data/curated/{t}.jsonl")
        rewritten = read_jsonl(project / f"data/rewritten/{t}.jsonl")
        assert [r["original"] for r in rewritten] == [c["output"] for c in curated]
        assert all(r["dropped"] == "over_budget" for r in rewritten)
        stats = json.loads((project / f"metrics/rewrite/{t}.json").read_text())
        assert stats["dropped_over_budget"] == len(curated) and stats["kept"] == 0
        assert [r["instruction"] for r in read_jsonl(project / f"data/train/{t}.jsonl")] == [
            p["instruction"] for p in seed_pairs]


@needs_vllm
def test_augment_and_score_through_the_real_vllm_engine(tmp_path_factory, tiny_model):
    project = make_project(tmp_path_factory, tiny_model, backend="vllm")
    assert repro(project, "score@1", "evaluate@0") == {"base", "seed", "corpus", "backward",
                                                       "augment", "forward@0", "score@1",
                                                       "evaluate@0"}
    candidates = read_jsonl(project / "data/candidates.jsonl")
    scores = read_jsonl(project / "data/scores/1.jsonl")
    assert [s["id"] for s in scores] == [c["id"] for c in candidates] and len(candidates) > 0
    # likelihood mode (the default) on vLLM's prompt log-probabilities
    assert all(s["score"] == round(s["logprob_given_instruction"] - s["logprob_alone"], 4)
               for s in scores)
    for stage in ("augment", "score/1", "evaluate/0"):
        assert json.loads((project / f"metrics/{stage}.json").read_text())["backend"] == "vllm"
    evaluated = json.loads((project / "metrics/evaluate/0.json").read_text())
    assert evaluated["nll"] > 0 and evaluated["nll_examples"] == len(
        read_jsonl(project / "data/seed/eval.jsonl"))
    assert not (project / "models/forward/0/model.safetensors").exists()  # adapters, not merged
