"""curate@t: keep the candidates scored >= k, then the best fraction (section `curate`), with a
data card; rewrite@t makes M_t's training set from them."""

from pathlib import Path

from humpback.cards import curated_card
from humpback.config import load_params
from humpback.curation import curate, read_candidates, read_scores
from humpback.metrics import write_metrics
from humpback.records import write_jsonl
from humpback.scoring_modes import scoring_mode
from humpback.stage import run_stage


def main(candidates: str, scores: str, curated: str, metrics: str, data_card: str) -> None:
    params = load_params(stage="curate")
    pool = read_candidates(candidates)
    mode = scoring_mode(params.score.mode)
    ratings = read_scores(scores, {c["id"] for c in pool}, mode)
    kept = curate(pool, ratings, params.curate)
    write_jsonl(curated, kept)
    iteration = Path(curated).stem
    curated_card(iteration=iteration,
                 rater=f"M_{int(iteration) - 1}" if iteration.isdigit() else "the rating model",
                 data_file=Path(curated).name, sources=params.corpus.sources,
                 corpus_params=params.corpus, score_params=params.score,
                 curate_params=params.curate, candidates=len(pool), kept=kept,
                 histogram=mode.histogram(r["score"] for r in ratings)
                 ).save(data_card)
    write_metrics(metrics, {"candidates": len(pool), "curated": len(kept),
                            "kept_fraction": round(len(kept) / max(len(pool), 1), 4),
                            "min_kept_score": kept[-1]["score"] if kept else None})


if __name__ == "__main__":
    run_stage(main, __doc__, "candidates", "scores", "curated", "metrics", "data_card")
