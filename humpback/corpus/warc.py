"""Crawl archives through fastwarc: WARC (Common Crawl's format; .warc or .warc.gz) and WET
(its extracted text, `conversion` records).

WARC: each HTML `response` is extracted as an HTML page (html.py), under its target URL. Every
other record is counted by what it is (`request`, `warcinfo`, `response application/pdf`, ...)
in `counts["warc_records"]`, never passed over silently. A record that cannot be parsed (a broken
header, a file cut short) is a bad record: fastwarc cannot find the next record after a broken
header, so the rest of that file is not read, and the message says so.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Callable, Iterator

from humpback.corpus.html import page_document
from humpback.corpus.needs import need
from humpback.corpus.segments import Document
from humpback.records import RecordError

HTML_TYPES = ("text/html", "application/xhtml+xml")


def archive_documents(path: Path, kind: str, reject: Callable[[RecordError], None],
                      counts: Counter) -> Iterator[Document]:
    need("fastwarc", f"reading {path.name}")
    from fastwarc.warc import ArchiveIterator

    def count(what: str) -> None:  # summed into metrics' warc_records by the build
        counts["warc_records", what] += 1

    number = 0
    with path.open("rb") as handle:
        records = iter(ArchiveIterator(handle, parse_http=kind == "warc"))
        while True:
            where = f"{path}: record {number + 1}"
            try:
                record = next(records, None)
            except OSError as err:
                reject(RecordError(f"{where}: malformed WARC record ({err}); the rest of the file "
                                   f"cannot be read"))
                return
            if record is None:
                break
            number += 1
            record_type = str(record.record_type)
            declared = record.headers.get("Content-Length")
            body = record.reader.read()
            if declared is None or not record.headers.get("WARC-Type") or \
                    len(body) < record.content_length:
                reject(RecordError(f"{where}: malformed WARC record (header or content cut short)"))
                continue
            url = record.headers.get("WARC-Target-URI")
            source = f"{path}:{number}"
            if kind == "wet":
                if record_type != "conversion":
                    count(record_type)
                    continue
                try:
                    text = body.decode("utf-8")
                except UnicodeDecodeError as err:
                    reject(RecordError(f"{where}: WET text not UTF-8 ({err.reason})"))
                    continue
                count("conversion")
                yield Document(source, text, kind="wet", url=url)
                continue
            content_type = (record.http_content_type or "").lower() if record.is_http else ""
            if record_type != "response" or content_type not in HTML_TYPES:
                count(f"{record_type} {content_type}".strip())
                continue
            status = record.http_headers.status_code if record.http_headers else None
            if status is not None and status != 200:
                count(f"response status {status}")
                continue
            count(f"response {content_type}")
            try:
                doc = page_document(body, source, url=url, charset=record.http_charset)
            except RecordError as err:
                reject(err)
                continue
            if doc is None:
                counts["pages_without_content"] += 1
            else:
                yield doc
