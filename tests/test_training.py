import dataclasses

import pytest
import torch

from humpback.config import TrainParams
from humpback.models import load_for_inference, load_tokenizer
from humpback.prompts import chat_example
from humpback.training import lr_factor, tokenize, train

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
