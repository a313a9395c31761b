"""Hugging Face hub datasets, pinned to a commit and brought into the workspace.

The DVC way to depend on data that lives elsewhere (like `dvc import-url`): the `hub@<name>` stage
writes the rows to data/hub/<name>.jsonl, a versioned file that the stages reading it (seed,
corpus, evaluate) depend on. The revision is a commit, so the same params always give the same
rows, and changing it re-runs exactly the stages that read the dataset. A repository whose rows
come from a loading script (which datasets >= 4 refuses to run) is read from one of its data
files instead (`file`), fetched by huggingface_hub at the same commit.
"""

from __future__ import annotations

import base64
import datetime
from itertools import islice
from pathlib import Path
from typing import Iterator

from humpback.config import HUB_FILE_TYPES, HubDataset
from humpback.errors import HumpbackError

FOLDER = "data/hub"
SCRIPT_REFUSED = "Dataset scripts are no longer supported"  # datasets' RuntimeError


class HubError(HumpbackError):
    pass


def rows(params: HubDataset, name: str) -> Iterator[dict]:
    """The dataset's rows at the pinned revision, streamed (only `max_rows` are read)."""
    what = f"file {params.file}" if params.file else f"split {params.split}"
    try:
        stream = _file_rows(params) if params.file else _split_rows(params, name)
        yield from (_jsonable(row) for row in islice(stream, params.max_rows))
    except HubError:
        raise
    except RuntimeError as err:  # datasets >= 4 on a repository with a loading script
        if SCRIPT_REFUSED not in str(err):
            raise
        raise HubError(_script_only(params, name)) from None
    except (OSError, ValueError) as err:  # offline, no such dataset, revision, file, split or config
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise HubError(f"hub.{name}: cannot read {params.dataset}@{params.revision} "
                       f"({what}): {reason}") from None


def _split_rows(params: HubDataset, name: str):
    """A split as datasets loads it. Offline (HF_HUB_OFFLINE=1) datasets cannot reach the Hub,
    so the pinned commit is read from the Hub cache, where `hf download` or an earlier run put it."""
    import datasets
    from huggingface_hub import constants, snapshot_download

    if not constants.HF_HUB_OFFLINE:
        return datasets.load_dataset(params.dataset, name=params.config, split=params.split,
                                     revision=params.revision, streaming=True)
    folder = Path(snapshot_download(params.dataset, repo_type="dataset", revision=params.revision))
    if (folder / f"{params.dataset.split('/')[1]}.py").is_file():  # datasets' rule, as online
        raise HubError(_script_only(params, name))
    return datasets.load_dataset(str(folder), name=params.config, split=params.split,
                                 streaming=True)


def _file_rows(params: HubDataset):
    """One data file of the repository at the pinned commit (the Hub cache serves it offline)."""
    import datasets
    from huggingface_hub import hf_hub_download

    path = hf_hub_download(params.dataset, params.file, repo_type="dataset",
                           revision=params.revision)
    builder = "parquet" if params.file.endswith(".parquet") else "json"
    return datasets.load_dataset(builder, data_files=path, split="train", streaming=True)


def _script_only(params: HubDataset, name: str) -> str:
    return (f"hub.{name}: {params.dataset} is read by a loading script, which datasets no longer "
            f"runs: set hub.{name}.file to one of its data files ({', '.join(HUB_FILE_TYPES)}) "
            "and leave split out")


def _jsonable(value):
    """Hub rows as JSON: dates as ISO text, bytes as base64; everything else as it is."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (datetime.date, datetime.datetime, datetime.time)):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value
