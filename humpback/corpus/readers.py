"""Documents from one task, per format: pydoc topics, text files, HTML pages (also in a .zip or
.tar archive), jsonl (plain, .gz, .zst), parquet (in batches), WARC and WET archives. Readers
stream: a file is never read whole into memory (an HTML page or a WARC record is, one at a time).

`reject` receives each unusable record (bad JSON or UTF-8, a missing field, a malformed WARC
record, a page that cannot be decoded, an empty file); `counts` gains what was passed over on
purpose (WARC records that are not HTML, by type; pages without main content).
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections import Counter
from pathlib import Path
from typing import Callable, Iterator

from humpback.config import CorpusParams
from humpback.corpus.html import page_document
from humpback.corpus.needs import need
from humpback.corpus.segments import Document
from humpback.corpus.sources import Task
from humpback.records import RecordError, decode_record, decode_utf8

Reject = Callable[[RecordError], None]
PARQUET_BATCH = 1024  # rows read at a time


class _ZstdError(Exception):
    """Stands for zstandard.ZstdError where zstandard is not installed."""


try:
    from zstandard import ZstdError as _ZstdError  # noqa: F811
except ImportError:
    pass


def read(task: Task, params: CorpusParams, reject: Reject, counts: Counter) -> Iterator[Document]:
    if task.kind == "pydoc":
        yield from _pydoc()
    elif task.kind == "text":
        for path in task.paths:
            yield from _text_file(Path(path), reject)
    elif task.kind == "html":
        for path in task.paths:
            yield from _html_file(Path(path), reject, counts)
    elif task.kind == "jsonl":
        yield from _jsonl(task, params, reject)
    elif task.kind == "parquet":
        yield from _parquet(task, params, reject)
    elif task.kind == "archive":
        yield from _archive(Path(task.paths[0]), reject, counts)
    else:
        from humpback.corpus.warc import archive_documents

        yield from archive_documents(Path(task.paths[0]), task.kind, reject, counts)


def _pydoc() -> Iterator[Document]:
    from pydoc_data.topics import topics

    for name in sorted(topics):
        yield Document(f"pydoc:{name}", topics[name], kind="pydoc")


def _text_file(path: Path, reject: Reject) -> Iterator[Document]:
    try:
        text = decode_utf8(path.read_bytes(), path)  # CRLF line ends go in the cleaning
    except RecordError as err:
        reject(err)
        return
    if not text.strip():
        reject(RecordError(f"{path}: empty file"))
        return
    yield Document(str(path), text)


def _html_file(path: Path, reject: Reject, counts: Counter,
               data: bytes | None = None) -> Iterator[Document]:
    data = path.read_bytes() if data is None else data
    if not data.strip():
        reject(RecordError(f"{path}: empty file"))
        return
    try:
        doc = page_document(data, str(path))
    except RecordError as err:
        reject(err)
        return
    if doc is None:
        counts["pages_without_content"] += 1
        return
    yield doc


def _archive(path: Path, reject: Reject, counts: Counter) -> Iterator[Document]:
    """The HTML pages and text files in a .zip or .tar(.gz) (a saved site), in the order the
    archive holds them, each named `archive:member`; other members are counted
    (`archive_members_skipped`)."""
    from humpback.corpus.sources import file_kind

    try:
        for name, data in _members(path):
            kind = file_kind(Path(name))
            if kind not in ("html", "text"):
                counts["archive_members_skipped"] += 1
                continue
            member = Path(f"{path}:{name}")
            if kind == "html":
                yield from _html_file(member, reject, counts, data)
                continue
            try:
                text = decode_utf8(data, member)
            except RecordError as err:
                reject(err)
                continue
            if text.strip():
                yield Document(str(member), text)
    except (OSError, EOFError, zlib.error) as err:  # zipfile's and tarfile's errors among them
        reject(RecordError(f"{path}: not a readable archive ({err})"))


def _members(path: Path) -> Iterator[tuple[str, bytes]]:
    import tarfile
    import zipfile

    if path.name.lower().endswith(".zip"):
        try:
            with zipfile.ZipFile(path) as archive:
                for info in archive.infolist():
                    if not info.is_dir():
                        yield info.filename, archive.read(info)
        except zipfile.BadZipFile as err:
            raise OSError(str(err)) from None
        return
    try:
        with tarfile.open(path, "r|*") as archive:  # one pass over the stream
            for info in archive:
                if info.isfile():
                    yield info.name, archive.extractfile(info).read()
    except tarfile.TarError as err:
        raise OSError(str(err)) from None


def _open_lines(task: Task):
    """The task's lines as bytes: a plain file's range, or a whole compressed file."""
    path = Path(task.paths[0])
    name = path.name.lower()
    if name.endswith(".gz"):
        return gzip.open(path, "rb")
    if name.endswith(".zst"):
        need("zstandard", f"reading {path.name}")
        import zstandard

        return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(path.open("rb")))
    handle = path.open("rb")
    handle.seek(task.start)
    return handle


def _jsonl(task: Task, params: CorpusParams, reject: Reject) -> Iterator[Document]:
    path = Path(task.paths[0])
    optional = [f for f in (params.title_field, params.url_field) if f]
    found = content = False
    position = task.start
    try:
        with _open_lines(task) as handle:
            for line_no, raw in enumerate(handle, start=task.first_line):
                if task.end is not None and position >= task.end:
                    break
                position += len(raw)
                content = content or bool(raw.strip())
                try:
                    record = decode_record(raw, path, line_no, [params.text_field], optional)
                except RecordError as err:
                    reject(err)
                    continue
                if record is None:
                    continue
                found = True
                yield Document(f"{path}:{line_no}", record[params.text_field], kind="jsonl",
                               url=record.get(params.url_field) if params.url_field else None,
                               title=record.get(params.title_field) if params.title_field else None)
    except (OSError, EOFError, zlib.error, _ZstdError) as err:  # a corrupt or truncated .gz / .zst
        reject(RecordError(f"{path}: cannot be read past {position - task.start} bytes of its "
                           f"text ({err})"))
        return
    if not found and not content and task.start == 0:
        reject(RecordError(f"{path}: empty file"))


def _parquet(task: Task, params: CorpusParams, reject: Reject) -> Iterator[Document]:
    import pyarrow.parquet as pq

    path = Path(task.paths[0])
    parquet = pq.ParquetFile(path)
    names = parquet.schema_arrow.names
    if params.text_field not in names:
        raise RecordError(f"{path}: no column '{params.text_field}' (corpus.text_field; columns: "
                          f"{', '.join(names)})")
    if not parquet.metadata.num_row_groups:
        return
    columns = [params.text_field] + [f for f in (params.title_field, params.url_field)
                                     if f and f in names and f != params.text_field]
    row = task.first_row
    for batch in parquet.iter_batches(batch_size=PARQUET_BATCH, row_groups=[task.start],
                                      columns=columns):
        values = batch.to_pydict()
        for i, text in enumerate(values[params.text_field]):
            extra = {f: values[f][i] for f in columns[1:]}
            if isinstance(text, str):
                yield Document(f"{path}:{row}", text, kind="parquet",
                               url=_text_or_none(extra.get(params.url_field)),
                               title=_text_or_none(extra.get(params.title_field)))
            elif text is not None:  # a null is an empty document, which the length filter drops
                reject(RecordError(f"{path}: row {row}: '{params.text_field}' is not text"))
            row += 1


def _text_or_none(value):
    return value if isinstance(value, str) else None
