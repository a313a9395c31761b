"""Documents and the rules that cut them into segments (`corpus.segmentation`).

- `headings`: the text under each heading, as the paper segments web pages (an HTML page's
  h1-h6, a markdown `#` line, a reST/pydoc underlined title). With `split_long`, a section over
  `max_chars` is cut at paragraph breaks (on an HTML page, a paragraph still too long, such as a
  long list or table, at its lines).
- `document`: the whole document, one segment.
- `paragraphs` / `lines`: for text without headings (C4, FineWeb, Dolma store paragraphs one to
  a line), pieces packed at blank-line or line breaks into the length window; a unit longer than
  `max_chars` is cut at sentence ends first.
- `auto`: `headings` for the sources that have them (pydoc, text and markdown files, HTML pages
  and WARC responses), `lines` for extracted web text (jsonl, parquet, WET).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Optional

from humpback.corpus.text import clean_text

# A heading is a line underlined by ***, ===, --- or ~~~ (reST, pydoc), or a markdown `#` line.
UNDERLINE = re.compile(r"^([*=\-~^])\1{2,}\s*$")
MARKDOWN_HEADING = re.compile(r"^#{1,6}\s+(.*)$")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
RULES = ("auto", "headings", "document", "paragraphs", "lines")
# The rule `auto` picks for each kind of document (the reader that made it).
AUTO_RULE = {"pydoc": "headings", "text": "headings", "html": "headings", "jsonl": "lines",
             "parquet": "lines", "wet": "lines"}


@dataclass(frozen=True)
class Document:
    source: str  # where it came from: "pydoc:assert", "notes.md", "data.jsonl:12", "a.warc.gz:7"
    text: str
    kind: str = "text"  # the reader that made it: pydoc, text, html, jsonl, parquet, wet
    url: Optional[str] = None  # the page's URL where the source records one
    title: Optional[str] = None  # a heading for text that has none (corpus.title_field)
    # An HTML page's main content as (heading, body) pairs, from the extractor's DOM, so that a
    # `#` inside a code block is never taken for a heading.
    sections: Optional[tuple[tuple[str, str], ...]] = None


@dataclass(frozen=True)
class Segment:
    source: str
    heading: Optional[str]  # None: the rule gives no heading (the heading filters do not apply)
    text: str
    position: int = 0  # the segment's index in its document
    url: Optional[str] = None


def segment(doc: Document, rule: str, max_chars: int, split_long: bool) -> list[Segment]:
    """The document's segments under `rule` (see the module docstring)."""
    rule = AUTO_RULE.get(doc.kind, "headings") if rule == "auto" else rule
    if rule == "headings":
        limit = max_chars if split_long else None
        if doc.sections is not None:  # a page's paragraph too long (a list, a table) is cut
            pieces = [(heading, piece) for heading, body in doc.sections  # at its lines
                      for piece in (_within(body, limit) if limit else [body])]
        else:
            pieces = [(s.heading, s.text) for s in split_segments(doc, limit)]
        if doc.title:  # text before the first heading: the title serves as its heading
            pieces = [(heading or doc.title, text) for heading, text in pieces]
    else:
        text = "\n\n".join(body for _, body in doc.sections) if doc.sections else doc.text
        text = clean_text(text).strip()
        pieces = [(doc.title, piece) for piece in
                  ([text] if rule == "document" else pack(text, max_chars, rule))]
    return [Segment(doc.source, heading, text, position, doc.url)
            for position, (heading, text) in enumerate(pieces)]


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


def _within(body: str, max_chars: int) -> list[str]:
    return [cut for piece in _pack_paragraphs(body, max_chars)
            for cut in (pack(piece, max_chars) if len(piece) > max_chars else [piece])]


def pack(text: str, max_chars: int, rule: str = "lines") -> list[str]:
    """Text without headings cut at its line (or paragraph) breaks into pieces of at most
    `max_chars`, of about equal length: 5,000 characters in a 1,500 window give four pieces of
    about 1,250 rather than three full ones and a short remainder the length filter would drop.
    A unit longer than the window is cut at sentence ends; a sentence longer still stays whole
    (the length filter decides)."""
    if len(text) <= max_chars:
        return [text] if text else []
    breaks = r"\n\s*\n" if rule == "paragraphs" else r"\n+"
    glue = "\n\n" if rule == "paragraphs" else "\n"
    units = []
    for unit in re.split(breaks, text):
        unit = unit.strip()
        if len(unit) > max_chars:
            units += _sentence_pieces(unit, max_chars)
        elif unit:
            units.append(unit)
    target = len(text) / math.ceil(len(text) / max_chars)
    pieces, current = [], ""
    for unit in units:
        if current and (len(current) + len(glue) + len(unit) > max_chars or len(current) >= target):
            pieces.append(current)
            current = ""
        current = f"{current}{glue}{unit}" if current else unit
    return pieces + [current] if current else pieces


def _sentence_pieces(unit: str, max_chars: int) -> list[str]:
    sentences = SENTENCE_END.split(unit)
    target = len(unit) / math.ceil(len(unit) / max_chars)
    pieces, current = [], ""
    for sentence in sentences:
        if current and (len(current) + 1 + len(sentence) > max_chars or len(current) >= target):
            pieces.append(current)
            current = ""
        current = f"{current} {sentence}" if current else sentence
    return pieces + [current] if current else pieces
