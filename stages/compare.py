"""compare: one row per model M_t (win rates, reference NLL, the rater check of M_t rating the
next iteration, curated-set size, precision and recall of the curated set against hand labels)
for `dvc plots show` and `dvc metrics show`."""

import json
from pathlib import Path

from humpback.config import load_params
from humpback.curation import label_quality, read_labels
from humpback.metrics import write_metrics, write_table
from humpback.records import read_jsonl
from humpback.stage import run_stage


def main(evaluate_dir: str, judge_dir: str, rater_dir: str, candidates: str, curated_dir: str,
         table: str, rater_table: str, metrics: str) -> None:
    params = load_params(stage="compare")
    labels = read_labels(params.compare.labels)
    pool = list(read_jsonl(candidates, required=["id", "instruction"]))
    rows, quality = [], {}
    for t in params.models:
        evaluated = _read(Path(evaluate_dir, f"{t}.json"))
        judged = _read(Path(judge_dir, f"{t}.json"))
        row = {"model": f"M_{t}", "nll": evaluated.get("nll")}  # a label: an ordinal axis
        for opponent in ("reference", "M0"):
            result = judged.get(f"vs_{opponent}", {})
            even = 0.5 if t == 0 and opponent == "M0" else None  # M_0 against itself: an even match
            row[f"win_rate_vs_{opponent}"] = result.get("win_rate", even)
            row[f"weighted_win_rate_vs_{opponent}"] = result.get("weighted_win_rate", even)
        rater = _read(Path(rater_dir, f"{t + 1}.json"))  # M_t rates iteration t + 1
        row.update(rater_auc=rater.get("auc"), rater_auc_low=rater.get("ci_low"),
                   rater_auc_high=rater.get("ci_high"))
        row.update(mean_length=evaluated.get("mean_length"), curated=None)
        curated_path = Path(curated_dir, f"{t}.jsonl")
        if t > 0 and curated_path.exists():
            curated = list(read_jsonl(curated_path))
            row["curated"] = len(curated)
            quality[str(t)] = label_quality(pool, curated, labels)
        rows.append(row)
    write_table(table, rows)
    rater_columns = ("model", "rater_auc", "rater_auc_low", "rater_auc_high")
    write_table(rater_table, [{k: row[k] for k in rater_columns} for row in rows
                              if row["rater_auc"] is not None])
    write_metrics(metrics, {"curation_quality": quality})


def _read(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


if __name__ == "__main__":
    run_stage(main, __doc__, "evaluate_dir", "judge_dir", "rater_dir", "candidates", "curated_dir",
              "table", "rater_table", "metrics")
