"""Metrics (`dvc metrics show`) and plot tables (`dvc plots show`) written by every stage."""

from __future__ import annotations

import csv
import json
import math
import resource
import time
from contextlib import contextmanager
from pathlib import Path


def write_metrics(path: str | Path, metrics: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def write_table(path: str | Path, rows: list[dict]) -> None:
    """A CSV plot table; the columns are the keys of the first row."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else ["empty"])
        writer.writeheader()
        writer.writerows(rows)


LIKELIHOOD_BIN = 0.025  # nats per token: a bar of likelihood scores (135M gains span about -0.06..0.2)


def score_histogram(scores, mode: str) -> dict:
    """Counts of scores by bar: the ratings 1-5 (rounded) for the rubric modes; for likelihood,
    bars of LIKELIHOOD_BIN nats per token from the lowest score to the highest."""
    counts: dict = {}
    for score in scores:
        if score is not None:
            bar = round(score) if mode != "likelihood" else round(
                math.floor(round(score / LIKELIHOOD_BIN, 6)) * LIKELIHOOD_BIN, 3)
            counts[bar] = counts.get(bar, 0) + 1
    if mode != "likelihood":
        return {r: counts.get(r, 0) for r in range(1, 6)}
    if not counts:
        return {}
    low, high = min(counts), max(counts)
    bars = [round(low + i * LIKELIHOOD_BIN, 3) for i in range(round((high - low) / LIKELIHOOD_BIN) + 1)]
    return {bar: counts.get(bar, 0) for bar in bars}


def write_loss_curve(path: str | Path, losses: list[float]) -> None:
    write_table(path, [{"step": step, "loss": round(loss, 4)} for step, loss in enumerate(losses)])


@contextmanager
def timed(metrics: dict):
    """Record the block's wall time and the process's peak memory so far."""
    start = time.perf_counter()
    try:
        yield
    finally:
        metrics["seconds"] = round(time.perf_counter() - start, 1)
        peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
        metrics["peak_memory_gb"] = round(peak_kib / 2**20, 2)
