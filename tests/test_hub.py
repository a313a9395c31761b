"""hub@<name>: a hub dataset pinned to a commit, written to data/hub/<name>.jsonl with its data
card and metrics. There is no hub here: `datasets.load_dataset` is replaced by a local function
that serves rows only for the pinned revision (the hub itself is not what these tests are about)."""

import datetime
import json
import os

import pytest
import yaml

from conftest import ROOT

COMMIT = "3f1c2a9b8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a"
ROWS = [{"message_id": f"m{i}", "text": f"row {i}", "created": datetime.datetime(2023, 4, i + 1),
         "blob": b"\x00\x01"} for i in range(5)]


@pytest.fixture
def project(tmp_path, monkeypatch):
    import datasets

    calls = []

    def load_dataset(path, name=None, split=None, revision=None, streaming=False):
        calls.append({"path": path, "name": name, "split": split, "revision": revision,
                      "streaming": streaming})
        if revision != COMMIT:
            raise FileNotFoundError(f"Revision '{revision}' does not exist for dataset '{path}'")
        return iter(ROWS)

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["hub"] = {"oasst1": {"dataset": "OpenAssistant/oasst1", "revision": COMMIT,
                                "split": "train", "config": None, "max_rows": 3}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (tmp_path / "dvc.yaml").write_text((ROOT / "dvc.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    return tmp_path, calls


def run_hub(name="oasst1"):
    import importlib.util

    spec = importlib.util.spec_from_file_location("hub_stage", ROOT / "stages" / "hub.py")
    stage = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stage)
    stage.main(name, f"data/hub/{name}.jsonl", f"data/hub/{name}.md", f"metrics/hub/{name}.json")


def test_rows_at_the_pinned_revision_with_card_and_metrics(project):
    folder, calls = project
    run_hub()
    assert calls == [{"path": "OpenAssistant/oasst1", "name": None, "split": "train",
                      "revision": COMMIT, "streaming": True}]
    rows = [json.loads(line) for line in (folder / "data/hub/oasst1.jsonl").read_text().splitlines()]
    assert [r["message_id"] for r in rows] == ["m0", "m1", "m2"]  # max_rows: 3
    assert rows[0]["created"] == "2023-04-01T00:00:00" and rows[0]["blob"] == "AAE="
    metrics = json.loads((folder / "metrics/hub/oasst1.json").read_text())
    assert metrics["revision"] == COMMIT and metrics["rows"] == 3
    assert metrics["dataset"] == "OpenAssistant/oasst1"
    card = (folder / "data/hub/oasst1.md").read_text()
    assert COMMIT in card and "OpenAssistant/oasst1" in card and "3" in card


def test_same_params_same_bytes(project):
    folder, _ = project
    run_hub()
    first = (folder / "data/hub/oasst1.jsonl").read_bytes(), (folder / "data/hub/oasst1.md").read_bytes()
    run_hub()
    assert ((folder / "data/hub/oasst1.jsonl").read_bytes(),
            (folder / "data/hub/oasst1.md").read_bytes()) == first


def test_a_dataset_that_cannot_be_read_is_one_line(project):
    from humpback.hub import HubError

    folder, _ = project
    params = yaml.safe_load((folder / "params.yaml").read_text())
    params["hub"]["oasst1"]["revision"] = "b" * 40
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    with pytest.raises(HubError, match=r"^hub.oasst1: cannot read OpenAssistant/oasst1@b{40} "
                                       r"\(split train\): Revision 'b{40}' does not exist"):
        run_hub()
    assert not (folder / "data/hub/oasst1.jsonl").exists()
