import json
import shutil

import pytest
import yaml
from click.testing import CliRunner

from conftest import ROOT
from humpback.cli import main


@pytest.mark.parametrize("args", [[], ["check"], ["show"], ["chat"], ["push"], ["export"]])
def test_help(args):
    result = CliRunner().invoke(main, [*args, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output


def test_check_accepts_the_shipped_params_and_names_a_bad_key(tmp_path):
    ok = CliRunner().invoke(main, ["check", str(ROOT / "params.yaml")])
    assert ok.exit_code == 0 and "2 iterations" in ok.output
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["score"]["mode"], params["curate"]["min_score"] = "logprob", 9  # k is on the rubric
    bad = tmp_path / "params.yaml"
    bad.write_text(yaml.safe_dump(params))
    result = CliRunner().invoke(main, ["check", str(bad)])
    assert result.exit_code == 1 and "curate.min_score: must be between 1 and 5" in result.output


def test_show_without_a_run_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["show", "1"])
    assert result.exit_code == 1 and "run `dvc repro` first" in result.output


def test_check_names_a_stage_whose_deps_miss_a_module_it_imports(tmp_path):
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    for folder in ("stages", "humpback"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    dvc_yaml = (ROOT / "dvc.yaml").read_text()
    (tmp_path / "dvc.yaml").write_text(dvc_yaml.replace("      - humpback/corpus/text.py\n", "", 1))
    result = CliRunner().invoke(main, ["check", str(tmp_path / "params.yaml")])
    assert result.exit_code == 1
    assert "seed: missing dependency humpback/corpus/text.py (imported by stages/seed.py)" in result.output


def test_check_fix_writes_the_module_deps_and_keeps_comments_and_order(tmp_path):
    """A module dep missing (seed), a stale one (curate), a comment among the deps: --fix
    writes exactly the deps the check wants and leaves every other line as it was."""
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    for folder in ("stages", "humpback"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    original = (ROOT / "dvc.yaml").read_text()
    commented = original.replace("      - ${seed.source}\n",
                                 "      # the seed file named in params\n      - ${seed.source}\n", 1)
    broken = commented.replace("      - humpback/corpus/text.py\n", "", 1).replace(
        "        - humpback/curation.py\n",
        "        - humpback/curation.py\n        - humpback/judging.py\n", 1)
    assert broken.count("humpback/judging.py") == original.count("humpback/judging.py") + 1
    (tmp_path / "dvc.yaml").write_text(broken)
    result = CliRunner().invoke(main, ["check", "--fix", str(tmp_path / "params.yaml")])
    assert result.exit_code == 0, result.output
    assert "seed: added humpback/corpus/text.py" in result.output
    assert "curate: removed humpback/judging.py" in result.output
    assert "each stage depends on exactly the modules it imports" in result.output
    assert (tmp_path / "dvc.yaml").read_text() == commented
    again = CliRunner().invoke(main, ["check", "--fix", str(tmp_path / "params.yaml")])
    assert "0 module deps changed" in again.output and (tmp_path / "dvc.yaml").read_text() == commented


def test_check_warns_when_the_corpus_came_from_another_pythons_docs(tmp_path):
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics/corpus.json").write_text(json.dumps({"python_version": "3.9.1"}))
    result = CliRunner().invoke(main, ["check", str(tmp_path / "params.yaml")])
    assert result.exit_code == 0
    assert "the corpus was built from the docs of Python 3.9.1" in result.output
    assert "dvc repro -f corpus" in result.output
