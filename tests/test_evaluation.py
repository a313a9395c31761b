"""Evaluation on the tiny model: held-out instructions, alpaca_eval answers, reference NLL."""

import dataclasses
import json

import pytest
import torch

from conftest import ROOT
from humpback.config import load_params
from humpback.engines.hf import HFEngine
from humpback.evaluation import (answer, evaluate_chunk, load_instructions, mean_length, mean_nll,
                                 reference_losses)
from humpback.models import load_for_inference, load_tokenizer
from humpback.records import RecordError

PARAMS = load_params(ROOT / "params.yaml").evaluate


def write(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_instructions_with_and_without_references(tmp_path):
    source = write(tmp_path / "eval.jsonl", [{"instruction": " Say hi. ", "output": "Hi!"},
                                             {"instruction": "Count to 3."}])
    params = dataclasses.replace(PARAMS, instructions=str(source))
    assert load_instructions(params) == [{"instruction": "Say hi.", "reference": "Hi!"},
                                         {"instruction": "Count to 3.", "reference": None}]
    capped = dataclasses.replace(params, max_instructions=1, reference_field=None)
    assert load_instructions(capped) == [{"instruction": "Say hi.", "reference": None}]


def test_bad_instruction_sets_name_the_file(tmp_path):
    empty = write(tmp_path / "empty.jsonl", [])
    with pytest.raises(RecordError, match="empty.jsonl: no instructions"):
        load_instructions(dataclasses.replace(PARAMS, instructions=str(empty)))
    missing = write(tmp_path / "bad.jsonl", [{"instruction": "ok"}, {"prompt": "x"}])
    with pytest.raises(RecordError, match="bad.jsonl:2: missing field 'instruction'"):
        load_instructions(dataclasses.replace(PARAMS, instructions=str(missing)))
    wrong = write(tmp_path / "wrong.jsonl", [{"instruction": "ok", "output": 3.5}])
    with pytest.raises(RecordError, match="wrong.jsonl:1: field 'output' must be text .* found a "
                                          "number: 3.5"):  # a reference is text or null
        load_instructions(dataclasses.replace(PARAMS, instructions=str(wrong)))


def test_answers_are_in_alpaca_evals_format(tiny_model):
    engine = HFEngine(load_for_inference(tiny_model), load_tokenizer(tiny_model), 2)
    outputs = answer(engine, ["Say hi.", "Count to 3."], "Be brief.",
                     "humpback-M0", max_new_tokens=4)
    assert [set(o) for o in outputs] == [{"instruction", "output", "generator"}] * 2
    assert [o["instruction"] for o in outputs] == ["Say hi.", "Count to 3."]
    assert {o["generator"] for o in outputs} == {"humpback-M0"}
    assert mean_length(o["output"] for o in outputs) == sum(len(o["output"]) for o in outputs) / 2


def test_reference_nll_is_the_mean_loss_over_answer_tokens(tiny_model):
    model, tokenizer = load_for_inference(tiny_model).float(), load_tokenizer(tiny_model)
    engine = HFEngine(model, tokenizer, batch_size=2)
    pairs = [("Say hi.", "Hello there!"), ("Name a colour.", "Blue, like the sky at noon.")]
    result = mean_nll(reference_losses(engine, pairs, max_length=128))
    # The same number from transformers' own loss, one example at a time, answer tokens only.
    total = tokens = 0
    for user, assistant in pairs:
        prompt = tokenizer.apply_chat_template([{"role": "user", "content": user}], tokenize=False,
                                               add_generation_prompt=True)
        full = tokenizer.apply_chat_template([{"role": "user", "content": user},
                                              {"role": "assistant", "content": assistant}],
                                             tokenize=False)
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        ids = prompt_ids + tokenizer(full[len(prompt):], add_special_tokens=False)["input_ids"]
        labels = [-100] * len(prompt_ids) + ids[len(prompt_ids):]
        with torch.no_grad():
            loss = model(input_ids=torch.tensor([ids]), labels=torch.tensor([labels])).loss
        n = len(ids) - len(prompt_ids)
        total, tokens = total + loss.item() * n, tokens + n
    assert result["nll_tokens"] == tokens and result["nll_examples"] == 2
    assert result["nll"] == pytest.approx(total / tokens, abs=1e-3)


def test_a_chunk_answers_and_measures_only_where_there_is_a_reference(tiny_model):
    engine = HFEngine(load_for_inference(tiny_model).float(), load_tokenizer(tiny_model), 2)
    records = [{"instruction": "Say hi.", "reference": "Hello there!"},
               {"instruction": "Count to 3.", "reference": None}]
    results = evaluate_chunk(engine, records, "Be brief.", "humpback-M1", max_new_tokens=4,
                             nll_max_length=128)
    assert [r["answer"]["instruction"] for r in results] == ["Say hi.", "Count to 3."]
    assert results[0]["nll_tokens"] > 0 and results[0]["nll_sum"] > 0
    assert (results[1]["nll_sum"], results[1]["nll_tokens"]) == (None, None)
    alone = reference_losses(engine, [("Say hi.\n\nBe brief.", "Hello there!")], 128)
    assert (results[0]["nll_sum"], results[0]["nll_tokens"]) == alone[0]  # the tag is in the prompt
    # cut at the length limit: the context keeps its tokens first, the answer gets what is left
    (cut_sum, cut_tokens), = reference_losses(engine, [("Say hi.", "Hello there!")], 16)
    assert cut_tokens == 0 and mean_nll([(cut_sum, cut_tokens)])["nll"] is None
