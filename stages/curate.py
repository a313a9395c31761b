"""curate@t: keep the candidates scored >= k (section `curate`); write M_t's training set."""

from collections import Counter
from pathlib import Path

from humpback.cards import curated_card
from humpback.config import load_params
from humpback.curation import curate, read_candidates, read_scores, training_set
from humpback.metrics import write_metrics
from humpback.records import read_jsonl, write_jsonl
from humpback.stage import run_stage


def main(candidates: str, scores: str, seed_train: str, curated: str, train_set: str,
         metrics: str, data_card: str) -> None:
    params = load_params(stage="curate")
    pool = read_candidates(candidates)
    ratings = read_scores(scores, {c["id"] for c in pool})
    kept = curate(pool, ratings, params.curate)
    write_jsonl(curated, kept)
    write_jsonl(train_set, training_set(list(read_jsonl(seed_train)), kept))
    iteration = Path(curated).stem
    histogram = Counter(round(r["score"]) for r in ratings if r["score"] is not None)
    curated_card(iteration=iteration,
                 rater=f"M_{int(iteration) - 1}" if iteration.isdigit() else "the rating model",
                 data_file=Path(curated).name, sources=params.corpus.sources,
                 corpus_params=params.corpus, score_params=params.score,
                 curate_params=params.curate, candidates=len(pool), kept=kept,
                 histogram={r: histogram.get(r, 0) for r in range(1, 6)}).save(data_card)
    write_metrics(metrics, {"candidates": len(pool), "curated": len(kept),
                            "kept_fraction": round(len(kept) / max(len(pool), 1), 4),
                            "min_kept_score": kept[-1]["score"] if kept else None})


if __name__ == "__main__":
    run_stage(main, __doc__, "candidates", "scores", "seed_train", "curated", "train_set",
              "metrics", "data_card")
