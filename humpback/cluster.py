"""Chunks on a Ray cluster (`engine.executor: ray`): a pool of engine replicas, Ray Core actors
that each load their engine once and then run chunk after chunk.

Why actors of our own rather than Ray Data (or its LLM processor): the runner's guarantees rest
on chunks that are ours. Each chunk is numbered, made from its own records with its own seed, and
written as a shard by this process (the driver, on the head node, the only writer of DVC
outputs) as soon as it comes back; the output is then read out in chunk order. So the bytes do
not depend on which replica ran what (nor on their number, at one thread count per engine:
docs/cluster.md gives the tolerance otherwise), a killed driver loses no
finished chunk, and every backend (hf, vllm, http) runs the same way. Ray Data forms its own
batches (which changes an HF batch's padding, and so its floating-point results), writes through
its own sinks, cannot skip the chunks a killed run finished, and its LLM processor runs vLLM only
(and can hang when vLLM runs out of GPU memory, ray#59986).

Replicas run at nice 0 and with as many torch threads as CPUs they hold, as the stage's own
process would on those CPUs: Ray starts worker processes at nice 15 (a `ray start` cluster needs
RAY_worker_niceness=0, docs/cluster.md), and an engine at nice 15 loses its cores to anything
else that runs (the cause found for a replica's engine running 20 % slower than the local one on
a shared machine, benchmarks/results-cluster.md). The metrics record both
(`ray.replica_niceness`, `ray.replica_threads`).

A replica whose process dies is restarted by Ray and the chunk it was running is tried again
(up to REPLICA_RETRIES more times), so a killed process or a lost node costs that chunk's time,
not the run. Code travels to the replicas with Ray's runtime environment (this package, as a
py_module: a worker node needs no copy of the project). Model folders are read from shared
storage: every node must see the workspace at the same path (docs/cluster.md).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import math
import os
import socket
import sys
import time
import warnings
from collections import deque
from pathlib import Path
from typing import Iterator

import humpback
from humpback.config import EngineParams, RayParams
from humpback.engines import EngineSpec, load_engine
from humpback.errors import HumpbackError
from humpback.resume import ShardStore

REPLICA_RETRIES = 3  # further tries of a chunk whose replica died
PER_REPLICA = 1  # chunks handed to a replica at once (a chunk takes seconds, a hand-over ms)
WAIT_LOG_S = 60.0  # how often to say that replicas are still awaited
# Passed to the replicas when set here: offline switches (never credentials: the runtime
# environment is visible to anyone who can read the cluster's state).
_PASSED_ENV = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")


class ClusterError(HumpbackError):
    pass


class EngineReplica:
    """One engine, loaded once, running chunk after chunk (a Ray actor)."""

    def __init__(self, spec: EngineSpec, params: EngineParams, work):
        import ray

        self.spec, self.params, self.work, self.engine = spec, params, work, None
        self.threads = _set_threads(spec, params.ray.cpus_per_replica)
        context = ray.get_runtime_context()
        self.node = context.get_node_id()
        with warnings.catch_warnings():  # Ray 2.60's property trips its own deprecation warning
            warnings.simplefilter("ignore")
            self.restarted = bool(context.was_current_actor_reconstructed)

    def ready(self) -> dict:
        """Load the engine; where and how this replica runs: its node, niceness, threads."""
        for path in (self.spec.base, self.spec.model):
            if path and os.path.isabs(path) and not os.path.exists(path):
                raise ClusterError(
                    f"{path}: not found on Ray node {self.node[:12]}: with engine.executor: ray "
                    f"every node must see the workspace at the same path (shared storage, see "
                    f"docs/cluster.md)")
        self._engine()
        return {"node": self.node, "niceness": os.nice(0), "threads": self.threads}

    def run(self, chunk: list[dict], seed: int) -> tuple[list[dict], dict]:
        engine = self._engine()
        start = time.perf_counter()
        results = self.work(engine, chunk, seed)
        return results, {"node": self.node, "restarted": self.restarted,
                         "seconds": time.perf_counter() - start}

    def _engine(self):
        if self.engine is None:  # after a restart, the first chunk loads it again
            self.engine = load_engine(self.spec, self.params)
        return self.engine


class RayExecutor:
    """Chunks on a pool of engine replicas on a Ray cluster (chunk_runner.Executor): the cluster
    is joined, or started, and the replicas loaded for the first chunk that no shard holds."""

    def __init__(self, spec: EngineSpec, params: EngineParams):
        self.spec, self.params = spec, params
        self.pool: _Pool | None = None

    def map(self, work, numbered, shards: ShardStore) -> Iterator[tuple[list[dict], list[dict]]]:
        """(chunk, results) in chunk order, the chunks no shard holds made on the replicas."""
        import ray

        started = False
        try:
            for number, chunk, seed in numbered:  # nothing to make: no cluster, no replica
                kept = shards.load(number, chunk)
                if kept is None:
                    start = time.perf_counter()
                    started = connect(self.params.ray)
                    self.pool = _Pool(_on_shared_storage(self.spec), self.params, work, start)
                    yield from self.pool.run([(number, chunk, seed)], numbered, shards)
                    break
                yield chunk, kept
        finally:
            if self.pool is not None:
                self.pool.stop()
            if started:
                ray.shutdown()

    def report(self) -> dict:
        if self.pool is None:
            return {"startup_seconds": 0.0, "engine_seconds": 0.0, "ray": {"replicas": 0}}
        return {"startup_seconds": self.pool.startup_seconds,
                "engine_seconds": self.pool.engine_seconds, "ray": self.pool.stats()}


def connect(settings: RayParams) -> bool:
    """Join the cluster `engine.ray.address` names, or start one on this machine (null).
    True if this call connected (and the caller should disconnect)."""
    import ray

    if ray.is_initialized():
        return False
    env = {name: os.environ[name] for name in _PASSED_ENV if name in os.environ}
    runtime_env = {"py_modules": [str(Path(humpback.__file__).parent)],
                   "excludes": ["__pycache__", "*.pyc"]}
    if env:
        runtime_env["env_vars"] = env
    kwargs = {"runtime_env": runtime_env, "logging_level": logging.WARNING,
              "namespace": "humpback"}
    address = settings.address or os.environ.get("RAY_ADDRESS")  # set inside a Ray job
    if address is None or _is_loopback(address):
        # a cluster on this machine: its nodes (and this driver) register as 127.0.0.1
        kwargs["_node_ip_address"] = "127.0.0.1"
    if address is None:
        kwargs["include_dashboard"] = False
        # Ray starts its worker processes at nice 15 unless told otherwise; the replicas are
        # the stage's work, not background jobs (a `ray start` cluster: RAY_worker_niceness=0)
        kwargs["_system_config"] = {"worker_niceness": 0}
    _check_reachable(address)
    try:
        ray.init(address=address, **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        where = "no Ray started on this machine" if address is None else \
            "cannot join a Ray cluster there"
        raise ClusterError(f"engine.ray.address {address or 'null'}: {where} "
                           f"({first_line})") from None
    _check_capacity(settings, started_here=address is None)
    return True


def _check_reachable(address: str | None) -> None:
    """A GCS address nobody listens on would keep ray.init retrying for minutes: fail now."""
    if address is None or address == "auto" or address.startswith("ray://"):
        return
    host, port = address.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=10).close()
    except OSError as err:
        raise ClusterError(f"engine.ray.address {address}: no Ray cluster answers there "
                           f"({err.strerror or err})") from None


def _is_loopback(address: str) -> bool:
    if address == "auto" or address.startswith("ray://"):
        return False
    host = address.rsplit(":", 1)[0]
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_capacity(settings: RayParams, started_here: bool) -> None:
    """Replicas that can never be placed would wait forever: on the Ray started here, that is
    an error now. A cluster joined may grow (an autoscaler adds nodes): there, a warning."""
    import ray

    total = ray.cluster_resources()
    cpus, gpus = total.get("CPU", 0), total.get("GPU", 0)
    fit = min(cpus // settings.cpus_per_replica,
              gpus // settings.gpus_per_replica if settings.gpus_per_replica else float("inf"))
    if fit >= settings.replicas:
        return
    message = (f"engine.ray.replicas: {settings.replicas} replicas of "
               f"{settings.cpus_per_replica:g} CPU and {settings.gpus_per_replica:g} GPU each "
               f"need more than the cluster has ({cpus:g} CPU, {gpus:g} GPU)")
    if started_here:
        ray.shutdown()
        raise ClusterError(message)
    print(f"warning: {message}; {int(fit)} can start now, the others wait for room",
          file=sys.stderr)


def _set_threads(spec: EngineSpec, cpus: float) -> int | None:
    """An hf replica's torch threads: one per CPU it holds (at least one), as torch uses one per
    core in the stage's own process; None for the backends whose work runs outside torch here."""
    if spec.backend != "hf":
        return None
    import torch

    torch.set_num_threads(max(1, math.floor(cpus)))
    return torch.get_num_threads()


def _on_shared_storage(spec: EngineSpec) -> EngineSpec:
    """Model folders as absolute paths: a replica's working directory is not the workspace."""
    def absolute(path):
        return str(Path(path).resolve()) if path and Path(path).exists() else path
    return dataclasses.replace(spec, base=absolute(spec.base), model=absolute(spec.model))


def replica_options(settings) -> dict:
    """Ray's options for an engine replica. Ray sets CUDA_VISIBLE_DEVICES only for actors given
    GPUs: one given none would see every GPU of its node, and `engine.device: auto` would put
    every such replica on GPU 0. Hidden, it runs on the CPU (its env_vars merge with the job's
    runtime env)."""
    options = {"num_cpus": settings.cpus_per_replica, "num_gpus": settings.gpus_per_replica,
               "max_restarts": -1, "max_task_retries": REPLICA_RETRIES}
    if settings.gpus_per_replica == 0:
        options["runtime_env"] = {"env_vars": {"CUDA_VISIBLE_DEVICES": ""}}
    return options


class _Pool:
    def __init__(self, spec: EngineSpec, params: EngineParams, work, start: float):
        import ray

        settings = params.ray
        replica = ray.remote(EngineReplica).options(**replica_options(settings))
        self.replicas = [replica.remote(spec, params, work) for _ in range(settings.replicas)]
        self.nodes: set[str] = set()
        self.restarted: set[int] = set()
        self.niceness: int | None = None  # the highest of the replicas'
        self.threads: int | None = None  # torch threads of a replica (hf)
        self.start = start
        self.startup_seconds = self.engine_seconds = 0.0

    def run(self, first: list, numbered, shards: ShardStore) -> Iterator[tuple[list, list]]:
        """Hand chunks to whichever replica has room, keep each result as a shard the moment it
        comes back, give the results out in chunk order."""
        import ray

        starting = {r.ready.remote(): i for i, r in enumerate(self.replicas)}
        in_flight: dict = {}  # ref -> (number, chunk, replica index)
        load: dict[int, int] = {}  # chunks handed to each ready replica
        queue = deque(first)  # read, not yet handed out
        done: dict[int, tuple] = {}  # finished, waiting for the chunks before them
        source, exhausted, next_out = iter(numbered), False, first[0][0]
        window = 2 * PER_REPLICA * len(self.replicas) + 8  # bound on chunks held in memory
        while True:
            while not exhausted and len(queue) < PER_REPLICA * len(self.replicas) and \
                    len(done) + len(in_flight) + len(queue) < window:
                item = next(source, None)
                if item is None:
                    exhausted = True
                    break
                kept = shards.load(item[0], item[1])
                if kept is None:
                    queue.append(item)
                else:
                    done[item[0]] = (item[1], kept)
            for index in sorted(load, key=load.get):
                while queue and load[index] < PER_REPLICA:
                    number, chunk, seed = queue.popleft()
                    ref = self.replicas[index].run.remote(chunk, seed)
                    in_flight[ref] = (number, chunk, index)
                    load[index] += 1
            while next_out in done:
                yield done.pop(next_out)
                next_out += 1
            if exhausted and not queue and not in_flight and not done:
                return
            ready, _ = ray.wait([*in_flight, *starting], num_returns=1, timeout=WAIT_LOG_S)
            if not ready:
                if not load:
                    print(f"waiting for Ray to place {len(starting)} replicas "
                          f"({ray.available_resources()} free)", file=sys.stderr)
                continue
            ref = ready[0]
            if ref in starting:
                index = starting.pop(ref)
                self._ready(_get(ref))  # its engine loaded (or the error that stopped it)
                if not load:
                    self.startup_seconds += time.perf_counter() - self.start
                load[index] = 0
                continue
            number, chunk, index = in_flight.pop(ref)
            load[index] -= 1
            results, where = _get(ref, number)
            shards.save(number, chunk, results)
            done[number] = (chunk, results)
            self.nodes.add(where["node"])
            self.engine_seconds += where["seconds"]
            if where["restarted"]:
                self.restarted.add(index)

    def _ready(self, replica: dict) -> None:
        niceness = replica["niceness"]
        if niceness > 0 and (self.niceness is None or niceness > self.niceness):
            print(f"warning: engine.ray: a replica runs at nice {niceness} on Ray node "
                  f"{replica['node'][:12]}, so its engine yields the CPU to anything else "
                  f"running there; start the cluster's nodes with RAY_worker_niceness=0 "
                  f"(docs/cluster.md)", file=sys.stderr)
        self.niceness = niceness if self.niceness is None else max(self.niceness, niceness)
        self.threads = replica["threads"]

    def stats(self) -> dict:
        return {"replicas": len(self.replicas), "nodes": len(self.nodes),  # nodes that ran chunks
                "restarted_replicas": len(self.restarted), "replica_niceness": self.niceness,
                "replica_threads": self.threads}

    def stop(self) -> None:
        """Free the replicas (and their GPUs) now; the driver may stay connected."""
        import ray

        for replica in self.replicas:
            ray.kill(replica)


def _get(ref, number: int | None = None):
    """ray.get, with a replica's own error (a bad model folder, a bad endpoint) given as it was
    raised, and a replica that died too often named with its chunk."""
    import ray
    from ray.exceptions import RayActorError, RayTaskError

    try:
        return ray.get(ref)
    except RayTaskError as err:
        if isinstance(err.cause, HumpbackError):
            raise err.cause from None
        raise
    except RayActorError as err:
        where = f"chunk {number}" if number is not None else "its engine's loading"
        raise ClusterError(f"engine.ray: a replica died {REPLICA_RETRIES + 1} times running "
                           f"{where} (out of memory? see the Ray logs): "
                           f"{str(err).strip().splitlines()[0]}") from None
