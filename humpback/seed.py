"""Seed pairs (instruction, output): our offline set, any jsonl, or the paper's oasst1 choice
(from Open Assistant's rows, brought in by the hub stage)."""

from __future__ import annotations

import random
from typing import Iterable

from humpback.config import SeedParams
from humpback.corpus import clean_text
from humpback.records import RecordError, numbered_jsonl, read_jsonl, unique_ids

MIN_EVAL, MIN_TRAIN = 2, 4


def load_pairs(params: SeedParams) -> list[dict]:
    """Seed pairs as {id, instruction, output} records, in a stable order."""
    if params.format == "pairs":  # a repeated id is reported with both of its lines
        numbered = ((line, _pair(row, line, f"{params.source}:{line}"))
                    for line, row in numbered_jsonl(params.source, _required(params.format)))
        pairs = [pair for _, pair in unique_ids(numbered, params.source)]
    else:  # oasst1 rows (the hub stage writes them as data/hub/<name>.jsonl)
        pairs = select_oasst1(read_jsonl(params.source, required=_required(params.format)),
                              params.language)
    if not pairs:
        raise RecordError(f"{params.source}: no seed pairs in it (seed.source, seed.format: "
                          f"{params.format})")
    return pairs[: params.max_pairs] if params.max_pairs else pairs


def _required(fmt: str) -> list[str]:
    return ["instruction", "output"] if fmt == "pairs" else ["message_id", "role", "text"]


def _pair(row: dict, line: int, where: str) -> dict:
    """Text cleaned as the corpus is: control characters would reach the tokenizer, and a lone
    surrogate (valid in JSON) cannot be written back as UTF-8."""
    pair = {"id": str(row.get("id", f"seed-{line:05d}"))}
    for field in ("instruction", "output"):  # text, as numbered_jsonl checked
        pair[field] = clean_text(row[field]).strip()
        if not pair[field]:
            raise RecordError(f"{where}: field '{field}' is empty once control characters are "
                              "removed")
    return pair


def select_oasst1(rows: Iterable[dict], language: str = "en") -> list[dict]:
    """The paper's seed: the first turn of each conversation tree (a root prompt in `language`)
    with its highest-ranked reply (rank 0)."""
    rows = list(rows)
    roots = {r["message_id"]: r for r in rows if r.get("parent_id") is None
             and r["role"] == "prompter" and r.get("lang") == language}
    pairs = []
    for row in rows:
        root = roots.get(row.get("parent_id"))
        if root and row["role"] == "assistant" and row.get("rank") == 0:
            pairs.append({"id": root["message_id"], "instruction": root["text"].strip(),
                          "output": row["text"].strip()})
    return sorted(pairs, key=lambda p: p["id"])


def split(pairs: list[dict], eval_fraction: float, seed: int,
          where: str = "seed") -> tuple[list[dict], list[dict]]:
    """(train, eval): a seeded shuffle, then the last `eval_fraction` held out."""
    n_eval = round(len(pairs) * eval_fraction)
    if n_eval < MIN_EVAL or len(pairs) - n_eval < MIN_TRAIN:
        raise RecordError(
            f"{where}: {len(pairs)} seed pairs are too few to hold out seed.eval_fraction="
            f"{eval_fraction} (need at least {MIN_EVAL} held out and {MIN_TRAIN} to train on)"
        )
    shuffled = random.Random(seed).sample(pairs, len(pairs))
    return shuffled[:-n_eval], shuffled[-n_eval:]

