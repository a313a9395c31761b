"""The engine interface every backend implements, and what to load into one.

Three calls cover the pipeline: `generate` (sampled or greedy text: augment, generative
scoring, answers, written verdicts), `next_token_probs` (one forward pass reading the
probabilities of a few tokens: logprob scoring and judging) and `token_logprobs` (the
log-likelihood of a given continuation, token by token: the held-out NLL, and the likelihood
ratios of IFD-style data selection, loss(y | x) / loss(y)).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence


@dataclass(frozen=True)
class Sampling:
    max_new_tokens: int
    temperature: float = 0.0  # 0 means greedy
    top_p: float = 1.0
    seed: int = 0


@dataclass(frozen=True)
class Endpoint:
    """An OpenAI-compatible server (the http backend). The key stays in the environment."""
    base_url: str
    model: str  # the name the server serves the model under
    api_key_env: str  # the environment variable holding the key (never the key)
    max_in_flight: int = 8  # requests open at once
    retries: int = 5  # further tries of a request refused with 429 or 5xx, with backoff
    section: str | None = None  # the params section that chose it (judge, rewrite): named in errors
    # logprob mode: the likeliest next tokens read per request (OpenAI's limit is 20; vLLM
    # serves more with --max-logprobs, and -1, every token)
    top_logprobs: int = 20


@dataclass(frozen=True)
class EngineSpec:
    """What an engine runs: a base model (folder or hub id at `revision`) with a model folder on
    top (a LoRA adapter, or full weights), or an endpoint. Plain values: it travels to the
    replicas of a Ray cluster, which load the engine themselves."""
    backend: str  # hf | vllm | http
    base: str | None = None
    model: str | None = None  # None: the base model alone
    revision: str | None = None
    batch_size: int = 8  # hf: prompts per forward pass
    dtype: str = "auto"  # base.dtype: resolved where the engine loads (humpback.models.resolve_dtype)
    endpoint: Endpoint | None = None  # http only


class Engine(Protocol):
    tokenizer: object  # None for an endpoint, which applies its own chat template

    def generate(self, prompts: Sequence[str], sampling: Sampling, desc: str = "") -> list[str]: ...

    def next_token_probs(
        self, prompts: Sequence[str], token_ids: Sequence[Sequence[int]], desc: str = ""
    ) -> list[list[float]]:
        """For each prompt, the next-token probability summed over each group of token ids
        (vLLM: renormalised over the listed tokens)."""
        ...

    def token_logprobs(self, pairs: Sequence[tuple[str, str]], max_length: int | None = None,
                       desc: str = "") -> list[list[float]]:
        """For each (context, continuation), the natural-log probability of every token of the
        continuation given the context and the continuation's tokens before it. Context and
        continuation are tokenized apart (no special tokens), as training does, and cut to
        `max_length` tokens in all, the context first; a continuation left without tokens gets
        an empty list. The context must not be empty (its first token has nothing to be
        predicted from): for loss(y) alone, give the chat template's opening."""
        ...

    def close(self) -> None:
        """Free the engine's processes and memory now rather than at interpreter exit."""
        ...


def encode_pairs(tokenizer, pairs, max_length: int | None) -> list[tuple[list[int], list[int]]]:
    """(context, continuation) token ids as `token_logprobs` scores them on every backend:
    tokenized apart, as training tokenizes prompt and completion (humpback.prompts.encode), and
    cut to `max_length`."""
    from humpback.prompts import encode

    encoded = []
    for context_ids, continuation_ids in zip(encode(tokenizer, [c for c, _ in pairs]),
                                             encode(tokenizer, [c for _, c in pairs])):
        if not context_ids:
            raise ValueError("token_logprobs: an empty context (give the chat template's "
                             "opening for loss(y) alone)")
        encoded.append(truncate(context_ids, continuation_ids, max_length))
    return encoded


def truncate(context_ids: list[int], continuation_ids: list[int],
             max_length: int | None) -> tuple[list[int], list[int]]:
    """Cut a (context, continuation) pair to `max_length` tokens in all, the context first (as
    training's tokenizer does), so every backend scores the same tokens."""
    if max_length is None:
        return context_ids, continuation_ids
    context_ids = context_ids[:max_length]
    return context_ids, continuation_ids[:max_length - len(context_ids)]
