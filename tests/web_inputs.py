"""Web inputs made from real text (the Python documentation topics every Python ships): pages
of a documentation site with the chrome a real one has around its content, the same pages as
WARC responses, and their text as extracted web text (C4 / FineWeb: one paragraph a line, no
headings). Used by tests/test_web_corpus.py and benchmarks/corpus.py."""

from __future__ import annotations

import html
import io
import random
import re
from pathlib import Path

# Lines of navigation chrome, each distinctive enough that finding it in a segment means the
# extractor let chrome through.
CHROME = [
    "We use cookies to give you the best experience on this documentation site.",
    "Accept all cookies", "Manage cookie preferences", "Skip to main content",
    "Switch to dark theme", "Print this page", "Search the documentation",
    "Downloads and releases", "Community forum", "Developer blog posts",
    "On this page", "Related topics", "Previous topic", "Next topic",
    "All rights reserved by the Example Documentation Team.", "Privacy policy", "Terms of use",
    "Report a documentation bug", "Show the page source",
]


def paragraphs(min_chars: int = 120) -> list[str]:
    """Real prose: the paragraphs of the pydoc topics (one line each, grammar lines dropped)."""
    from pydoc_data.topics import topics

    found = []
    for name in sorted(topics):
        for block in re.split(r"\n\s*\n", topics[name]):
            text = " ".join(block.split())
            if len(text) >= min_chars and not re.search(r"::=|^\*|^-|>>>|[{}]", text) \
                    and text[0].isupper() and text.endswith("."):
                found.append(text)
    return found


def page_content(rng: random.Random, pool: list[str], sections: int = 3) -> list[tuple[int, str, list[str]]]:
    """(heading level, heading, paragraphs) for one page: an h1, then h2/h3 sections."""
    words = [w.strip(".,:;()\"'") for w in " ".join(rng.sample(pool, 3)).split()]
    words = [w for w in words if w.isalpha() and len(w) > 3]
    title = " ".join(rng.sample(words, 3)).capitalize()
    content = [(1, title, rng.sample(pool, 2))]
    for i in range(sections):
        heading = f"{' '.join(rng.sample(words, 2)).capitalize()} ({i + 1})"
        content.append((2 if i % 2 == 0 else 3, heading, rng.sample(pool, rng.randint(2, 4))))
    return content


def chrome_page(content: list[tuple[int, str, list[str]]], code: str | None = None) -> str:
    """A documentation page: a cookie banner, a header with a menu, theme and print buttons and a
    search box, a sidebar of links, breadcrumbs, the content, previous/next links and a footer."""
    e = html.escape
    c = CHROME
    sidebar = "".join(f'<li><a href="#s{i}">{e(h)}</a></li>' for i, (_, h, _) in enumerate(content))
    body = []
    for i, (level, heading, paras) in enumerate(content):
        body.append(f'<h{level} id="s{i}">{e(heading)}<a class="headerlink" href="#s{i}" '
                    f'title="Permalink to this heading">\u00b6</a></h{level}>')
        body += [f"<p>{e(p)}</p>" for p in paras]
        if code and i == 1:
            body.append(f'<div class="highlight"><pre><code>{e(code)}</code></pre></div>')
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{e(content[0][1])} | Example Docs</title>
<link rel="stylesheet" href="/static/theme.css"></head>
<body>
<div id="cookie-banner" class="cookie-consent" role="dialog"><p>{c[0]}</p>
<button class="accept">{c[1]}</button><a href="/cookies">{c[2]}</a></div>
<a class="skip-link" href="#main">{c[3]}</a>
<header class="site-header"><a class="logo" href="/">Example Docs</a>
<nav class="main-menu" aria-label="Main"><ul><li><a href="/downloads">{c[7]}</a></li>
<li><a href="/community">{c[8]}</a></li><li><a href="/blog">{c[9]}</a></li></ul></nav>
<button class="theme-switch" aria-label="theme">{c[4]}</button>
<button class="print" onclick="window.print()">{c[5]}</button>
<form class="search" action="/search"><input type="search" placeholder="{c[6]}"><button>Go</button></form>
</header>
<div class="page">
<aside class="sidebar"><h3>{c[10]}</h3><ul>{sidebar}</ul>
<h3>{c[11]}</h3><ul><li><a href="/a">{c[12]}</a></li><li><a href="/b">{c[13]}</a></li></ul></aside>
<main id="main"><nav class="breadcrumbs"><a href="/">Docs</a> &raquo; <a href="/guide">Guide</a></nav>
<article class="document">
{chr(10).join(body)}
</article>
<div class="prev-next"><a href="/prev">{c[12]}</a> <a href="/next">{c[13]}</a></div>
</main></div>
<footer class="site-footer"><p>&copy; 2025 {c[14]}</p><ul><li><a href="/privacy">{c[15]}</a></li>
<li><a href="/terms">{c[16]}</a></li><li><a href="/bugs">{c[17]}</a></li>
<li><a href="/source">{c[18]}</a></li></ul></footer>
</body></html>
"""


def visible_text(content: list[tuple[int, str, list[str]]]) -> str:
    """The page's text as C4 and FineWeb store it: a paragraph per line, headings as plain
    lines of text among them (nothing marks them), no chrome."""
    return "\n".join(line for _, heading, paras in content for line in [heading, *paras])


def write_warc(path: Path, pages: list[tuple[str, bytes]], extra: bool = True) -> None:
    """A WARC file (gzipped per record if the name ends in .gz) with warcio's writer: a
    warcinfo record, a request and an HTML response per page, and (with `extra`) a PDF and an
    image response and a redirect."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    def response(writer, url, body, content_type, status="200 OK"):
        headers = StatusAndHeaders(status, [("Content-Type", content_type)], protocol="HTTP/1.1")
        writer.write_record(writer.create_warc_record(url, "response", payload=io.BytesIO(body),
                                                      http_headers=headers))

    with path.open("wb") as handle:
        writer = WARCWriter(handle, gzip=path.name.endswith(".gz"))
        writer.write_record(writer.create_warcinfo_record(path.name, {"software": "test"}))
        for url, body in pages:
            request = StatusAndHeaders("GET / HTTP/1.1", [("Host", "docs.example.org")],
                                       is_http_request=True)
            writer.write_record(writer.create_warc_record(url, "request", http_headers=request))
            response(writer, url, body, "text/html; charset=utf-8")
        if extra:
            response(writer, "https://docs.example.org/manual.pdf", b"%PDF-1.4 ...", "application/pdf")
            response(writer, "https://docs.example.org/logo.png", b"\x89PNG....", "image/png")
            response(writer, "https://docs.example.org/old", b"", "text/html", "301 Moved Permanently")


def write_wet(path: Path, documents: list[tuple[str, str]]) -> None:
    """A WET file (Common Crawl's extracted text): a warcinfo and a `conversion` record each."""
    from warcio.warcwriter import WARCWriter

    with path.open("wb") as handle:
        writer = WARCWriter(handle, gzip=path.name.endswith(".gz"))
        writer.write_record(writer.create_warcinfo_record(path.name, {"software": "test"}))
        for url, text in documents:
            writer.write_record(writer.create_warc_record(
                url, "conversion", payload=io.BytesIO(text.encode()), warc_content_type="text/plain"))
