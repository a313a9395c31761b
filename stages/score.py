"""score@t: M_{t-1} rates every candidate on the 5-point rubric (section `score`)."""

from tqdm import tqdm

from humpback import scoring
from humpback.config import load_params
from humpback.generation import load_engine
from humpback.metrics import timed, write_metrics, write_table
from humpback.prompts import load_template
from humpback.records import JsonlWriter, chunks, count_lines, read_jsonl
from humpback.stage import run_stage


def main(base_dir: str, model_dir: str, candidates: str, scores: str, metrics: str,
         histogram: str) -> None:
    params = load_params()
    template = load_template(params.prompts.score, {"instruction", "output"})
    stats: dict = {"mode": params.score.mode, "backend": params.engine.backend}
    summary = scoring.Summary()
    with timed(stats), JsonlWriter(scores) as out:
        engine = load_engine(params.engine, base_dir, model_dir, params.score.batch_size)
        bar = tqdm(total=count_lines(candidates), desc="score", unit="candidate")
        records = read_jsonl(candidates, required=["id", "instruction", "output"])
        for number, chunk in enumerate(chunks(records, params.engine.chunk_size)):
            results = scoring.score_candidates(engine, template, chunk, params.score,
                                               seed=params.random_seed + 10_000 * number)
            out.write(results)  # written to disk chunk by chunk
            summary.add(results)
            bar.update(len(chunk))
        bar.close()
    write_metrics(metrics, {**summary.metrics(), **stats})
    write_table(histogram, summary.table())


if __name__ == "__main__":
    run_stage(main, __doc__, "base_dir", "model_dir", "candidates", "scores", "metrics",
              "histogram")
