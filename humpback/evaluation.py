"""Evaluation: each model answers held-out instructions (written in alpaca_eval's format) and
the reference answers' per-token negative log-likelihood is measured under it."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import torch

from humpback.config import EvaluateParams
from humpback.generation import Engine, Sampling
from humpback.prompts import chat_prompt, with_tag
from humpback.records import RecordError, read_jsonl
from humpback.training import token_loss_sum, tokenize


def load_instructions(params: EvaluateParams) -> list[dict]:
    """{instruction, reference (or None)} records from a jsonl file (a hub set such as
    AlpacaEval's comes in through the hub stage as data/hub/<name>.jsonl)."""
    source = params.instructions
    rows = read_jsonl(source, required=[params.instruction_field],
                      optional=[params.reference_field] if params.reference_field else [])
    records = []
    for row in rows:
        reference = row.get(params.reference_field) if params.reference_field else None
        records.append({"instruction": str(row[params.instruction_field]).strip(),
                        "reference": reference.strip() if isinstance(reference, str) else None})
        if params.max_instructions and len(records) == params.max_instructions:
            break
    if not records:
        raise RecordError(f"{source}: no instructions to evaluate on (evaluate.instructions)")
    return records


def answer(engine: Engine, instructions: Sequence[str], tag: str, generator: str,
           max_new_tokens: int) -> list[dict]:
    """Greedy answers in alpaca_eval's model_outputs format. The prompt carries the seed tag,
    as the paper does at inference; the recorded instruction is the plain one."""
    prompts = [chat_prompt(engine.tokenizer, with_tag(text, tag)) for text in instructions]
    outputs = engine.generate(prompts, Sampling(max_new_tokens))
    return [{"instruction": text, "output": output.strip(), "generator": generator}
            for text, output in zip(instructions, outputs)]


@torch.inference_mode()
def reference_nll(model, tokenizer, pairs: Sequence[tuple[str, str]], max_length: int,
                  batch_size: int = 8) -> dict:
    """Mean negative log-likelihood per reference-output token (nats), as in training: the
    user turn is context, only the answer's tokens count."""
    examples = tokenize(tokenizer, pairs, max_length)
    examples.sort(key=lambda e: len(e.prompt_ids) + len(e.target_ids))
    total = 0.0
    for start in range(0, len(examples), batch_size):
        total += token_loss_sum(model, examples[start:start + batch_size],
                                tokenizer.pad_token_id).item()
    tokens = sum(len(e.target_ids) for e in examples)
    return {"nll": round(total / tokens, 4) if tokens else None, "nll_tokens": tokens,
            "nll_examples": len(examples)}


def mean_length(texts: Iterable[str]) -> float:
    """Mean length in characters, as alpaca_eval reports it."""
    texts = list(texts)
    return round(sum(map(len, texts)) / len(texts), 1) if texts else 0.0


def generator_name(model_dir: str | Path) -> str:
    return f"humpback-M{Path(model_dir).name}"
