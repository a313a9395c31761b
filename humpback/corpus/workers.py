"""Where the corpus tasks run (`corpus.workers`, `corpus.executor`): in the stage's process
(workers: 1), in a pool of worker processes on this machine (workers > 1; 0: one per core), or as
Ray tasks on a cluster (executor: ray; docs/inputs.md). Tasks are handed out in order and their
shards come back in order, so the writer sees the same sequence whatever ran them.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
from collections import Counter, deque
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Iterator

from tqdm import tqdm

from humpback.config import CorpusParams
from humpback.corpus.task import run_task, write_shard
from humpback.corpus.sources import Task
from humpback.errors import HumpbackError

AHEAD = 2  # tasks handed out per worker beyond the one it runs: workers never wait for the writer


def run_tasks(tasks: list[Task], shards: list[Path], params: CorpusParams,
              counts: Counter) -> Iterator[Path]:
    """Each task's shard, in task order: read back where a killed run finished it, else made."""
    pending = [i for i, shard in enumerate(shards) if not shard.exists()]
    counts["tasks"], counts["tasks_reused"] = len(tasks), len(tasks) - len(pending)
    if params.executor == "ray":
        made = _on_ray(tasks, shards, pending, params, counts)
    else:
        workers = min(params.workers or os.cpu_count() or 1, max(len(pending), 1))
        counts["workers"] = workers
        made = _in_process(tasks, shards, pending, params) if workers == 1 else \
            _in_pool(tasks, shards, pending, params, workers)
    todo = set(pending)
    with tqdm(total=len(tasks), desc="corpus", unit="task", disable=None) as bar:
        for number, shard in enumerate(shards):
            if number in todo:
                next(made)
            bar.update()
            yield shard
    for _ in made:  # let the executor finish: its counts, its shutdown
        pass


def _in_process(tasks, shards, pending, params) -> Iterator[Path]:
    for number in pending:
        yield write_shard(tasks[number], params, shards[number])


def _in_pool(tasks, shards, pending, params, workers: int) -> Iterator[Path]:
    import multiprocessing

    # spawn: a fresh interpreter per worker (forking a process with library threads can hang)
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        running: deque = deque()
        try:
            for number in pending:
                running.append((number, pool.submit(write_shard, tasks[number], params,
                                                    shards[number])))
                if len(running) >= workers * (1 + AHEAD):
                    number, future = running.popleft()
                    yield future.result()
            while running:
                number, future = running.popleft()
                yield future.result()
        except BrokenProcessPool:
            # a dead worker breaks the pool: the next submit or result raises, whichever is first
            raise HumpbackError(
                f"corpus: a worker process died (killed, or out of memory) while reading "
                f"{', '.join(tasks[number].paths[:3])}; the tasks it had finished are kept: "
                f"run the stage again to resume") from None
        finally:
            for _, future in running:
                future.cancel()


def _ray_task(task: Task, params: CorpusParams, root: str) -> tuple[bytes, str]:
    import ray

    os.chdir(root)  # sources are named relative to the workspace, on shared storage
    return run_task(task, params), ray.get_runtime_context().get_node_id()


def _on_ray(tasks, shards, pending, params, counts) -> Iterator[Path]:
    """Tasks as Ray tasks; the driver (this process) writes every shard as it comes back."""
    if not pending:
        counts["workers"] = 0
        return
    import ray

    started = _connect(params.ray_address)
    try:
        workers = params.workers or int(ray.cluster_resources().get("CPU", 1))
        counts["workers"] = workers
        remote = ray.remote(num_cpus=1, max_retries=3)(_ray_task)
        root, nodes = os.getcwd(), set()
        running: deque = deque()
        for number in pending:
            running.append((number, remote.remote(tasks[number], params, root)))
            if len(running) >= workers * (1 + AHEAD):
                yield _save(*running.popleft(), shards, nodes)
        while running:
            yield _save(*running.popleft(), shards, nodes)
        counts["ray_nodes"] = len(nodes)
    finally:
        if started:
            ray.shutdown()


def _save(number: int, ref, shards, nodes: set) -> Path:
    import ray

    try:
        data, node = ray.get(ref)
    except ray.exceptions.RayTaskError as err:  # the task's own error, e.g. a bad record
        cause = err.as_instanceof_cause()
        if isinstance(cause, HumpbackError):
            raise HumpbackError(str(cause).splitlines()[0]) from None
        raise
    nodes.add(node)
    shard = shards[number]
    shard.parent.mkdir(parents=True, exist_ok=True)
    tmp = shard.with_name(shard.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, shard)
    return shard


def _connect(address: str | None) -> bool:
    """Join the cluster at `address` or start Ray here (null); True if this call connected."""
    import ray

    import humpback

    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS")
    kwargs = {"runtime_env": {"py_modules": [str(Path(humpback.__file__).parent)],
                              "excludes": ["__pycache__", "*.pyc"]},
              "logging_level": logging.WARNING, "namespace": "humpback"}
    if address is None or _loopback(address):
        kwargs["_node_ip_address"] = "127.0.0.1"  # a cluster on this machine talks over loopback
    if address is None:
        kwargs["include_dashboard"] = False
    elif address != "auto" and not address.startswith("ray://"):
        host, port = address.rsplit(":", 1)
        try:  # nobody listening would keep ray.init retrying for minutes
            socket.create_connection((host, int(port)), timeout=10).close()
        except OSError as err:
            raise HumpbackError(f"corpus.ray_address {address}: no Ray cluster answers there "
                                f"({err.strerror or err})") from None
    try:
        ray.init(address=address, **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise HumpbackError(f"corpus.ray_address {address or 'null'}: cannot start or join Ray "
                            f"({reason})") from None
    print(f"corpus: tasks on Ray ({ray.cluster_resources().get('CPU', 0):g} CPUs)",
          file=sys.stderr)
    return True


def _loopback(address: str) -> bool:
    if address == "auto" or address.startswith("ray://"):
        return False
    return address.rsplit(":", 1)[0] in ("127.0.0.1", "localhost", "::1")
