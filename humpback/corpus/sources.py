"""What `corpus.sources` names, as a list of tasks: the unit of work a worker does, of resume
(each finished task's results are kept) and of order (the output follows the tasks' order).

A task is one file (a WARC, a compressed jsonl: a stream that cannot be split), a range of a
large plain jsonl file, a row group of a parquet file, or a run of small files (HTML pages, text
files) in the order a folder lists them. The tasks depend on the sources alone, never on the
number of workers, so the output does not either.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from humpback.records import RecordError

# Name endings each reader takes (longest first where one ends another: .warc.wet.gz is WET).
KINDS = {
    "wet": (".wet", ".wet.gz"),
    "warc": (".warc", ".warc.gz"),
    "jsonl": (".jsonl", ".jsonl.gz", ".jsonl.zst", ".json.gz", ".json.zst"),
    "parquet": (".parquet",),
    "html": (".html", ".htm"),
    "text": (".txt", ".md", ".markdown", ".rst"),
    "archive": (".zip", ".tar", ".tar.gz", ".tgz"),  # of HTML pages and text files: a saved site
}
# DVC's and git's files beside the data (`dvc import-url` writes .dvc and .gitignore): not
# corpus files.
BOOKKEEPING = (".dvc", ".gitignore", ".dvcignore", ".gitkeep")
RANGE_BYTES = 4 * 2**20  # a plain jsonl file is cut into ranges of this size: ~2,000 web documents
SMALL_FILES_PER_TASK = 16  # HTML pages and text files, grouped
SMALL_BYTES_PER_TASK = 4 * 2**20


@dataclass(frozen=True)
class Task:
    kind: str  # pydoc | text | html | jsonl | parquet | warc | wet | archive
    paths: tuple[str, ...]
    start: int = 0  # jsonl: first byte of the range; parquet: the row group
    end: int | None = None  # jsonl: the byte after the range (None: to the end of the file)
    first_line: int = 1  # jsonl: the line number at `start`
    first_row: int = 0  # parquet: the row number of the group's first row

    def describe(self) -> str:
        return f"{self.kind}:{'|'.join(self.paths)}:{self.start}:{self.end}"

    def content_digest(self) -> str:
        """A hash of the bytes the task reads (pydoc: of the running Python's docs)."""
        digest = hashlib.sha256(self.describe().encode())
        if self.kind == "pydoc":
            from pydoc_data.topics import topics

            for name in sorted(topics):
                digest.update(f"{name}\0{topics[name]}\0".encode())
            return digest.hexdigest()
        for path in self.paths:
            with open(path, "rb") as handle:
                if self.kind == "jsonl" and (self.start or self.end is not None):
                    handle.seek(self.start)
                    remaining = None if self.end is None else self.end - self.start
                    while remaining is None or remaining > 0:
                        block = handle.read(2**20 if remaining is None else min(2**20, remaining))
                        if not block:
                            break
                        digest.update(block)
                        remaining = None if remaining is None else remaining - len(block)
                else:
                    for block in iter(lambda: handle.read(2**20), b""):
                        digest.update(block)
        return digest.hexdigest()


def file_kind(path: Path) -> str | None:
    name = path.name.lower()
    for kind, endings in KINDS.items():
        if name.endswith(endings):
            return kind
    return None


def plan(sources: list[str]) -> tuple[list[Task], list[str]]:
    """The tasks for `sources`, in order, and the files in folders that no reader takes."""
    tasks: list[Task] = []
    skipped: list[str] = []
    for source in sources:
        if source == "pydoc":
            tasks.append(Task("pydoc", ("pydoc",)))
            continue
        path = Path(source)
        if not path.exists():
            raise RecordError(f"{path}: corpus source not found (corpus.sources)")
        if path.is_dir():
            files = []
            for child in sorted(p for p in path.rglob("*") if p.is_file()):
                if file_kind(child):
                    files.append(child)
                elif not child.name.endswith(BOOKKEEPING):
                    skipped.append(str(child))
            tasks += _tasks_for(files)
        else:
            if file_kind(path) is None:
                endings = ", ".join(e for group in KINDS.values() for e in group)
                raise RecordError(f"{path}: not a corpus file type (corpus.sources takes "
                                  f"{endings} or a folder)")
            tasks += _tasks_for([path])
    return tasks, skipped


def _tasks_for(files: list[Path]) -> list[Task]:
    tasks: list[Task] = []
    group: list[Path] = []
    group_bytes = 0

    def close_group():
        nonlocal group, group_bytes
        if group:
            tasks.append(Task(file_kind(group[0]), tuple(map(str, group))))
        group, group_bytes = [], 0

    for path in files:
        kind = file_kind(path)
        if kind in ("html", "text"):
            size = path.stat().st_size
            if group and (file_kind(group[0]) != kind or len(group) >= SMALL_FILES_PER_TASK
                          or group_bytes + size > SMALL_BYTES_PER_TASK):
                close_group()
            group.append(path)
            group_bytes += size
            continue
        close_group()
        if kind == "jsonl" and path.name.lower().endswith(".jsonl"):
            tasks += _jsonl_ranges(path)
        elif kind == "parquet":
            tasks += _row_groups(path)
        else:
            tasks.append(Task(kind, (str(path),)))
    close_group()
    return tasks


def _jsonl_ranges(path: Path) -> list[Task]:
    """Ranges of about RANGE_BYTES that start at a line, each with its first line's number."""
    size = path.stat().st_size
    if size <= RANGE_BYTES:
        return [Task("jsonl", (str(path),))]
    tasks, start, line = [], 0, 1
    with path.open("rb") as handle:
        while start < size:
            handle.seek(start)
            block = handle.read(RANGE_BYTES)
            end = start + len(block)
            if end < size:  # extend to the end of the line the block cuts
                rest = handle.readline()
                end += len(rest)
                block += rest
            tasks.append(Task("jsonl", (str(path),), start=start, end=end, first_line=line))
            line += block.count(b"\n")
            start = end
    return tasks


def _row_groups(path: Path) -> list[Task]:
    import pyarrow.parquet as pq

    try:
        metadata = pq.ParquetFile(path).metadata
    except Exception as err:  # pyarrow raises ArrowInvalid, OSError, ...: all mean unreadable
        raise RecordError(f"{path}: not a readable parquet file ({_first_line(err)})") from None
    tasks, first_row = [], 0
    for group in range(max(metadata.num_row_groups, 1)):
        tasks.append(Task("parquet", (str(path),), start=group, first_row=first_row))
        if metadata.num_row_groups:
            first_row += metadata.row_group(group).num_rows
    return tasks


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
