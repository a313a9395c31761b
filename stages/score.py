"""score@t: M_{t-1} rates every candidate on the 5-point rubric (section `score`)."""

from pathlib import Path

from humpback import scoring
from humpback.chunk_runner import ChunkRunner
from humpback.config import load_params
from humpback.engines import EngineSpec
from humpback.metrics import timed, write_metrics, write_table
from humpback.prompts import load_template
from humpback.records import JsonlWriter, check_jsonl, chunks, read_jsonl
from humpback.stage import run_stage


def main(base_dir: str, model_dir: str, candidates: str, scores: str, metrics: str,
         histogram: str) -> None:
    params = load_params(stage="score")
    template = load_template(params.prompts.score, {"instruction", "output"})
    rating = params.score
    stats: dict = {"mode": rating.mode, "backend": params.engine.backend}
    summary = scoring.Summary()
    runner = ChunkRunner(scores, EngineSpec(params.engine.backend, base_dir, model_dir,
                                            batch_size=rating.batch_size),
                         params.engine, key=(template, rating, params.random_seed,
                                             Path(base_dir), Path(model_dir)),
                         desc="score", unit="candidate")
    with timed(stats), JsonlWriter(scores) as out:
        total = check_jsonl(candidates, ["id", "instruction", "output"])
        records = chunks(read_jsonl(candidates, required=["id", "instruction", "output"]),
                         params.engine.chunk_size)
        for _, results in runner.map(lambda engine, chunk, seed: scoring.score_candidates(
                engine, template, chunk, rating, seed), records, total, seed=params.random_seed):
            out.write(results)  # written to disk chunk by chunk
            summary.add(results)
    write_metrics(metrics, {**summary.metrics(), **stats, **runner.finish()})
    write_table(histogram, summary.table())


if __name__ == "__main__":
    run_stage(main, __doc__, "base_dir", "model_dir", "candidates", "scores", "metrics",
              "histogram")
