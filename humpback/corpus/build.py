"""The corpus build, streamed: tasks (sources.py) run in worker processes, their results come
back in task order to one deduplicating writer, and a second pass takes the sample.

- Workers read, extract, segment and filter (everything that looks at one document), and
  fingerprint each surviving segment. Each task's results are written to a shard under
  `.humpback/` keyed by the task's bytes, the params and the stage's code, so a killed run
  resumes without redoing finished tasks; the shards go once the output is complete.
- The writer holds only the dedup structures (dedup.py) and one shard chunk at a time: the kept
  segments go to a temporary file, not a list. Dedup in task order makes the output the same
  bytes for any number of workers.
- Sampling (`max_segments`): `random.Random(seed).sample(range(n), k)` picks the same indices
  as sampling the list of n kept segments, so the second pass keeps those lines, sorted by
  (source, id), holding only the k sampled records.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import pickle
import random
import shutil
from collections import Counter
from pathlib import Path
from typing import Iterator

from humpback.config import CorpusParams
from humpback.corpus.dedup import Deduplicator
from humpback.corpus.sources import Task, plan
from humpback.corpus.task import Rejections
from humpback.corpus.workers import run_tasks
from humpback.records import JsonlWriter, write_jsonl
from humpback.resume import WORK_DIR, fingerprint

# Params that change how the work is spread, or only the writer's part: not in a shard's key.
_NOT_IN_SHARDS = ("workers", "executor", "ray_address", "max_segments")


@dataclasses.dataclass
class Progress:
    """Counts as the build goes (metrics/corpus.json), kept apart from the output."""
    counts: Counter = dataclasses.field(default_factory=Counter)
    skipped_files: list[str] = dataclasses.field(default_factory=list)


def build(params: CorpusParams, seed: int, output: str | Path,
          rejections: Rejections | None = None, progress: Progress | None = None) -> dict:
    """Write the segments that pass the filters, deduplicated and sampled, to `output` (JSON
    Lines, atomically); return the counts for the metrics."""
    params = _plain(params)
    rejections = rejections or Rejections(params.on_bad_record)
    progress = progress or Progress()
    counts = progress.counts
    tasks, progress.skipped_files = plan(params.sources)
    if params.languages:
        from humpback.corpus.language import check_languages

        check_languages(params.languages)
    work = WORK_DIR / "corpus" / Path(output).as_posix().replace("/", "__")
    shard_key = fingerprint({k: v for k, v in dataclasses.asdict(params).items()
                             if k not in _NOT_IN_SHARDS})
    shards = [work / f"{n:06d}-{_task_key(shard_key, task)}.pkl" for n, task in enumerate(tasks)]
    _remove_stale(work, set(shards))
    dedup = Deduplicator(params.near_dup_threshold, params.near_dup_permutations)
    kept_file = work / "kept.jsonl"
    
    with JsonlWriter(kept_file) as writer:
        for shard in run_tasks(tasks, shards, params, counts):
            for chunk in _read_shard(shard, counts, rejections):
                records = []
                verdicts = dedup.verdicts([c[5] for c in chunk], [c[6] for c in chunk])
                for candidate, verdict in zip(chunk, verdicts):
                    if verdict:
                        counts[f"removed_{verdict}"] += 1
                    else:
                        records.append(_record(candidate))
                writer.write(records)
    kept = writer.count
    if not kept:  # nothing to write: the stage says why, with the counts
        kept_file.unlink(missing_ok=True)
    elif params.max_segments is not None and kept > params.max_segments:
        counts["removed_sampling"] = kept - params.max_segments
        _write_sample(kept_file, output, random.Random(seed).sample(range(kept),
                                                                     params.max_segments))
        kept = params.max_segments
    else:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        shutil.move(kept_file, output)
    shutil.rmtree(work, ignore_errors=True)  # the output is complete: its shards are not needed
    counts["kept"] = kept
    counts["rejected_records"] = rejections.count
    worker_peak = counts.pop("worker_peak_kib", 0)
    result = {k: v for k, v in counts.items() if not isinstance(k, tuple)}
    if result.get("workers", 1) > 1:  # the stage's own peak is peak_memory_gb
        result["peak_worker_memory_gb"] = round(worker_peak / 2**20, 2)
    record_types = {k[1]: v for k, v in counts.items() if isinstance(k, tuple)}
    if record_types:
        result["warc_records"] = dict(sorted(record_types.items()))
    if progress.skipped_files:
        result["skipped_files"] = len(progress.skipped_files)
    return {**result, **dedup.stats()}


def skipped_files_warning(skipped: list[str], metrics: str, shown: int = 3) -> str:
    """One line naming the first few files no reader takes, and how many there were."""
    more = f" and {len(skipped) - shown} more" if len(skipped) > shown else ""
    return (f"warning: corpus.sources: passed over {len(skipped)} files of types the corpus stage "
            f"does not read: {', '.join(skipped[:shown])}{more} (skipped_files in {metrics})")


def _plain(params) -> CorpusParams:
    """The params as a dataclass (a stage's view of them hands out only declared keys)."""
    return params if dataclasses.is_dataclass(params) else CorpusParams(
        **{f.name: getattr(params, f.name) for f in dataclasses.fields(CorpusParams)})


def _task_key(shard_key: str, task: Task) -> str:
    return hashlib.sha256(f"{shard_key}\n{task.content_digest()}".encode()).hexdigest()[:20]


def _remove_stale(work: Path, wanted: set[Path]) -> None:
    """Shards of other inputs or params (an edited file, a changed filter) are never read."""
    if work.is_dir():
        for path in work.iterdir():
            if path not in wanted:
                path.unlink(missing_ok=True) if path.is_file() else shutil.rmtree(path, True)


def _read_shard(shard: Path, counts: Counter, rejections: Rejections) -> Iterator[list[tuple]]:
    with shard.open("rb") as handle:
        while True:
            item = pickle.load(handle)
            if isinstance(item, dict):  # the summary, last
                counts.update(item["counts"])
                rejections.merge(item["rejected"], item["messages"])
                counts["worker_peak_kib"] = max(counts["worker_peak_kib"], item["peak_kib"])
                return
            yield item


def _record(candidate: tuple) -> dict:
    legacy, source, heading, text, position, digest, _, url = candidate
    record = {"id": f"seg-{digest[:12]}", "source": source, "heading": heading or "",
              "text": text}
    if not legacy:  # pydoc segments keep the four fields of the default run's bytes
        record["position"] = position
        if url:
            record["url"] = url
    return record


def _write_sample(kept_file: Path, output: str | Path, picked: list[int]) -> None:
    """The sampled lines of `kept_file`, sorted by (source, id) as the list sample was."""
    rank = {index: order for order, index in enumerate(picked)}
    sampled = []
    with kept_file.open(encoding="utf-8") as handle:
        for index, line in enumerate(handle):
            if index in rank:
                sampled.append((rank[index], json.loads(line)))
    sampled.sort(key=lambda item: (item[1]["source"], item[1]["id"], item[0]))
    write_jsonl(output, [record for _, record in sampled])
