"""The HF engine and the held-out NLL on a GPU agree with the CPU (run where torch sees a GPU;
skipped elsewhere). Both run the tiny model in fp32 on the same inputs, so they differ only by
the kernels' order of floating-point operations: agreement within 1e-4 (probabilities) and
1e-3 nats (log-probabilities, NLL) is that noise, while any real fault (a tensor left on the
wrong device, a padding or position mix-up) moves them by whole units."""

import dataclasses

import pytest
import torch

from conftest import ROOT
from humpback.config import load_params
from humpback.engines import EngineSpec, Sampling, load_engine
from humpback.engines.hf import HFEngine, resolve_device
from humpback.evaluation import mean_nll, reference_losses
from humpback.models import load_for_inference, load_tokenizer
from humpback.prompts import chat_prompt

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU")]

PAIRS = [("Say hi.", "Hello there!"), ("Name a colour.", "Blue, like the sky at noon."),
         ("Count to three.", "One, two, three.")]


def engines(tiny_model):
    """The same tiny model on the CPU and, through the factory with `device: auto`, on the GPU;
    both in fp32 for the comparison."""
    tokenizer = load_tokenizer(tiny_model)
    cpu = HFEngine(load_for_inference(tiny_model).float(), tokenizer, batch_size=2)
    params = dataclasses.replace(load_params(ROOT / "params.yaml").engine, device="auto")
    gpu = load_engine(EngineSpec("hf", str(tiny_model), batch_size=2), params)
    assert resolve_device("auto") == "cuda" and gpu.model.device.type == "cuda"
    gpu.model.float()
    return cpu, gpu


def test_engine_calls_on_the_gpu_agree_with_the_cpu(tiny_model):
    cpu, gpu = engines(tiny_model)
    prompts = [chat_prompt(cpu.tokenizer, user) for user, _ in PAIRS]
    groups = [[i] for i in range(30, 35)]
    assert torch.allclose(torch.tensor(gpu.next_token_probs(prompts, groups)),
                          torch.tensor(cpu.next_token_probs(prompts, groups)), atol=1e-4)
    # greedy text: the tiny model's smallest top-2 logit gap over these 4 steps is 0.002 (measured
    # on the CPU), far above fp32 noise, so the same tokens are expected
    greedy = Sampling(max_new_tokens=4)
    assert gpu.generate(prompts, greedy) == cpu.generate(prompts, greedy)


def test_held_out_nll_on_the_gpu_agrees_with_the_cpu(tiny_model):
    cpu, gpu = engines(tiny_model)
    on_cpu = mean_nll(reference_losses(cpu, PAIRS, max_length=128))
    on_gpu = mean_nll(reference_losses(gpu, PAIRS, max_length=128))
    assert on_gpu["nll_tokens"] == on_cpu["nll_tokens"]
    assert on_gpu["nll"] == pytest.approx(on_cpu["nll"], abs=1e-3)
