"""Keep the candidates the model rated highly: score >= k, then optionally the best fraction."""

from __future__ import annotations

import math

from humpback.config import CurateParams


def curate(candidates: list[dict], scores: list[dict], params: CurateParams) -> list[dict]:
    """Curated pairs, best first (ties broken by id, so the set is reproducible)."""
    by_id = {s["id"]: s for s in scores}
    rated = [(by_id[c["id"]]["score"], c) for c in candidates
             if by_id.get(c["id"], {}).get("score") is not None]
    passing = sorted((pair for pair in rated if pair[0] >= params.min_score),
                     key=lambda pair: (-pair[0], pair[1]["id"]))
    if params.top_fraction is not None:
        passing = passing[: math.floor(len(candidates) * params.top_fraction)]
    return [{"id": c["id"], "instruction": c["instruction"], "output": c["output"],
             "score": score, "source": "augmented"} for score, c in passing]


def training_set(seed_pairs: list[dict], curated: list[dict]) -> list[dict]:
    """M_t's training data: the seed pairs plus the curated pairs, each marked with its source."""
    return [{**p, "source": "seed"} for p in seed_pairs] + curated
