"""JSON Lines in and out: every bad line is reported as `file:line: problem`."""

from __future__ import annotations

import codecs
import json
import os
from pathlib import Path
from typing import Callable, Iterable, Iterator

from humpback.errors import HumpbackError


class RecordError(HumpbackError):
    """Bad input data; the message starts with `file:line:`."""


def read_jsonl(path: str | Path, required: Iterable[str] = (),
               optional: Iterable[str] = ()) -> Iterator[dict]:
    """Yield one dict per non-empty line, checking that the `required` fields hold non-empty
    strings and the `optional` ones a string or null where present."""
    for _, record in numbered_jsonl(path, required, optional=optional):
        yield record


def numbered_jsonl(path: str | Path, required: Iterable[str] = (),
                   on_error: Callable[[RecordError], None] | None = None,
                   optional: Iterable[str] = ()) -> Iterator[tuple[int, dict]]:
    """Like `read_jsonl`, with each record's line number for messages about its values.
    A bad line raises, or with `on_error` is passed to it and skipped (a skip policy).
    Files saved on Windows read the same: a UTF-8 byte-order mark and CRLF line ends."""
    path = Path(path)
    fields = (tuple(required), tuple(optional))
    try:
        handle = path.open("rb")  # decoded line by line, so a bad byte is reported on its line
    except FileNotFoundError:
        raise RecordError(f"{path}: file not found") from None
    with handle:
        for line_no, raw in enumerate(handle, start=1):
            try:
                record = _decode(raw, path, line_no, fields)
            except RecordError as err:
                if on_error is None:
                    raise
                on_error(err)
                continue
            if record is not None:
                yield line_no, record


def decode_record(raw: bytes, path: str | Path, line_no: int, required: Iterable[str] = (),
                  optional: Iterable[str] = ()) -> dict | None:
    """One line of JSON Lines (bytes, from any stream) checked as `numbered_jsonl` checks each
    line; None for a blank line."""
    return _decode(raw, Path(path), line_no, (tuple(required), tuple(optional)))


def decode_utf8(data: bytes, path: Path, line_no: int = 1) -> str:
    """UTF-8 text, without the byte-order mark that Windows editors put first; a bad byte is
    reported on its line (counted from `line_no`)."""
    if line_no == 1 and data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise RecordError(f"{path}:1: UTF-16 text, not UTF-8 (save the file as UTF-8)")
    if data.startswith(codecs.BOM_UTF8):  # also where files saved with one were concatenated
        data = data[len(codecs.BOM_UTF8):]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = line_no + data.count(b"\n", 0, err.start)
        raise RecordError(f"{path}:{line}: not UTF-8 ({err.reason})") from None


def _decode(raw: bytes, path: Path, line_no: int,
            fields: tuple[tuple[str, ...], tuple[str, ...]]) -> dict | None:
    line = decode_utf8(raw, path, line_no)
    return _parse(line, path, line_no, *fields) if line.strip() else None


def _parse(line: str, path: Path, line_no: int, required: tuple[str, ...],
           optional: tuple[str, ...]) -> dict:
    try:
        record = json.loads(line)  # JSON takes the \r of a CRLF line end as white space
    except json.JSONDecodeError as err:
        raise RecordError(f"{path}:{line_no}: malformed JSON ({err.msg})") from None
    if not isinstance(record, dict):
        raise RecordError(f"{path}:{line_no}: expected a JSON object, found {json_type(record)}")
    for field in required:
        if field not in record:
            raise RecordError(f"{path}:{line_no}: missing field '{field}'")
        _check_text(record[field], field, f"{path}:{line_no}")
        if not record[field].strip():
            raise RecordError(f"{path}:{line_no}: empty field '{field}'")
    for field in optional:
        if record.get(field) is not None:
            _check_text(record[field], field, f"{path}:{line_no}")
    return record


def _check_text(value, field: str, where: str) -> None:
    if not isinstance(value, str):
        shown = json.dumps(value, ensure_ascii=False)
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        raise RecordError(f"{where}: field '{field}' must be text (a JSON string), found "
                          f"{json_type(value)}: {shown}")


def json_type(value) -> str:
    """The JSON name of a parsed value's type, for messages."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return {str: "a string", list: "an array", dict: "an object"}.get(type(value), "null")


def unique_ids(numbered: Iterable[tuple[int, dict]], path: str | Path,
               field: str = "id") -> Iterator[tuple[int, dict]]:
    """Pass numbered records through, failing on the first id seen twice (both lines named)."""
    first_line: dict[str, int] = {}
    for line_no, record in numbered:
        key = str(record.get(field))
        if key in first_line:
            raise RecordError(f"{path}:{line_no}: duplicate {field} {key!r} "
                              f"(first on line {first_line[key]})")
        first_line[key] = line_no
        yield line_no, record


def significant(value: float, digits: int = 4) -> float:
    """A probability as written to a record: `digits` significant digits. Scores are computed
    from the full values first: rounding to fixed decimals would leave a tiny probability one
    digit, and a last-bit difference in the maths could flip the score computed from it."""
    return float(f"{value:.{digits}g}")


def write_jsonl(path: str | Path, records: Iterable[dict]) -> int:
    """Write records atomically (temp file + rename) so a killed run never leaves half a file."""
    with JsonlWriter(path) as writer:
        writer.write(records)
    return writer.count


class JsonlWriter:
    """Append records as they are made; the file appears under its name only when complete."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.tmp = self.path.with_name(self.path.name + ".tmp")
        self.count = 0

    def __enter__(self) -> "JsonlWriter":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.handle = self.tmp.open("w", encoding="utf-8")
        return self

    def write(self, records: Iterable[dict]) -> None:
        for record in records:
            self.handle.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
            self.count += 1
        self.handle.flush()

    def __exit__(self, exc_type, *_) -> None:
        self.handle.close()
        if exc_type is None:
            os.replace(self.tmp, self.path)


def write_json(path: str | Path, value) -> None:
    """Write one JSON document atomically (alpaca_eval reads a JSON list, not JSON Lines)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True) + "\n",
                   encoding="utf-8")
    os.replace(tmp, path)


def read_json(path: str | Path):
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise RecordError(f"{path}: file not found") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RecordError(f"{path}: not valid JSON ({err})") from None


def chunks(records: Iterable[dict], size: int) -> Iterator[list[dict]]:
    """Consecutive lists of at most `size` records, read lazily."""
    chunk: list[dict] = []
    for record in records:
        chunk.append(record)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def check_jsonl(path: str | Path, required: Iterable[str] = (), unique: str | None = "id") -> int:
    """Read the whole file once, before hours of generation over it: the number of records, or
    the first bad line (malformed, not UTF-8, a missing field, a repeated `unique` field)."""
    numbered = numbered_jsonl(path, required)
    return sum(1 for _ in (unique_ids(numbered, path, unique) if unique else numbered))
