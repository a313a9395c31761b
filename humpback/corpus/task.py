"""One task's work, done in a worker process (or a Ray task): read its files, extract and
segment each document, filter the segments, and fingerprint the survivors for the writer's
dedup (build.py). Kept apart from the writer so the workers (workers.py) and the writer import
it without importing each other."""

from __future__ import annotations

import io
import os
import pickle
import resource
from collections import Counter
from pathlib import Path

from humpback.config import CorpusParams
from humpback.corpus.dedup import band_keys, exact_digest
from humpback.corpus.filters import rejection
from humpback.corpus.readers import read
from humpback.corpus.segments import segment
from humpback.corpus.sources import Task
from humpback.records import RecordError

CHUNK = 512  # segments per pickled chunk of a shard: what the writer holds at a time

class Rejections:
    """What happens to an unusable source record (bad JSON or UTF-8, no text, an empty file, a
    malformed WARC record): `corpus.on_bad_record: error` stops at the first, naming its file and
    line; `skip` counts them and keeps the first few messages for the stage to print."""

    def __init__(self, policy: str, keep: int = 5):
        self.policy, self.keep = policy, keep
        self.count, self.messages = 0, []

    def __call__(self, err: RecordError) -> None:
        if self.policy == "error":
            raise RecordError(f"{err} (corpus.on_bad_record: skip counts and skips such records)")
        self.count += 1
        if len(self.messages) < self.keep:
            self.messages.append(str(err))

    def merge(self, count: int, messages: list[str]) -> None:
        self.count += count
        self.messages += messages[: self.keep - len(self.messages)]


def run_task(task: Task, params: CorpusParams, out=None) -> bytes | None:
    """One task's candidates, as pickled chunks and then a summary, written to `out` (a binary
    file); with no `out`, returned as bytes (for a Ray task, whose driver writes the shard)."""
    buffer = io.BytesIO() if out is None else None
    handle = out if out is not None else buffer
    rejections = Rejections(params.on_bad_record)
    counts: Counter = Counter()
    chunk: list[tuple] = []
    near = params.near_dup_threshold is not None
    for doc in read(task, params, rejections, counts):
        counts["documents"] += 1
        survivors = []
        for seg in segment(doc, params.segmentation, params.max_chars, params.split_long):
            counts["segments"] += 1
            reason = rejection(seg, params)
            if reason:
                counts[f"removed_{reason}"] += 1
            else:
                survivors.append(seg)
        if survivors and params.languages and not _in_language(survivors, params):
            counts["removed_language"] += len(survivors)
            continue
        for seg in survivors:
            bands = band_keys(seg.text, params.near_dup_shingle, params.near_dup_permutations,
                              params.near_dup_threshold) if near else None
            chunk.append((doc.kind == "pydoc", seg.source, seg.heading, seg.text, seg.position,
                          exact_digest(seg.text), bands, seg.url))
        if len(chunk) >= CHUNK:
            pickle.dump(chunk, handle, protocol=pickle.HIGHEST_PROTOCOL)
            chunk = []
    if chunk:
        pickle.dump(chunk, handle, protocol=pickle.HIGHEST_PROTOCOL)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    pickle.dump({"counts": counts, "rejected": rejections.count,
                 "messages": rejections.messages, "peak_kib": peak}, handle,
                protocol=pickle.HIGHEST_PROTOCOL)
    return buffer.getvalue() if buffer is not None else None


def _in_language(survivors: list, params: CorpusParams) -> bool:
    """The language of a document's text that passed the other filters (a page's boilerplate
    or a long code listing that the length filter dropped does not decide it), one call per
    document: its segments are kept or dropped together."""
    from humpback.corpus.language import SAMPLE_CHARS, accepted

    sample, size = [], 0
    for seg in survivors:
        sample.append(seg.text)
        size += len(seg.text)
        if size >= SAMPLE_CHARS:
            break
    return accepted("\n\n".join(sample), params.languages, params.min_language_score)


def write_shard(task: Task, params: CorpusParams, shard: Path) -> Path:
    """Run the task into its shard file, atomically (a kill mid-task leaves no shard)."""
    shard.parent.mkdir(parents=True, exist_ok=True)
    tmp = shard.with_name(shard.name + ".tmp")
    with tmp.open("wb") as out:
        run_task(task, params, out)
    os.replace(tmp, shard)
    return shard
