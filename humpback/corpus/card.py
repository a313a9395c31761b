"""The corpus's data card (`data/corpus.md`, beside the segments): where the text came from, how
it was segmented, what each filter removed, and a few segments. Deterministic facts only (no
timings), so a re-run leaves its bytes unchanged."""

from __future__ import annotations

import dataclasses
import json
from itertools import islice
from pathlib import Path

import yaml
from huggingface_hub import DatasetCard, DatasetCardData

from humpback.corpus.segments import AUTO_RULE

# Each counter of metrics/corpus.json that removes segments, in the order the filters apply.
FILTERS = [
    ("too_short", "shorter than `min_chars`"),
    ("too_long", "longer than `max_chars`"),
    ("empty_heading", "no heading (where the rule gives headings)"),
    ("all_caps_heading", "an all-caps heading"),
    ("navigation_heading", "a navigation-like heading (advertisement, menu, cookie, ...)"),
    ("repetitive", "repeats its own sentences"),
    ("language", "its document is in a language not in `languages` (py3langid)"),
    ("duplicate", "the same text as a segment kept before it"),
    ("near_duplicate", "a near-duplicate of a segment kept before it (MinHash LSH)"),
    ("sampling", "not in the `max_segments` sample"),
]
EXAMPLES = 3


def corpus_card(params, counts: dict, segments: str | Path) -> DatasetCard:
    segments = Path(segments)
    metadata = DatasetCardData(
        pretty_name="Humpback corpus segments",
        task_categories=["text-generation"],
        language=list(params.languages) if params.languages else None,
        tags=["humpback", "instruction-backtranslation"],
        configs=[{"config_name": "default", "data_files": segments.name}],
    )
    rows = [f"| documents read | {counts.get('documents', 0)} |",
            f"| segments | {counts.get('segments', 0)} |"]
    rows += [f"| removed: {text} (`removed_{name}`) | {counts[f'removed_{name}']} |"
             for name, text in FILTERS if counts.get(f"removed_{name}")]
    rows.append(f"| **kept** | **{counts.get('kept', 0)}** |")
    near = "off (exact duplicates only)" if params.near_dup_threshold is None else (
        f"threshold {params.near_dup_threshold} (Jaccard of {params.near_dup_shingle}-word "
        f"shingles), {params.near_dup_permutations} permutations in {counts.get('near_dup_bands')} "
        f"bands of {counts.get('near_dup_rows')} rows")
    language = "any" if not params.languages else \
        f"{', '.join(params.languages)} (documents found to be in another language with " \
        f"probability at least {params.min_language_score} removed)"
    rule = params.segmentation if params.segmentation != "auto" else "auto (" + ", ".join(
        f"{kind}: {rule}" for kind, rule in AUTO_RULE.items()) + ")"
    other = []
    if counts.get("warc_records"):
        other.append("WARC/WET records by type: " + ", ".join(
            f"{kind} {n}" for kind, n in counts["warc_records"].items()))
    if counts.get("pages_without_content"):
        other.append(f"pages where the extractor found no main content: "
                     f"{counts['pages_without_content']}")
    if counts.get("archive_members_skipped"):
        other.append(f"archive members of types not read: {counts['archive_members_skipped']}")
    if counts.get("skipped_files"):
        other.append(f"files in source folders of types not read: {counts['skipped_files']}")
    if counts.get("rejected_records"):
        other.append(f"bad source records skipped (`on_bad_record: skip`): "
                     f"{counts['rejected_records']}")
    text = f"""# Corpus segments

Unlabeled text for instruction backtranslation: documents split into segments, filtered and
deduplicated as the paper prepares its web corpus, in `{segments.name}` (one JSON object per line:
`id`, `source`, `heading`, `text`; `position` in the document and `url` where known).

- **Sources:** {", ".join(params.sources)}
- **Segmentation:** {rule}
- **Near-duplicates:** {near}
- **Language:** {language}
{"".join(f"- {line}{chr(10)}" for line in other)}
## What each filter removed

| | segments |
|---|---|
{chr(10).join(rows)}

## Params

```yaml
{yaml.safe_dump(_plain(params), sort_keys=False, allow_unicode=True).rstrip()}
```

## Examples

{_examples(segments)}
"""
    return DatasetCard(f"---\n{metadata.to_yaml()}\n---\n\n{text}")


def _plain(params) -> dict:
    if dataclasses.is_dataclass(params):
        return dataclasses.asdict(params)
    return params.declared()


def _examples(segments: Path) -> str:
    if not segments.exists():
        return "(none)"
    with segments.open(encoding="utf-8") as handle:
        records = [json.loads(line) for line in islice(handle, EXAMPLES)]
    return "\n\n".join(
        f"**{r['heading'] or '(no heading)'}** ({r['source']})\n\n> "
        + (r["text"][:300] + (" [...]" if len(r["text"]) > 300 else "")).replace("\n", "\n> ")
        for r in records)
