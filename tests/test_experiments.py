"""The variants of docs/curation.md as DVC experiments, under the real `dvc exp run` on the tiny
model: a scoring mode changed with `-S` re-runs scoring and what follows, nothing upstream, and
`dvc exp show` puts the variant's params and rater check beside the baseline's (`dvc exp run`
leaves the variant's results in the workspace, as DVC does)."""

import json
import subprocess
import sys

import pytest

from test_pipeline import _env, make_project, repro

pytestmark = pytest.mark.e2e

FROM_SCORING = {"score@1", "curate@1", "rewrite@1", "forward@1", "score@2", "curate@2", "rewrite@2",
                "forward@2", "evaluate@1", "evaluate@2", "judge@1", "judge@2", "compare"}


def run(project, *args: str) -> str:
    result = subprocess.run(args, cwd=project, env=_env(project), capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return result.stdout + result.stderr


def test_a_scoring_mode_variant_runs_as_an_experiment(tmp_path_factory, tiny_model):
    project = make_project(tmp_path_factory, tiny_model)
    repro(project)
    run(project, "git", "add", "-A")
    run(project, "git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "baseline")

    dvc = [sys.executable, "-m", "dvc"]
    log = run(project, *dvc, "exp", "run", "-n", "rubric", "-S", "score.mode=logprob")
    ran = {line.split("'")[1] for line in log.splitlines() if line.startswith("Running stage '")}
    assert ran == FROM_SCORING

    shown = json.loads(run(project, *dvc, "exp", "show", "--json"))
    (baseline,) = [rev for rev in shown if rev["rev"] != "workspace"]  # the commit, its experiments
    variants = {exp["name"]: exp for exp in baseline["experiments"]}

    def summary(rev: dict) -> tuple[str, float]:
        data = rev["data"]
        return (data["params"]["params.yaml"]["data"]["score"]["mode"],
                data["metrics"]["metrics/rater/1.json"]["data"]["auc"])

    base_mode, base_auc = summary(baseline)
    rubric_mode, rubric_auc = summary(variants["rubric"]["revs"][0])
    assert (base_mode, rubric_mode) == ("likelihood", "logprob")
    assert 0 <= base_auc <= 1 and 0 <= rubric_auc <= 1
