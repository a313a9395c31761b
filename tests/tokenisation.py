"""What token ids each engine and the trainer actually run for one prompt (shared by
test_engines.py on the CPU and test_gpu.py on a GPU). Observed, not recomputed: a forward hook
on the HF model, vLLM's own record of the prompt it ran, the trainer's examples."""

from __future__ import annotations

from humpback.engines import Sampling
from humpback.prompts import chat_prompt
from humpback.training import tokenize

USER = "Name a colour."


def hf_engine_ids(engine) -> list[int]:
    seen = []

    def record(module, args, kwargs):
        if not seen:  # the prefill: the whole prompt (one prompt: no padding)
            seen.append(kwargs["input_ids"][0].tolist())

    handle = engine.model.register_forward_pre_hook(record, with_kwargs=True)
    try:
        engine.generate([chat_prompt(engine.tokenizer, USER)], Sampling(max_new_tokens=1))
    finally:
        handle.remove()
    return seen[0]


def vllm_engine_ids(engine) -> list[int]:
    outputs, generate = [], engine.llm.generate

    def keep(*args, **kwargs):  # vLLM's outputs name the prompt ids it ran
        result = generate(*args, **kwargs)
        outputs.extend(result)
        return result

    engine.llm.generate = keep
    try:
        engine.generate([chat_prompt(engine.tokenizer, USER)], Sampling(max_new_tokens=1))
    finally:
        engine.llm.generate = generate
    return list(outputs[0].prompt_token_ids)


def trainer_ids(tokenizer) -> list[int]:
    return tokenize(tokenizer, [(USER, "Blue.")], max_length=384)[0].prompt_ids


def check_one_bos(ids: list[int], tokenizer) -> None:
    bos = tokenizer.bos_token_id
    assert ids[0] == bos and ids[1] != bos, ids[:4]
    # the fault the check would catch: text tokenized with special tokens gets a second BOS
    doubled = tokenizer(chat_prompt(tokenizer, USER))["input_ids"]
    assert doubled[:2] == [bos, bos]
