"""The loop augment, score, evaluate, judge and rewrite share: their records in chunks, each chunk
through the stage's own domain call on an engine, its results kept as a shard (resume.py).

The runner owns what is the same for every stage: the chunks (one or several record streams, each
cut into chunks of `engine.chunk_size` of its own), the shards and their key (the stage's own key,
the engine settings that change results, the engine spec and the contents of the model folders
it names: a chunk a killed run finished is read back, not made again), the progress bar, the
per-chunk seeds, and the counts and timings in the metrics with the backend and the executor
that ran. Where chunks run is the executor (`engine.executor`): `LocalExecutor`, in this process
on one engine loaded on first need (a run whose shards are all done loads none), or
`cluster.RayExecutor`, on engine replicas of a Ray cluster. Every chunk is made from its own
records and its own seed alone, so the output is the same bytes wherever, and in whatever order,
its chunks run (docs/cluster.md: the thread count, and with it the floating-point sums, is the
exception).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Callable, Iterable, Iterator, Protocol

from tqdm import tqdm

from humpback.config import EngineParams
from humpback.engines import Engine, EngineSpec, load_engine
from humpback.records import chunks
from humpback.resume import ShardStore, fingerprint

# A stage's domain call: (engine, the chunk's records, the chunk's seed) -> one result per record.
Work = Callable[[Engine, list, int], list]
Numbered = Iterator[tuple[int, list, int]]  # (chunk number, its records, its seed)
Done = Iterator[tuple[list, list]]  # (a chunk's records, their results), in chunk order
_SEED_STRIDE = 10_000  # chunk n samples with seed + 10,000 n: chunks never share a seed


def chunk_seed(seed: int, number: int) -> int:
    return seed + _SEED_STRIDE * number


class Executor(Protocol):
    """Where chunks run. `map` gives (chunk, results) in chunk order, making (and saving as
    shards) the chunks no shard holds; `report`, once it is done, what it measured, for the
    stage's metrics: `startup_seconds` (loading engines; on a cluster also starting it and its
    replicas), `engine_seconds` (inside the domain calls, summed over engines) and anything of
    its own."""

    def map(self, work: Work, numbered: Numbered, shards: ShardStore) -> Done: ...

    def report(self) -> dict: ...


class LocalExecutor:
    """Chunks in the stage's own process, on one engine, loaded for the first chunk that no
    shard holds."""

    def __init__(self, spec: EngineSpec, params: EngineParams):
        self.spec, self.params = spec, params
        self.startup_seconds = self.engine_seconds = 0.0

    def map(self, work: Work, numbered: Numbered, shards: ShardStore) -> Done:
        engine = None

        def make(chunk: list[dict], seed: int) -> list[dict]:
            nonlocal engine
            start = time.perf_counter()
            if engine is None:
                engine = load_engine(self.spec, self.params)
                self.startup_seconds += time.perf_counter() - start
                start = time.perf_counter()
            results = work(engine, chunk, seed)
            self.engine_seconds += time.perf_counter() - start
            return results

        try:
            for number, chunk, seed in numbered:
                yield chunk, shards.get_or_make(number, chunk, lambda: make(chunk, seed))
        finally:
            if engine is not None:
                engine.close()

    def report(self) -> dict:
        return {"startup_seconds": self.startup_seconds, "engine_seconds": self.engine_seconds}


def make_executor(spec: EngineSpec, params: EngineParams) -> Executor:
    if params.executor == "ray":
        from humpback import cluster  # the [ray] extra, imported only when asked for

        return cluster.RayExecutor(spec, params)
    return LocalExecutor(spec, params)


class ChunkRunner:
    """One stage's run over its chunks, writing shards for `output`.

    `engine`: the stage's `params.engine`. `key`: what the results depend on besides the engine
    and its models (templates, the stage's params, seeds): shards made under another key are
    never read back."""

    def __init__(self, output: str | Path, spec: EngineSpec, engine, key: tuple, desc: str,
                 unit: str):
        self.spec, self.params, self.desc, self.unit = spec, _plain(engine), desc, unit
        self.shards = ShardStore(output, fingerprint(*key, result_settings(self.params), spec,
                                                     *model_folders(spec)))
        self.executor = make_executor(spec, self.params)

    def map(self, work: Work, *streams: Iterable[dict], total: int,
            seed: int = 0) -> Iterator[tuple[list[dict], list[dict]]]:
        """(chunk, results) for every chunk, in order, as they are made or read back. Each
        stream is cut into chunks of its own (a chunk never mixes two streams), numbered on
        from the stream before; `total` is the records of all streams (for the progress bar)."""
        numbered = ((number, chunk, chunk_seed(seed, number)) for number, chunk in enumerate(
            chunk for stream in streams for chunk in chunks(stream, self.params.chunk_size)))
        with tqdm(total=total, desc=self.desc, unit=self.unit) as bar:
            for chunk, results in self.executor.map(work, numbered, self.shards):
                bar.update(len(chunk))
                yield chunk, results

    def finish(self) -> dict:
        """Call once the stage's output is written: its shards are no longer needed. The
        metrics of the run: shards, seconds, the backend and the executor (and its own)."""
        self.shards.clear()
        report = self.executor.report()
        seconds = {name: round(report.pop(name), 1)
                   for name in ("startup_seconds", "engine_seconds")}
        return {**self.shards.stats(), **seconds, "backend": self.spec.backend,
                "executor": self.params.executor, **report}


def _plain(engine) -> EngineParams:
    """The engine settings as a plain EngineParams (they travel to a cluster's replicas), each
    read through the stage's view of the params: an engine key missing from the stage's
    `params:` in dvc.yaml fails here, before any work, rather than leave its outputs stale."""
    if isinstance(engine, EngineParams):
        return engine
    return EngineParams(**{field.name: getattr(engine, field.name)
                           for field in dataclasses.fields(EngineParams)})


def result_settings(params: EngineParams) -> dict:
    """The engine settings results depend on: all but where chunks run (EngineParams.PLACEMENT),
    so a run killed under one executor resumes under the other."""
    settings = dataclasses.asdict(params)
    for name in EngineParams.PLACEMENT:
        del settings[name]
    return settings


def model_folders(spec: EngineSpec) -> list[Path]:
    """The local folders the spec's engine loads, hashed by their contents into the shards' key
    (a hub id is pinned by the spec's revision, an endpoint named by the spec itself)."""
    return [Path(path) for path in (spec.base, spec.model) if path and Path(path).exists()]
