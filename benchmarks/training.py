"""Training step time, humpback's loop against TRL's SFTTrainer, side by side (run by hand).

    pip install -e '.[bench]'          # trl
    python benchmarks/training.py --base models/base --data data/train/0.jsonl \
        --steps 4 --repeats 3 --out benchmarks/results-training-cpu.md

Same model (the base with the `forward` section's LoRA: r, alpha, dropout, top layers), same
examples (the forward prompt with the seed tag, loss on the answer only), same global batch and
micro-batch (gradient accumulation), same max length, same optimizer settings. Each run is a fresh
process (model load not timed); runs alternate between the methods, repeat after repeat, so that a
machine busy with other work slows all of them alike. The time of a step is the wall time between
the ends of consecutive optimizer steps (the first step, with its warm-up, is not timed).

- `humpback`: `humpback.training.train`, what the backward and forward stages run;
- `sft`: TRL's SFTTrainer as TRL configures it by default (gradient checkpointing on);
- `sft-no-gc`: the same without gradient checkpointing (the fair comparison of the loops).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

METHODS = ("humpback", "sft", "sft-no-gc")


def pairs_and_params(data: str, params_file: str):
    from humpback.config import load_params
    from humpback.prompts import with_tag
    from humpback.records import read_jsonl

    params = load_params(params_file)
    pairs = [(with_tag(r["instruction"], params.prompts.seed_tag), r["output"])
             for r in read_jsonl(data, required=["instruction", "output"])]
    return pairs, params


def run_humpback(base: str, pairs, train_params, steps: int, seed: int) -> list[float]:
    from humpback.training import train

    marks: list[float] = []
    with tempfile.TemporaryDirectory() as out:
        train(base, pairs, dataclasses.replace(train_params, steps=steps, checkpoint_every=None),
              seed, out, on_step=lambda step, loss: marks.append(time.perf_counter()))
    return [b - a for a, b in zip(marks, marks[1:])]


def run_sft(base: str, pairs, train_params, steps: int, seed: int, checkpointing: bool) -> list[float]:
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import SFTConfig, SFTTrainer

    from humpback.models import load_for_training, load_tokenizer
    from humpback.prompts import chat_example
    from humpback.training import _prepare

    tokenizer = load_tokenizer(base)
    rows = [dict(zip(("prompt", "completion"), chat_example(tokenizer, user, answer)))
            for user, answer in pairs]
    model = _prepare(load_for_training(base, train_params.method == "full"), train_params)
    marks: list[float] = []

    class Marks(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            marks.append(time.perf_counter())

    with tempfile.TemporaryDirectory() as out:
        config = SFTConfig(
            output_dir=out, max_steps=steps, seed=seed, report_to=[], save_strategy="no",
            logging_strategy="no", use_cpu=True, dataloader_num_workers=0,
            per_device_train_batch_size=train_params.micro_batch_size,
            gradient_accumulation_steps=train_params.batch_size // train_params.micro_batch_size,
            learning_rate=train_params.learning_rate, weight_decay=train_params.weight_decay,
            lr_scheduler_type="linear", warmup_steps=0, max_grad_norm=1.0,
            max_length=train_params.max_length, completion_only_loss=True,
            gradient_checkpointing=checkpointing, bf16=False, fp16=False)
        SFTTrainer(model=model, args=config, train_dataset=Dataset.from_list(rows),
                   processing_class=tokenizer, callbacks=[Marks()]).train()
    return [b - a for a, b in zip(marks, marks[1:])]


def one_run(args) -> None:
    """In a fresh process: one method, one repeat; prints the step times as JSON."""
    import torch

    torch.manual_seed(args.seed)
    pairs, params = pairs_and_params(args.data, args.params)
    if args.one == "humpback":
        times = run_humpback(args.base, pairs, params.forward.train, args.steps, args.seed)
    else:
        times = run_sft(args.base, pairs, params.forward.train, args.steps, args.seed,
                        checkpointing=args.one == "sft")
    print("STEP_TIMES " + json.dumps(times), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="models/base")
    parser.add_argument("--data", default="data/train/0.jsonl")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None)
    parser.add_argument("--one", choices=METHODS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        return one_run(args)

    times: dict[str, list[float]] = {m: [] for m in METHODS}
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    for repeat in range(args.repeats):
        for method in METHODS:
            command = [sys.executable, __file__, "--one", method, *sys.argv[1:]]
            result = subprocess.run(command, capture_output=True, text=True, check=False)
            lines = [l for l in result.stdout.splitlines() if l.startswith("STEP_TIMES ")]
            if result.returncode or not lines:
                sys.exit(f"{method} failed:\n{result.stderr[-3000:]}")
            times[method] += json.loads(lines[-1].removeprefix("STEP_TIMES "))
            print(f"repeat {repeat + 1}/{args.repeats} {method}: "
                  f"{statistics.median(times[method]):.2f} s/step so far", flush=True)
    report = render(args, times, started)
    print(report)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            handle.write(report)


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            return next(l.split(":", 1)[1].strip() for l in handle if l.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def render(args, times: dict[str, list[float]], started: str) -> str:
    import torch
    import transformers
    import trl

    from humpback.config import load_params

    params = load_params(args.params).forward
    medians = {m: statistics.median(t) for m, t in times.items()}
    load = os.getloadavg()
    lines = [
        f"## Training step time: humpback's loop vs TRL's SFTTrainer ({started})",
        "",
        f"- machine: {cpu_name()}, {os.cpu_count()} cores, "
        f"{torch.get_num_threads()} torch threads, load average at the end "
        f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1 / 5 / 15 min; other work shared it)",
        f"- torch {torch.__version__}, transformers {transformers.__version__}, trl {trl.__version__}",
        f"- model: {args.base} with the forward section's {params.method} "
        f"(r {params.lora_r}, top {params.lora_top_layers} layers); data: {args.data}",
        f"- global batch {params.batch_size} as {params.batch_size // params.micro_batch_size} "
        f"micro-batches of {params.micro_batch_size}, max length {params.max_length}",
        f"- {args.steps} steps per run, {args.repeats} runs per method, alternating; "
        "the first step of each run not timed",
        "",
        "| method | median s/step | min | max | steps timed | humpback is faster by |",
        "|---|---|---|---|---|---|",
    ]
    for method in METHODS:
        t = times[method]
        ratio = medians[method] / medians["humpback"]
        lines.append(f"| {method} | {medians[method]:.2f} | {min(t):.2f} | {max(t):.2f} | "
                     f"{len(t)} | {ratio:.2f}x |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
