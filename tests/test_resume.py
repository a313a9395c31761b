"""A stage killed with SIGKILL part-way, then `dvc repro` again: the same bytes as a run never
interrupted, and no finished shard (or checkpointed step) done twice. Real processes, real kill."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml
from safetensors import safe_open

from test_pipeline import _env, make_project, repro

pytestmark = pytest.mark.e2e

# stage, output to compare, where its finished work is kept, the metrics file it writes.
STAGES = [  # in pipeline order: each is killed during its first run
    ("backward", "models/backward/adapter_model.safetensors",
     ".humpback/checkpoints/models__backward", "metrics/backward.json"),
    ("augment", "data/candidates.jsonl", ".humpback/shards/data__candidates.jsonl", "metrics/augment.json"),
    ("score@1", "data/scores/1.jsonl", ".humpback/shards/data__scores__1.jsonl", "metrics/score/1.json"),
    ("evaluate@0", "data/eval/answers/0.json", ".humpback/shards/data__eval__answers__0.json",
     "metrics/evaluate/0.json"),
    ("judge@0", "data/eval/judgements/0.jsonl", ".humpback/shards/data__eval__judgements__0.jsonl",
     "metrics/judge/0.json"),
]


def make(tmp_path_factory, tiny_model) -> Path:
    project = make_project(tmp_path_factory, tiny_model)
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["engine"]["chunk_size"] = 1  # one shard per record: many chances to kill mid-stage
    params["corpus"]["max_segments"] = 30
    params["augment"]["max_new_tokens"] = 16
    params["evaluate"]["max_new_tokens"] = 16
    params["judge"].update(mode="generate", max_new_tokens=16)  # slower shards: easier to catch
    params["backward"].update(steps=120, checkpoint_every=1)  # seconds of work to kill into
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return project


def finished_work(folder: Path) -> list[Path]:
    """Files written to the end: writes go to a temporary name first (ours end in .tmp,
    safetensors' own start with .tmp) and are renamed when complete."""
    return [p for p in folder.rglob("*") if p.is_file() and not p.name.endswith(".tmp")
            and not p.name.startswith(".tmp")]


def kill_once_work_is_kept(project: Path, stage: str, folder: Path) -> int:
    """Run `dvc repro stage` and SIGKILL its whole process group as soon as some finished
    work is on disk; return how many shards (or checkpoints) there were at the kill."""
    dvc = Path(sys.executable).parent / "dvc"
    log = (project / "killed-run.log").open("w")
    process = subprocess.Popen([dvc, "repro", stage], cwd=project, env=_env(project), stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 300
    while not finished_work(folder) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    assert process.poll() is None, f"{stage} ended before it could be killed: " + \
        (project / "killed-run.log").read_text()[-2000:]
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    return len(finished_work(folder))


def test_killed_stages_resume_to_the_same_bytes(tmp_path_factory, tiny_model):
    uninterrupted = make(tmp_path_factory, tiny_model)
    repro(uninterrupted, "score@1", "judge@0")
    # A second project runs each stage for the first time (so DVC has nothing cached to restore)
    # and is killed part-way through it.
    project = make(tmp_path_factory, tiny_model)
    for stage, output, kept, metrics in STAGES:
        kept_at_kill = kill_once_work_is_kept(project, stage, project / kept)
        assert kept_at_kill >= 1 and not (project / output).exists(), stage
        if stage == "backward":
            (checkpoint,) = finished_work(project / kept)
            steps_done = len(json.loads(safe_open(checkpoint, "pt").metadata()["state"])["losses"])

        assert stage in repro(project, stage)
        assert (project / output).read_bytes() == (uninterrupted / output).read_bytes(), stage
        stats = json.loads((project / metrics).read_text())
        if stage == "backward":  # the steps checkpointed before the kill were not run again
            assert stats["resumed_at_step"] == steps_done and steps_done >= 1, (stage, stats, steps_done)
        else:  # every shard finished before the kill was read back, not made again
            inputs = {"augment": "data/corpus.jsonl", "score@1": "data/candidates.jsonl",
                      "evaluate@0": "data/seed/eval.jsonl", "judge@0": "data/seed/eval.jsonl"}[stage]
            assert stats["shards_reused"] >= kept_at_kill, stage
            records = len((project / inputs).read_text().splitlines())
            if stage == "score@1":  # and the rater check's sample, scored with swapped outputs
                check_sample = yaml.safe_load((project / "params.yaml").read_text())["score"]["check_sample"]
                records += min(check_sample, records)
            assert stats["shards_reused"] + stats["shards_computed"] == records, stage
        assert not finished_work(project / kept), stage  # a finished stage cleans up


def training_processes(project: Path) -> list:
    """Live processes working in `project` (the stage, its launcher, its workers)."""
    found = []
    for process in psutil.process_iter(["cwd"]):
        if process.info["cwd"] and Path(process.info["cwd"]) == project and process.pid != os.getpid():
            found.append(process)
    return found


def test_killed_two_process_training_resumes_to_the_same_bytes(tmp_path_factory, tiny_model,
                                                                monkeypatch):
    monkeypatch.setenv("GLOO_SOCKET_IFNAME", "lo")  # loopback only
    projects = []
    for _ in range(2):
        project = make(tmp_path_factory, tiny_model)
        params = yaml.safe_load((project / "params.yaml").read_text())
        # dropout on: every process's random state must come back from the checkpoint
        params["backward"].update(launcher="accelerate", processes=2, steps=40, dropout=0.1)
        (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        projects.append(project)
    uninterrupted, project = projects
    repro(uninterrupted, "backward")
    stage, output, kept, metrics = STAGES[0]
    try:
        kill_once_work_is_kept(project, stage, project / kept)
        # torch's launcher puts its workers in sessions of their own: killing DVC's process
        # group must still leave no worker training (and writing checkpoints) behind
        deadline = time.monotonic() + 20
        while training_processes(project) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not training_processes(project)
    finally:
        for process in training_processes(project):  # ours, if the assertion failed
            process.kill()
    (checkpoint,) = finished_work(project / kept)  # one writer: one checkpoint
    steps_done = len(json.loads(safe_open(checkpoint, "pt").metadata()["state"])["losses"])
    assert not (project / output).exists()

    assert stage in repro(project, stage)
    assert (project / output).read_bytes() == (uninterrupted / output).read_bytes()
    stats = json.loads((project / metrics).read_text())
    assert stats["resumed_at_step"] == steps_done >= 1 and stats["processes"] == 2
    assert (project / "plots/loss/backward.csv").read_text() == \
        (uninterrupted / "plots/loss/backward.csv").read_text()
    assert not finished_work(project / kept)
