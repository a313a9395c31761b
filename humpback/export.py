"""An iteration's forward model and curated set as folders the Hugging Face Hub takes as they are
(`hf upload`): the adapter names its base model by hub id, each card is the folder's README.md,
and the pairs come in the two forms fine-tuning code reads (Alpaca's instruction/input/output
columns, and the `messages` list of chat turns that TRL's SFTTrainer takes).

Inside the pipeline the adapter names `models/base`, the folder the base stage writes, and the
curated card sits beside its jsonl file: right for DVC, unknown to the Hub.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from huggingface_hub import DatasetCard, ModelCard

from humpback.cards import EMBEDDED_ID, base_model_id
from humpback.errors import HumpbackError
from humpback.records import read_jsonl, write_jsonl

ADAPTER_CONFIG = "adapter_config.json"
# Each form a config of the dataset folder, its pairs the train split: load_dataset(folder) gives
# the Alpaca form, load_dataset(folder, "messages") the chat form.
FORMS = {"alpaca": "alpaca.jsonl", "messages": "messages.jsonl"}


class ExportError(HumpbackError):
    pass


def hub_base(base, base_id: str | None) -> tuple[str, str | None]:
    """The base model's hub id and commit: `base_id` when given, else the one params name.
    `base` is params section `base`."""
    if base_id:
        return base_id, None
    hub_id = base_model_id(base.model)
    if hub_id is None:
        raise ExportError(f"base.model: {base.model} is a local folder, which the Hub cannot "
                          "find: name the hub model it was made from with --base-id ORG/NAME")
    return hub_id, base.revision


def export_model(model_dir: str | Path, out_dir: str | Path, base_id: str,
                 revision: str | None = None) -> Path:
    """Copy the model folder to `out_dir`, its adapter config and card naming `base_id`."""
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    if not (model_dir / "README.md").is_file():
        raise ExportError(f"{model_dir}: no trained model there (run `dvc repro` first)")
    shutil.rmtree(out_dir, ignore_errors=True)
    shutil.copytree(model_dir, out_dir)
    adapter = out_dir / ADAPTER_CONFIG
    lora = adapter.is_file()  # a full fine-tune (method: full) is a transformers model folder
    if lora:
        config = json.loads(adapter.read_text(encoding="utf-8"))
        config["base_model_name_or_path"] = base_id
        config["revision"] = revision  # AutoPeftModel loads the base at this commit
        adapter.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    card = ModelCard.load(out_dir / "README.md")
    card.data.base_model = base_id
    card.data.base_model_relation = "adapter" if lora else "finetune"
    load = (f'AutoPeftModelForCausalLM.from_pretrained("ORG/NAME")  # the base, {base_id}, '
            "comes with it" if lora else 'AutoModelForCausalLM.from_pretrained("ORG/NAME")')
    note = ("\n\nThe adapter was trained on the embedded base: the Q4_1 GGUF weights of "
            f"{EMBEDDED_ID}, dequantised. On the original weights it answers nearly, not "
            "exactly, the same." if base_id == EMBEDDED_ID and lora else "")
    card.text += f"""
## From the Hub

Uploaded with `hf upload ORG/NAME {out_dir.name}`, it loads with

```python
from {"peft import AutoPeftModelForCausalLM" if lora else "transformers import AutoModelForCausalLM"}
model = {load}
```{note}
"""
    card.save(out_dir / "README.md")
    return out_dir


def export_dataset(curated: str | Path, card_path: str | Path, out_dir: str | Path) -> int:
    """Write the curated pairs in both forms, with the curated set's card as README.md whose
    metadata names the forms as configs. Returns the number of pairs."""
    curated, out_dir = Path(curated), Path(out_dir)
    pairs = list(read_jsonl(curated, required=["id", "instruction", "output"]))
    try:
        card = DatasetCard.load(card_path)
    except FileNotFoundError:
        raise ExportError(f"{card_path}: no data card (run `dvc repro` first)") from None
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    write_jsonl(out_dir / FORMS["alpaca"],
                ({"instruction": p["instruction"], "input": "", "output": p["output"], **_kept(p)}
                 for p in pairs))
    write_jsonl(out_dir / FORMS["messages"],
                ({"messages": [{"role": "user", "content": p["instruction"]},
                               {"role": "assistant", "content": p["output"]}], **_kept(p)}
                 for p in pairs))
    card.data.configs = [{"config_name": name, "data_files": [{"split": "train", "path": file}],
                          **({"default": True} if name == "alpaca" else {})}
                         for name, file in FORMS.items()]
    card.text += f"""
## Files

The same {len(pairs)} pairs, best first, in two forms (each row keeps its `id` and `score`):

- `{FORMS["alpaca"]}`: Alpaca's `instruction`, `input` (empty) and `output`; the default config,
  `load_dataset("ORG/NAME")`.
- `{FORMS["messages"]}`: `messages`, a user turn and an assistant turn, as TRL's `SFTTrainer`
  takes them; `load_dataset("ORG/NAME", "messages")`.

Exported by `humpback export` from `{curated.as_posix()}`.
"""
    card.save(out_dir / "README.md")
    return len(pairs)


def _kept(pair: dict) -> dict:
    return {"id": pair["id"], "score": pair.get("score")}
