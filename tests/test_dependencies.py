"""Every input a stage reads is a dependency DVC sees: the code its script imports, the params it
reads, and the files and folders named in params. Checked from the source, then through the real
DVC: an edit re-runs exactly the stages that read what changed (`dvc status` names them)."""

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from conftest import ROOT
from humpback.code import code_fingerprint, stage_modules
from humpback.stage_deps import dependency_problems

PROJECT_FILES = ["dvc.yaml", "params.yaml", "stages", "humpback", "prompts", "configs", "data/seed.jsonl",
                 "data/labels.jsonl", "data/sources", "data/hub", "models/sources"]
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def test_each_stage_lists_exactly_the_modules_its_script_imports():
    problems = dependency_problems(ROOT / "dvc.yaml")
    assert problems == [], "dvc.yaml deps differ from the imports:\n" + "\n".join(problems)


def test_generation_stages_list_every_engine_key_but_where_chunks_run():
    """Every engine setting that can change results is a param of each stage that runs an
    engine (the runner reads them all through the stage's view), and none of those that only
    say where chunks run is: changing engine.executor or engine.ray re-runs nothing."""
    from humpback.config import EngineParams

    results = {f"engine.{f.name}" for f in dataclasses.fields(EngineParams)
               if f.name not in EngineParams.PLACEMENT}
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    engine_keys = {name: {key for key in stage.get("do", stage).get("params") or []
                          if isinstance(key, str) and key.split(".")[0] == "engine"}
                   for name, stage in stages.items()}
    assert {name for name, keys in engine_keys.items() if keys} == {
        "augment", "score", "rewrite", "evaluate", "judge"}
    for name, keys in engine_keys.items():
        assert keys in (set(), results), name


def test_the_check_names_the_stage_and_each_missing_or_superfluous_module(tmp_path):
    copy_files(tmp_path, ["dvc.yaml", "stages", "humpback"])
    dvc_yaml = yaml.safe_load((tmp_path / "dvc.yaml").read_text())
    deps = dvc_yaml["stages"]["score"]["do"]["deps"]
    deps.remove("humpback/scoring.py")
    deps.append("humpback/judging.py")
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump(dvc_yaml, sort_keys=False))
    assert dependency_problems(tmp_path / "dvc.yaml") == [
        "score: missing dependency humpback/scoring.py (imported by stages/score.py)",
        "score: superfluous dependency humpback/judging.py (stages/score.py does not import it)",
    ]


def test_the_closure_follows_every_kind_of_import_without_importing(tmp_path):
    """Imports inside functions, `from package import module`, relative imports, a dotted
    `import`, and the `__init__.py` of every package on the way; names that are not modules
    (a function) add nothing, and nothing is executed (the modules would raise)."""
    files = {
        "humpback/__init__.py": "",
        "humpback/a.py": "raise SystemExit\nfrom . import b\nfrom .sub.c import thing\n",
        "humpback/b.py": "raise SystemExit\ndef lazy():\n    from humpback import d\n",
        "humpback/d.py": "raise SystemExit\nimport humpback.sub.e\n",
        "humpback/sub/__init__.py": "",
        "humpback/sub/c.py": "raise SystemExit\nfrom ..f import g\n",
        "humpback/sub/e.py": "raise SystemExit\n",
        "humpback/f.py": "raise SystemExit\n",
        "humpback/unused.py": "raise SystemExit\n",
        "stages/run.py": "import os\nfrom humpback.a import function_not_module\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert stage_modules(tmp_path / "stages/run.py", tmp_path) == [
        "humpback/__init__.py", "humpback/a.py", "humpback/b.py", "humpback/d.py", "humpback/f.py",
        "humpback/sub/__init__.py", "humpback/sub/c.py", "humpback/sub/e.py"]


def test_finished_shards_survive_edits_to_code_the_stage_does_not_run(tmp_path):
    """resume.py keys a stage's shards by the same closure as its dvc.yaml deps: editing the
    judge leaves augment's finished chunks valid, editing the HF engine does not."""
    copy_files(tmp_path, ["stages", "humpback"])
    with inside(tmp_path):
        before = code_fingerprint("stages/augment.py", str(tmp_path))
        append(tmp_path / "humpback/judging.py", "# an edit augment does not run\n")
        code_fingerprint.cache_clear()
        assert code_fingerprint("stages/augment.py", str(tmp_path)) == before
        append(tmp_path / "humpback/engines/hf.py", "# an edit augment runs\n")
        code_fingerprint.cache_clear()
        assert code_fingerprint("stages/augment.py", str(tmp_path)) != before
    code_fingerprint.cache_clear()


def test_a_comment_in_any_module_changes_exactly_the_stages_that_import_it(committed_project):
    """Through DVC itself: append a comment to each humpback/ module in turn; `dvc status`
    reports exactly the stages whose script imports it, no more and no fewer."""
    project = committed_project
    scripts = stage_scripts(project)
    for module in sorted((project / "humpback").rglob("*.py")):
        name = module.relative_to(project).as_posix()
        original = module.read_bytes()
        append(module, "# touched\n")
        try:
            expected = {stage for stage, script in scripts.items()
                        if name in stage_modules(project / script, project)}
            assert changed_stages(project) == expected, name
        finally:
            module.write_bytes(original)
    assert changed_stages(project) == set()


def test_every_file_a_stage_reads_by_params_is_a_dependency(committed_project):
    """A corpus file and a corpus folder (under data/sources), the seed file, the evaluation
    instructions, a hub dataset's revision: each change makes `dvc status` name exactly the
    stages that read it, with no edit of dvc.yaml."""
    project = committed_project
    cases = {
        "data/sources/notes.md": {"corpus"},  # a corpus file (named in corpus.sources)
        "data/sources/docs/guide.md": {"corpus"},  # a file in a corpus folder source
        "my/seed.jsonl": {"seed"},
        "my/eval.jsonl": {"evaluate@0", "evaluate@1", "evaluate@2",
                          "judge@0", "judge@1", "judge@2"},
        "prompts/score.txt": {"score@1", "score@2"},
        "data/labels.jsonl": {"compare"},
    }
    for path, expected in cases.items():
        original = (project / path).read_bytes()
        append(project / path, "\nAnother paragraph, appended to the file.\n")
        try:
            assert changed_stages(project) == expected, path
        finally:
            (project / path).write_bytes(original)
    edit_params(project, lambda p: p["hub"]["tiny"].update(revision="f" * 40))
    assert changed_stages(project) == {"hub@tiny"}


def test_a_corpus_file_edited_after_a_real_run_makes_corpus_stale(tmp_path):
    """The issue's recipe as a user runs it: corpus.sources names a file, `dvc repro`, then a
    paragraph appended to the file; `dvc status` reports corpus. The docs' Python version is
    recorded when pydoc is a source."""
    project = make_project(tmp_path)
    edit_params(project, lambda p: (p["corpus"].update(
        sources=["pydoc", "data/sources/notes.md"], max_segments=3), p.update(hub={})))
    dvc(project, "repro", "corpus")
    metrics = json.loads((project / "metrics/corpus.json").read_text())
    assert metrics["python_version"] == ".".join(map(str, sys.version_info[:3]))
    assert dvc(project, "status", "corpus").strip().endswith("up to date.")
    append(project / "data/sources/notes.md", "\nA new paragraph about the topic.\n")
    assert changed_stages(project, "corpus") == {"corpus"}
    assert "data/sources" in dvc(project, "status", "corpus")


# --- helpers ---

def copy_files(target: Path, names: list[str]) -> None:
    for name in names:
        source, dest = ROOT / name, target / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if source.is_dir() else shutil.copy)(source, dest)


def append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write(text)


def edit_params(project: Path, change) -> None:
    params = yaml.safe_load((project / "params.yaml").read_text())
    change(params)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def dvc(project: Path, *args: str) -> str:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "PYTHONPATH": str(project),
           "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"]}
    done = subprocess.run([str(Path(sys.executable).parent / "dvc"), *args], cwd=project, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def make_project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    copy_files(project, PROJECT_FILES)
    (project / "data/sources/notes.md").write_text(
        "Reading files\n=============\n\n" + "Open a file with open() and iterate over it. " * 20
        + "\n")
    (project / "data/sources/docs").mkdir()
    (project / "data/sources/docs/guide.md").write_text("# Guide\n\nSome text.\n")
    (project / "my").mkdir()
    shutil.copy(ROOT / "data/seed.jsonl", project / "my/seed.jsonl")
    (project / "my/eval.jsonl").write_text('{"instruction": "Say hi.", "output": "Hi!"}\n')
    edit_params(project, lambda p: (
        p["corpus"].update(sources=["data/sources/notes.md", "data/sources/docs"]),
        p["seed"].update(source="my/seed.jsonl"),
        p["evaluate"].update(instructions="my/eval.jsonl"),
        p.update(hub={"tiny": {"dataset": "org/tiny", "revision": COMMIT, "split": "train"}})))
    for cmd in (["git", "init", "-q"], ["dvc", "init", "-q"]):
        subprocess.run(cmd, cwd=project, check=True, env={**os.environ, "DVC_NO_ANALYTICS": "1",
                       "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"]})
    return project


@pytest.fixture(scope="module")
def committed_project(tmp_path_factory) -> Path:
    """A project whose dvc.lock records every stage as run, with placeholder outputs:
    `dvc status` then compares each stage's deps and params with the lock, as after a run."""
    from dvc.repo import Repo

    project = make_project(tmp_path_factory.mktemp("committed"))
    with inside(project), Repo(".") as repo:
        for stage in repo.index.stages:
            for out in stage.outs:
                path = Path(out.fs_path)
                if path.suffix:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text("placeholder\n")
                else:
                    path.mkdir(parents=True, exist_ok=True)
                    (path / "placeholder").write_text("placeholder\n")
        repo.commit(force=True)
    assert changed_stages(project) == set()
    return project


@contextmanager
def inside(project: Path):
    """DVC's Python API resolves a stage's paths from the working directory."""
    old = os.getcwd()
    os.chdir(project)
    try:
        yield
    finally:
        os.chdir(old)


def changed_stages(project: Path, *targets: str) -> set[str]:
    """The stages `dvc status` reports as changed (their deps, params or outputs)."""
    from dvc.repo import Repo

    with inside(project), Repo(".") as repo:
        return set(repo.status(targets=list(targets) or None))


def stage_scripts(project: Path) -> dict[str, str]:
    """Every stage (foreach stages expanded, as DVC names them) and the script it runs."""
    from dvc.repo import Repo

    with inside(project), Repo(".") as repo:
        return {stage.addressing: next(word for word in stage.cmd.split() if word.endswith(".py"))
                for stage in repo.index.stages if stage.cmd}
