"""Duplicates: exact (the same text up to white space) and near (MinHash LSH over word shingles;
the sketches are rensa's).

Workers compute each segment's fingerprints: its exact hash, and its LSH band keys (the
sketch's values band by band, hashed). One `Deduplicator`, in the stage's own process, sees the
segments in input order and keeps the first of each group, so the output does not depend on how
many workers made the fingerprints. Two segments are near-duplicates when all rows of one band
agree; the bands are chosen for the threshold as datasketch chooses them (least weight of false
positives below it and false negatives above it), and candidates are not re-checked: the
threshold is where the S-curve turns, as in datatrove's MinHash dedup.

The index holds 8-byte keys in open-addressing tables (numpy arrays, a quarter to half full): 9
keys per kept segment with 8 bands, about 410 bytes a segment at 10^6 segments counting the
moment a table doubles, where rensa's own LSH index with a set of hashes took 940 (measured on
this project's machine): the memory a million documents need beyond a hundred thousand.
"""

from __future__ import annotations

import hashlib
import re
from functools import cache

import numpy as np

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


def band_keys(text: str, words: int, permutations: int, threshold: float) -> bytes:
    """The segment's LSH band keys, 8 bytes each (bytes: compact in a shard), from its rensa
    MinHash; each band's rows are hashed with the band's number, so equal values in different
    bands never match."""
    from rensa import RMinHash

    minhash = RMinHash(num_perm=permutations, seed=SKETCH_SEED)
    minhash.update(shingles(text, words))
    bands, rows = lsh_bands(threshold, permutations)
    values = np.asarray(minhash.digest(), dtype="<u4")[: bands * rows].reshape(bands, rows)
    return b"".join(hashlib.blake2b(row.tobytes(), digest_size=8, salt=band.to_bytes(8, "little")
                                    ).digest() for band, row in enumerate(values))


@cache
def lsh_bands(threshold: float, permutations: int) -> tuple[int, int]:
    """(bands, rows per band), bands a power of two dividing `permutations`, minimising the area
    of false positives below the threshold plus false negatives above it."""
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


class KeySet:
    """A set of 64-bit keys in a numpy array, linear probing, at most half full; lookups and
    inserts take arrays of keys. 0 marks an empty slot (a key 0 is stored as 1)."""

    def __init__(self, capacity: int = 1 << 16):
        self.table = np.zeros(capacity, dtype=np.uint64)
        self.size = 0

    def contains(self, keys: np.ndarray) -> np.ndarray:
        keys = np.where(keys == 0, np.uint64(1), keys)
        mask = np.uint64(len(self.table) - 1)
        slots = keys & mask
        found = np.zeros(len(keys), dtype=bool)
        pending = np.arange(len(keys))
        while pending.size:
            values = self.table[slots[pending]]
            hit, empty = values == keys[pending], values == 0
            found[pending[hit]] = True
            pending = pending[~(hit | empty)]
            slots[pending] = (slots[pending] + np.uint64(1)) & mask
        return found

    def add(self, keys: np.ndarray) -> None:
        """Add keys not in the set yet (and distinct from each other)."""
        if not len(keys):
            return
        if 2 * (self.size + len(keys)) > len(self.table):
            old = self.table[self.table != 0]
            capacity = len(self.table)
            while 2 * (self.size + len(keys)) > capacity:
                capacity *= 2
            self.table, self.size = np.zeros(capacity, dtype=np.uint64), 0
            self.add(old)
        keys = np.where(keys == 0, np.uint64(1), keys)
        mask = np.uint64(len(self.table) - 1)
        slots = keys & mask
        pending = np.arange(len(keys))
        while pending.size:
            free = self.table[slots[pending]] == 0
            candidates = pending[free]
            # of the keys that reach the same free slot in this round, the first takes it
            taken, first = np.unique(slots[candidates], return_index=True)
            self.table[taken] = keys[candidates[first]]
            placed = np.zeros(len(keys), dtype=bool)
            placed[candidates[first]] = True
            pending = pending[~placed[pending]]
            slots[pending] = (slots[pending] + np.uint64(1)) & mask
        self.size += len(keys)


class Deduplicator:
    """The segments kept so far: their exact hashes and (with a threshold) their band keys."""

    def __init__(self, threshold: float | None, permutations: int):
        self.exact = KeySet()
        self.bands = self.rows = None
        if threshold is not None:
            need("rensa", "near-duplicate removal (corpus.near_dup_threshold)")
            self.bands, self.rows = lsh_bands(threshold, permutations)
            self.index = KeySet()

    def verdicts(self, digests: list[str], bands: list[bytes | None]) -> list[str | None]:
        """For segments in order: "duplicate", "near_duplicate", or None (kept, and from then
        on remembered)."""
        exact = np.array([int(d[:16], 16) for d in digests], dtype=np.uint64)
        seen_before = self.exact.contains(exact)
        near_before = np.zeros(len(digests), dtype=bool)
        keys = None
        if self.bands is not None:
            keys = np.frombuffer(b"".join(bands), dtype="<u8").reshape(len(digests), self.bands)
            near_before = self.index.contains(keys.ravel()).reshape(keys.shape).any(axis=1)
        result, kept = [], []
        exact_here: set[int] = set()
        bands_here: set[int] = set()
        for i, key in enumerate(exact.tolist()):
            row = keys[i].tolist() if keys is not None else ()
            if seen_before[i] or key in exact_here:
                result.append("duplicate")
            elif near_before[i] or not bands_here.isdisjoint(row):
                result.append("near_duplicate")
            else:
                result.append(None)
                kept.append(i)
                exact_here.add(key)
                bands_here.update(row)
        self.exact.add(exact[kept])
        if keys is not None and kept:
            self.index.add(np.unique(keys[kept].ravel()))
        return result

    def stats(self) -> dict:
        return {"near_dup_bands": self.bands, "near_dup_rows": self.rows} if self.bands else {}
