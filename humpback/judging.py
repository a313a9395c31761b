"""Pairwise judging, AlpacaEval style: which of two answers to an instruction is better?

Every comparison is judged twice, with the answers in both orders, so a judge that prefers the
first (or second) position gives a tie instead of a verdict. Two modes, as for scoring: `generate`
parses a written `Winner: A|B|tie` line; `logprob` reads the judge's next-token probabilities of
A, B and tie after "Winner:" (one forward pass, always parseable).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from statistics import NormalDist
from typing import Sequence

from humpback.engines import Engine, Sampling
from humpback.prompts import chat_prompt, render
from humpback.records import significant

# "Winner: A", "**Winner:** B", "winner = tie", "Winner: Response A", "Winner: (b)".
_WINNER = re.compile(r"winner\s*\**\s*[:=]?\s*\**\s*(?:response\s+|output\s+)?[\[(]?\s*(a|b|tie)\b",
                     re.IGNORECASE)
CHOICES = ("A", "B", "tie")
POINTS = {"win": 1.0, "tie": 0.5, "loss": 0.0}


def parse_verdict(text: str) -> str | None:
    """"A", "B" or "tie" from the judge's last `Winner:` line; None if it wrote none."""
    matches = _WINNER.findall(text)
    if not matches:
        return None
    last = matches[-1].lower()
    return "tie" if last == "tie" else last.upper()


def outcome(verdict: str | None, model_is_a: bool) -> str | None:
    """The verdict from the evaluated model's side: win, loss, tie, or None if unparseable."""
    if verdict in (None, "tie"):
        return verdict
    return "win" if (verdict == "A") == model_is_a else "loss"


def verdict_prefix(tokenizer) -> str:
    """The start of the judge's reply in logprob mode, so that its next token is the verdict.
    Without a tokenizer (an HTTP judge) the verdict's tokens are matched with or without a space."""
    if tokenizer is None:
        return "Winner:"
    return "Winner: " if len(tokenizer.encode(" A", add_special_tokens=False)) > 1 else "Winner:"


def verdict_token_ids(tokenizer) -> list[list]:
    """For A, B and tie, the first token that spells each, with or without a leading space; an
    HTTP judge, whose tokenizer is the server's, gets the texts of those tokens instead."""
    if tokenizer is None:
        return [[choice, f" {choice}"] for choice in CHOICES]
    return [sorted({tokenizer.encode(text, add_special_tokens=False)[0]
                    for text in (choice, f" {choice}")}) for choice in CHOICES]


def judge_prompts(template: str, tokenizer, instruction: str, model_output: str,
                  other_output: str, prefix: str) -> list[str]:
    """The two orders: the evaluated model's answer as A, then as B. Without a tokenizer (an HTTP
    judge) the user message is sent as it is and the endpoint applies its own chat template."""
    users = [render(template, instruction=instruction, output_a=a, output_b=b)
             for a, b in ((model_output, other_output), (other_output, model_output))]
    if tokenizer is None:
        return users
    return [chat_prompt(tokenizer, user, assistant_prefix=prefix) for user in users]


@dataclass(frozen=True)
class Comparison:
    instruction: str
    model_output: str
    other_output: str


def judge(engine: Engine, template: str, comparisons: Sequence[Comparison], mode: str,
          max_new_tokens: int = 64, desc: str = "") -> list[dict]:
    """One record per comparison: the verdict of each order and the points of the evaluated
    model (1 win, 0.5 tie, 0 loss; averaged over the orders that parsed; None if neither did)."""
    tokenizer = getattr(engine, "tokenizer", None)
    prefix = verdict_prefix(tokenizer) if mode == "logprob" else ""
    prompts = [p for c in comparisons for p in judge_prompts(
        template, tokenizer, c.instruction, c.model_output, c.other_output, prefix)]
    if mode == "logprob":
        # an HTTP judge is sent the user turns and continues the reply from the prefix
        extra = {"assistant_prefix": prefix} if tokenizer is None else {}
        probs = engine.next_token_probs(prompts, verdict_token_ids(tokenizer), desc=desc, **extra)
        # none of A, B, tie among a served judge's top tokens: no verdict, not a guess
        verdicts = [max(CHOICES, key=lambda c, p=p: p[CHOICES.index(c)]) if any(p) else None
                    for p in probs]
        evidence = [dict(zip(CHOICES, p)) for p in probs]  # written rounded, used in full
    else:
        evidence = engine.generate(prompts, Sampling(max_new_tokens), desc=desc)
        verdicts = [parse_verdict(text) for text in evidence]
    records = []
    for i, c in enumerate(comparisons):
        outcomes = [outcome(verdicts[2 * i], True), outcome(verdicts[2 * i + 1], False)]
        parsed = [POINTS[o] for o in outcomes if o is not None]
        said = evidence[2 * i: 2 * i + 2]
        if mode == "logprob":
            said = [{choice: significant(p) for choice, p in probs.items()} for probs in said]
        record = {"instruction": c.instruction, "outcomes": outcomes, "judge_said": said,
                  "points": sum(parsed) / len(parsed) if parsed else None}
        if mode == "logprob":
            record["preference"] = _preference(*evidence[2 * i: 2 * i + 2])
        records.append(record)
    return records


def _preference(model_as_a: dict, model_as_b: dict) -> float:
    """P(the judge prefers the evaluated model) between A and B, averaged over both orders: the
    continuous verdict of AlpacaEval 2's weighted win rate, informative even when the judge's
    argmax always picks the same position."""
    def share(probs: dict, letter: str) -> float:
        total = probs["A"] + probs["B"]
        return probs[letter] / total if total else 0.5
    return round((share(model_as_a, "A") + share(model_as_b, "B")) / 2, 6)


def wilson_interval(rate: float, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a rate over n comparisons (ties count as half a win)."""
    if n == 0:
        return 0.0, 1.0
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    denominator = 1 + z * z / n
    centre = (rate + z * z / (2 * n)) / denominator
    half = z * math.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def win_rate(records: Sequence[dict], confidence: float = 0.95) -> dict:
    """Win rate of the evaluated model with its confidence interval, and what the judge did."""
    points = [r["points"] for r in records if r["points"] is not None]
    outcomes = [o for r in records for o in r["outcomes"]]
    rate = sum(points) / len(points) if points else None
    low, high = wilson_interval(rate or 0.0, len(points), confidence)
    summary = {
        "win_rate": round(rate, 4) if rate is not None else None,
        "ci_low": round(low, 4), "ci_high": round(high, 4), "confidence": confidence,
        "compared": len(records), "judged": len(points),
        "wins": outcomes.count("win"), "ties": outcomes.count("tie"),
        "losses": outcomes.count("loss"),
        "unparseable": outcomes.count(None),
        "first_position_rate": _first_position_rate(records),
    }
    preferences = [r["preference"] for r in records if "preference" in r]
    if preferences:  # logprob mode
        summary["weighted_win_rate"] = round(sum(preferences) / len(preferences), 4)
    return summary


def _first_position_rate(records: Sequence[dict]) -> float | None:
    """How often a decisive verdict picked answer A: 0.5 for a judge without position bias."""
    picked_a = [r["outcomes"][0] == "win" for r in records if r["outcomes"][0] in ("win", "loss")]
    picked_a += [r["outcomes"][1] == "loss" for r in records if r["outcomes"][1] in ("win", "loss")]
    return round(sum(picked_a) / len(picked_a), 4) if picked_a else None
