"""The unlabeled corpus: documents read from their sources, split into segments, filtered,
deduplicated and sampled, as the paper prepares ClueWeb (the text under each HTML heading,
600-3,000 characters, exact duplicates and navigation-like headings removed).

One module per idea, so a stage imports (and depends on) only what it runs:
`text` (cleaning), `sources` (which files a source names, split into tasks), `readers`,
`html` and `warc` (documents from each format), `segments` (the segmentation rules),
`filters` (length, headings, repetition), `language`, `dedup` (exact and MinHash near-duplicates),
`build` (the streaming build over worker processes), `card` (the corpus's data card).
Only `clean_text` (which the seed stage shares) and `python_version` live at the top, so a stage
importing them does not depend on the rest.
"""

from __future__ import annotations

import platform

from humpback.corpus.text import clean_text

__all__ = ["clean_text", "python_version"]


def python_version() -> str:
    """The version whose documentation `pydoc` reads: its text changes between versions."""
    return platform.python_version()
