"""Duplicates: exact (the same text up to white space) and near (MinHash LSH over word shingles,
with rensa's sketches and index).

Workers compute each segment's fingerprints; one `Deduplicator`, in the stage's own process,
sees the segments in input order and keeps the first of each group, so the output does not depend
on how many workers made the fingerprints. An LSH index flags a pair when all rows of one of its
bands agree; the bands are chosen for the threshold as datasketch chooses them (least weight of
false positives below it and false negatives above it), and candidates are not re-checked: the
threshold is where the S-curve turns, as in datatrove's MinHash dedup.
"""

from __future__ import annotations

import hashlib
import re
from functools import cache

from humpback.corpus.needs import need

WORD = re.compile(r"\w+")
SKETCH_SEED = 0  # fixed: near-duplicates must not depend on the sampling seed


def exact_digest(text: str) -> str:
    """The hash both the segment id and exact dedup use: the text with white space collapsed."""
    return hashlib.sha256(" ".join(text.split()).encode()).hexdigest()


def shingles(text: str, words: int) -> list[str]:
    """Word n-grams of the lowercased text (all of it when it has fewer words)."""
    tokens = WORD.findall(text.lower())
    if len(tokens) <= words:
        return [" ".join(tokens)]
    return list(map(" ".join, zip(*(tokens[i:] for i in range(words)))))


def sketch(text: str, words: int, permutations: int):
    """The segment's MinHash (an rensa.RMinHash, picklable)."""
    from rensa import RMinHash

    minhash = RMinHash(num_perm=permutations, seed=SKETCH_SEED)
    minhash.update(shingles(text, words))
    return minhash


@cache
def lsh_bands(threshold: float, permutations: int) -> tuple[int, int]:
    """(bands, rows per band), bands dividing `permutations` (rensa's index needs that),
    minimising the area of false positives below the threshold plus false negatives above."""
    def area(f, low, high, steps=200):
        width = (high - low) / steps
        return sum(f(low + (i + 0.5) * width) for i in range(steps)) * width

    best = None
    bands = 1
    while bands <= permutations:
        rows = permutations // bands
        false_pos = area(lambda s: 1 - (1 - s ** rows) ** bands, 0.0, threshold)
        false_neg = area(lambda s: (1 - s ** rows) ** bands, threshold, 1.0)
        if best is None or false_pos + false_neg < best[0]:
            best = (false_pos + false_neg, bands, rows)
        bands *= 2
    return best[1], best[2]


class Deduplicator:
    """Segments seen so far: their exact hashes and (with a threshold) an LSH index of sketches.
    Memory grows with the unique segments kept (8-byte hashes, one index entry per band), not with
    their text."""

    def __init__(self, threshold: float | None, permutations: int):
        self.exact: set[int] = set()
        self.index = None
        if threshold is not None:
            need("rensa", "near-duplicate removal (corpus.near_dup_threshold)")
            from rensa import RMinHashLSH

            self.bands, self.rows = lsh_bands(threshold, permutations)
            self.index = RMinHashLSH(threshold=threshold, num_perm=permutations,
                                     num_bands=self.bands)
        self.kept = 0

    def verdict(self, digest: str, minhash) -> str | None:
        """"duplicate", "near_duplicate", or None (then the segment is remembered as kept)."""
        key = int(digest[:16], 16)
        if key in self.exact:
            return "duplicate"
        if self.index is not None and self.index.query(minhash):
            return "near_duplicate"
        self.exact.add(key)
        if self.index is not None:
            self.index.insert(self.kept, minhash)
        self.kept += 1
        return None

    def stats(self) -> dict:
        return {"near_dup_bands": self.bands, "near_dup_rows": self.rows} if self.index else {}
