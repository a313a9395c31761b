"""Does the rater rate? A check that needs no labels.

A fixed sample of candidates is rated a second time with the outputs swapped between them: each
instruction paired with another candidate's output, which it does not describe. A rater that
carries signal scores the genuine pairs above the swapped ones; the AUC of genuine over swapped
(the probability that a genuine pair outscores a swapped one, ties counting half) says how well,
and 0.5 is chance. Its interval is DeLong's, so a small sample says so.
"""

from __future__ import annotations

import hashlib
import math
from statistics import NormalDist
from typing import Iterable, Sequence

SWAP_MARK = "~"  # a swapped record's id: "<candidate id>~<id of the output's candidate>"


def sample_ids(ids: Iterable[str], size: int, seed: int) -> list[str]:
    """A fixed sample of `size` ids, the same in every iteration (chosen by a seeded hash, so
    it does not depend on the order of the file or on which model rates)."""
    def key(i: str) -> str:
        return hashlib.sha256(f"{seed}:{i}".encode()).hexdigest()
    return sorted(ids, key=key)[:size]


def swapped(sampled: Sequence[dict]) -> list[dict]:
    """Each sampled candidate's instruction with the next one's output (a cyclic shift, so no
    pair keeps its own output). Ids are marked, so a swapped record is never taken for its
    genuine candidate."""
    if len(sampled) < 2:
        return []
    return [{"id": f"{c['id']}{SWAP_MARK}{other['id']}", "instruction": c["instruction"],
             "output": other["output"]}
            for c, other in zip(sampled, [*sampled[1:], sampled[0]])
            if other["output"] != c["output"]]


def auc(genuine: Sequence[float], swapped_scores: Sequence[float]) -> float:
    """P(genuine > swapped) + P(equal) / 2 (the Mann-Whitney statistic)."""
    wins = sum(_psi(x, y) for x in genuine for y in swapped_scores)
    return wins / (len(genuine) * len(swapped_scores))


def delong_interval(genuine: Sequence[float], swapped_scores: Sequence[float],
                    confidence: float = 0.95) -> tuple[float, float]:
    """DeLong's confidence interval for the AUC (normal approximation, clipped to [0, 1])."""
    n, m = len(genuine), len(swapped_scores)
    if n < 2 or m < 2:
        return 0.0, 1.0
    v10 = [sum(_psi(x, y) for y in swapped_scores) / m for x in genuine]
    v01 = [sum(_psi(x, y) for x in genuine) / n for y in swapped_scores]
    centre = sum(v10) / n
    variance = _var(v10) / n + _var(v01) / m
    half = NormalDist().inv_cdf(0.5 + confidence / 2) * math.sqrt(variance)
    return max(0.0, centre - half), min(1.0, centre + half)


def report(genuine: Sequence[float], swapped_scores: Sequence[float],
           confidence: float = 0.95) -> dict:
    """The check's metrics: AUC with its interval, the sizes and the mean of each side."""
    if not genuine or not swapped_scores:
        return {"auc": None, "ci_low": None, "ci_high": None, "genuine": len(genuine),
                "swapped": len(swapped_scores)}
    low, high = delong_interval(genuine, swapped_scores, confidence)
    return {"auc": round(auc(genuine, swapped_scores), 4), "ci_low": round(low, 4),
            "ci_high": round(high, 4), "confidence": confidence,
            "genuine": len(genuine), "swapped": len(swapped_scores),
            "genuine_mean": round(sum(genuine) / len(genuine), 4),
            "swapped_mean": round(sum(swapped_scores) / len(swapped_scores), 4)}


def is_chance(result: dict) -> bool:
    """True when the interval includes 0.5: the rater cannot be told from a coin."""
    return result["auc"] is None or result["ci_low"] <= 0.5 <= result["ci_high"]


def roc_curve(genuine: Sequence[float], swapped_scores: Sequence[float]) -> list[dict]:
    """The ROC curve of genuine (positive) over swapped (negative) pairs, one point per distinct
    score, for `dvc plots show`."""
    points = [{"false_positive_rate": 0.0, "true_positive_rate": 0.0}]
    for threshold in sorted(set(genuine) | set(swapped_scores), reverse=True):
        points.append({
            "false_positive_rate": round(sum(y >= threshold for y in swapped_scores)
                                         / len(swapped_scores), 4),
            "true_positive_rate": round(sum(x >= threshold for x in genuine) / len(genuine), 4)})
    return points


def _psi(x: float, y: float) -> float:
    return 1.0 if x > y else 0.5 if x == y else 0.0


def _var(values: Sequence[float]) -> float:
    mean = sum(values) / len(values)
    return sum((v - mean) ** 2 for v in values) / (len(values) - 1)


def load_sample(path, size: int, seed: int) -> list[dict]:
    """The fixed sample of candidates from a candidates file, in sample order."""
    from humpback.records import read_jsonl

    chosen = sample_ids((c["id"] for c in read_jsonl(path, required=["id"])), size, seed)
    rank = {i: n for n, i in enumerate(chosen)}
    picked = [c for c in read_jsonl(path, required=["id", "instruction", "output"])
              if c["id"] in rank]
    return sorted(picked, key=lambda c: rank[c["id"]])


def is_swapped(record: dict) -> bool:
    return SWAP_MARK in record["id"]


def swapped_scores(results: Iterable[dict], genuine: dict[str, dict]) -> list[float]:
    """The swapped pairs' scores, each completed where its mode needs it from the genuine score
    record of its output's candidate (`genuine`: the sample's genuine records by id)."""
    from humpback.scoring import swapped_score

    scores = []
    for record in results:
        score = swapped_score(record, genuine.get(record["id"].partition(SWAP_MARK)[2]))
        if score is not None:
            scores.append(score)
    return scores


def paired_scores(sample: Sequence[dict], genuine: dict[str, dict],
                  swapped_results: Iterable[dict]) -> tuple[list[float], list[float]]:
    """(genuine scores in sample order, swapped scores): the two sides of the check, from the
    sample's genuine score records by id and the swapped pairs' records."""
    scored = [genuine[c["id"]]["score"] for c in sample if c["id"] in genuine]
    return [s for s in scored if s is not None], swapped_scores(swapped_results, genuine)


def warning(stage: str, result: dict) -> str:
    """The one line a stage ends with when its rater is indistinguishable from chance."""
    interval = (f"AUC {result['auc']} [{result['ci_low']}, {result['ci_high']}]"
                if result["auc"] is not None else "no comparable ratings")
    return (f"warning: {stage}: the rater scores genuine pairs no better than pairs with swapped "
            f"outputs ({interval}): curation at this size is indistinguishable from chance")
