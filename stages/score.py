"""score@t: M_{t-1} rates every candidate on the 5-point rubric (section `score`)."""

from humpback import scoring
from humpback.config import load_params
from humpback.generation import hf_engine
from humpback.metrics import timed, write_metrics, write_table
from humpback.prompts import load_template
from humpback.records import read_jsonl, write_jsonl
from humpback.stage import run_stage


def main(base_dir: str, model_dir: str, candidates: str, scores: str, metrics: str,
         histogram: str) -> None:
    params = load_params()
    template = load_template(params.prompts.score, {"instruction", "output"})
    records = list(read_jsonl(candidates, required=["id", "instruction", "output"]))
    stats: dict = {"mode": params.score.mode}
    with timed(stats):
        engine = hf_engine(base_dir, model_dir, params.score.batch_size)
        results = scoring.score_candidates(engine, engine.tokenizer, template, records,
                                           params.score, params.random_seed)
    write_jsonl(scores, results)
    summary, table = scoring.summarise(results)
    write_metrics(metrics, {**summary, **stats})
    write_table(histogram, table)


if __name__ == "__main__":
    run_stage(main, __doc__, "base_dir", "model_dir", "candidates", "scores", "metrics",
              "histogram")
