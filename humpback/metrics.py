"""Metrics (`dvc metrics show`) and plot tables (`dvc plots show`) written by every stage."""

from __future__ import annotations

import csv
import json
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


@contextmanager
def timed(metrics: dict, key: str = "seconds"):
    """Add the wall time of the block to `metrics[key]`."""
    start = time.perf_counter()
    try:
        yield
    finally:
        metrics[key] = round(metrics.get(key, 0) + time.perf_counter() - start, 1)
