"""judge@t: M_t's answers against M_0's and against the reference answers, judged pairwise in
both orders (section `judge`); the win rate comes with a confidence interval."""

from pathlib import Path

from humpback.config import load_params
from humpback.evaluation import load_instructions, mean_length
from humpback.judging import Comparison, judge, load_judge, win_rate
from humpback.metrics import timed, write_metrics
from humpback.prompts import load_template
from humpback.records import JsonlWriter, RecordError, chunks, read_json
from humpback.resume import ShardStore, fingerprint, lazy
from humpback.stage import run_stage


def main(base_dir: str, model_dir: str, answers: str, baseline_answers: str, judgements: str,
         metrics: str) -> None:
    params = load_params(stage="judge")
    template = load_template(params.judge.prompt, {"instruction", "output_a", "output_b"})
    mine = read_json(answers)
    opponents = {"reference": [r["reference"] for r in load_instructions(params.evaluate)]}
    if Path(baseline_answers).resolve() != Path(answers).resolve():
        opponents["M0"] = [a["output"] for a in _aligned(read_json(baseline_answers), mine,
                                                         baseline_answers)]
    stats: dict = {"judge": params.judge.model, "mode": params.judge.mode,
                   "mean_length": mean_length(a["output"] for a in mine)}
    shards = ShardStore(judgements, fingerprint(template, params.judge, params.engine,
                                                Path(base_dir), Path(model_dir)))
    engine = lazy(lambda: load_judge(params.judge, params.engine, base_dir, model_dir))
    number = 0
    with timed(stats), JsonlWriter(judgements) as out:
        for name, others in opponents.items():
            rows = [{"instruction": a["instruction"], "model_output": a["output"],
                     "other_output": o} for a, o in zip(mine, others) if o is not None]
            records = []
            for chunk in chunks(rows, params.engine.chunk_size):  # kept as shards: see resume.py
                records += shards.get_or_make(number, chunk, lambda: judge(
                    engine(), template, [Comparison(**row) for row in chunk], params.judge.mode,
                    params.judge.max_new_tokens, desc=f"judge vs {name}"))
                number += 1
            if records:  # none against the references if the evaluation set has no references
                out.write({"opponent": name, **r} for r in records)
                stats[f"vs_{name}"] = {**win_rate(records, params.judge.confidence),
                                       "opponent_mean_length": mean_length(
                                           row["other_output"] for row in rows)}
    shards.clear()
    stats.update(shards.stats())
    write_metrics(metrics, stats)


def _aligned(baseline: list[dict], mine: list[dict], path: str) -> list[dict]:
    if [b["instruction"] for b in baseline] != [m["instruction"] for m in mine]:
        raise RecordError(f"{path}: answers a different instruction set; re-run its evaluate stage")
    return baseline


if __name__ == "__main__":
    run_stage(main, __doc__, "base_dir", "model_dir", "answers", "baseline_answers", "judgements",
              "metrics")
