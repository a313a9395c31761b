"""Answer rewriting (Nguyen et al. 2024, "instruction back-and-forth translation"): after curation,
a model rewrites each curated output into an assistant's answer to its instruction, with the
original text as its only source; the forward model trains on the rewrite.

The rewriter's reply is untrusted output. A rewrite that is empty, refuses, echoes the prompt, or
ran out of tokens is dropped and counted, never trained on. Kept rewrites are measured against
their originals: length ratio, and the share of the original's numbers and rare words kept (a
rewrite that drops them has lost content the source had).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Iterable

_REFUSAL = re.compile(
    r"^\W*(i'?m sorry|i am sorry|sorry, (but )?i|i can(no|')t|i cannot|i'?m (not able|unable)|"
    r"i am (not able|unable)|as an ai\b|unfortunately,? i)", re.IGNORECASE)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_WORD = re.compile(r"[A-Za-z][A-Za-z_]{3,}")
ECHO_WORDS = 8  # a run of this many words of the prompt's own text found in a rewrite is an echo
RARE_SHARE = 0.05  # rare: a word in at most this share of the curated outputs (at least one)
DROP_REASONS = ("empty", "refused", "echoed_prompt", "over_budget")


def prompt_lines(template: str) -> set[tuple[str, ...]]:
    """Every run of ECHO_WORDS words of the template's own text (its lines without placeholders):
    a rewrite that repeats one is repeating its orders, not answering."""
    runs = set()
    for line in template.splitlines():
        if "{" not in line:
            words = _words(line)
            runs.update(tuple(words[i:i + ECHO_WORDS]) for i in range(len(words) - ECHO_WORDS + 1))
    return runs


def review(rewrite: str, template_runs: set[tuple[str, ...]], over_budget: bool) -> str | None:
    """Why a rewrite is dropped (one of DROP_REASONS), or None to keep it."""
    text = rewrite.strip()
    if not text:
        return "empty"
    if over_budget:  # cut off mid-answer: a truncated answer is not one to imitate
        return "over_budget"
    if _REFUSAL.match(text):
        return "refused"
    words = _words(text)
    if any(tuple(words[i:i + ECHO_WORDS]) in template_runs
           for i in range(len(words) - ECHO_WORDS + 1)):
        return "echoed_prompt"
    return None


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def rare_words(outputs: Iterable[str]) -> set[str]:
    """Words (four letters or more, lowercased) found in at most RARE_SHARE of the outputs:
    the names and terms that make a text about something in particular."""
    documents = [set(w.lower() for w in _WORD.findall(text)) for text in outputs]
    frequency = Counter(word for words in documents for word in words)
    limit = max(1, int(RARE_SHARE * len(documents)))
    return {word for word, count in frequency.items() if count <= limit}


def kept_share(items: set[str], rewrite: str, words: bool) -> float | None:
    """The share of `items` (numbers, or rare words) that the rewrite still contains."""
    if not items:
        return None
    found = set(w.lower() for w in _WORD.findall(rewrite)) if words else set(_NUMBER.findall(rewrite))
    return sum(item in found for item in items) / len(items)


def measure(original: str, rewrite: str, rare: set[str]) -> dict:
    """How much of the original a kept rewrite carries: length ratio, numbers and rare words."""
    numbers = set(_NUMBER.findall(original))
    own_rare = {w.lower() for w in _WORD.findall(original)} & rare
    return {"length_ratio": round(len(rewrite) / max(len(original), 1), 4),
            "numbers_kept": _round(kept_share(numbers, rewrite, words=False)),
            "rare_words_kept": _round(kept_share(own_rare, rewrite, words=True))}


def summary(records: list[dict]) -> dict:
    """Metrics over rewrite records: counts kept and dropped (by reason), and the means of the
    measures over the kept ones (numbers and rare words over the rewrites that had any)."""
    kept = [r for r in records if r["dropped"] is None]
    dropped = Counter(r["dropped"] for r in records if r["dropped"] is not None)
    metrics = {"curated": len(records), "kept": len(kept),
               **{f"dropped_{reason}": dropped.get(reason, 0) for reason in DROP_REASONS}}
    for key in ("length_ratio", "numbers_kept", "rare_words_kept"):
        values = [r[key] for r in kept if r.get(key) is not None]
        metrics[f"mean_{key}"] = round(sum(values) / len(values), 4) if values else None
    return metrics


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def rewrite_chunk(engine, template: str, pairs: list[dict], max_new_tokens: int,
                  temperature: float, seed: int, tokenizer) -> list[dict]:
    """The rewriter's reply to each curated pair, with the reason it is dropped (or None).
    `tokenizer` counts the reply's tokens (the engine's own; for an endpoint, the base model's):
    a reply that used up its budget was cut off."""
    from humpback.engines import Sampling
    from humpback.prompts import chat_prompt, render

    users = [render(template, instruction=p["instruction"], original=p["output"]) for p in pairs]
    prompts = users if engine.tokenizer is None else [chat_prompt(engine.tokenizer, u)
                                                      for u in users]
    replies = engine.generate(prompts, Sampling(max_new_tokens, temperature, seed=seed))
    lines = prompt_lines(template)
    records = []
    for pair, reply in zip(pairs, replies):
        used = len(tokenizer(reply, add_special_tokens=False)["input_ids"])
        # decoding and encoding again may merge a token or two: within one of the budget is "used"
        records.append({"id": pair["id"], "rewrite": reply.strip(),
                        "dropped": review(reply, lines, over_budget=used >= max_new_tokens - 1)})
    return records
