"""Loading the base model, alone or with a backward/forward model's weights on top."""

from __future__ import annotations

from pathlib import Path

import torch

from humpback.errors import HumpbackError


class ModelError(HumpbackError):
    pass


def load_tokenizer(base_dir: str | Path, revision: str | None = None):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base_dir, revision=revision)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def is_adapter(model_dir: str | Path) -> bool:
    return (Path(model_dir) / "adapter_config.json").exists()


def load_for_inference(base_dir: str | Path, model_dir: str | Path | None = None,
                       revision: str | None = None, device: str = "cpu"):
    """The base model with a LoRA adapter merged in (1.5x faster generation), or a full model
    (`revision`: the commit, when `base_dir` is a hub id), on `device` (a GPU: loaded straight
    onto it, never held in CPU memory whole)."""
    from transformers import AutoModelForCausalLM

    source = model_dir if model_dir and not is_adapter(model_dir) else base_dir
    placement = {} if device == "cpu" else {"device_map": device}
    model = AutoModelForCausalLM.from_pretrained(require_safetensors(source), dtype="auto",
                                                 use_safetensors=True, revision=revision,
                                                 **placement)
    if model_dir and is_adapter(model_dir):
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, require_safetensors(model_dir)).merge_and_unload()
    return model.eval()


def require_safetensors(folder: str | Path) -> str | Path:
    """Weights are read from safetensors only: a pickled .bin/.pt file can run code when loaded."""
    path = Path(folder)
    if path.is_dir() and not any(path.glob("*.safetensors")):
        raise ModelError(f"{path}: no .safetensors weights (humpback loads no pickled .bin/.pt "
                         "weights; convert them with save_pretrained)")
    return folder


def load_for_training(base_dir: str | Path, full: bool):
    """Full fine-tuning trains fp32 weights; LoRA keeps the base in its saved dtype."""
    from transformers import AutoModelForCausalLM

    dtype = torch.float32 if full else "auto"
    return AutoModelForCausalLM.from_pretrained(require_safetensors(base_dir), dtype=dtype,
                                                use_safetensors=True)
