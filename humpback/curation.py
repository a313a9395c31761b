"""Keep the candidates the model rated highly: score >= k, then optionally the best fraction."""

from __future__ import annotations

import json
import math
from pathlib import Path

from humpback.config import CurateParams
from humpback.records import RecordError, json_type, numbered_jsonl, unique_ids
from humpback.scoring_modes import ScoringMode


def read_candidates(path: str | Path) -> list[dict]:
    """Candidate pairs, one per id (a repeated id names both of its lines)."""
    numbered = numbered_jsonl(path, required=["id", "instruction", "output"])
    return [record for _, record in unique_ids(numbered, path)]


def read_scores(path: str | Path, candidate_ids: set[str], mode: ScoringMode) -> list[dict]:
    """Score records, checked before anything is kept: one per candidate id, and a score that is
    null (unrated) or a number on `mode`'s scale. A hand-edited or stale scores file fails on its
    line instead of sorting strings against numbers or keeping a NaN."""
    scores = []
    for line, record in unique_ids(numbered_jsonl(path, required=["id"]), path):
        if "score" not in record:
            raise RecordError(f"{path}:{line}: missing field 'score'")
        score = record["score"]
        if score is not None and (isinstance(score, bool) or not isinstance(score, (int, float))):
            raise RecordError(f"{path}:{line}: field 'score' must be null or {mode.scale_text}, "
                              f"found {json_type(score)}: {json.dumps(score)}")
        if score is not None and not mode.accepts(score):
            raise RecordError(f"{path}:{line}: field 'score' must be null or {mode.scale_text} "
                              f"(score.mode: {mode.name}), found {score!r}")
        if record["id"] not in candidate_ids:
            raise RecordError(f"{path}:{line}: id {record['id']!r} is not among the candidates")
        scores.append(record)
    return scores


def curate(candidates: list[dict], scores: list[dict], params: CurateParams) -> list[dict]:
    """Curated pairs, best first (ties broken by id, so the set is reproducible)."""
    by_id = {s["id"]: s for s in scores}
    rated = [(by_id[c["id"]]["score"], c) for c in candidates
             if by_id.get(c["id"], {}).get("score") is not None]
    passing = sorted((pair for pair in rated
                      if params.min_score is None or pair[0] >= params.min_score),
                     key=lambda pair: (-pair[0], pair[1]["id"]))
    if params.top_fraction is not None:
        passing = passing[: math.floor(len(candidates) * params.top_fraction)]
    return [{"id": c["id"], "instruction": c["instruction"], "output": c["output"],
             "score": score, "source": "augmented"} for score, c in passing]


def training_set(seed_pairs: list[dict], curated: list[dict]) -> list[dict]:
    """M_t's training data: the seed pairs plus the curated (or rewritten) pairs, each marked with
    its source."""
    return [{**p, "source": "seed"} for p in seed_pairs] + [{**p, "source": "augmented"}
                                                            for p in curated]


def read_labels(path) -> dict[tuple[str, str], bool]:
    """Hand labels of candidate pairs: (id, instruction) -> good. A label belongs to one pair:
    once the backward model writes another instruction for a segment, its old label no longer
    applies."""
    labels = {}
    for line, record in numbered_jsonl(path, required=["id", "instruction", "label"]):
        if record["label"] not in ("good", "bad"):
            raise RecordError(f"{path}:{line}: label must be 'good' or 'bad', got {record['label']!r}")
        labels[(record["id"], record["instruction"])] = record["label"] == "good"
    return labels


def label_quality(candidates: list[dict], curated: list[dict],
                  labels: dict[tuple[str, str], bool]) -> dict:
    """Precision and recall of a curated set against hand labels (the paper's Table 7), over the
    candidates that carry a label; keeping every candidate would score `baseline_precision`."""
    def labelled(pairs):
        return [labels[key] for key in ((p["id"], p["instruction"]) for p in pairs) if key in labels]

    pool, kept = labelled(candidates), labelled(curated)
    good = sum(pool)
    return {
        "labelled": len(pool),
        "labelled_good": good,
        "baseline_precision": round(good / len(pool), 4) if pool else None,
        "curated_labelled": len(kept),
        "precision": round(sum(kept) / len(kept), 4) if kept else None,
        "recall": round(sum(kept) / good, 4) if good else None,
    }
