"""Metrics (`dvc metrics show`) and plot tables (`dvc plots show`) written by every stage."""

from __future__ import annotations

import csv
import json
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
