"""Resuming a killed run without redoing finished work.

Finished work is kept under `.humpback/`, outside DVC's outputs (DVC deletes a stage's outputs
before running it): generation stages keep every finished chunk as a shard, training keeps a
checkpoint every few steps. Each is keyed by a hash of the inputs, params and models that made it,
so a changed stage never picks up stale work. A stage that finishes deletes what it kept.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Callable

from humpback.code import code_fingerprint
from humpback.records import read_jsonl, write_jsonl

WORK_DIR = Path(".humpback")
_WHOLE_FILE_LIMIT = 64 * 2**20  # bigger weight files: hash their size, head and tail only


def fingerprint(*parts) -> str:
    """A hash of params (dataclasses), records, strings and model folders (Path), and of the
    code the running stage imports (the same modules as its `deps:` in dvc.yaml), so that work
    kept by an older version is never picked up, while an edit elsewhere leaves it valid."""
    digest = hashlib.sha256(_running_code().encode())
    for part in parts:
        digest.update(_describe(part).encode())
    return digest.hexdigest()[:20]


def _describe(part) -> str:
    if isinstance(part, Path):
        return folder_fingerprint(part)
    if hasattr(part, "declared"):  # a stage's view of a params section: the keys it may read
        part = part.declared()
    if dataclasses.is_dataclass(part):
        part = dataclasses.asdict(part)
    return json.dumps(part, sort_keys=True, ensure_ascii=False)


def _running_code() -> str:
    entry_point = Path(sys.argv[0])
    if not entry_point.is_file():  # python -c, an interactive session
        return ""
    return code_fingerprint(str(entry_point), str(Path(__file__).resolve().parent.parent))


def folder_fingerprint(path: Path) -> str:
    """Names, sizes and contents of the files in a model folder (or one file)."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        size = file.stat().st_size
        digest.update(f"{file.relative_to(path) if path.is_dir() else file.name}:{size}".encode())
        with file.open("rb") as handle:
            if size <= _WHOLE_FILE_LIMIT:
                digest.update(handle.read())
            else:
                digest.update(handle.read(2**23))
                handle.seek(-2**23, 2)
                digest.update(handle.read())
    return digest.hexdigest()


class ShardStore:
    """The finished chunks of one generation stage's output file."""

    def __init__(self, output: str | Path, key: str):
        self.root = WORK_DIR / "shards" / Path(output).as_posix().replace("/", "__")
        self.dir = self.root / key
        self.reused = self.computed = 0

    def get_or_make(self, number: int, records: list[dict],
                    make: Callable[[], list[dict]]) -> list[dict]:
        """The results for chunk `number`: read back if a killed run finished it, else made."""
        results = self.load(number, records)
        if results is None:
            results = make()
            self.save(number, records, results)
        return results

    def load(self, number: int, records: list[dict]) -> list[dict] | None:
        """The kept results of chunk `number` (made from these `records`), or None."""
        path = self._path(number, records)
        if not path.exists():
            return None
        self.reused += 1
        return list(read_jsonl(path))

    def save(self, number: int, records: list[dict], results: list[dict]) -> None:
        write_jsonl(self._path(number, records), results)  # atomic: a kill mid-write leaves none
        self.computed += 1

    def _path(self, number: int, records: list[dict]) -> Path:
        # the records alone: the code and params are already in the folder's key (self.dir)
        digest = hashlib.sha256(_describe(records).encode()).hexdigest()[:20]
        return self.dir / f"{number:06d}-{digest}.jsonl"

    def clear(self) -> None:
        """Called once the output is complete: its shards (and stale ones) are not needed."""
        shutil.rmtree(self.root, ignore_errors=True)

    def stats(self) -> dict:
        return {"shards_reused": self.reused, "shards_computed": self.computed}


# Training checkpoints: one file per model folder and key, written and read by training.py's loop.
# torch, safetensors and Accelerate are imported inside the functions: the generation stages and
# the corpus stage use this module for their shards only.
def checkpoint_path(out_dir: str | Path, key: str) -> Path:
    return WORK_DIR / "checkpoints" / Path(out_dir).as_posix().replace("/", "__") / f"{key}.safetensors"


def save_checkpoint(path: Path, accelerator, loss_model, optimizer, schedule,
                    losses: list[float], setup: dict) -> None:
    """Trainable weights, optimizer moments and every process's random state, as safetensors (no
    pickle), written by the main process to a temporary name and renamed, so a kill never leaves
    half a checkpoint. Every process calls it: sharded (FSDP) state is gathered first."""
    from safetensors.torch import save_file
    from torch.distributed.checkpoint.state_dict import get_state_dict

    weights, optimizer_state = get_state_dict(loss_model, _raw(optimizer), options=_full_state_options())
    random_state = _random_state(accelerator)
    if not accelerator.is_main_process:
        return
    tensors, aliases, seen = {}, {}, {}
    for name, value in weights.items():  # tied weights (embeddings and lm_head) are stored once
        first = seen.setdefault((value.data_ptr(), value.shape), name)
        if first == name:
            tensors[f"param.{name}"] = value.contiguous()
        else:
            aliases[name] = first
    for name, moments in optimizer_state["state"].items():
        tensors.update({f"optimizer.{name}.{key}": value.contiguous()
                        for key, value in moments.items()})
    tensors.update(random_state)
    meta = {"losses": losses, "param_groups": optimizer_state["param_groups"],
            "schedule": schedule.state_dict(), "setup": setup, "aliases": aliases}
    if accelerator.scaler is not None:  # fp16: the loss scale it has reached
        meta["scaler"] = accelerator.scaler.state_dict()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, tmp, metadata={"state": json.dumps(meta)})
    os.replace(tmp, path)


def load_checkpoint(path: Path, accelerator, loss_model, optimizer, schedule,
                    setup: dict) -> list[float]:
    """Restore what `save_checkpoint` wrote; return the losses of the steps already done. The
    main process alone reads the weights and moments and broadcasts them tensor by tensor (into
    each process's shards under FSDP), so a node's host memory holds the checkpoint once, not
    once per process; every process reads only the metadata and its own random state. A
    checkpoint made on another device or number of processes is not resumed: its steps are run
    again."""
    import torch
    from safetensors import safe_open
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_state_dict

    with safe_open(path, "pt") as handle:
        meta = json.loads(handle.metadata()["state"])
        if meta.get("setup") != setup:
            if accelerator.is_main_process:
                print(f"{path}: made with {meta.get('setup')}, this run is {setup}: starting over",
                      file=sys.stderr)
            return []
        rank = accelerator.process_index
        random_state = {key: handle.get_slice(key)[rank:rank + 1][0].clone()
                        for key in ("rng", "cuda_rng") if key in handle.keys()}
        broadcast = accelerator.num_processes > 1
        if accelerator.is_main_process or not broadcast:
            weights, moments = _saved_state(handle, meta)
        else:  # one small tensor: an empty dict would make torch skip the model's broadcast
            first = next(key for key in handle.keys() if key.startswith("param."))
            weights, moments = {first.removeprefix("param."): handle.get_tensor(first)}, {}
    if accelerator.is_main_process or not broadcast:
        missing = {name for name, p in accelerator.unwrap_model(loss_model).named_parameters()
                   if p.requires_grad} - set(weights)
        if missing:  # frozen weights come from the base model; trainable ones must all be here
            raise RuntimeError(f"{path}: no saved weights for {sorted(missing)[:3]}")
    set_state_dict(loss_model, _raw(optimizer), model_state_dict=weights,
                   optim_state_dict={"state": moments, "param_groups": meta["param_groups"]},
                   options=StateDictOptions(full_state_dict=True, strict=False,
                                            broadcast_from_rank0=broadcast))
    schedule.load_state_dict(meta["schedule"])
    if accelerator.scaler is not None:
        accelerator.scaler.load_state_dict(meta["scaler"])
    # copies: torch reads a generator state from the start of its storage, not the row's offset
    torch.set_rng_state(random_state["rng"])
    if "cuda_rng" in random_state:
        torch.cuda.set_rng_state(random_state["cuda_rng"], accelerator.device)
    return meta["losses"]


def _saved_state(handle, meta: dict) -> tuple[dict, dict]:
    """The trainable weights (tied ones under each name) and the optimizer moments of an open
    checkpoint."""
    weights = {key.removeprefix("param."): handle.get_tensor(key) for key in handle.keys()
               if key.startswith("param.")}
    weights.update({name: weights[first] for name, first in meta["aliases"].items()})
    moments: dict[str, dict] = {}
    for key in handle.keys():
        if key.startswith("optimizer."):
            name, moment = key.removeprefix("optimizer.").rsplit(".", 1)
            moments.setdefault(name, {})[moment] = handle.get_tensor(key)
    return weights, moments


def _full_state_options():
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(full_state_dict=True, cpu_offload=True, ignore_frozen_params=True)


def _raw(optimizer):
    """The torch optimizer inside Accelerate's wrapper."""
    return getattr(optimizer, "optimizer", optimizer)


def _random_state(accelerator) -> dict:
    """Every process's random state (dropout), one row per process, as tensors."""
    import torch

    states = {"rng": torch.get_rng_state()}
    if accelerator.device.type == "cuda":
        states["cuda_rng"] = torch.cuda.get_rng_state(accelerator.device)
    if accelerator.num_processes == 1:
        return {key: state[None] for key, state in states.items()}
    return {key: accelerator.gather(state.to(accelerator.device)[None]).cpu()
            for key, state in states.items()}
