"""The unlabeled corpus: documents split into segments under their headings, then filtered.

The paper takes the text under each HTML heading of ClueWeb, keeps segments of 600-3,000 characters,
drops exact duplicates and applies heuristic quality filters. Here the sources are text or markdown
files, jsonl or parquet (under data/sources, or a hub dataset brought in by the hub stage), or (the
offline default) the Python documentation topics that ship with every Python (`pydoc_data`).
"""

from __future__ import annotations

import hashlib
import platform
import random
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from humpback.config import CorpusParams
from humpback.records import RecordError, decode_utf8, numbered_jsonl

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
# Cleaning: every line break becomes \n, other spaces a plain space; control characters (but \t)
# and lone surrogates (JSON can carry them, UTF-8 cannot write them) and the BOM are dropped.
_LINE_BREAKS = re.compile("\r\n?|[\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
_SPACES = re.compile("[\xa0\u1680\u2000-\u200a\u202f\u205f\u3000]")
_DROPPED = re.compile("[\x00-\x08\x0e-\x1b\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufeff]")
TEXT_FILES = (".txt", ".md", ".markdown", ".rst")


@dataclass(frozen=True)
class Document:
    source: str  # where it came from: "pydoc:assert", "notes.md", "data.jsonl:12"
    text: str


@dataclass(frozen=True)
class Segment:
    source: str
    heading: str
    text: str


Reject = Callable[[RecordError], None]


class Rejections:
    """What happens to an unusable source record (bad JSON or UTF-8, no text, an empty file):
    `corpus.on_bad_record: error` stops at the first, naming its file and line; `skip` counts
    them and keeps the first few messages for the stage to print."""

    def __init__(self, policy: str, keep: int = 5):
        self.policy, self.keep = policy, keep
        self.count, self.messages = 0, []

    def __call__(self, err: RecordError) -> None:
        if self.policy == "error":
            raise RecordError(f"{err} (corpus.on_bad_record: skip counts and skips such records)")
        self.count += 1
        if len(self.messages) < self.keep:
            self.messages.append(str(err))


def _raise(err: RecordError) -> None:
    raise err


def load_documents(sources: list[str], text_field: str,
                   reject: Reject = _raise) -> Iterator[Document]:
    for source in sources:
        if source == "pydoc":
            yield from _pydoc_documents()
        else:
            yield from _file_documents(Path(source), text_field, reject, explicit=True)


def _pydoc_documents() -> Iterator[Document]:
    from pydoc_data.topics import topics

    for name in sorted(topics):
        yield Document(f"pydoc:{name}", topics[name])


def python_version() -> str:
    """The version whose documentation `pydoc` reads: its text changes between versions."""
    return platform.python_version()


def _file_documents(path: Path, text_field: str, reject: Reject,
                    explicit: bool = False) -> Iterator[Document]:
    if path.is_dir():  # a folder's files of other types (images, notes) are passed over
        for child in sorted(p for p in path.rglob("*") if p.is_file()):
            yield from _file_documents(child, text_field, reject)
        return
    if not path.exists():
        raise RecordError(f"{path}: corpus source not found (corpus.sources)")
    suffix = path.suffix.lower()
    if suffix in TEXT_FILES:
        yield from _text_document(path, reject)
    elif suffix == ".jsonl":
        found = False
        for line_no, record in numbered_jsonl(path, [text_field], on_error=reject):
            found = True
            yield Document(f"{path}:{line_no}", record[text_field])
        if not found and not path.read_bytes().strip():
            reject(RecordError(f"{path}: empty file"))
    elif suffix == ".parquet":
        yield from _parquet_documents(path, text_field, reject)
    elif explicit:
        raise RecordError(f"{path}: not a corpus file type (corpus.sources takes "
                          f"{', '.join(TEXT_FILES)}, .jsonl, .parquet or a folder)")


def _text_document(path: Path, reject: Reject) -> Iterator[Document]:
    try:
        text = decode_utf8(path.read_bytes(), path)  # CRLF line ends go in the cleaning
    except RecordError as err:
        reject(err)
        return
    if not text.strip():
        reject(RecordError(f"{path}: empty file"))
        return
    yield Document(str(path), text)


def _parquet_documents(path: Path, text_field: str, reject: Reject) -> Iterator[Document]:
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    if text_field not in schema.names:
        raise RecordError(f"{path}: no column '{text_field}' (corpus.text_field; columns: "
                          f"{', '.join(schema.names)})")
    for i, text in enumerate(pq.read_table(path, columns=[text_field]).column(text_field)
                             .to_pylist()):
        if isinstance(text, str):
            yield Document(f"{path}:{i}", text)
        elif text is not None:  # a null is an empty document, which the length filter drops
            reject(RecordError(f"{path}: row {i}: '{text_field}' is not text"))


def split_segments(doc: Document, max_chars: int | None = None) -> list[Segment]:
    """The text under each heading, as the paper segments web pages; with `max_chars`, a longer
    section is cut at paragraph breaks into pieces of at most that size."""
    lines = clean_text(doc.text).split("\n")
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


def clean_text(text: str) -> str:
    """Newlines normalised, unusual spaces made plain, control characters (other than newline
    and tab) dropped. Regular expressions rather than a loop per character: a 10 MB line takes
    a fraction of a second."""
    text = _LINE_BREAKS.sub("\n", text)
    return _DROPPED.sub("", _SPACES.sub(" ", text))


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


def build(params: CorpusParams, seed: int,
          rejections: Rejections | None = None) -> tuple[list[dict], dict]:
    """All segments that pass the filters, deduplicated, as records; and the filter counts
    (`rejected_records`: unusable source records skipped under `on_bad_record: skip`)."""
    rejections = rejections or Rejections(params.on_bad_record)
    counts: Counter = Counter()
    seen: set[str] = set()
    kept = []
    for doc in load_documents(params.sources, params.text_field, rejections):
        counts["documents"] += 1
        for segment in split_segments(doc, params.max_chars if params.split_long else None):
            counts["segments"] += 1
            reason = rejection(segment, params)
            digest = ""
            if reason is None:
                digest = hashlib.sha256(" ".join(segment.text.split()).encode()).hexdigest()
                reason = "duplicate" if digest in seen else None
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
    counts["rejected_records"] = rejections.count
    return kept, dict(counts)


def _key(record: dict) -> tuple:
    return (record["source"], record["id"])

