"""Hugging Face transformers behind the engine interface: prompts sorted by length into batches,
left-padded, in `base.dtype` resolved for the device (float32 on a CPU, bfloat16 on a GPU), with
a LoRA adapter merged in; on the GPU when there is one (`engine.device`)."""

from __future__ import annotations

import copy
from typing import Sequence

import torch
from tqdm import tqdm
from transformers import GenerationConfig

from humpback.config import EngineParams, ParamsError
from humpback.engines.base import EngineSpec, Sampling, encode_pairs
from humpback.prompts import encode


def load(spec: EngineSpec, params: EngineParams) -> "HFEngine":
    from humpback.models import load_for_inference, load_tokenizer

    device = resolve_device(params.device)
    model = load_for_inference(spec.base, spec.model, spec.revision, device=device,
                               dtype=spec.dtype)
    return HFEngine(model, load_tokenizer(spec.base, spec.revision), spec.batch_size)


def resolve_device(setting: str) -> str:
    """`auto` is the first GPU when torch sees one (inside a Ray replica: the GPU Ray gave it),
    else the CPU; a GPU asked for where torch sees none is named in one line."""
    if setting == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if setting.startswith("cuda") and not torch.cuda.is_available():
        raise ParamsError(f"engine.device: {setting}, but torch sees no CUDA GPU here (torch "
                          f"{torch.__version__}); use auto or cpu")
    return setting


class HFEngine:
    """Hugging Face transformers, batched and length-sorted."""

    def __init__(self, model, tokenizer, batch_size: int, reuse_prefix: bool = True):
        self.model, self.tokenizer, self.batch_size = model, tokenizer, batch_size
        self.reuse_prefix = reuse_prefix
        self.logit_chunk_rows: int | None = None  # None: LOGIT_CHUNK_BYTES of fp32 logits
        self.device = model.device
        # Only the model's end-of-turn tokens are kept from its generation_config.json: its
        # sampling defaults (a repetition penalty, a top_k) would make this backend sample
        # differently from vLLM, which takes only our settings (`generation_config(...)`).
        own = model.generation_config
        self._stops = {"eos_token_id": own.eos_token_id, "bos_token_id": own.bos_token_id,
                       "pad_token_id": tokenizer.pad_token_id}
        model.generation_config = GenerationConfig(**self._stops)

    def close(self) -> None:
        pass  # freed with the object; nothing runs outside this process

    def _batches(self, prompts: Sequence[str], desc: str):
        """Yield (original indices, left-padded batch), longest prompts first."""
        encoded = encode(self.tokenizer, prompts)
        order = sorted(range(len(prompts)), key=lambda i: (-len(encoded[i]), i))
        with tqdm(total=len(prompts), desc=desc, unit="prompt", disable=not desc) as bar:
            for start in range(0, len(order), self.batch_size):
                idx = order[start:start + self.batch_size]
                yield start // self.batch_size, idx, self._left_padded([encoded[i] for i in idx])
                bar.update(len(idx))

    def _left_padded(self, rows: list[list[int]]) -> dict:
        width = max(map(len, rows))
        input_ids = torch.full((len(rows), width), self.tokenizer.pad_token_id)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for row, ids in enumerate(rows):
            input_ids[row, width - len(ids):], mask[row, width - len(ids):] = torch.tensor(ids), 1
        return {"input_ids": input_ids.to(self.device), "attention_mask": mask.to(self.device)}

    def generation_config(self, sampling: Sampling) -> GenerationConfig:
        """Every setting that shapes the sampled tokens, from our params alone. Unset fields
        would be filled from the model's generation_config.json and the library's defaults
        (top_k 50): top_k 0 keeps nucleus sampling pure, as vLLM samples."""
        sample = sampling.temperature > 0
        warpers = {"temperature": sampling.temperature, "top_p": sampling.top_p,
                   "top_k": 0, "typical_p": 1.0} if sample else {}  # greedy: none apply
        return GenerationConfig(
            **self._stops, **warpers, max_new_tokens=sampling.max_new_tokens, do_sample=sample,
            repetition_penalty=1.0, no_repeat_ngram_size=0, num_beams=1)

    @torch.inference_mode()
    def generate(self, prompts, sampling: Sampling, desc: str = "") -> list[str]:
        out: list[str] = [""] * len(prompts)
        config = self.generation_config(sampling)
        for number, idx, batch in self._batches(prompts, desc):
            torch.manual_seed(sampling.seed + number)  # per batch: same inputs, same bytes
            tokens = self.model.generate(**batch, generation_config=config)
            new = tokens[:, batch["input_ids"].shape[1]:]
            for i, text in zip(idx, self.tokenizer.batch_decode(new, skip_special_tokens=True)):
                out[i] = text
        return out

    @torch.inference_mode()
    def next_token_probs(self, prompts, token_ids, desc: str = "") -> list[list[float]]:
        """One forward pass per prompt. The token prefix shared by every prompt (the rubric) is
        run once and its key/value cache reused for each batch."""
        encoded = encode(self.tokenizer, prompts)
        shared = _common_prefix_length(encoded) if self.reuse_prefix else 0
        prefix_cache = None
        if shared:
            prefix = torch.tensor([encoded[0][:shared]], device=self.device)
            prefix_cache = self.model(input_ids=prefix).past_key_values
        out: list[list[float]] = [[]] * len(prompts)
        order = sorted(range(len(prompts)), key=lambda i: (-len(encoded[i]), i))
        with tqdm(total=len(prompts), desc=desc, unit="prompt", disable=not desc) as bar:
            for start in range(0, len(order), self.batch_size):
                idx = order[start:start + self.batch_size]
                probs = self._last_token_probs([encoded[i][shared:] for i in idx], prefix_cache)
                for row, i in enumerate(idx):
                    out[i] = [float(probs[row, list(group)].sum()) for group in token_ids]
                bar.update(len(idx))
        return out

    def _last_token_probs(self, suffixes: list[list[int]], prefix_cache) -> torch.Tensor:
        """Next-token probabilities after each (prefix +) suffix, suffixes right-padded."""
        width, shared = max(map(len, suffixes)), 0
        input_ids, mask = self._right_padded(suffixes, width)
        kwargs = {}
        if prefix_cache is not None:
            shared = prefix_cache.get_seq_length()
            cache = copy.deepcopy(prefix_cache)
            cache.batch_repeat_interleave(len(suffixes))
            mask = torch.cat([torch.ones((len(suffixes), shared), dtype=torch.long), mask], 1)
            positions = torch.arange(shared, shared + width).expand(len(suffixes), -1)
            kwargs = {"past_key_values": cache, "position_ids": positions.to(self.device)}
        hidden = self.model.get_decoder()(input_ids=input_ids.to(self.device),
                                          attention_mask=mask.to(self.device), **kwargs)
        last = torch.tensor([len(ids) - 1 for ids in suffixes], device=self.device)
        states = hidden.last_hidden_state[torch.arange(len(suffixes), device=self.device), last]
        return torch.softmax(self.model.get_output_embeddings()(states).float(), dim=-1).cpu()

    @torch.inference_mode()
    def token_logprobs(self, pairs, max_length: int | None = None,
                       desc: str = "") -> list[list[float]]:
        """Batches sorted by length, right-padded; logits only where a continuation token is
        predicted (the vocabulary projection is the bulk of the memory)."""
        encoded = encode_pairs(self.tokenizer, pairs, max_length)
        out: list[list[float]] = [[] for _ in pairs]
        order = sorted((i for i, (_, cont) in enumerate(encoded) if cont),
                       key=lambda i: (len(encoded[i][0]) + len(encoded[i][1]), i))
        with tqdm(total=len(order), desc=desc, unit="pair", disable=not desc) as bar:
            for start in range(0, len(order), self.batch_size):
                idx = order[start:start + self.batch_size]
                for i, logprobs in zip(idx, self._continuation_logprobs([encoded[i] for i in idx])):
                    out[i] = logprobs
                bar.update(len(idx))
        return out

    def _continuation_logprobs(self, batch: list[tuple[list[int], list[int]]]) -> list[list[float]]:
        rows = [context + continuation for context, continuation in batch]
        input_ids, mask = self._right_padded(rows, max(map(len, rows)))
        is_target = torch.zeros_like(mask, dtype=torch.bool)
        for row, (context, continuation) in enumerate(batch):
            is_target[row, len(context):len(context) + len(continuation)] = True
        input_ids, mask, is_target = (t.to(self.device) for t in (input_ids, mask, is_target))
        hidden = self.model.get_decoder()(input_ids=input_ids, attention_mask=mask).last_hidden_state
        predicts_target = is_target[:, 1:]  # the hidden state at i predicts the token at i + 1
        picked = target_logprobs(self.model.get_output_embeddings(),
                                 hidden[:, :-1][predicts_target], input_ids[:, 1:][predicts_target],
                                 self.logit_chunk_rows).cpu().tolist()
        out, start = [], 0
        for _, continuation in batch:  # targets come row by row, in order
            out.append(picked[start:start + len(continuation)])
            start += len(continuation)
        return out

    def _right_padded(self, rows: list[list[int]], width: int) -> tuple[torch.Tensor, torch.Tensor]:
        input_ids = torch.full((len(rows), width), self.tokenizer.pad_token_id)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for row, ids in enumerate(rows):
            input_ids[row, :len(ids)], mask[row, :len(ids)] = torch.tensor(ids), 1
        return input_ids, mask


# fp32 logits held at once when scoring targets: 1 GiB is 2,048 rows of Llama 3's 128k vocabulary
# (a batch at docs/cluster.md's 8B sizes has ~100k target tokens: 50 GB whole, twice with its
# log-softmax); the default CPU run's batches mostly fit in one chunk.
LOGIT_CHUNK_BYTES = 2**30


def target_logprobs(head, states: torch.Tensor, targets: torch.Tensor,
                    chunk_rows: int | None = None) -> torch.Tensor:
    """log p(target) for each row of `states` (hidden states, one per predicted token), the
    vocabulary projection and its log-softmax made `chunk_rows` rows at a time, so that memory
    stays at one chunk of fp32 logits however many tokens a batch scores. Each row's value is
    computed as by one log-softmax over the whole batch (row-wise operations)."""
    rows = chunk_rows or max(1, LOGIT_CHUNK_BYTES // (4 * head.weight.shape[0]))
    picked = []
    for start in range(0, len(targets), rows):
        logits = head(states[start:start + rows]).float()
        picked.append(torch.log_softmax(logits, dim=-1)
                      .gather(1, targets[start:start + rows, None])[:, 0])
        del logits
    return torch.cat(picked) if picked else states.new_zeros(0, dtype=torch.float32)


def _common_prefix_length(sequences: list[list[int]]) -> int:
    """Tokens shared by all sequences, leaving at least one token of each to run."""
    first, length = sequences[0], min(map(len, sequences)) - 1
    for seq in sequences[1:]:
        length = next((i for i in range(length) if seq[i] != first[i]), length)
    return max(length, 0)
