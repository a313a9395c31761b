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
        return self.dir / f"{number:06d}-{fingerprint(records)}.jsonl"

    def clear(self) -> None:
        """Called once the output is complete: its shards (and stale ones) are not needed."""
        shutil.rmtree(self.root, ignore_errors=True)

    def stats(self) -> dict:
        return {"shards_reused": self.reused, "shards_computed": self.computed}


def checkpoint_path(out_dir: str | Path, key: str) -> Path:
    return WORK_DIR / "checkpoints" / Path(out_dir).as_posix().replace("/", "__") / f"{key}.safetensors"
