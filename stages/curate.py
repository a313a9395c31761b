"""curate@t: keep the candidates scored >= k (section `curate`); write M_t's training set."""

from humpback.config import load_params
from humpback.curation import curate, read_candidates, read_scores, training_set
from humpback.metrics import write_metrics
from humpback.records import read_jsonl, write_jsonl
from humpback.stage import run_stage


def main(candidates: str, scores: str, seed_train: str, curated: str, train_set: str,
         metrics: str) -> None:
    params = load_params().curate
    pool = read_candidates(candidates)
    kept = curate(pool, read_scores(scores, {c["id"] for c in pool}), params)
    write_jsonl(curated, kept)
    write_jsonl(train_set, training_set(list(read_jsonl(seed_train)), kept))
    write_metrics(metrics, {"candidates": len(pool), "curated": len(kept),
                            "kept_fraction": round(len(kept) / max(len(pool), 1), 4),
                            "min_kept_score": kept[-1]["score"] if kept else None})


if __name__ == "__main__":
    run_stage(main, __doc__, "candidates", "scores", "seed_train", "curated", "train_set",
              "metrics")
