"""judge@t: M_t's answers against M_0's and against the reference answers, judged pairwise in
both orders (section `judge`); the win rate comes with a confidence interval."""

from pathlib import Path

from humpback.chunk_runner import ChunkRunner
from humpback.config import load_params
from humpback.evaluation import load_instructions, mean_length
from humpback.engines import chosen_spec
from humpback.judging import Comparison, judge, win_rate
from humpback.metrics import timed, write_metrics
from humpback.prompts import load_template
from humpback.records import JsonlWriter, RecordError, read_json
from humpback.stage import run_stage


def main(base_dir: str, model_dir: str, answers: str, baseline_answers: str, judgements: str,
         metrics: str) -> None:
    params = load_params(stage="judge")
    settings = params.judge
    template = load_template(settings.prompt, {"instruction", "output_a", "output_b"})
    mine = read_json(answers)
    opponents = {"reference": [r["reference"] for r in load_instructions(params.evaluate)]}
    if Path(baseline_answers).resolve() != Path(answers).resolve():
        opponents["M0"] = [a["output"] for a in _aligned(read_json(baseline_answers), mine,
                                                         baseline_answers)]
    stats: dict = {"judge": settings.model, "mode": settings.mode,
                   "mean_length": mean_length(a["output"] for a in mine)}
    rows = {name: [{"opponent": name, "instruction": a["instruction"],
                    "model_output": a["output"], "other_output": o}
                   for a, o in zip(mine, others) if o is not None]
            for name, others in opponents.items()}
    runner = ChunkRunner(judgements, chosen_spec(settings, params.engine.backend, base_dir,
                                                 model_dir, settings.batch_size,
                                                 params.base.dtype),
                         params.engine, key=(template, settings), desc="judge",
                         unit="comparison")
    records = {name: [] for name in rows}
    with timed(stats):
        # each opponent's rows a stream of their own: a chunk never mixes two opponents
        for chunk, done in runner.map(lambda engine, chunk, seed: judge(
                engine, template, [Comparison(row["instruction"], row["model_output"],
                                              row["other_output"]) for row in chunk],
                settings.mode, settings.max_new_tokens),
                *rows.values(), total=sum(map(len, rows.values()))):
            records[chunk[0]["opponent"]] += done
    with JsonlWriter(judgements) as out:
        for name, judged in records.items():
            if judged:  # none against the references if the evaluation set has no references
                out.write({"opponent": name, **r} for r in judged)
                stats[f"vs_{name}"] = {**win_rate(judged, settings.confidence),
                                       "opponent_mean_length": mean_length(
                                           row["other_output"] for row in rows[name])}
    write_metrics(metrics, {**stats, **runner.finish()})


def _aligned(baseline: list[dict], mine: list[dict], path: str) -> list[dict]:
    if [b["instruction"] for b in baseline] != [m["instruction"] for m in mine]:
        raise RecordError(f"{path}: answers a different instruction set; re-run its evaluate stage")
    return baseline


if __name__ == "__main__":
    run_stage(main, __doc__, "base_dir", "model_dir", "answers", "baseline_answers", "judgements",
              "metrics")
