"""The corpus stage killed part-way: `dvc repro corpus` SIGKILLed (the whole process group, real
processes), then run again, gives the bytes of a run never interrupted without redoing the input
files it had finished; a worker process killed under it ends the stage in one line and the next
run resumes the same way."""

import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml

from conftest import ROOT
from web_inputs import paragraphs

pytestmark = pytest.mark.e2e
FILES = 40  # input files: one task each
SHARDS = ".humpback/corpus/data__corpus.jsonl"


def make_project(root: Path, workers: int) -> Path:
    """A DVC project with the real dvc.yaml, params.yaml and code, and FILES .jsonl.gz inputs of
    real text, enough for the stage to take seconds."""
    project = root / "project"
    project.mkdir()
    for name in ("dvc.yaml", "params.yaml", "stages", "humpback"):
        source = ROOT / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, project / name)
    for folder in ("data/sources", "data/hub"):
        (project / folder).mkdir(parents=True)
    pool = paragraphs()
    for f in range(FILES):
        rows = [{"text": "\n".join(pool[(f * 7 + i + k) % len(pool)] for k in range(4)),
                 "url": f"https://example.org/{f}/{i}"} for i in range(120)]
        (project / f"data/sources/part-{f:03d}.jsonl.gz").write_bytes(
            gzip.compress(b"".join(json.dumps(r).encode() + b"\n" for r in rows)))
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["corpus"].update(sources=["data/sources"], max_segments=200, workers=workers,
                            min_chars=300)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for cmd in (["git", "init", "-q"], ["dvc", "init", "-q"]):
        subprocess.run(cmd, cwd=project, check=True, env=env(project))
    return project


def env(project: Path) -> dict:
    bin_dir = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": bin_dir + os.pathsep + os.environ["PATH"],
            "DVC_NO_ANALYTICS": "1", "PYTHONPATH": str(project)}


def dvc_repro(project: Path) -> dict:
    subprocess.run([Path(sys.executable).parent / "dvc", "repro", "corpus"], cwd=project,
                   env=env(project), check=True, capture_output=True)
    return json.loads((project / "metrics/corpus.json").read_text())


def finished_shards(project: Path) -> list[Path]:
    return sorted((project / SHARDS).glob("*.pkl")) if (project / SHARDS).is_dir() else []


def start_and_wait_for_shards(project: Path, command: list, at_least: int):
    process = subprocess.Popen(command, cwd=project, env=env(project), start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while len(finished_shards(project)) < at_least and process.poll() is None \
            and time.monotonic() < deadline:
        time.sleep(0.01)
    assert process.poll() is None, "the stage ended before it could be killed"
    return process


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> bytes:
    project = make_project(tmp_path_factory.mktemp("whole"), workers=1)
    metrics = dvc_repro(project)
    assert metrics["tasks"] == FILES and metrics["tasks_reused"] == 0
    return (project / "data/corpus.jsonl").read_bytes()


def test_a_killed_dvc_repro_resumes_without_redoing_finished_files(tmp_path, uninterrupted):
    project = make_project(tmp_path, workers=1)
    process = start_and_wait_for_shards(
        project, [Path(sys.executable).parent / "dvc", "repro", "corpus"], at_least=3)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    kept = len(finished_shards(project))
    assert 3 <= kept < FILES and not (project / "data/corpus.jsonl").exists()
    metrics = dvc_repro(project)
    assert metrics["tasks_reused"] >= kept  # every file finished before the kill, not redone
    assert (project / "data/corpus.jsonl").read_bytes() == uninterrupted
    assert not (project / SHARDS).exists()  # the output is complete: its shards are gone


def test_a_worker_killed_mid_stage_ends_it_in_one_line_and_the_rerun_resumes(tmp_path,
                                                                            uninterrupted):
    project = make_project(tmp_path, workers=2)
    stage = [sys.executable, "stages/corpus.py", "data/corpus.jsonl", "metrics/corpus.json"]
    process = start_and_wait_for_shards(project, stage, at_least=2)
    workers = [child for child in psutil.Process(process.pid).children(recursive=True)
               if "spawn" in " ".join(child.cmdline())]
    assert workers
    os.kill(workers[0].pid, signal.SIGKILL)
    _, stderr = process.communicate(timeout=300)
    lines = stderr.strip().splitlines()
    assert process.returncode != 0 and len(lines) == 1, stderr
    assert lines[0].startswith("error: corpus: a worker process died") and "resume" in lines[0]
    kept = len(finished_shards(project))
    assert kept >= 2
    metrics = dvc_repro(project)
    assert metrics["tasks_reused"] >= kept and metrics["workers"] == 2
    assert (project / "data/corpus.jsonl").read_bytes() == uninterrupted
