"""Loading the base model, alone or with a backward/forward model's weights on top."""

from __future__ import annotations

from pathlib import Path

import torch

from humpback.errors import HumpbackError


class ModelError(HumpbackError):
    pass


def resolve_dtype(setting: str, device) -> torch.dtype:
    """The dtype a model computes in (`base.dtype`): `auto` is float32 on a CPU (measured faster
    and steadier there than bfloat16, docs/engines.md) and bfloat16 on a CUDA GPU that has it
    (float32 on one without); any other setting is taken as it is. One rule for the HF engine,
    the held-out NLL and training, so that every stage runs a model at the same precision."""
    if setting != "auto":
        return getattr(torch, setting)
    if torch.device(device).type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def saved_dtype(model_dir: str | Path) -> torch.dtype:
    """The dtype a model folder's weights are stored in (its config.json), float32 if unsaid."""
    import json

    config = json.loads((Path(model_dir) / "config.json").read_text())
    name = config.get("dtype") or config.get("torch_dtype") or "float32"
    return getattr(torch, name)


def load_tokenizer(base_dir: str | Path, revision: str | None = None):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base_dir, revision=revision)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def is_adapter(model_dir: str | Path) -> bool:
    return (Path(model_dir) / "adapter_config.json").exists()


def load_for_inference(base_dir: str | Path, model_dir: str | Path | None = None,
                       revision: str | None = None, device: str = "cpu", dtype: str = "auto"):
    """The base model with a LoRA adapter merged in (1.5x faster generation), or a full model
    (`revision`: the commit, when `base_dir` is a hub id), on `device` (a GPU: loaded straight
    onto it, never held in CPU memory whole), in `dtype` (a `base.dtype` setting, resolved for
    the device: the adapter is merged at that precision, on the device)."""
    from transformers import AutoModelForCausalLM

    source = model_dir if model_dir and not is_adapter(model_dir) else base_dir
    placement = {} if device == "cpu" else {"device_map": device}
    model = AutoModelForCausalLM.from_pretrained(require_safetensors(source),
                                                 dtype=resolve_dtype(dtype, device),
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


def load_for_training(base_dir: str | Path, full: bool, dtype: str = "auto", device: str = "cpu"):
    """Full fine-tuning trains fp32 master weights (mixed precision computes in bf16 on a GPU);
    LoRA holds the frozen base in `dtype` resolved for the device (bfloat16 on a GPU: half the
    memory of fp32), its adapter weights in fp32 (PEFT's default)."""
    from transformers import AutoModelForCausalLM

    dtype = torch.float32 if full else resolve_dtype(dtype, device)
    return AutoModelForCausalLM.from_pretrained(require_safetensors(base_dir), dtype=dtype,
                                                use_safetensors=True)
