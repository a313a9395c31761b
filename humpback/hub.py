"""Hugging Face hub datasets, pinned to a commit and brought into the workspace.

The DVC way to depend on data that lives elsewhere (like `dvc import-url`): the `hub@<name>` stage
writes the rows to data/hub/<name>.jsonl, a versioned file that the stages reading it (seed,
corpus, evaluate) depend on. The revision is a commit, so the same params always give the same
rows, and changing it re-runs exactly the stages that read the dataset.
"""

from __future__ import annotations

import base64
import datetime
from itertools import islice
from typing import Iterator

from humpback.config import HubDataset
from humpback.errors import HumpbackError

FOLDER = "data/hub"


class HubError(HumpbackError):
    pass


def rows(params: HubDataset, name: str) -> Iterator[dict]:
    """The dataset's rows at the pinned revision, streamed (only `max_rows` are read)."""
    import datasets

    try:
        stream = datasets.load_dataset(params.dataset, name=params.config, split=params.split,
                                       revision=params.revision, streaming=True)
        yield from (_jsonable(row) for row in islice(stream, params.max_rows))
    except (OSError, ValueError) as err:  # offline, no such dataset, revision, split or config
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise HubError(f"hub.{name}: cannot read {params.dataset}@{params.revision} "
                       f"(split {params.split}): {reason}") from None


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
