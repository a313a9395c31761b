"""HTML pages: the main content by trafilatura (navigation, sidebars, menus, footers and cookie
banners removed), then the page's own headings h1-h6 as section boundaries.

trafilatura's markdown output escapes characters (`\\_\\_init\\_\\_`) and cannot tell a heading
from a `# comment` in a code block, so the sections are read from the element tree it extracted:
`head` elements start a section, every other block is a paragraph of it.
"""

from __future__ import annotations

import re
from typing import Optional

from humpback.corpus.needs import need
from humpback.corpus.segments import Document
from humpback.records import RecordError

# Permalink anchors that documentation generators put in headings and terms (Sphinx's ¶).
_PERMALINK = re.compile("[\u00b6\U0001f517]")
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([\w.:-]+)""", re.IGNORECASE)
_BLANK_RUNS = re.compile(r"\n{3,}")
EXTRACTOR = {"include_comments": False, "include_tables": True, "include_images": False,
             "include_links": False, "include_formatting": False, "deduplicate": False,
             "with_metadata": False}


def decode_page(data: bytes, where: str, declared: Optional[str] = None) -> str:
    """The page as text: in the charset its HTTP header or <meta> declares, else UTF-8, else the
    encodings trafilatura guesses. A page none of them decodes is a bad record."""
    tried = []
    meta = _META_CHARSET.search(data[:4096])
    for charset in (declared, meta.group(1).decode("ascii", "replace") if meta else None, "utf-8"):
        if charset and charset.lower() not in tried:
            tried.append(charset.lower())
            try:
                return data.decode(charset)
            except (LookupError, UnicodeDecodeError):
                continue
    need("trafilatura", "reading HTML pages")
    from trafilatura.utils import detect_encoding

    for charset in detect_encoding(data):
        try:
            return data.decode(charset)
        except (LookupError, UnicodeDecodeError):
            continue
    raise RecordError(f"{where}: page cannot be decoded (tried {', '.join(tried)} and the "
                      f"encodings detected)")


def page_document(data: bytes, source: str, kind: str = "html", url: Optional[str] = None,
                  charset: Optional[str] = None) -> Optional[Document]:
    """The page's main content as a Document of (heading, body) sections, or None when the
    extractor finds no main content (an empty page, a redirect, a bare link list)."""
    need("trafilatura", "reading HTML pages")
    import trafilatura

    extracted = trafilatura.bare_extraction(decode_page(data, source, charset), url=url,
                                            **EXTRACTOR)
    if extracted is None or extracted.body is None:
        return None
    sections = _sections(extracted.body)
    if not sections:
        return None
    return Document(source, "\n\n".join(body for _, body in sections), kind=kind, url=url,
                    sections=tuple(sections))


def _sections(body) -> list[tuple[str, str]]:
    sections, heading, blocks = [], "", []

    def flush():
        text = _BLANK_RUNS.sub("\n\n", "\n\n".join(b for b in blocks if b)).strip()
        if text or heading:
            sections.append((heading, text))

    for element in body:
        if element.tag == "head":
            flush()
            heading, blocks = " ".join(_text(element).split()), []
        else:
            blocks.append(_block(element))
    flush()
    return sections


def _block(element) -> str:
    if element.tag == "list":
        return "\n".join(f"- {' '.join(_text(item).split())}" for item in element.findall("item"))
    if element.tag == "table":
        return "\n".join(" | ".join(" ".join(_text(cell).split()) for cell in row.findall("cell"))
                         for row in element.iter("row"))
    if element.tag == "code":  # code keeps its lines and indentation
        return _text(element).strip("\n")
    return " ".join(_text(element).split()) if element.find(".//lb") is None else \
        "\n".join(" ".join(line.split()) for line in _text(element).split("\n")).strip()


_BLOCKS = {"p", "quote", "list", "item", "head", "table", "row", "cell"}


def _text(element) -> str:
    for sub in element.iter():
        if sub.tag == "lb":  # a line break inside a paragraph
            sub.tail = "\n" + (sub.tail or "")
        elif sub is not element and sub.tag in _BLOCKS:  # a block inside a block: not glued on
            sub.text = " " + (sub.text or "")
    return _PERMALINK.sub("", "".join(element.itertext()))
