"""Every backend behind the one engine interface, on the tiny model: both scoring modes and the
per-token log-likelihood; the package's import graph."""

import dataclasses
import math

import pytest
import torch

from conftest import ROOT, needs_vllm
from humpback.code import _imported_modules
from humpback.config import load_params
from humpback.engines import EngineSpec, load_engine
from humpback.prompts import chat_example, load_template
from humpback.scoring import score_candidates

PARAMS = load_params(ROOT / "params.yaml")
CANDIDATES = [{"id": f"c{i}", "instruction": f"Question {i}?", "output": f"Answer {i}. Score: 5"}
              for i in range(3)]
PAIRS = [("Say hi.", "Hello there!"), ("Name a colour.", "Blue, like the sky at noon."),
         ("Count to three.", "One, two, three.")]


@pytest.fixture(scope="module", params=["hf", pytest.param("vllm", marks=needs_vllm)])
def engine(request, tiny_model):
    engine_params = dataclasses.replace(PARAMS.engine, backend=request.param, cpu_kvcache_gb=1)
    engine = load_engine(EngineSpec(request.param, str(tiny_model), batch_size=2), engine_params)
    yield engine
    engine.close()  # vLLM: stop its engine process now, not at interpreter exit


def rubric():
    return load_template(ROOT / "prompts/score.txt", {"instruction", "output"})


def test_logprob_scores(engine):
    params = dataclasses.replace(PARAMS.score, mode="logprob")
    records = score_candidates(engine, rubric(), CANDIDATES, params, seed=0)
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


def test_likelihood_scores_are_the_gain_from_the_instruction(engine):
    """likelihood mode: mean log-probability per output token after the instruction, minus the
    same after an empty user turn; IFD is exp(-score). Computed here from the engine's own
    per-token log-likelihoods, on the same tokens as training."""
    params = dataclasses.replace(PARAMS.score, mode="likelihood")
    records = score_candidates(engine, rubric(), CANDIDATES, params, seed=0)
    for c, r in zip(CANDIDATES, records):
        given, alone = engine.token_logprobs([chat_example(engine.tokenizer, c["instruction"],
                                                           c["output"]),
                                              chat_example(engine.tokenizer, "", c["output"])])
        expected = sum(given) / len(given) - sum(alone) / len(alone)
        assert r["id"] == c["id"] and r["score"] == pytest.approx(expected, abs=1e-3)
        assert r["ifd"] == pytest.approx(math.exp(-r["score"]), rel=1e-3)
        assert r["output_tokens"] == len(given)
    assert records == score_candidates(engine, rubric(), CANDIDATES, params, seed=0)


def test_token_logprobs_score_each_continuation_token(engine):
    examples = [chat_example(engine.tokenizer, user, answer) for user, answer in PAIRS]
    logprobs = engine.token_logprobs(examples)
    for (_, continuation), scores in zip(examples, logprobs):
        assert len(scores) == len(engine.tokenizer.encode(continuation, add_special_tokens=False))
        assert all(s <= 0 and math.isfinite(s) for s in scores)
    # Batched or alone, cut to a length or not: the same numbers for the tokens kept.
    assert engine.token_logprobs(examples[1:2])[0] == pytest.approx(logprobs[1], abs=1e-4)
    context = len(engine.tokenizer.encode(examples[0][0], add_special_tokens=False))
    (cut,) = engine.token_logprobs(examples[:1], max_length=context + 2)
    assert cut == pytest.approx(logprobs[0][:2], abs=1e-4)


@needs_vllm
def test_backends_agree_on_the_log_likelihood(tiny_model):
    """vLLM and transformers on the same bf16 weights: the same tokens scored, the same
    log-probabilities within bf16 rounding (measured: at most ~0.03 nats apart here)."""
    results = {}
    for backend in ("hf", "vllm"):
        params = dataclasses.replace(PARAMS.engine, backend=backend, cpu_kvcache_gb=1)
        engine = load_engine(EngineSpec(backend, str(tiny_model), batch_size=2,
                                        dtype="bfloat16"), params)
        try:
            examples = [chat_example(engine.tokenizer, user, answer) for user, answer in PAIRS]
            results[backend] = engine.token_logprobs(examples)
        finally:
            engine.close()
    for hf, vllm in zip(results["hf"], results["vllm"]):
        assert len(hf) == len(vllm) > 0
        assert hf == pytest.approx(vllm, abs=0.1)


def test_the_engine_package_has_no_import_cycle():
    """Backends import the interface (base.py); only the factory imports backends."""
    package = ROOT / "humpback"
    graph = {}
    for file in package.rglob("*.py"):
        module = ".".join(file.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        graph[module] = {name for name in _imported_modules(file, ROOT) if name != module}
    modules = set(graph)
    graph = {m: {n for n in deps if n in modules} for m, deps in graph.items()}

    def reachable(start):
        seen, todo = set(), list(graph[start])
        while todo:
            module = todo.pop()
            if module not in seen:
                seen.add(module)
                todo += graph[module]
        return seen

    cycles = sorted(m for m in graph if m in reachable(m))
    assert cycles == []
    assert not any(n.startswith("humpback.engines.") for n in graph["humpback.engines.base"])


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message given without a GPU")
def test_a_gpu_asked_for_where_there_is_none_is_named():
    from humpback.config import ParamsError
    from humpback.engines.hf import resolve_device

    assert resolve_device("auto") == "cpu" and resolve_device("cpu") == "cpu"
    with pytest.raises(ParamsError, match=r"^engine\.device: cuda:1, but torch sees no CUDA GPU"):
        resolve_device("cuda:1")


def test_swapped_pairs_in_likelihood_mode_reuse_the_genuine_pass(engine):
    """The rater check scores a swapped pair given its instruction only and takes its output's
    own log-likelihood from the genuine candidate's record: the same score as scoring the
    swapped pair in full."""
    from humpback import rater_check

    params = dataclasses.replace(PARAMS.score, mode="likelihood")
    genuine = score_candidates(engine, rubric(), CANDIDATES, params, seed=0)
    swapped = rater_check.swapped(CANDIDATES)
    half = score_candidates(engine, rubric(), swapped, params, seed=0, swapped=True)
    assert all(r["score"] is None and "logprob_alone" not in r for r in half)
    full = [r["score"] for r in score_candidates(engine, rubric(), swapped, params, seed=0)]
    assert rater_check.swapped_scores(half, {r["id"]: r for r in genuine}) == full


@pytest.mark.parametrize("backend", ["hf", pytest.param("vllm", marks=needs_vllm)])
def test_engines_and_the_trainer_run_the_same_prompt_ids(bos_model, backend):
    """A chat template that writes the BOS itself (Llama 3's does): every engine runs the ids
    training builds, with one BOS, not the tokenizer's second."""
    from tokenisation import check_one_bos, hf_engine_ids, trainer_ids, vllm_engine_ids

    params = dataclasses.replace(PARAMS.engine, backend=backend, cpu_kvcache_gb=1)
    engine = load_engine(EngineSpec(backend, str(bos_model), batch_size=2), params)
    try:
        seen = hf_engine_ids(engine) if backend == "hf" else vllm_engine_ids(engine)
        assert seen == trainer_ids(engine.tokenizer)
        check_one_bos(seen, engine.tokenizer)
    finally:
        engine.close()


def test_target_logprobs_in_chunks_equal_one_full_log_softmax(tiny_model):
    """Likelihood scoring and the NLL project to the vocabulary a chunk of target rows at a
    time: the same values as the former single log-softmax over every target row."""
    from humpback.engines.hf import HFEngine
    from humpback.models import load_for_inference, load_tokenizer

    engine = HFEngine(load_for_inference(tiny_model), load_tokenizer(tiny_model), batch_size=3)
    examples = [chat_example(engine.tokenizer, user, answer) for user, answer in PAIRS]
    whole = engine.token_logprobs(examples)
    engine.logit_chunk_rows = 3  # many chunks, one cut inside a continuation
    for chunked, one in zip(engine.token_logprobs(examples), whole):
        assert chunked == pytest.approx(one, abs=1e-6)
    # today's formula, written out: every target row's logits, one log-softmax
    model, tokenizer = engine.model, engine.tokenizer
    for (context, continuation), got in zip(examples, whole):
        ids = tokenizer(context + continuation, add_special_tokens=False)["input_ids"]
        n = len(tokenizer(continuation, add_special_tokens=False)["input_ids"])
        with torch.inference_mode():
            logits = model(input_ids=torch.tensor([ids])).logits[0, -n - 1:-1].float()
        expected = torch.log_softmax(logits, -1).gather(1, torch.tensor(ids[-n:])[:, None])[:, 0]
        assert got == pytest.approx(expected.tolist(), abs=1e-5)


def test_vllm_cpu_workarounds_stay_on_the_cpu():
    """Chunked prefill off and eager mode are for vLLM's CPU backend; on a GPU vLLM runs as it
    intends (CUDA graphs, chunked prefill), in base.dtype like the HF engine."""
    from humpback.engines.vllm import platform_settings

    auto = PARAMS.engine
    assert auto.enforce_eager == "auto"
    assert platform_settings(auto, "auto", on_cpu=True) == {
        "enforce_eager": True, "enable_chunked_prefill": False, "dtype": "auto"}
    assert platform_settings(auto, "bfloat16", on_cpu=False) == {
        "enforce_eager": False, "dtype": "bfloat16"}
    assert platform_settings(auto, "float32", on_cpu=True)["dtype"] == "auto"  # as before
    forced = dataclasses.replace(auto, enforce_eager=True)
    assert platform_settings(forced, "float32", on_cpu=False)["enforce_eager"] is True
