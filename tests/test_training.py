import dataclasses

import pytest
import torch

from humpback.config import TrainParams
from humpback.models import load_for_inference, load_tokenizer
from humpback.prompts import chat_example
from humpback.training import (Example, device_and_precision, lr_factor, process_share, tokenize,
                               train)

PARAMS = TrainParams(method="lora", steps=30, batch_size=2, micro_batch_size=1,
                     learning_rate=1e-2, final_lr_fraction=0.9, weight_decay=0.1, dropout=0.0,
                     max_length=64, lora_r=8, lora_alpha=16, lora_target_modules=["all-linear"],
                     lora_top_layers=None, checkpoint_every=None)
PAIRS = [("Say the magic word.", "abracadabra"), ("Name the colour of the sky.", "blue")]


def test_targets_are_the_output_tokens_only(tiny_model):
    tokenizer = load_tokenizer(tiny_model)
    (example,) = tokenize(tokenizer, PAIRS[:1], max_length=64)
    prompt, completion = chat_example(tokenizer, *PAIRS[0])
    assert tokenizer.decode(example.target_ids) == completion
    assert tokenizer.decode(example.prompt_ids) == prompt


def test_examples_over_max_length_are_cut_or_dropped(tiny_model):
    tokenizer = load_tokenizer(tiny_model)
    long_prompt = ("word " * 100, "answer")
    assert tokenize(tokenizer, [long_prompt], max_length=32) == []
    (cut,) = tokenize(tokenizer, [("hi", "word " * 100)], max_length=32)
    assert len(cut.prompt_ids) + len(cut.target_ids) == 32


def test_learning_rate_decays_linearly_to_the_final_fraction():
    assert lr_factor(PARAMS, 0) == 1.0
    assert lr_factor(PARAMS, PARAMS.steps - 1) == pytest.approx(0.9)


def answer_nll(model, tokenizer, pair) -> float:
    (example,) = tokenize(tokenizer, [pair], 64)
    ids = torch.tensor([example.prompt_ids + example.target_ids])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, len(example.prompt_ids) - 1:-1].float()
    return torch.nn.functional.cross_entropy(logits, torch.tensor(example.target_ids)).item()


@pytest.mark.parametrize("method", ["lora", "full"])
def test_training_fits_the_outputs_and_saves_safetensors(tiny_model, tmp_path, method):
    tokenizer = load_tokenizer(tiny_model)
    before = answer_nll(load_for_inference(tiny_model).float(), tokenizer, PAIRS[0])
    params = dataclasses.replace(PARAMS, method=method)
    stats = train(tiny_model, PAIRS, params, seed=0, out_dir=tmp_path / "m")
    after = answer_nll(load_for_inference(tiny_model, tmp_path / "m").float(), tokenizer, PAIRS[0])
    assert after < before - 1.0
    assert len(stats["losses"]) == 30 and stats["final_loss"] < stats["first_loss"]
    weights = "adapter_model.safetensors" if method == "lora" else "model.safetensors"
    assert (tmp_path / "m" / weights).exists()
    if method == "full":  # fp32 master weights, saved in the base's stored dtype (bf16 here)
        from safetensors.torch import load_file

        assert {w.dtype for w in load_file(tmp_path / "m" / weights).values()} == {torch.bfloat16}


@pytest.mark.parametrize("method", ["lora", "full"])
def test_gradient_checkpointing_trains_the_same_steps(tiny_model, tmp_path, method):
    """Activations recomputed in the backward pass (dropout masks too: the recomputation
    replays the random state): the same losses as keeping them, within float rounding."""
    params = dataclasses.replace(PARAMS, method=method, steps=3, dropout=0.1)
    kept = train(tiny_model, PAIRS, params, seed=0, out_dir=tmp_path / "kept")
    recomputed = train(tiny_model, PAIRS, dataclasses.replace(params, gradient_checkpointing=True),
                       seed=0, out_dir=tmp_path / "recomputed")
    assert recomputed["losses"] == pytest.approx(kept["losses"], rel=1e-5)


def test_auto_computes_in_float32_on_the_cpu():
    from humpback.models import resolve_dtype

    assert resolve_dtype("auto", "cpu") == torch.float32
    assert resolve_dtype("bfloat16", "cpu") == torch.bfloat16


def test_same_seed_same_adapter_bytes(tiny_model, tmp_path):
    params = dataclasses.replace(PARAMS, steps=3, dropout=0.1)
    for name in ("a", "b"):
        train(tiny_model, PAIRS, params, seed=0, out_dir=tmp_path / name)
    assert (tmp_path / "a/adapter_model.safetensors").read_bytes() == \
        (tmp_path / "b/adapter_model.safetensors").read_bytes()


@pytest.mark.parametrize("method", ["lora", "full"])
def test_a_crashed_run_resumes_from_its_checkpoint_to_the_same_bytes(tiny_model, tmp_path, method):
    params = dataclasses.replace(PARAMS, method=method, steps=5, dropout=0.1, checkpoint_every=2)
    weights = "adapter_model.safetensors" if method == "lora" else "model.safetensors"
    train(tiny_model, PAIRS, params, seed=0, out_dir=tmp_path / "whole")

    def crash_at_step_3(step, loss):
        if step == 3:
            raise KeyboardInterrupt
    checkpoint = tmp_path / "ckpt.safetensors"
    with pytest.raises(KeyboardInterrupt):
        train(tiny_model, PAIRS, params, seed=0, out_dir=tmp_path / "resumed",
              on_step=crash_at_step_3, checkpoint=checkpoint)
    assert checkpoint.exists()  # written once steps 0 and 1 were done; step 3 never finished
    steps_run = []
    stats = train(tiny_model, PAIRS, params, seed=0, out_dir=tmp_path / "resumed",
                  on_step=lambda step, loss: steps_run.append(step), checkpoint=checkpoint)
    assert steps_run == [2, 3, 4] and stats["resumed_at_step"] == 2 and len(stats["losses"]) == 5
    assert (tmp_path / "whole" / weights).read_bytes() == (tmp_path / "resumed" / weights).read_bytes()
    assert not checkpoint.exists()  # a finished run cleans up


def examples_of_lengths(*lengths) -> list[Example]:
    return [Example(prompt_ids=[1] * n, target_ids=[2] * (i + 1)) for i, n in enumerate(lengths)]


@pytest.mark.parametrize("processes, micro_batch_size", [(2, 2), (2, 4), (4, 1), (8, 4)])
def test_processes_share_out_the_micro_batches_of_one_process(processes, micro_batch_size):
    batch = examples_of_lengths(9, 3, 7, 1, 5, 2, 8, 4)
    shares = [process_share(batch, micro_batch_size, processes, rank) for rank in range(processes)]
    one = process_share(batch, min(micro_batch_size, len(batch) // processes), 1, 0)
    assert sorted(m for share in shares for m in map(_ids, share)) == sorted(map(_ids, one))
    assert len({len(share) for share in shares}) == 1  # the same number of passes everywhere
    # one process: the batch sorted by length, cut in order (less padding per micro-batch)
    lengths = [len(e.prompt_ids) + len(e.target_ids) for m in one for e in m]
    assert lengths == sorted(lengths) and all(len(m) == len(one[0]) for m in one)


def _ids(micro_batch) -> tuple:
    return tuple(len(e.target_ids) for e in micro_batch)


@pytest.mark.skipif(torch.cuda.is_available(), reason="what auto means without a GPU")
def test_auto_trains_on_the_cpu_in_full_precision_here():
    assert device_and_precision(PARAMS, "backward") == ("cpu", "no")
    bf16 = dataclasses.replace(PARAMS, mixed_precision="bf16")  # autocast on the CPU: allowed
    assert device_and_precision(bf16, "backward") == ("cpu", "bf16")


# --- on a GPU (skipped without one): the same training step as on the CPU ---

needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(scope="module")
def tiny_model_fp32(tiny_model, tmp_path_factory):
    """The tiny model with fp32 weights, so that CPU and GPU compute in the same precision."""
    from transformers import AutoModelForCausalLM

    out = tmp_path_factory.mktemp("tiny-fp32")
    AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32).save_pretrained(out)
    load_tokenizer(tiny_model).save_pretrained(out)
    return out


@pytest.mark.gpu
@needs_gpu
def test_training_on_the_gpu_agrees_with_the_cpu(tiny_model_fp32, tmp_path):
    """Two fp32 LoRA steps, no dropout (the GPU draws other masks): cuBLAS and the CPU's GEMMs
    round differently, about 1e-7 relative; Adam's first steps move each weight by about lr
    (1e-3), so 1e-4 passes rounding noise and fails a wrong step (a sign flipped, a batch lost).
    bf16 autocast: the first loss within 2 % of fp32's."""
    from safetensors.torch import load_file

    params = dataclasses.replace(PARAMS, steps=2, dropout=0.0, learning_rate=1e-3)
    runs = {}
    for name, device, precision in [("cpu", "cpu", "no"), ("gpu", "cuda", "no"),
                                    ("bf16", "cuda", "bf16")]:
        run = dataclasses.replace(params, device=device, mixed_precision=precision)
        # float32 on the GPU too (base.dtype auto would hold the base in bf16 there)
        runs[name] = train(tiny_model_fp32, PAIRS, run, seed=0, out_dir=tmp_path / name,
                           dtype="float32")
        assert (runs[name]["device"], runs[name]["mixed_precision"]) == (device, precision)
    cpu, gpu = (load_file(tmp_path / name / "adapter_model.safetensors") for name in ("cpu", "gpu"))
    assert max((cpu[k] - gpu[k]).abs().max().item() for k in cpu) < 1e-4
    assert runs["gpu"]["losses"] == pytest.approx(runs["cpu"]["losses"], rel=1e-5)
    assert runs["bf16"]["losses"][0] == pytest.approx(runs["cpu"]["losses"][0], rel=2e-2)


@pytest.mark.gpu
@needs_gpu
def test_auto_picks_the_gpu_and_bf16_where_it_has_it():
    assert device_and_precision(PARAMS, "forward") == \
        ("cuda", "bf16" if torch.cuda.is_bf16_supported() else "no")
