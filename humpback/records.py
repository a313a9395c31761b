"""JSON Lines in and out: every bad line is reported as `file:line: problem`."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable, Iterator

from humpback.errors import HumpbackError


class RecordError(HumpbackError):
    """Bad input data; the message starts with `file:line:`."""


def read_jsonl(path: str | Path, required: Iterable[str] = ()) -> Iterator[dict]:
    """Yield one dict per non-empty line, checking that the `required` fields hold strings."""
    path = Path(path)
    required = tuple(required)
    try:
        handle = path.open("rb")  # decoded line by line, so a bad byte is reported on its line
    except FileNotFoundError:
        raise RecordError(f"{path}: file not found") from None
    with handle:
        for line_no, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise RecordError(f"{path}:{line_no}: not UTF-8 ({err.reason})") from None
            if line.strip():
                yield _parse(line, path, line_no, required)


def _parse(line: str, path: Path, line_no: int, required: tuple[str, ...]) -> dict:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        raise RecordError(f"{path}:{line_no}: malformed JSON ({err.msg})") from None
    if not isinstance(record, dict):
        raise RecordError(f"{path}:{line_no}: expected a JSON object")
    for field in required:
        if not isinstance(record.get(field), str) or not record[field].strip():
            raise RecordError(f"{path}:{line_no}: missing or empty field '{field}'")
    return record


def write_jsonl(path: str | Path, records: Iterable[dict]) -> int:
    """Write records atomically (temp file + rename) so a killed run never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    count = 0
    with tmp.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
            count += 1
    os.replace(tmp, path)
    return count
