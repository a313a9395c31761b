"""What every entry point in stages/ shares: its path arguments, one-line errors, and the guard
that lets a stage read only the params its entry in dvc.yaml declares."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Callable

import yaml

from humpback.errors import HumpbackError, ParamsError


def run_stage(main: Callable[..., None], description: str, *paths: str) -> None:
    """Parse the stage's path arguments, call `main(**paths)`, report a user error in one line."""
    parser = argparse.ArgumentParser(description=description.strip().splitlines()[0])
    for name in paths:
        parser.add_argument(name)
    args = parser.parse_args()
    try:
        main(**vars(args))
    except HumpbackError as err:
        sys.exit(f"error: {err}")


def declared_params(stage: str, dvc_yaml: Path, params_file: str = "params.yaml") -> frozenset:
    """The params keys a stage lists in dvc.yaml (`${key}` filled in for foreach stages)."""
    name, _, key = stage.partition("@")
    try:
        stages = (yaml.safe_load(dvc_yaml.read_text(encoding="utf-8")) or {}).get("stages", {})
    except FileNotFoundError:
        raise ParamsError(f"{dvc_yaml}: not found (stages run from the project root)") from None
    if name not in stages:
        raise ParamsError(f"{dvc_yaml}: no stage '{name}'")
    definition = stages[name].get("do", stages[name])
    keys = set()
    for entry in definition.get("params") or []:
        if isinstance(entry, dict):  # {params file: [keys]}; no keys means the whole file
            names = entry.get(params_file, [])
            if names is None:
                return frozenset([""])
            keys.update(names)
        else:
            keys.add(entry)
    return frozenset(k.replace("${key}", key).replace("${item}", key) for k in keys)


class StageParams:
    """A stage's view of the params: the keys its `params:` in dvc.yaml list, and nothing else.
    DVC re-runs a stage when a listed key changes, so a key read but not listed would leave the
    stage's outputs silently stale when it changes: reading one is an error naming both.
    `sources` maps a key filled in by the loader to the key it came from (backward.train.method
    -> train.method): reading it needs that key declared."""

    def __init__(self, value, stage: str, declared: frozenset, prefix: str = "",
                 sources: dict[str, str] | None = None):
        self._value, self._stage, self._declared, self._prefix = value, stage, declared, prefix
        self._sources = sources or {}

    def __getattr__(self, name: str):
        value = getattr(self._value, name)
        if _is_constant(self._value, name):
            return value
        key = self._prefix + name
        missing = self._undeclared(key)
        if missing is None:
            return value
        if name in getattr(type(self._value), "PLACEMENT", ()):
            return value  # where work runs, not what it makes (EngineParams.PLACEMENT)
        if missing == key and any(d.startswith(key + ".") for d in self._declared) or (
                missing != key and dataclasses.is_dataclass(value)):
            if dataclasses.is_dataclass(value):
                return StageParams(value, self._stage, self._declared, key + ".", self._sources)
            if isinstance(value, dict):  # e.g. hub.<name>: only the declared entries
                return {k: v for k, v in value.items() if self._allowed(f"{key}.{k}")}
        raise ParamsError(f"stage '{self._stage}' reads params key '{missing}', which its params: "
                          f"in dvc.yaml do not list (add it there, so that changing it re-runs "
                          f"the stage)")

    def declared(self) -> dict:
        """The declared keys of this section and their values (what a fingerprint may hash)."""
        names = [f.name for f in dataclasses.fields(self._value)]
        return {name: self._declared_value(name) for name in names
                if self._allowed(self._prefix + name)}

    def _covered(self, key: str) -> bool:
        key = self._sources.get(key, key)
        return "" in self._declared or any(key == d or key.startswith(d + ".")
                                           for d in self._declared)

    def _undeclared(self, key: str) -> str | None:
        """None if the whole of `key` may be read, else the first key under it that may not."""
        if not self._covered(key):
            return self._sources.get(key, key)
        return next((source for filled, source in self._sources.items()
                     if filled.startswith(key + ".") and not self._covered(filled)), None)

    def _allowed(self, key: str) -> bool:
        return self._covered(key) or any(d.startswith(key + ".") for d in self._declared) or any(
            f.startswith(key + ".") and self._covered(f) for f in self._sources)

    def _declared_value(self, name: str):
        value = getattr(self, name)
        return value.declared() if isinstance(value, StageParams) else (
            dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value)

    def __repr__(self) -> str:
        return f"StageParams({self._stage}: {self._prefix or 'params'})"


def _is_constant(section, name: str) -> bool:
    """A class constant of a params section (a ClassVar, such as ModelChoice.SECTION): the same
    for every params file, so reading it depends on no param."""
    return (dataclasses.is_dataclass(section) and name in section.__dataclass_fields__
            and name not in {f.name for f in dataclasses.fields(section)})
