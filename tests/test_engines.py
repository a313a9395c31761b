"""Both engines behind the one generation interface, on the tiny model: both scoring modes."""

import dataclasses

import pytest

from conftest import ROOT, needs_vllm
from humpback.config import load_params
from humpback.generation import load_engine
from humpback.prompts import load_template
from humpback.scoring import score_candidates

PARAMS = load_params(ROOT / "params.yaml")
CANDIDATES = [{"id": f"c{i}", "instruction": f"Question {i}?", "output": f"Answer {i}. Score: 5"}
              for i in range(3)]


@pytest.fixture(scope="module", params=["hf", pytest.param("vllm", marks=needs_vllm)])
def engine(request, tiny_model):
    engine_params = dataclasses.replace(PARAMS.engine, backend=request.param, cpu_kvcache_gb=1)
    engine = load_engine(engine_params, tiny_model, None, batch_size=2)
    yield engine
    if request.param == "vllm":  # stop vLLM's engine process now, not at interpreter exit
        engine.llm.llm_engine.engine_core.shutdown()


def rubric():
    return load_template(ROOT / "prompts/score.txt", {"instruction", "output"})


def test_logprob_scores(engine):
    records = score_candidates(engine, rubric(), CANDIDATES, PARAMS.score, seed=0)
    assert [r["id"] for r in records] == ["c0", "c1", "c2"]
    for r in records:
        assert len(r["probs"]) == 5 and 1 <= r["score"] <= 5 and 1 <= r["most_likely"] <= 5


def test_generate_mode_with_several_samples(engine):
    params = dataclasses.replace(PARAMS.score, mode="generate", samples=2, temperature=0.8,
                                 max_new_tokens=6)
    records = score_candidates(engine, rubric(), CANDIDATES, params, seed=0)
    for r in records:
        assert len(r["ratings"]) == 2 and len(r["rating_texts"]) == 2
        parsed = [x for x in r["ratings"] if x is not None]
        assert r["score"] == (round(sum(parsed) / len(parsed), 4) if parsed else None)
    assert records == score_candidates(engine, rubric(), CANDIDATES, params, seed=0)
