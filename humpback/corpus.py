"""The unlabeled corpus: documents split into segments under their headings, then filtered.

The paper takes the text under each HTML heading of ClueWeb, keeps segments of 600-3,000 characters,
drops exact duplicates and applies heuristic quality filters. Here the sources are text or markdown
files, jsonl or parquet, a Hugging Face dataset, or (the offline default) the Python documentation
topics that ship with every Python (`pydoc_data`).
"""

from __future__ import annotations

import hashlib
import random
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from humpback.config import CorpusParams
from humpback.records import RecordError, read_jsonl

# Headings that mark navigation or boilerplate rather than content (the paper's examples and kin).
NAVIGATION = re.compile(
    r"\b(advertisement|advertising|forum|quick links?|navigation|menu|sitemap|related posts|"
    r"share this|subscribe|newsletter|cookie|login|log in|sign up|comments?|copyright|"
    r"footnotes|table of contents)\b",
    re.IGNORECASE,
)
# A heading is a line underlined by ***, ===, --- or ~~~ (reST, pydoc), or a markdown `#` line.
UNDERLINE = re.compile(r"^([*=\-~^])\1{2,}\s*$")
MARKDOWN_HEADING = re.compile(r"^#{1,6}\s+(.*)$")
SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True)
class Document:
    source: str  # where it came from: "pydoc:assert", "notes.md", "data.jsonl:12"
    text: str


@dataclass(frozen=True)
class Segment:
    source: str
    heading: str
    text: str


def load_documents(sources: list[str], text_field: str) -> Iterator[Document]:
    for source in sources:
        if source == "pydoc":
            yield from _pydoc_documents()
        elif source.startswith("hf:"):
            yield from _hub_documents(source[3:], text_field)
        else:
            yield from _file_documents(Path(source), text_field)


def _pydoc_documents() -> Iterator[Document]:
    from pydoc_data.topics import topics

    for name in sorted(topics):
        yield Document(f"pydoc:{name}", topics[name])


def _hub_documents(dataset_id: str, text_field: str) -> Iterator[Document]:
    import datasets

    for i, row in enumerate(datasets.load_dataset(dataset_id, split="train", streaming=True)):
        yield Document(f"hf:{dataset_id}:{i}", row[text_field])


def _file_documents(path: Path, text_field: str) -> Iterator[Document]:
    if path.is_dir():
        for child in sorted(p for p in path.rglob("*") if p.is_file()):
            yield from _file_documents(child, text_field)
        return
    if not path.exists():
        raise RecordError(f"{path}: corpus source not found (corpus.sources)")
    suffix = path.suffix.lower()
    if suffix in (".txt", ".md", ".markdown", ".rst"):
        try:
            yield Document(str(path), path.read_text(encoding="utf-8"))
        except UnicodeDecodeError as err:
            raise RecordError(f"{path}: not UTF-8 ({err.reason})") from None
    elif suffix == ".jsonl":
        for i, record in enumerate(read_jsonl(path, required=[text_field]), start=1):
            yield Document(f"{path}:{i}", record[text_field])
    elif suffix == ".parquet":
        import pyarrow.parquet as pq

        column = pq.read_table(path, columns=[text_field]).column(text_field)
        for i, text in enumerate(column.to_pylist()):
            yield Document(f"{path}:{i}", text or "")


def split_segments(doc: Document, max_chars: int | None = None) -> list[Segment]:
    """The text under each heading, as the paper segments web pages; with `max_chars`, a longer
    section is cut at paragraph breaks into pieces of at most that size."""
    lines = _clean(doc.text).split("\n")
    segments, heading, body = [], "", []

    def flush():
        text = "\n".join(body).strip()
        if text or heading:
            pieces = _pack_paragraphs(text, max_chars) if max_chars else [text]
            segments.extend(Segment(doc.source, heading, piece) for piece in pieces)

    underline_next = False
    for i, line in enumerate(lines):
        if underline_next:  # the underline of the heading just taken
            underline_next = False
            continue
        next_line = lines[i + 1] if i + 1 < len(lines) else ""
        markdown = MARKDOWN_HEADING.match(line)
        underlined = line.strip() and not UNDERLINE.match(line) and UNDERLINE.match(next_line)
        if markdown or underlined:
            flush()
            heading, body = (markdown.group(1) if markdown else line).strip(), []
            underline_next = bool(underlined)
        else:
            body.append(line)
    flush()
    return segments


def _pack_paragraphs(text: str, max_chars: int) -> list[str]:
    """Greedily pack whole paragraphs into pieces of at most max_chars (a longer paragraph stays
    whole, and the length filter decides)."""
    if len(text) <= max_chars:
        return [text]
    pieces, current = [], ""
    for paragraph in re.split(r"\n\s*\n", text):
        joined = f"{current}\n\n{paragraph}" if current else paragraph
        if len(joined) > max_chars and current:
            pieces.append(current)
            joined = paragraph
        current = joined
    return pieces + [current] if current else pieces


def _clean(text: str) -> str:
    """Normalise newlines and drop control characters (other than newline and tab)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return "".join(ch for ch in text if ch in "\n\t" or ch.isprintable())


def rejection(segment: Segment, params: CorpusParams) -> str | None:
    """Why a segment is dropped (the name of the filter), or None to keep it."""
    heading, text = segment.heading, segment.text
    if len(text) < params.min_chars:
        return "too_short"
    if len(text) > params.max_chars:
        return "too_long"
    if not heading.strip():
        return "empty_heading"
    letters = [c for c in heading if c.isalpha()]
    if len(letters) > 3 and all(c.isupper() for c in letters):
        return "all_caps_heading"
    if NAVIGATION.search(heading):
        return "navigation_heading"
    if repeats_itself(text):
        return "repetitive"
    return None


def repeats_itself(text: str) -> bool:
    """True when a sentence of at least 20 characters appears three times, or a third of
    the sentences are repeats: scraped pages that loop their own content."""
    sentences = [s.strip().lower() for s in SENTENCE_SPLIT.split(text) if len(s.strip()) >= 20]
    if len(sentences) < 3:
        return False
    counts = Counter(sentences)
    repeats = sum(c - 1 for c in counts.values())
    return counts.most_common(1)[0][1] >= 3 or repeats * 3 >= len(sentences)


def build(params: CorpusParams, seed: int) -> tuple[list[dict], dict]:
    """All segments that pass the filters, deduplicated, as records; and the filter counts."""
    counts: Counter = Counter()
    seen: set[str] = set()
    kept = []
    for doc in load_documents(params.sources, params.text_field):
        counts["documents"] += 1
        for segment in split_segments(doc, params.max_chars if params.split_long else None):
            counts["segments"] += 1
            reason = rejection(segment, params)
            digest = hashlib.sha256(" ".join(segment.text.split()).encode()).hexdigest()
            if reason is None and digest in seen:
                reason = "duplicate"
            if reason:
                counts[f"removed_{reason}"] += 1
                continue
            seen.add(digest)
            kept.append({"id": f"seg-{digest[:12]}", "source": segment.source,
                         "heading": segment.heading, "text": segment.text})
    if params.max_segments is not None and len(kept) > params.max_segments:
        counts["removed_sampling"] = len(kept) - params.max_segments
        kept = sorted(random.Random(seed).sample(kept, params.max_segments), key=_key)
    counts["kept"] = len(kept)
    return kept, dict(counts)


def _key(record: dict) -> tuple:
    return (record["source"], record["id"])

