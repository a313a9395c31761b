"""The re-run matrix under the real `dvc repro` on the tiny model: each change re-runs exactly the
stages that read what changed, and the stages downstream of an output that changed, nothing else.
Where chunks run (engine.executor, engine.ray) re-runs nothing. One iteration (M_0, M_1) keeps it
to 15 stages; a corpus file comes in with `dvc import-url`."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from test_pipeline import _env, make_project, read_jsonl, repro

pytestmark = pytest.mark.e2e

ALL = {"base", "seed", "corpus", "backward", "augment", "forward@0", "forward@1", "score@1",
       "curate@1", "rewrite@1", "evaluate@0", "evaluate@1", "judge@0", "judge@1", "compare"}
AFTER_CURATE = {"rewrite@1", "forward@1", "evaluate@1", "judge@1", "compare"}
def paragraph(topic: str) -> str:
    """Long enough for the length filter, and no sentence repeated (the repetition filter)."""
    return " ".join(f"Point {i} about {topic}: it is explained here in a sentence of its own."
                    for i in range(12))


def section(title: str, text: str | None = None) -> str:
    return f"{title}\n{'=' * len(title)}\n\n{text or paragraph(title.lower())}\n\n"


def edit_params(project: Path, change) -> None:
    params = yaml.safe_load((project / "params.yaml").read_text())
    change(params)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write(text)


def dvc(project: Path, *args: str) -> None:
    subprocess.run([str(Path(sys.executable).parent / "dvc"), *args], cwd=project, check=True,
                   env=_env(project), capture_output=True)


def test_each_change_reruns_exactly_the_stages_that_read_it(tmp_path_factory, tiny_model):
    project = make_project(tmp_path_factory, tiny_model)
    upstream = tmp_path_factory.mktemp("upstream") / "corpus.md"
    upstream.write_text(section("Reading files"))
    # A navigation-like heading: the corpus filter drops what is under it.
    (project / "data/sources/notes.md").write_text(
        section("Dictionaries") + section("Advertisement"))
    dvc(project, "import-url", str(upstream), "data/sources/imported.md")
    # score.mode logprob: the rubric mode, so the rating prompt of case (c) is read (likelihood,
    # the default, never reads it: there score@1 would re-run alone, byte-identical)
    edit_params(project, lambda p: (
        p.update(models=[0, 1], iterations={"1": 0}), p["score"].update(mode="logprob"),
        p["corpus"].update(sources=["data/sources/notes.md", "data/sources/imported.md"],
                           max_segments=None)))
    assert repro(project) == ALL
    assert len(read_jsonl(project / "data/corpus.jsonl")) == 2

    # (a) a corpus file edited: corpus re-runs; the edit lands under the dropped heading, so its
    # output is byte-identical and nothing downstream runs
    append(project / "data/sources/notes.md", "And one more line about advertising.\n")
    assert repro(project) == {"corpus"}

    # (a') upstream changes; `dvc update` brings it in: corpus and everything that reads segments
    append(upstream, section("Writing files"))
    dvc(project, "update", "data/sources/imported.md.dvc")
    assert repro(project) == {"corpus", "augment", "score@1", "curate@1"} | AFTER_CURATE
    assert len(read_jsonl(project / "data/corpus.jsonl")) == 3

    # (b) a held-out seed pair edited: seed re-runs; the training split is byte-identical, so
    # only the evaluation of every model (and the comparison) re-runs
    held_out = read_jsonl(project / "data/seed/eval.jsonl")[0]["id"]
    seed_file = project / "data/seed.jsonl"
    lines = seed_file.read_text(encoding="utf-8").splitlines(keepends=True)
    for i, line in enumerate(lines):
        pair = json.loads(line)
        if pair["id"] == held_out:
            lines[i] = json.dumps({**pair, "output": pair["output"] + " Indeed."}) + "\n"
    seed_file.write_text("".join(lines), encoding="utf-8")
    assert repro(project) == {"seed", "evaluate@0", "evaluate@1", "judge@0", "judge@1", "compare"}

    # (c) the rating prompt edited: the ratings change, so curate@1 and rewrite@1 (whose outputs
    # record them) and the comparison (the rater check) re-run; M_1 is retrained, and evaluated
    # again if its folder changed (it does when the new ratings reorder the curated pairs)
    def model_one() -> dict:
        return {p.name: p.read_bytes() for p in (project / "models/forward/1").iterdir()}

    before = model_one()
    rubric = project / "prompts/score.txt"
    rubric.write_text(rubric.read_text().replace("Instruction:\n", "Be strict.\n\nInstruction:\n", 1))
    ran = repro(project)
    moved = model_one() != before
    assert ran == {"score@1", "curate@1", "rewrite@1", "forward@1", "compare"} | (
        {"evaluate@1", "judge@1"} if moved else set())

    # (d) a module only scoring imports: score@1 re-runs, byte-identical, nothing else
    append(project / "humpback/scoring.py", "# a comment\n")
    assert repro(project) == {"score@1"}

    # (e) a curation param: curate@1 and what reads its output
    edit_params(project, lambda p: p["curate"].update(top_fraction=0.5))
    assert repro(project) == {"curate@1"} | AFTER_CURATE

    # (f) the params loader, which every stage imports: every stage re-runs, byte-identical
    outputs = {path: path.read_bytes() for path in (project / "data").rglob("*.jsonl")}
    append(project / "humpback/config.py", "# a comment\n")
    assert repro(project) == ALL
    assert {path: path.read_bytes() for path in outputs} == outputs

    # (g) a comment in params.yaml: nothing
    append(project / "params.yaml", "# a comment\n")
    assert repro(project) == set()

    # (h) where chunks run: onto a Ray cluster, resized, and back. No stage re-runs (DVC decides
    # from the params, before any Ray is needed): the outputs are the same bytes anywhere
    edit_params(project, lambda p: (p["engine"].update(executor="ray"), p["engine"]["ray"].update(
        address="auto", replicas=8, cpus_per_replica=4)))
    assert repro(project) == set()
    edit_params(project, lambda p: p["engine"]["ray"].update(replicas=2))
    assert repro(project) == set()
    edit_params(project, lambda p: p["engine"].update(executor="local"))
    assert repro(project) == set()

    # (i) an engine setting that can change results: every stage that runs an engine re-runs
    # (the comparison reads their metrics); on this CPU-only machine cpu is what auto chose, so
    # their outputs are byte-identical and nothing else runs
    edit_params(project, lambda p: p["engine"].update(device="cpu"))
    assert repro(project) == {"augment", "score@1", "rewrite@1", "evaluate@0", "evaluate@1",
                              "judge@0", "judge@1", "compare"}
    assert {path: path.read_bytes() for path in outputs} == outputs
