"""Loading the base model, alone or with a backward/forward model's weights on top."""

from __future__ import annotations

from pathlib import Path

import torch


def load_tokenizer(base_dir: str | Path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def is_adapter(model_dir: str | Path) -> bool:
    return (Path(model_dir) / "adapter_config.json").exists()


def load_for_inference(base_dir: str | Path, model_dir: str | Path | None = None):
    """The base model with a LoRA adapter merged in (1.5x faster generation), or a full model."""
    from transformers import AutoModelForCausalLM

    source = model_dir if model_dir and not is_adapter(model_dir) else base_dir
    model = AutoModelForCausalLM.from_pretrained(source, dtype="auto")
    if model_dir and is_adapter(model_dir):
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, model_dir).merge_and_unload()
    return model.eval()


def load_for_training(base_dir: str | Path, full: bool):
    """Full fine-tuning trains fp32 weights; LoRA keeps the base in its saved dtype."""
    from transformers import AutoModelForCausalLM

    dtype = torch.float32 if full else "auto"
    return AutoModelForCausalLM.from_pretrained(base_dir, dtype=dtype)
