"""The loop augment, score, evaluate and judge share: their records in chunks, each chunk through
the stage's own domain call on an engine, its results kept as a shard (resume.py).

The runner owns what is the same for every stage: the shards (a chunk a killed run finished is
read back, not made again), the engine (loaded on first need, so a run whose shards are all done
loads none), the progress bar, the per-chunk seeds and the counts. Where chunks run is
`engine.executor`: in this process, or on engine replicas on a Ray cluster (cluster.py). Every
chunk is made from its own records and its own seed alone, so the output is the same bytes
wherever, and in whatever order, its chunks run.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Callable, Iterable, Iterator

from tqdm import tqdm

from humpback.config import EngineParams
from humpback.engines import Engine, EngineSpec, load_engine
from humpback.resume import ShardStore, fingerprint

# A stage's domain call: (engine, the chunk's records, the chunk's seed) -> one result per record.
Work = Callable[[Engine, list, int], list]
_SEED_STRIDE = 10_000  # chunk n samples with seed + 10,000 n: chunks never share a seed


def chunk_seed(seed: int, number: int) -> int:
    return seed + _SEED_STRIDE * number


class ChunkRunner:
    """One stage's run over its chunks, writing shards for `output`.

    `key`: what the results depend on besides the engine (templates, the stage's params, seeds,
    model folders as Paths): shards made under another key are never read back."""

    def __init__(self, output: str | Path, spec: EngineSpec, params: EngineParams, key: tuple,
                 desc: str, unit: str):
        self.spec, self.params, self.desc, self.unit = spec, params, desc, unit
        self.shards = ShardStore(output, fingerprint(*key, _result_settings(params), spec))
        # seconds loading engines (and, on Ray, starting replicas) and inside the domain calls
        self.timing = {"startup_seconds": 0.0, "engine_seconds": 0.0}
        self.executor_stats: dict = {}

    def map(self, work: Work, chunks: Iterable[list[dict]], total: int,
            seed: int = 0) -> Iterator[tuple[list[dict], list[dict]]]:
        """(chunk, results) for every chunk, in order, as they are made or read back."""
        numbered = ((number, chunk, chunk_seed(seed, number))
                    for number, chunk in enumerate(chunks))
        with tqdm(total=total, desc=self.desc, unit=self.unit) as bar:
            if self.params.executor == "ray":
                from humpback import cluster

                done = cluster.map_chunks(self.spec, self.params, work, numbered, self.shards,
                                          self.timing, self.executor_stats)
            else:
                done = self._local(work, numbered)
            for chunk, results in done:
                bar.update(len(chunk))
                yield chunk, results

    def _local(self, work: Work, numbered) -> Iterator[tuple[list[dict], list[dict]]]:
        engine = None  # loaded for the first chunk that no shard holds

        def make(chunk: list[dict], seed: int) -> list[dict]:
            nonlocal engine
            start = time.perf_counter()
            if engine is None:
                engine = load_engine(self.spec, self.params)
                self.timing["startup_seconds"] += time.perf_counter() - start
                start = time.perf_counter()
            results = work(engine, chunk, seed)
            self.timing["engine_seconds"] += time.perf_counter() - start
            return results

        try:
            for number, chunk, seed in numbered:
                yield chunk, self.shards.get_or_make(number, chunk, lambda: make(chunk, seed))
        finally:
            if engine is not None:
                engine.close()

    def finish(self) -> dict:
        """Call once the stage's output is written: its shards are no longer needed."""
        self.shards.clear()
        timing = {name: round(seconds, 1) for name, seconds in self.timing.items()}
        return {**self.shards.stats(), **timing, "executor": self.params.executor,
                **self.executor_stats}


def _result_settings(params: EngineParams) -> dict:
    """The engine settings results depend on: not where they run (the same bytes anywhere), so
    a run killed under one executor resumes under the other."""
    settings = dataclasses.asdict(params)
    del settings["executor"], settings["ray"]
    return settings
