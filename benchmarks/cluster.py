"""Local executor vs Ray (1 and 2 replicas) on the same inputs, at equal cores (run by hand).

    python benchmarks/cluster.py --segments 16 --chunk-size 4 --repeats 3 --out benchmarks/results-cluster.md

Needs the default run's augment inputs (models/base, models/backward, data/corpus.jsonl) and
the [ray] extra. It runs the augment stage's own chunk runner and domain call on the first N
segments, three ways on the machine's cores: local (one engine, all cores), Ray with one replica
holding all cores, Ray with one replica per core. Each Ray run starts Ray on this machine and its
replicas, as a stage does. It reports medians of wall time, start-up (the engine's load; on Ray
also Ray's start and the replicas'), the engine's own time (inside the domain calls) and the
overhead: wall time less start-up less engine time per replica, as a share of the engine time per
replica. It also checks that every run wrote the same bytes.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import platform
import statistics
import time
from pathlib import Path

from humpback.augmentation import augment
from humpback.chunk_runner import ChunkRunner
from humpback.config import load_params
from humpback.engines import EngineSpec
from humpback.prompts import load_template


def run(params, config: dict, segments: list[dict], chunk_size: int, label: str) -> dict:
    engine = dataclasses.replace(params.engine, executor=config["executor"], chunk_size=chunk_size,
                                 ray=dataclasses.replace(params.engine.ray, **config["ray"]))
    template = load_template(params.backward.prompt, {"output"})
    sampling = params.augment
    runner = ChunkRunner(f"bench/{label}", EngineSpec(engine.backend, "models/base",
                                                      "models/backward", batch_size=sampling.batch_size),
                         engine, key=(label, time.time()), desc=label, unit="segment")
    start = time.perf_counter()
    lines = [json.dumps(pair, sort_keys=True, ensure_ascii=False)
             for _, pairs in runner.map(lambda e, chunk, seed: augment(e, template, chunk, sampling, seed),
                                        segments, total=len(segments),
                                        seed=params.random_seed)
             for pair in pairs]
    wall = time.perf_counter() - start
    stats = runner.finish()
    replicas = config["ray"]["replicas"] if config["executor"] == "ray" else 1
    per_replica = stats["engine_seconds"] / replicas
    return {"wall_s": wall, "startup_s": stats["startup_seconds"], "engine_s": per_replica,
            "overhead_pct": 100 * (wall - stats["startup_seconds"] - per_replica) / per_replica,
            "sha256": hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=32)
    parser.add_argument("--chunk-size", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="-", help="Markdown report file (default: stdout).")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    params = load_params()
    segments = [json.loads(line) for line in open("data/corpus.jsonl")][: args.segments]
    configs = {
        f"local ({cores} threads)": {"executor": "local", "ray": {}},
        f"ray, 1 replica x {cores} CPUs": {"executor": "ray", "ray": {
            "address": None, "replicas": 1, "cpus_per_replica": cores}},
        f"ray, {cores} replicas x 1 CPU": {"executor": "ray", "ray": {
            "address": None, "replicas": cores, "cpus_per_replica": 1}},
    }
    results = {name: [] for name in configs}
    for repeat in range(args.repeats):  # interleaved, so drifting load hits every config alike
        for name, config in configs.items():
            results[name].append(run(params, config, segments, args.chunk_size,
                                     f"{name}-{repeat}".replace(" ", "_").replace(",", "")))
    lines = report(results, args, cores)
    if args.out == "-":
        print("\n".join(lines))
    else:
        with open(args.out, "a", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n\n")


def report(results: dict, args, cores: int) -> list[str]:
    import ray
    import torch

    def median(name, key):
        return statistics.median(r[key] for r in results[name])

    local = next(iter(results))
    lines = [f"## augment, {args.segments} segments in chunks of {args.chunk_size}, "
             f"median of {args.repeats}", "",
             f"- machine: {cpu_name()}, {cores} cores; torch {torch.__version__}, ray "
             f"{ray.__version__}; SmolLM2-135M-Instruct ({load_params().base.dtype}) with the default run's backward "
             f"adapter, HF engine", "",
             "| executor | wall s | start-up s | engine s per replica | overhead (% of engine) "
             "| segments/s after start-up | output sha256 |", "|---|---|---|---|---|---|---|"]
    for name in results:
        run_s = median(name, "wall_s") - median(name, "startup_s")
        lines.append(f"| {name} | {median(name, 'wall_s'):.1f} | {median(name, 'startup_s'):.1f} | "
                     f"{median(name, 'engine_s'):.1f} | {median(name, 'overhead_pct'):.1f} | "
                     f"{args.segments / run_s:.2f} | "
                     f"{', '.join(sorted({r['sha256'] for r in results[name]}))} |")
    same = len({r["sha256"] for runs in results.values() for r in runs}) == 1
    one_replica = list(results)[1]
    extra = (median(one_replica, "wall_s") - median(one_replica, "startup_s")) - (
        median(local, "wall_s") - median(local, "startup_s"))
    lines += ["", f"Ray with one replica on all {cores} cores against the local executor: "
              f"{extra:+.1f} s after start-up, {100 * extra / median(local, 'engine_s'):+.1f} % "
              f"of the local engine time (target: at most 5 %).",
              f"Every run wrote the same bytes: {'yes' if same else 'NO'}."]
    return lines


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.machine()


if __name__ == "__main__":
    main()
