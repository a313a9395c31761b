"""Evaluation: each model answers held-out instructions (written in alpaca_eval's format) and
the reference answers' per-token negative log-likelihood is measured under it."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

from humpback.config import EvaluateParams
from humpback.engines import Engine, Sampling
from humpback.prompts import chat_example, chat_prompt, with_tag
from humpback.records import RecordError, read_jsonl


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


def evaluate_chunk(engine: Engine, records: Sequence[dict], tag: str, generator: str,
                   max_new_tokens: int, nll_max_length: int) -> list[dict]:
    """Per held-out record: the model's answer, and the negative log-likelihood of the
    reference answer summed over its tokens (`nll_sum`, `nll_tokens`; None without one)."""
    answers = answer(engine, [r["instruction"] for r in records], tag, generator, max_new_tokens)
    with_reference = [i for i, r in enumerate(records) if r["reference"]]
    losses = dict(zip(with_reference, reference_losses(
        engine, [(with_tag(records[i]["instruction"], tag), records[i]["reference"])
                 for i in with_reference], nll_max_length)))
    return [{"answer": a, "nll_sum": losses.get(i, (None, None))[0],
             "nll_tokens": losses.get(i, (None, None))[1]} for i, a in enumerate(answers)]


def reference_losses(engine: Engine, pairs: Sequence[tuple[str, str]],
                     max_length: int) -> list[tuple[float, int]]:
    """(summed negative log-likelihood in nats, tokens) of each reference answer under the
    model, as in training: the user turn is context, only the answer's tokens count."""
    if not pairs:
        return []
    examples = [chat_example(engine.tokenizer, user, assistant) for user, assistant in pairs]
    return [(-sum(logprobs), len(logprobs))
            for logprobs in engine.token_logprobs(examples, max_length)]


def mean_nll(losses: Iterable[tuple[float, int]]) -> dict:
    """The mean negative log-likelihood per reference-answer token (nats); examples cut to no
    answer tokens by the length limit do not count."""
    losses = [(total, tokens) for total, tokens in losses if tokens]
    tokens = sum(n for _, n in losses)
    return {"nll": round(sum(total for total, _ in losses) / tokens, 4) if tokens else None,
            "nll_tokens": tokens, "nll_examples": len(losses)}


def mean_length(texts: Iterable[str]) -> float:
    """Mean length in characters, as alpaca_eval reports it."""
    texts = list(texts)
    return round(sum(map(len, texts)) / len(texts), 1) if texts else 0.0


def generator_name(model_dir: str | Path) -> str:
    return f"humpback-M{Path(model_dir).name}"
