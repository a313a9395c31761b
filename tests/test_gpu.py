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
    gpu = load_engine(EngineSpec("hf", str(tiny_model), batch_size=2, dtype="float32"), params)
    assert resolve_device("auto") == "cuda" and gpu.model.device.type == "cuda"
    assert gpu.model.dtype == torch.float32
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


# --- base.dtype: auto on the GPU (bf16), LoRA merged there, one tokenisation, DDP over NCCL ---

def test_auto_runs_the_engine_in_bf16_on_the_gpu(tiny_model):
    """base.dtype: auto is bf16 on a GPU with bf16: the same NLL as fp32 on the CPU within bf16
    rounding (8 bits of mantissa: a few hundredths of a nat on this tiny model)."""
    if not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bf16")
    cpu, _ = engines(tiny_model)
    params = dataclasses.replace(load_params(ROOT / "params.yaml").engine, device="auto")
    gpu = load_engine(EngineSpec("hf", str(tiny_model), batch_size=2), params)
    assert gpu.model.dtype == torch.bfloat16
    on_cpu = mean_nll(reference_losses(cpu, PAIRS, max_length=128))
    on_gpu = mean_nll(reference_losses(gpu, PAIRS, max_length=128))
    assert on_gpu["nll_tokens"] == on_cpu["nll_tokens"]
    assert on_gpu["nll"] == pytest.approx(on_cpu["nll"], abs=0.05)
    prompts = [chat_prompt(cpu.tokenizer, user) for user, _ in PAIRS]
    assert len(gpu.generate(prompts, Sampling(max_new_tokens=4, temperature=0.7, top_p=0.9))) == 3


def test_a_lora_adapter_merged_on_the_gpu_scores_as_on_the_cpu(tiny_model, tmp_path):
    """An adapter trained here, merged into the base on the GPU (fp32, and bf16 for auto):
    the same log-likelihoods as merged on the CPU."""
    from humpback.config import TrainParams
    from humpback.training import train

    params = TrainParams(method="lora", steps=2, batch_size=2, micro_batch_size=2,
                         learning_rate=1e-2, final_lr_fraction=0.9, weight_decay=0.0, dropout=0.0,
                         max_length=64, lora_r=8, lora_alpha=16, lora_target_modules=["all-linear"],
                         lora_top_layers=None, checkpoint_every=None, device="cpu")
    train(tiny_model, PAIRS, params, seed=0, out_dir=tmp_path / "adapter")
    tokenizer = load_tokenizer(tiny_model)
    examples = [(chat_prompt(tokenizer, user), answer) for user, answer in PAIRS]
    cpu = HFEngine(load_for_inference(tiny_model, tmp_path / "adapter"), tokenizer, 2)
    gpu = HFEngine(load_for_inference(tiny_model, tmp_path / "adapter", device="cuda",
                                      dtype="float32"), load_tokenizer(tiny_model), 2)
    for a, b in zip(cpu.token_logprobs(examples), gpu.token_logprobs(examples)):
        assert a == pytest.approx(b, abs=1e-3)
    merged = load_for_inference(tiny_model, tmp_path / "adapter", device="cuda")
    assert merged.dtype == (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32)
    assert not any("lora" in name for name, _ in merged.named_parameters())


def test_the_engine_and_the_trainer_run_the_same_ids_on_the_gpu(bos_model):
    from tokenisation import check_one_bos, hf_engine_ids, trainer_ids

    params = dataclasses.replace(load_params(ROOT / "params.yaml").engine, device="cuda")
    engine = load_engine(EngineSpec("hf", str(bos_model), batch_size=2), params)
    seen = hf_engine_ids(engine)
    assert seen == trainer_ids(engine.tokenizer)
    check_one_bos(seen, engine.tokenizer)


def test_lora_training_holds_the_base_in_bf16_on_the_gpu(tiny_model):
    """base.dtype: auto on a GPU: the frozen base in bf16, the adapter in fp32, bf16 autocast;
    the first loss within 3 % of fp32 on the CPU."""
    from humpback.config import TrainParams
    from humpback.models import load_for_training
    from humpback.training import _prepare, train

    if not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bf16")
    params = TrainParams(method="lora", steps=2, batch_size=2, micro_batch_size=1,
                         learning_rate=1e-3, final_lr_fraction=0.9, weight_decay=0.0, dropout=0.0,
                         max_length=64, lora_r=8, lora_alpha=16, lora_target_modules=["all-linear"],
                         lora_top_layers=None, checkpoint_every=None)
    model = _prepare(load_for_training(tiny_model, False, "auto", "cuda"), params)
    dtypes = {(p.requires_grad, p.dtype) for p in model.parameters()}
    assert dtypes == {(False, torch.bfloat16), (True, torch.float32)}
    import tempfile

    with tempfile.TemporaryDirectory() as out:
        on_gpu = train(tiny_model, PAIRS, params, seed=0, out_dir=out)
        on_cpu = train(tiny_model, PAIRS, dataclasses.replace(params, device="cpu"), seed=0,
                       out_dir=out)
    assert (on_gpu["device"], on_gpu["mixed_precision"]) == ("cuda", "bf16")
    assert on_gpu["losses"][0] == pytest.approx(on_cpu["losses"][0], rel=3e-2)


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs 2 GPUs")
def test_two_gpus_over_nccl_train_the_adapter_one_gpu_trains(tiny_model, tmp_path):
    """torchrun, 2 processes, NCCL: the same fp32 adapter as one GPU, within reduction order."""
    import subprocess
    import sys

    from safetensors.torch import load_file

    script = ROOT / "tests" / "gpu_ddp.py"
    subprocess.run([sys.executable, str(script), str(tiny_model), str(tmp_path / "one")],
                   check=True, timeout=300)
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                    "--master_port", "29533", str(script), str(tiny_model), str(tmp_path / "two")],
                   check=True, timeout=300)
    one, two = (load_file(tmp_path / n / "adapter_model.safetensors") for n in ("one", "two"))
    assert max((one[k] - two[k]).abs().max().item() for k in one) < 1e-4
