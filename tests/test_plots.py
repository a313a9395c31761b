"""`dvc plots show` as a person sees it: each plot's fields, axis types and template in the
Vega-Lite specs DVC emits (`dvc plots show --json`), and what they draw, rendered offline."""

import json
import os
import shutil
import subprocess
import sys

import pytest
import vl_convert
import yaml

from conftest import ROOT
from test_bad_input import jsonl

MODELS = ["M_0", "M_1", "M_2"]
RATER_PLOT = "Rater check by model (AUC of genuine over swapped pairs; 0.5 is chance)"
WIN_RATES = {"win_rate_vs_reference", "win_rate_vs_M0", "weighted_win_rate_vs_reference",
             "weighted_win_rate_vs_M0"}


def dvc(project, *args) -> str:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "dvc", *args], cwd=project, env=env,
                          capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def plots(tmp_path_factory) -> dict[str, dict]:
    """The specs of a project with the shipped dvc.yaml, params and templates: the by-model
    table written by the compare stage, the default run's histograms and loss curves."""
    project = tmp_path_factory.mktemp("plots")
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    dvc(project, "init", "-q")
    for name in ("dvc.yaml", "params.yaml", "data/labels.jsonl", "plots/scores", "plots/loss",
                 "plots/rater", ".dvc/plots"):
        source, target = ROOT / name, project / name
        target.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree(source, target, dirs_exist_ok=True) if source.is_dir()
         else shutil.copy(source, target))
    for t in range(3):
        (project / "metrics/evaluate").mkdir(parents=True, exist_ok=True)
        (project / "metrics/judge").mkdir(parents=True, exist_ok=True)
        (project / f"metrics/evaluate/{t}.json").write_text(json.dumps({"nll": 2.5 - t / 10}))
        result = {"win_rate": 0.4 + t / 10, "weighted_win_rate": 0.45 + t / 10}
        judged = {"vs_reference": result, **({"vs_M0": result} if t else {})}
        (project / f"metrics/judge/{t}.json").write_text(json.dumps(judged))
    (project / "metrics/rater").mkdir()
    for t in (1, 2):  # M_0 rates iteration 1, M_1 iteration 2; M_2 rates nothing
        rater = {"auc": round(0.5 + t / 10, 2), "ci_low": round(0.4 + t / 10, 2), "ci_high": round(0.6 + t / 10, 2)}
        (project / f"metrics/rater/{t}.json").write_text(json.dumps(rater))
    (project / "candidates.jsonl").write_bytes(jsonl({"id": "c0", "instruction": "x"}))
    (project / "curated").mkdir()
    result = subprocess.run(
        [sys.executable, str(ROOT / "stages/compare.py"), "metrics/evaluate", "metrics/judge",
         "metrics/rater", "candidates.jsonl", "curated", "plots/iterations.csv",
         "plots/rater.csv", "metrics/curation.json"],
        cwd=project, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    shown = json.loads(dvc(project, "plots", "show", "--json"))
    assert all(shown["data"].values()), shown.get("errors")
    return {name: renderers[0]["content"] for name, renderers in shown["data"].items()}


def axis(spec: dict, channel: str) -> tuple[str, str]:
    encoding = spec.get("encoding") or spec["layer"][0]["encoding"]
    return encoding[channel]["field"], encoding[channel]["type"]


def drawn(spec: dict) -> list[str]:
    """What the rendered picture says: its axes and marks, as screen readers get them."""
    import re

    return re.findall(r'aria-label="([^"]+)"', vl_convert.vegalite_to_svg(spec))


def test_every_plot_is_there(plots):
    assert set(plots) == {"Win rate by model", RATER_PLOT, "Reference NLL by model", "plots/scores/1.csv",
                          "plots/scores/2.csv", "plots/loss/backward.csv"} | {
        f"plots/loss/forward-{t}.csv" for t in range(3)} | {"plots/rater/1.csv", "plots/rater/2.csv"}


@pytest.mark.parametrize("plot", ["plots/scores/1.csv", "plots/scores/2.csv"])
def test_score_histograms_are_bars_of_counts_over_the_scores(plots, plot):
    """Bars of the count of each score over the scores on an ordinal axis: the ratings 1-5 in
    the rubric modes; in likelihood mode (the default run's) bars of 0.025 nats per token from
    the lowest score to the highest, none left out."""
    spec = plots[plot]
    assert spec["mark"]["type"] == "bar"  # .dvc/plots/histogram.json
    assert axis(spec, "x") == ("score", "ordinal") and axis(spec, "y") == ("count", "quantitative")
    counts = {row["score"]: int(row["count"]) for row in spec["data"]["values"]}
    mode = yaml.safe_load((ROOT / "params.yaml").read_text())["score"]["mode"]
    if mode == "likelihood":
        bars = [float(bar) for bar in counts]
        assert bars == pytest.approx([bars[0] + 0.025 * i for i in range(len(bars))])
    else:
        assert list(counts) == ["1", "2", "3", "4", "5"]
    rated = json.loads((ROOT / f"metrics/score/{plot[-5]}.json").read_text())["parsed"]
    assert sum(counts.values()) == rated
    labels = drawn(spec)
    assert any(f"discrete scale with {len(counts)} values: {next(iter(counts))}," in label
               for label in labels)
    assert any("linear scale" in label and "Y-axis" in label for label in labels)
    x_title = (spec.get("encoding") or spec["layer"][0]["encoding"])["x"]["title"]
    bars = [label for label in labels if label.startswith(f"{x_title}: ")]
    assert bars == [f"{x_title}: {r}; candidates: {c}; rev: workspace" for r, c in counts.items()]


def test_win_rates_by_model_on_an_ordinal_axis(plots):
    spec = plots["Win rate by model"]
    assert axis(spec, "x") == ("model", "ordinal")
    assert axis(spec, "y") == ("dvc_inferred_y_value", "quantitative")
    assert spec["layer"][0]["encoding"]["y"]["scale"] == {"domain": [0, 1]}  # win_rate.json
    rows = spec["data"]["values"]
    assert {row["field"] for row in rows} == WIN_RATES
    assert [row["model"] for row in rows if row["field"] == "win_rate_vs_reference"] == MODELS
    labels = drawn(spec)
    assert any("discrete scale with 3 values: M_0, M_1, M_2" in label for label in labels)
    assert any("legend titled 'metric'" in label and "4 values" in label for label in labels)


def test_rater_auc_by_model_with_its_interval(plots):
    spec = plots[RATER_PLOT]
    assert axis(spec, "x") == ("model", "ordinal")
    assert spec["layer"][0]["encoding"]["y"]["scale"] == {"domain": [0, 1]}
    # M_2 rates no iteration: it has no point (not one at 0)
    values = {(row["model"], row["field"]): float(row["dvc_inferred_y_value"])
              for row in spec["data"]["values"]}
    assert values == {("M_0", "rater_auc"): 0.6, ("M_0", "rater_auc_low"): 0.5,
                      ("M_0", "rater_auc_high"): 0.7, ("M_1", "rater_auc"): 0.7,
                      ("M_1", "rater_auc_low"): 0.6, ("M_1", "rater_auc_high"): 0.8}


@pytest.mark.parametrize("plot", ["plots/rater/1.csv", "plots/rater/2.csv"])
def test_rater_check_roc_curves(plots, plot):
    spec = plots[plot]
    assert axis(spec, "x") == ("false_positive_rate", "quantitative")
    assert axis(spec, "y") == ("true_positive_rate", "quantitative")
    points = [(float(r["false_positive_rate"]), float(r["true_positive_rate"]))
              for r in spec["data"]["values"]]
    assert points[0] == (0.0, 0.0) and points[-1] == (1.0, 1.0)  # a ROC curve, corner to corner
    assert points == sorted(points)


def test_reference_nll_by_model_on_an_ordinal_axis(plots):
    spec = plots["Reference NLL by model"]
    assert axis(spec, "x") == ("model", "ordinal") and axis(spec, "y") == ("nll", "quantitative")
    assert [layer["mark"] for layer in spec["layer"]][0] == "line"  # by_model.json
    assert [row["model"] for row in spec["data"]["values"]] == MODELS
    assert any("discrete scale with 3 values: M_0, M_1, M_2" in label for label in drawn(spec))


@pytest.mark.parametrize("plot", ["plots/loss/backward.csv", "plots/loss/forward-1.csv"])
def test_loss_curves_over_steps(plots, plot):
    spec = plots[plot]
    assert axis(spec, "x") == ("step", "quantitative")
    assert spec["layer"][0]["encoding"]["y"]["field"] == "loss"  # DVC's linear template
    assert spec["title"]["text"].startswith("Training loss of M_")
