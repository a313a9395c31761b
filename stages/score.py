"""score@t: M_{t-1} scores every candidate (section `score`), then rates a fixed sample again
with the outputs swapped between candidates: the rater check, the AUC of genuine over swapped."""

import sys
from pathlib import Path

from humpback import rater_check, scoring
from humpback.chunk_runner import ChunkRunner
from humpback.config import load_params
from humpback.engines import EngineSpec
from humpback.metrics import timed, write_metrics, write_table
from humpback.prompts import load_template
from humpback.records import JsonlWriter, check_jsonl, read_jsonl
from humpback.stage import run_stage


def main(base_dir: str, model_dir: str, candidates: str, scores: str, metrics: str,
         histogram: str, rater_metrics: str, rater_curve: str) -> None:
    params = load_params(stage="score")
    template = load_template(params.score.prompt, {"instruction", "output"})
    rating = params.score
    stats: dict = {"mode": rating.mode}
    summary = scoring.Summary(rating.mode)
    runner = ChunkRunner(scores, EngineSpec(params.engine.backend, base_dir, model_dir,
                                            batch_size=rating.batch_size,
                                            dtype=params.base.dtype),
                         params.engine, key=(template, rating, params.random_seed),
                         desc="score", unit="candidate")
    total = check_jsonl(candidates, ["id", "instruction", "output"])
    sample = rater_check.load_sample(candidates, rating.check_sample, params.random_seed)
    swapped = rater_check.swapped(sample)
    genuine_ids, genuine, swapped_results = {c["id"] for c in sample}, {}, []
    with timed(stats), JsonlWriter(scores) as out:
        # the swapped pairs go last, as chunks of their own
        for chunk, results in runner.map(lambda engine, chunk, seed: scoring.score_candidates(
                engine, template, chunk, rating, seed, swapped=rater_check.is_swapped(chunk[0])),
                read_jsonl(candidates, required=["id", "instruction", "output"]), swapped,
                total=total + len(swapped), seed=params.random_seed):
            if rater_check.is_swapped(chunk[0]):
                swapped_results += results
                continue
            out.write(results)  # written to disk chunk by chunk
            summary.add(results)
            genuine.update((r["id"], r) for r in results if r["id"] in genuine_ids)
    genuine_scores, against = rater_check.paired_scores(sample, genuine, swapped_results)
    check = rater_check.report(genuine_scores, against, rating.check_confidence)
    write_metrics(metrics, {**summary.metrics(), **stats, "rater_check": check, **runner.finish()})
    write_metrics(rater_metrics, check)
    write_table(histogram, summary.table())
    write_table(rater_curve, rater_check.roc_curve(genuine_scores, against)
                if genuine_scores and against
                else [])
    if rating.check_sample and rater_check.is_chance(check):
        print(rater_check.warning(f"score@{Path(scores).stem}", check), file=sys.stderr)


if __name__ == "__main__":
    run_stage(main, __doc__, "base_dir", "model_dir", "candidates", "scores", "metrics",
              "histogram", "rater_metrics", "rater_curve")
