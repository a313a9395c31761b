"""Self-augmentation: the backward model writes one candidate instruction per corpus segment."""

from __future__ import annotations

import re

from humpback.config import AugmentParams
from humpback.engines import Engine, Sampling
from humpback.prompts import chat_prompt, render

# First words of instructions and questions: a cheap signal that the backward model wrote an
# instruction rather than continuing or answering the text (the crux at small model sizes).
_OPENERS = re.compile(
    r"^(what|how|why|when|where|which|who|whom|whose|is|are|can|could|should|would|will|do|does|"
    r"did|explain|describe|write|give|list|tell|show|summari[sz]e|compare|create|provide|define|"
    r"outline|help|please|i|i'm|my|in|for|using|suggest|recommend|find|name|translate|rewrite|"
    r"make|draft|generate|calculate|convert|implement|identify|discuss|detail)\b",
    re.IGNORECASE,
)


def backward_prompt(template: str, tokenizer, output: str) -> str:
    return chat_prompt(tokenizer, render(template, output=output))


def clean_instruction(text: str) -> str:
    """The generated instruction, trimmed to its first paragraph."""
    return text.strip().split("\n\n")[0].strip()


def looks_like_instruction(instruction: str, segment: str) -> bool:
    """True for a short request or question that does not just copy the segment."""
    if not 10 <= len(instruction) <= 400 or instruction[:60] in segment:
        return False
    return instruction.rstrip().endswith("?") or bool(_OPENERS.match(instruction))


def augment(engine: Engine, template: str, segments: list[dict], params: AugmentParams,
            seed: int) -> list[dict]:
    """One candidate pair (instruction, segment) per segment, in segment order."""
    prompts = [backward_prompt(template, engine.tokenizer, s["text"]) for s in segments]
    sampling = Sampling(params.max_new_tokens, params.temperature, params.top_p, seed)
    texts = engine.generate(prompts, sampling)
    return [{"id": s["id"], "instruction": clean_instruction(text), "output": s["text"],
             "source": s["source"]} for s, text in zip(segments, texts)]
