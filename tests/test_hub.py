"""hub@<name>: a hub dataset pinned to a commit, written to data/hub/<name>.jsonl with its data
card and metrics. There is no Hub here: each test lays out a Hub cache (the folders huggingface_hub
writes: datasets--<org>--<name>/snapshots/<commit>/..., refs/) and runs the real loading code
offline (HF_HUB_OFFLINE=1), as on a machine where `hf download` fetched the dataset."""

import datetime
import json
import re

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from conftest import ROOT

COMMIT = "3f1c2a9b8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a"
ROWS = [{"message_id": f"m{i}", "text": f"row {i}", "created": datetime.datetime(2023, 4, i + 1),
         "blob": b"\x00\x01"} for i in range(5)]
# AlpacaEval's repository: a loading script beside its data file (the 805 instructions).
ALPACA = [{"instruction": f"Instruction {i}", "output": f"Output {i}", "generator": "text_davinci_003",
           "dataset": "helpful_base"} for i in range(4)]


def hub_repo(cache, dataset, files: dict, commit=COMMIT):
    """A dataset repository at `commit` in the Hub cache, laid out as huggingface_hub does."""
    repo = cache / f"datasets--{dataset.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs/main").write_text(commit)
    for name, content in files.items():
        path = repo / "snapshots" / commit / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, pa.Table):
            pq.write_table(content, path)
        else:
            path.write_text(content)


def write_hub_params(folder, hub):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["hub"] = hub
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


@pytest.fixture
def cache(tmp_path, monkeypatch):
    from huggingface_hub import constants

    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    # huggingface_hub reads both variables when it is imported: set them on it too
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    (tmp_path / "dvc.yaml").write_text((ROOT / "dvc.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    return cache


@pytest.fixture
def project(tmp_path, cache):
    hub_repo(cache, "OpenAssistant/oasst1", {
        "README.md": "# oasst1\n", "data/train-00000-of-00001.parquet": pa.Table.from_pylist(ROWS)})
    write_hub_params(tmp_path, {"oasst1": {"dataset": "OpenAssistant/oasst1", "revision": COMMIT,
                                           "split": "train", "config": None, "max_rows": 3}})
    return tmp_path


def run_hub(name="oasst1"):
    import importlib.util

    spec = importlib.util.spec_from_file_location("hub_stage", ROOT / "stages" / "hub.py")
    stage = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stage)
    stage.main(name, f"data/hub/{name}.jsonl", f"data/hub/{name}.md", f"metrics/hub/{name}.json")


def test_rows_at_the_pinned_revision_with_card_and_metrics(project):
    folder = project
    run_hub()
    rows = [json.loads(line) for line in (folder / "data/hub/oasst1.jsonl").read_text().splitlines()]
    assert [r["message_id"] for r in rows] == ["m0", "m1", "m2"]  # max_rows: 3
    assert rows[0]["created"] == "2023-04-01T00:00:00" and rows[0]["blob"] == "AAE="
    metrics = json.loads((folder / "metrics/hub/oasst1.json").read_text())
    assert metrics["revision"] == COMMIT and metrics["rows"] == 3
    assert metrics["dataset"] == "OpenAssistant/oasst1"
    card = (folder / "data/hub/oasst1.md").read_text()
    assert COMMIT in card and "OpenAssistant/oasst1" in card and "3" in card


def test_same_params_same_bytes(project):
    folder = project
    run_hub()
    first = (folder / "data/hub/oasst1.jsonl").read_bytes(), (folder / "data/hub/oasst1.md").read_bytes()
    run_hub()
    assert ((folder / "data/hub/oasst1.jsonl").read_bytes(),
            (folder / "data/hub/oasst1.md").read_bytes()) == first


def test_a_dataset_that_cannot_be_read_is_one_line(project):
    from humpback.hub import HubError

    folder = project
    params = yaml.safe_load((folder / "params.yaml").read_text())
    params["hub"]["oasst1"]["revision"] = "b" * 40
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    with pytest.raises(HubError, match=r"^hub.oasst1: cannot read OpenAssistant/oasst1@b{40} "
                                       r"\(split train\): Cannot find an appropriate cached "
                                       r"snapshot folder for the specified revision[^\n]*$"):
        run_hub()
    assert not (folder / "data/hub/oasst1.jsonl").exists()


@pytest.mark.parametrize("file", ["alpaca_eval.json", "data/eval.jsonl", "data/eval.parquet"])
def test_a_file_of_a_repository_with_a_loading_script(tmp_path, cache, file):
    """AlpacaEval's instructions: its repository's rows come from a loading script, which
    datasets no longer runs; `file` reads one of its data files at the pinned commit."""
    hub_repo(cache, "tatsu-lab/alpaca_eval", {
        "alpaca_eval.py": "import datasets\n",
        "alpaca_eval.json": json.dumps(ALPACA),
        "data/eval.jsonl": "".join(json.dumps(row) + "\n" for row in ALPACA),
        "data/eval.parquet": pa.Table.from_pylist(ALPACA)})
    write_hub_params(tmp_path, {"alpaca_eval": {"dataset": "tatsu-lab/alpaca_eval",
                                                "revision": COMMIT, "file": file}})
    run_hub("alpaca_eval")
    rows = [json.loads(line) for line in
            (tmp_path / "data/hub/alpaca_eval.jsonl").read_text().splitlines()]
    assert rows == ALPACA
    metrics = json.loads((tmp_path / "metrics/hub/alpaca_eval.json").read_text())
    assert metrics["file"] == file and metrics["rows"] == 4 and metrics["revision"] == COMMIT
    assert f"**File:** `{file}`" in (tmp_path / "data/hub/alpaca_eval.md").read_text()


def test_a_script_only_repository_says_to_set_file(tmp_path, cache):
    from humpback.hub import HubError

    hub_repo(cache, "tatsu-lab/alpaca_eval", {"alpaca_eval.py": "import datasets\n",
                                              "alpaca_eval.json": json.dumps(ALPACA)})
    write_hub_params(tmp_path, {"alpaca_eval": {"dataset": "tatsu-lab/alpaca_eval",
                                                "revision": COMMIT, "split": "eval"}})
    with pytest.raises(HubError) as raised:
        run_hub("alpaca_eval")
    assert str(raised.value) == (
        "hub.alpaca_eval: tatsu-lab/alpaca_eval is read by a loading script, which datasets no "
        "longer runs: set hub.alpaca_eval.file to one of its data files (.json, .jsonl, .parquet) "
        "and leave split out")


def test_a_file_not_in_the_repository_is_one_line(tmp_path, cache):
    from humpback.hub import HubError

    hub_repo(cache, "tatsu-lab/alpaca_eval", {"alpaca_eval.json": json.dumps(ALPACA)})
    write_hub_params(tmp_path, {"alpaca_eval": {"dataset": "tatsu-lab/alpaca_eval",
                                                "revision": COMMIT, "file": "eval.json"}})
    with pytest.raises(HubError, match=rf"^hub.alpaca_eval: cannot read tatsu-lab/alpaca_eval@"
                                       rf"{COMMIT} \(file eval.json\): [^\n]+$"):
        run_hub("alpaca_eval")


@pytest.mark.parametrize("entry, message", [
    ({"file": "alpaca_eval.csv"}, "hub.x.file: must be a .json, .jsonl, .parquet file"),
    ({"file": "alpaca_eval.json", "split": "eval"}, "hub.x.split: the file is the rows"),
    ({}, "hub.x.split: must name a split (or set file"),
])
def test_file_and_split_params(tmp_path, entry, message):
    from humpback.config import ParamsError, load_params

    write_hub_params(tmp_path, {"x": {"dataset": "tatsu-lab/alpaca_eval", "revision": COMMIT,
                                      **entry}})
    with pytest.raises(ParamsError, match=re.escape(message)):
        load_params(tmp_path / "params.yaml")
