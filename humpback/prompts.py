"""Prompt templates (plain text files with {placeholders}) and chat formatting.

Templates live in `prompts/` and are named in params.yaml, so a user swaps a prompt by editing a
file; DVC tracks the files, so an edited prompt re-runs exactly the stages that use it.
"""

from __future__ import annotations

import re
from pathlib import Path

from humpback.errors import HumpbackError

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


class PromptError(HumpbackError):
    pass


def load_template(path: str | Path, fields: set[str]) -> str:
    """Read a template and check it uses exactly `fields` as placeholders."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # without a Windows editor's BOM
    except FileNotFoundError:
        raise PromptError(f"{path}: prompt template not found") from None
    found = set(_PLACEHOLDER.findall(text))
    if found != fields:
        raise PromptError(
            f"{path}: expected placeholders {sorted(fields)}, found {sorted(found)}"
        )
    return text.rstrip("\n")


def render(template: str, **fields: str) -> str:
    """Fill {name} placeholders; braces inside the field values are left alone."""
    return _PLACEHOLDER.sub(lambda m: fields[m.group(1)], template)


def with_tag(instruction: str, tag: str) -> str:
    """Append the paper's source sentence to an instruction (appended, not a system prompt)."""
    return f"{instruction.rstrip()}\n\n{tag}" if tag else instruction


def chat_prompt(tokenizer, user: str, assistant_prefix: str = "") -> str:
    """The model's input for one user turn, optionally with the start of its reply."""
    messages = [{"role": "user", "content": user}]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return text + assistant_prefix


def encode(tokenizer, texts) -> list[list[int]]:
    """The token ids of rendered prompts (and training's completions): the one tokenisation
    every engine and the trainer use. The chat template already wrote any BOS the model wants
    (Llama 3's opens with <|begin_of_text|>), so the tokenizer adds no special tokens: adding
    them would start every prompt with two BOS tokens."""
    texts = list(texts)
    return tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else []


def chat_example(tokenizer, user: str, assistant: str) -> tuple[str, str]:
    """Split a one-turn conversation into (prompt, completion) text for training."""
    prompt = chat_prompt(tokenizer, user)
    messages = [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    full = tokenizer.apply_chat_template(messages, tokenize=False)
    if not full.startswith(prompt):
        raise PromptError("the chat template renders the prompt differently inside a conversation")
    return prompt, full[len(prompt):]
