"""The paper's heuristic filters on one segment: length, headings, repetition. Each has a name,
the counter it adds to in metrics/corpus.json (`removed_<name>`)."""

from __future__ import annotations

import re
from collections import Counter

from humpback.config import CorpusParams
from humpback.corpus.segments import Segment

# Headings that mark navigation or boilerplate rather than content (the paper's examples and kin).
NAVIGATION = re.compile(
    r"\b(advertisement|advertising|forum|quick links?|navigation|menu|sitemap|related posts|"
    r"share this|subscribe|newsletter|cookie|login|log in|sign up|comments?|copyright|"
    r"footnotes|table of contents)\b",
    re.IGNORECASE,
)
SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+")


def rejection(segment: Segment, params: CorpusParams) -> str | None:
    """Why a segment is dropped (the name of the filter), or None to keep it. The heading
    filters apply where the segmentation rule gives a heading (`headings`, or a title field)."""
    heading, text = segment.heading, segment.text
    if len(text) < params.min_chars:
        return "too_short"
    if len(text) > params.max_chars:
        return "too_long"
    if heading is not None:
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
