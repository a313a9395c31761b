"""`humpback export`: an iteration's model and curated set as folders the Hub takes as they are,
loaded back the way their users load them (PeftModel.from_pretrained, datasets.load_dataset).
The inputs are what the forward and curate stages leave, made directly on the tiny model: a
PEFT adapter saved from models/base, its model card, a curated set and its data card."""

import json
import shutil

import pytest
import torch
import yaml
from click.testing import CliRunner
from huggingface_hub import DatasetCard, ModelCard

from conftest import ROOT
from humpback.cards import EMBEDDED_ID, curated_card, model_card
from humpback.cli import main
from humpback.config import load_params

PAIRS = [{"id": f"c{i}", "instruction": f"Question {i}?", "output": f"Answer {i}.",
          "score": 5.0 - i, "source": "augmented"} for i in range(3)]


@pytest.fixture
def project(tmp_path, monkeypatch, tiny_model):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    monkeypatch.chdir(tmp_path)
    shutil.copy(ROOT / "params.yaml", "params.yaml")
    shutil.copytree(tiny_model, "models/base")
    params = load_params()
    torch.manual_seed(0)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained("models/base"),
                           LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    model.save_pretrained("models/forward/1")  # what training writes: it names models/base
    model_card(title="M_1: forward model of iteration 1", role="Answers instructions.",
               folder="models/forward/1", base=params.base, params=params.forward.train,
               data={"seed_pairs": 2}, metrics={}).save("models/forward/1/README.md")
    (tmp_path / "data/curated").mkdir(parents=True)
    (tmp_path / "data/curated/1.jsonl").write_text("".join(json.dumps(p) + "\n" for p in PAIRS))
    curated_card(iteration="1", rater="M_0", data_file="1.jsonl", sources=["pydoc"],
                 corpus_params=params.corpus, score_params=params.score,
                 curate_params=params.curate, candidates=10, kept=PAIRS,
                 histogram={5: 1, 4: 1, 3: 1}).save("data/curated/1.md")
    return tmp_path


def test_export_loads_as_the_hub_would_load_it(project):
    import datasets
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    result = CliRunner().invoke(main, ["export", "1", "out"])
    assert result.exit_code == 0, result.output
    config = json.loads((project / "out/model/adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == EMBEDDED_ID  # the default base, smollm2
    card = ModelCard.load(project / "out/model/README.md", ignore_metadata_errors=False)
    assert card.data.base_model == EMBEDDED_ID and card.data.base_model_relation == "adapter"
    assert "AutoPeftModelForCausalLM" in card.text

    ids = torch.tensor([[1, 2, 3, 4]])
    base = AutoModelForCausalLM.from_pretrained("models/base")
    exported = PeftModel.from_pretrained(base, project / "out/model").eval()
    original = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained("models/base"),
                                         "models/forward/1").eval()
    with torch.no_grad():
        assert torch.equal(exported(ids).logits, original(ids).logits)

    alpaca = datasets.load_dataset(str(project / "out/dataset"), split="train")
    assert sorted(alpaca.column_names) == ["id", "input", "instruction", "output", "score"]
    assert alpaca[0] == {"instruction": "Question 0?", "input": "", "output": "Answer 0.",
                         "id": "c0", "score": 5.0}
    messages = datasets.load_dataset(str(project / "out/dataset"), "messages", split="train")
    assert messages[2]["messages"] == [{"role": "user", "content": "Question 2?"},
                                       {"role": "assistant", "content": "Answer 2."}]
    data_card = DatasetCard.load(project / "out/dataset/README.md", ignore_metadata_errors=False)
    assert "3 kept of 10 candidates" in data_card.text and "messages.jsonl" in data_card.text


def test_a_local_base_needs_its_hub_id(project):
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["base"]["model"] = "models/sources/tiny"
    (project / "models/sources/tiny").mkdir(parents=True)
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    result = CliRunner().invoke(main, ["export", "1", "out"])
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1
    assert "base.model: models/sources/tiny is a local folder" in result.output
    assert "--base-id" in result.output
    named = CliRunner().invoke(main, ["export", "1", "out", "--base-id", "org/tiny-llama"])
    assert named.exit_code == 0, named.output
    config = json.loads((project / "out/model/adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == "org/tiny-llama"


def test_a_model_not_trained_yet_is_one_line(project):
    result = CliRunner().invoke(main, ["export", "2", "out"])
    assert result.exit_code == 1
    assert result.output.strip() == ("Error: models/forward/2: no trained model there "
                                     "(run `dvc repro` first)")


def test_dvc_yaml_declares_each_forward_model_as_a_registry_artifact():
    """DVC's model registry reads top-level `artifacts:`: DVC itself parses them here and
    checks each name (the names its registry tags versions with)."""
    from dvc.repo import Repo
    from dvc.repo.artifacts import check_name_format

    with Repo(str(ROOT)) as repo:
        artifacts = repo.artifacts.read()["dvc.yaml"]
    models = load_params(ROOT / "params.yaml").models
    assert {name: a.path for name, a in artifacts.items()} == {
        f"forward-{t}": f"models/forward/{t}" for t in models}
    for name, artifact in artifacts.items():
        check_name_format(name)
        assert artifact.type == "model"
