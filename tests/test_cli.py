import pytest
import yaml
from click.testing import CliRunner

from conftest import ROOT
from humpback.cli import main


@pytest.mark.parametrize("args", [[], ["check"], ["show"], ["chat"], ["push"]])
def test_help(args):
    result = CliRunner().invoke(main, [*args, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output


def test_check_accepts_the_shipped_params_and_names_a_bad_key(tmp_path):
    ok = CliRunner().invoke(main, ["check", str(ROOT / "params.yaml")])
    assert ok.exit_code == 0 and "2 iterations" in ok.output
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["curate"]["min_score"] = 9
    bad = tmp_path / "params.yaml"
    bad.write_text(yaml.safe_dump(params))
    result = CliRunner().invoke(main, ["check", str(bad)])
    assert result.exit_code == 1 and "curate.min_score: must be between 1 and 5" in result.output


def test_show_without_a_run_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["show", "1"])
    assert result.exit_code == 1 and "run `dvc repro` first" in result.output
