"""The scoring modes side by side on the default run (run by hand, after `dvc repro`).

    .venv/bin/python benchmarks/curation_modes.py --out benchmarks/results-curation.md

For each rater of the default run (M_0 rates iteration 1, M_1 iteration 2) and each scoring mode
(likelihood, logprob, generate), it scores every candidate of data/candidates.jsonl and the rater
check's swapped sample through the stages' own code (the same prompts, engine and params as
score@t, the mode apart), then reports what the pipeline would report: the rater check (AUC of
genuine over swapped pairs, DeLong's interval) and the precision and recall against the hand labels
(data/labels.jsonl) of the set `curate` would keep (the params' top_fraction and min_score; a
rubric threshold is left out for likelihood, whose units differ). Both raters are the default
run's models: M_1 was trained on the default mode's curated set, whatever mode it rates with here.
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import time
from pathlib import Path

from humpback import rater_check
from humpback.config import load_params
from humpback.curation import curate, label_quality, read_candidates, read_labels
from humpback.engines import EngineSpec, load_engine
from humpback.prompts import load_template
from humpback.records import chunks
from humpback.scoring import score_candidates
from humpback.scoring_modes import MODES, scoring_mode


def measure(params, mode: str, rater: int, candidates: list[dict], labels: dict) -> dict:
    score = dataclasses.replace(params.score, mode=mode)
    template = load_template(params.prompts.score, {"instruction", "output"})
    engine = load_engine(EngineSpec(params.engine.backend, "models/base", f"models/forward/{rater}",
                                    batch_size=score.batch_size), params.engine)
    sample = rater_check.load_sample("data/candidates.jsonl", score.check_sample,
                                     params.random_seed)
    swapped = rater_check.swapped(sample)
    start = time.perf_counter()
    try:
        records, swapped_records = [], []
        for number, chunk in enumerate(chunks(candidates, params.engine.chunk_size)):
            records += score_candidates(engine, template, chunk, score, params.random_seed + 10_000 * number)
        for number, chunk in enumerate(chunks(swapped, params.engine.chunk_size)):
            swapped_records += score_candidates(
                engine, template, chunk, score, params.random_seed + 10_000 * (number + 1_000),
                swapped=True)
    finally:
        engine.close()
    seconds = time.perf_counter() - start
    by_id = {r["id"]: r["score"] for r in records}
    genuine, against = rater_check.paired_scores(sample, {r["id"]: r for r in records},
                                                 swapped_records)
    check = rater_check.report(genuine, against, score.check_confidence)
    # the params' min_score is on the rubric: a mode scored on another scale gets none
    threshold = None if scoring_mode(mode).scale is None else params.curate.min_score
    kept = curate(candidates, records, dataclasses.replace(params.curate, min_score=threshold))
    quality = label_quality(candidates, kept, labels)
    return {"mode": mode, "rater": f"M_{rater}", "seconds": round(seconds, 1),
            "scored": sum(s is not None for s in by_id.values()), **check, **quality}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--raters", default="0,1")
    parser.add_argument("--out", default="benchmarks/results-curation.md")
    args = parser.parse_args()
    params = load_params()
    candidates = read_candidates("data/candidates.jsonl")
    labels = read_labels(params.evaluate.labels)
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    header = [f"## Scoring modes on the default run ({stamp})", "",
              f"- machine: {platform.processor() or platform.machine()}, "
              f"{__import__('os').cpu_count()} cores; engine {params.engine.backend}; "
              f"check sample {params.score.check_sample}; curation: top_fraction "
              f"{params.curate.top_fraction}", "",
              "| rater | mode | AUC genuine vs swapped [95 % CI] | precision | recall | kept (labelled) "
              "| keep-all precision | scored | seconds |", "|---|---|---|---|---|---|---|---|---|"]
    out = Path(args.out)
    out.write_text("\n".join(header) + "\n")
    print("\n".join(header), flush=True)
    for rater in args.raters.split(","):
        for mode in args.modes.split(","):
            r = measure(params, mode, int(rater), candidates, labels)
            auc = f"{r['auc']} [{r['ci_low']}, {r['ci_high']}]" if r["auc"] is not None else "–"
            line = (f"| {r['rater']} | {r['mode']} | {auc} | {r['precision']} | {r['recall']} "
                    f"| {r['curated_labelled']} | {r['baseline_precision']} | {r['scored']}/"
                    f"{len(candidates)} | {r['seconds']} |")
            with out.open("a") as handle:  # row by row: a long run keeps what it measured
                handle.write(line + "\n")
            print(line, flush=True)


if __name__ == "__main__":
    main()
