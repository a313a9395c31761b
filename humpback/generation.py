"""One generation interface: `generate` (sampled or greedy text) and `next_token_probs`.

Stages get an engine from `load_engine` and never know which library runs it: Hugging Face
transformers (below: batches sorted by length, left-padded, in the model's dtype) or vLLM's offline
engine (`humpback/vllm_engine.py`), chosen by `engine.backend` in params.yaml.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Protocol, Sequence

import torch
from tqdm import tqdm

from humpback.config import EngineParams


@dataclass(frozen=True)
class Sampling:
    max_new_tokens: int
    temperature: float = 0.0  # 0 means greedy
    top_p: float = 1.0
    seed: int = 0


class Engine(Protocol):
    tokenizer: object

    def generate(self, prompts: Sequence[str], sampling: Sampling, desc: str = "") -> list[str]: ...

    def next_token_probs(
        self, prompts: Sequence[str], token_ids: Sequence[Sequence[int]], desc: str = ""
    ) -> list[list[float]]:
        """For each prompt, the next-token probability summed over each group of token ids
        (vLLM: renormalised over the listed tokens)."""
        ...


def load_engine(params: EngineParams, base_dir, model_dir, batch_size: int,
                revision: str | None = None) -> Engine:
    """The engine named by `engine.backend`, running the base model with `model_dir` on top
    (`revision`: the commit, when `base_dir` is a hub id)."""
    if params.backend == "vllm":
        from humpback.vllm_engine import VLLMEngine

        return VLLMEngine(params, base_dir, model_dir, revision)
    return hf_engine(base_dir, model_dir, batch_size, revision)


class HFEngine:
    """Hugging Face transformers, batched and length-sorted."""

    def __init__(self, model, tokenizer, batch_size: int, reuse_prefix: bool = True):
        self.model, self.tokenizer, self.batch_size = model, tokenizer, batch_size
        self.reuse_prefix = reuse_prefix
        self.tokenizer.padding_side = "left"

    def _batches(self, prompts: Sequence[str], desc: str):
        """Yield (original indices, encoded batch), longest prompts first."""
        lengths = [len(ids) for ids in self.tokenizer(list(prompts))["input_ids"]]
        order = sorted(range(len(prompts)), key=lambda i: (-lengths[i], i))
        with tqdm(total=len(prompts), desc=desc, unit="prompt", disable=not desc) as bar:
            for start in range(0, len(order), self.batch_size):
                idx = order[start:start + self.batch_size]
                batch = self.tokenizer([prompts[i] for i in idx], return_tensors="pt",
                                       padding=True, add_special_tokens=False)
                yield start // self.batch_size, idx, batch
                bar.update(len(idx))

    @torch.inference_mode()
    def generate(self, prompts, sampling: Sampling, desc: str = "") -> list[str]:
        out: list[str] = [""] * len(prompts)
        sample = sampling.temperature > 0
        for number, idx, batch in self._batches(prompts, desc):
            torch.manual_seed(sampling.seed + number)  # per batch: same inputs, same bytes
            tokens = self.model.generate(
                **batch, max_new_tokens=sampling.max_new_tokens, do_sample=sample,
                temperature=sampling.temperature if sample else None,
                top_p=sampling.top_p if sample else None, top_k=None,
                pad_token_id=self.tokenizer.pad_token_id,
            )
            new = tokens[:, batch["input_ids"].shape[1]:]
            for i, text in zip(idx, self.tokenizer.batch_decode(new, skip_special_tokens=True)):
                out[i] = text
        return out

    @torch.inference_mode()
    def next_token_probs(self, prompts, token_ids, desc: str = "") -> list[list[float]]:
        """One forward pass per prompt. The token prefix shared by every prompt (the rubric) is
        run once and its key/value cache reused for each batch."""
        encoded = self.tokenizer(list(prompts), add_special_tokens=False)["input_ids"]
        shared = _common_prefix_length(encoded) if self.reuse_prefix else 0
        prefix_cache = None
        if shared:
            prefix_cache = self.model(input_ids=torch.tensor([encoded[0][:shared]])).past_key_values
        out: list[list[float]] = [[]] * len(prompts)
        order = sorted(range(len(prompts)), key=lambda i: (-len(encoded[i]), i))
        with tqdm(total=len(prompts), desc=desc, unit="prompt", disable=not desc) as bar:
            for start in range(0, len(order), self.batch_size):
                idx = order[start:start + self.batch_size]
                probs = self._last_token_probs([encoded[i][shared:] for i in idx], prefix_cache)
                for row, i in enumerate(idx):
                    out[i] = [round(float(probs[row, list(group)].sum()), 6) for group in token_ids]
                bar.update(len(idx))
        return out

    def _last_token_probs(self, suffixes: list[list[int]], prefix_cache) -> torch.Tensor:
        """Next-token probabilities after each (prefix +) suffix, suffixes right-padded."""
        width, shared = max(map(len, suffixes)), 0
        input_ids = torch.full((len(suffixes), width), self.tokenizer.pad_token_id)
        mask = torch.zeros((len(suffixes), width), dtype=torch.long)
        for row, ids in enumerate(suffixes):
            input_ids[row, :len(ids)], mask[row, :len(ids)] = torch.tensor(ids), 1
        kwargs = {}
        if prefix_cache is not None:
            shared = prefix_cache.get_seq_length()
            cache = copy.deepcopy(prefix_cache)
            cache.batch_repeat_interleave(len(suffixes))
            mask = torch.cat([torch.ones((len(suffixes), shared), dtype=torch.long), mask], 1)
            positions = torch.arange(shared, shared + width).expand(len(suffixes), -1)
            kwargs = {"past_key_values": cache, "position_ids": positions}
        hidden = self.model.get_decoder()(input_ids=input_ids, attention_mask=mask, **kwargs)
        last = torch.tensor([len(ids) - 1 for ids in suffixes])
        states = hidden.last_hidden_state[torch.arange(len(suffixes)), last]
        return torch.softmax(self.model.get_output_embeddings()(states).float(), dim=-1)


def _common_prefix_length(sequences: list[list[int]]) -> int:
    """Tokens shared by all sequences, leaving at least one token of each to run."""
    first, length = sequences[0], min(map(len, sequences)) - 1
    for seq in sequences[1:]:
        length = next((i for i in range(length) if seq[i] != first[i]), length)
    return max(length, 0)


def hf_engine(base_dir, model_dir, batch_size: int, revision: str | None = None) -> HFEngine:
    from humpback.models import load_for_inference, load_tokenizer

    return HFEngine(load_for_inference(base_dir, model_dir, revision),
                    load_tokenizer(base_dir, revision), batch_size)
