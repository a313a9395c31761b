"""score@t: M_{t-1} rates every candidate on the 5-point rubric (section `score`)."""

from pathlib import Path

from tqdm import tqdm

from humpback import scoring
from humpback.config import load_params
from humpback.generation import load_engine
from humpback.metrics import timed, write_metrics, write_table
from humpback.prompts import load_template
from humpback.records import JsonlWriter, check_jsonl, chunks, read_jsonl
from humpback.resume import ShardStore, fingerprint, lazy
from humpback.stage import run_stage


def main(base_dir: str, model_dir: str, candidates: str, scores: str, metrics: str,
         histogram: str) -> None:
    params = load_params(stage="score")
    template = load_template(params.prompts.score, {"instruction", "output"})
    stats: dict = {"mode": params.score.mode, "backend": params.engine.backend}
    summary = scoring.Summary()
    shards = ShardStore(scores, fingerprint(template, params.score, params.engine,
                                            params.random_seed, Path(base_dir), Path(model_dir)))
    engine = lazy(lambda: load_engine(params.engine, base_dir, model_dir, params.score.batch_size))
    with timed(stats), JsonlWriter(scores) as out:
        bar = tqdm(total=check_jsonl(candidates, ["id", "instruction", "output"]), desc="score",
                   unit="candidate")
        records = read_jsonl(candidates, required=["id", "instruction", "output"])
        for number, chunk in enumerate(chunks(records, params.engine.chunk_size)):
            results = shards.get_or_make(number, chunk, lambda: scoring.score_candidates(
                engine(), template, chunk, params.score, seed=params.random_seed + 10_000 * number))
            out.write(results)  # written to disk chunk by chunk
            summary.add(results)
            bar.update(len(chunk))
        bar.close()
    shards.clear()
    write_metrics(metrics, {**summary.metrics(), **stats, **shards.stats()})
    write_table(histogram, summary.table())


if __name__ == "__main__":
    run_stage(main, __doc__, "base_dir", "model_dir", "candidates", "scores", "metrics",
              "histogram")
