"""What each corpus filter removes on a real sample: pages of a documentation site, the same
pages as a WARC file, and their text as FineWeb stores it, each through the real stage.

The pages are the Python documentation's HTML (Debian's python3.11-doc package puts them in
/usr/share/doc/python3.11/html: Sphinx pages with a sidebar (table of contents, previous and next
topic, "Report a Bug", "Show Source", quick search), navigation bars above and below, a footer,
headings h1-h3). The report counts the chrome's lines in the raw pages and in the kept segments. The WARC holds each page as an HTTP
response under its docs.python.org URL; the jsonl holds each page's main text as FineWeb makes it
(trafilatura's plain-text output: paragraphs one to a line, headings as plain lines, no markup).

    apt-get install python3.11-doc
    .venv/bin/python benchmarks/web_sample.py /usr/share/doc/python3.11/html --pages 200 \\
        --out benchmarks/results-web-sample.md
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
# Lines of the Sphinx theme's chrome around every page's content.
CHROME = ["Previous topic", "Next topic", "Report a Bug", "Show Source", "Quick search",
          "Navigation", "Created using", "Last updated", "Please donate", "This Page"]
FILTERS = ["too_short", "too_long", "empty_heading", "all_caps_heading", "navigation_heading",
           "repetitive", "language", "duplicate", "near_duplicate"]


def sample(site: Path, pages: int) -> list[Path]:
    """Every k-th page of the site in name order (a spread over its sections), index pages and
    generated lists (genindex, search) left out."""
    files = [p for p in sorted(site.rglob("*.html"))
             if not p.name.startswith(("genindex", "search", "py-modindex")) and "_" not in p.parts[-2]]
    step = max(1, len(files) // pages)
    return files[::step][:pages]


def write_inputs(site: Path, files: list[Path], sources: Path) -> dict:
    import trafilatura
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    (sources / "html").mkdir(parents=True)
    rows = []
    with (sources / "docs.warc.gz").open("wb") as handle:
        writer = WARCWriter(handle, gzip=True)
        for path in files:
            relative = path.relative_to(site)
            data = path.read_bytes()
            target = sources / "html" / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            url = f"https://docs.python.org/3.11/{relative.as_posix()}"
            headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")],
                                       protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(url, "response",
                                                          payload=io.BytesIO(data),
                                                          http_headers=headers))
            text = trafilatura.extract(data.decode("utf-8"), output_format="txt",
                                       include_comments=False) or ""
            rows.append({"text": text, "url": url})
    with (sources / "docs.jsonl").open("w", encoding="utf-8") as out:
        out.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    return {"html": "data/sources/html", "warc": "data/sources/docs.warc.gz",
            "jsonl": "data/sources/docs.jsonl"}


def run(project: Path, source: str, max_chars: int) -> dict:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["corpus"].update(sources=[source], max_segments=None, max_chars=max_chars)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    subprocess.run([sys.executable, str(ROOT / "stages/corpus.py"), "data/corpus.jsonl",
                    "metrics/corpus.json"], cwd=project, check=True,
                   env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    metrics = json.loads((project / "metrics/corpus.json").read_text())
    records = [json.loads(line) for line in (project / "data/corpus.jsonl").open()]
    metrics["documents_with_segments"] = len({r["source"] for r in records})
    metrics["chrome_in_segments"] = sum(line in r["text"] or line in r["heading"]
                                        for r in records for line in CHROME)
    return metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site", type=Path, help="a folder of HTML pages")
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--max-chars", type=int, default=3000, help="the paper's window: 600-3,000")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    project = Path(tempfile.mkdtemp(prefix="web-sample-"))
    try:
        shutil.copy(ROOT / "dvc.yaml", project / "dvc.yaml")
        (project / "data/hub").mkdir(parents=True)
        files = sample(args.site, args.pages)
        chrome_in_pages = sum(line in f.read_text(errors="replace") for f in files for line in CHROME)
        inputs = write_inputs(args.site, files, project / "data/sources")
        results = {name: run(project, source, args.max_chars) for name, source in inputs.items()}
    finally:
        shutil.rmtree(project, ignore_errors=True)
    header = "| | " + " | ".join(f"`{name}`" for name in results) + " |"
    lines = [f"{args.pages} pages of {args.site}, segments of 600-{args.max_chars:,} characters "
             f"(the shipped params otherwise):", "", header,
             "|---" * (len(results) + 1) + "|"]

    def row(label, key):
        return f"| {label} | " + " | ".join(f"{m.get(key, 0):,}" for m in results.values()) + " |"

    lines += [row("documents", "documents"), row("documents that gave segments",
                                                 "documents_with_segments"),
              row("segments", "segments")]
    lines += [row(f"removed: {name.replace('_', ' ')}", f"removed_{name}") for name in FILTERS
              if any(m.get(f"removed_{name}") for m in results.values())]
    lines.append(row("**kept**", "kept"))
    lines.append(row("chrome lines in kept segments", "chrome_in_segments"))
    lines += ["", f"Chrome lines ({', '.join(CHROME)}) in the {args.pages} raw pages: "
              f"{chrome_in_pages:,}."]
    warc = results["warc"].get("warc_records")
    if warc:
        lines += ["", f"WARC records: {json.dumps(warc)}"]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
