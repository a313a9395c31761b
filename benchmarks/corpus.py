"""The corpus stage at scale, side by side in one run: extracted web text (C4/FineWeb-style
jsonl, a paragraph per line, no headings) and HTML pages with navigation chrome, generated here
from real text (the Python documentation topics) with exact and near-duplicates planted.

For each size it runs the real stage entry point (stages/corpus.py, in a scratch project) with 1
and with 2 workers and reports documents per second (per core), wall time, the peak resident
memory of the whole process tree (sampled), and whether the outputs are the same bytes. For HTML
it also times the extractor alone (trafilatura, the same call the stage makes) on the same pages
in one process: the stage's overhead on top of extraction.

    .venv/bin/python benchmarks/corpus.py --extracted 10000 100000 1000000 --html 1000 10000 \\
        --out benchmarks/results-corpus.md
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the page template the tests use

FILE_DOCS = 100_000  # extracted text: one jsonl file per 100k documents, as datasets shard
DUPLICATES, NEAR_DUPLICATES = 0.05, 0.05  # planted: copies, and copies with a few words changed


def sentences() -> list[str]:
    from pydoc_data.topics import topics

    text = " ".join(" ".join(block.split()) for name in sorted(topics)
                    for block in re.split(r"\n\s*\n", topics[name])
                    if not re.search(r"::=|>>>|[{}]", block))
    return [s for s in re.split(r"(?<=[.!?])\s+", text) if 40 <= len(s) <= 400 and s[0].isupper()]


class Writer:
    """Documents of real sentences: paragraphs of consecutive sentences from random places, a
    length distribution like C4's (median about 1,500 characters, a long tail), and planted
    exact and near-duplicates of earlier documents."""

    def __init__(self, seed: int = 0):
        self.rng, self.pool = random.Random(seed), sentences()
        self.recent: list[str] = []

    def paragraph(self) -> str:
        start = self.rng.randrange(len(self.pool) - 8)
        return " ".join(self.pool[start:start + self.rng.randint(2, 6)])

    def document(self) -> str:
        r = self.rng.random()
        if self.recent and r < DUPLICATES:
            return self.rng.choice(self.recent)
        if self.recent and r < DUPLICATES + NEAR_DUPLICATES:
            words = self.rng.choice(self.recent).split(" ")
            for _ in range(self.rng.randint(1, 3)):
                words[self.rng.randrange(len(words))] = self.rng.choice(["also", "then", "often"])
            return " ".join(words)
        count = max(1, min(20, int(self.rng.lognormvariate(1.2, 0.7))))
        text = "\n".join(self.paragraph() for _ in range(count))
        self.recent = (self.recent + [text])[-1000:]
        return text


def make_extracted(folder: Path, documents: int) -> None:
    writer = Writer()
    folder.mkdir(parents=True, exist_ok=True)
    for part in range(0, documents, FILE_DOCS):
        with (folder / f"part-{part // FILE_DOCS:05d}.jsonl").open("w", encoding="utf-8") as out:
            for i in range(part, min(part + FILE_DOCS, documents)):
                out.write(json.dumps({"text": writer.document(),
                                      "url": f"https://example.org/{i}",
                                      "timestamp": "2024-01-01T00:00:00Z"}) + "\n")


def make_html(folder: Path, pages: int) -> None:
    from web_inputs import chrome_page

    writer = Writer(1)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(pages):
        content = [(1, f"Topic {i}: {writer.pool[writer.rng.randrange(len(writer.pool))][:40]}",
                    [writer.paragraph()])]
        for s in range(writer.rng.randint(2, 6)):
            content.append((2 if s % 2 == 0 else 3, f"Section {s + 1} of topic {i}",
                            [writer.paragraph() for _ in range(writer.rng.randint(1, 4))]))
        sub = folder / f"{i // 1000:03d}"
        sub.mkdir(exist_ok=True)
        (sub / f"page-{i:06d}.html").write_text(chrome_page(content), encoding="utf-8")


def set_workers(scratch: Path, sources: str, workers: int, filters: bool = True) -> None:
    """The scratch project's params: the shipped ones, reading `sources`, all segments kept;
    without `filters`, no language filter and exact dedup only (the extraction pipeline alone)."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["corpus"].update(sources=[sources], max_segments=None, workers=workers)
    if not filters:
        params["corpus"].update(languages=None, near_dup_threshold=None)
    (scratch / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    shutil.copy(ROOT / "dvc.yaml", scratch / "dvc.yaml")


def cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(command: list, cwd: Path) -> dict:
    """Wall time, CPU time (the process and every process it waited for: its workers), and the
    peak summed RSS of the process and its children (sampled every 0.1 s)."""
    cpu_before = cpu_of_children()
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env={**os.environ, "PYTHONPATH": str(ROOT)},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak, root = 0, psutil.Process(process.pid)
    done = threading.Event()

    def sample():
        nonlocal peak
        while not done.is_set():
            try:
                tree = [root] + root.children(recursive=True)
                peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
            except psutil.Error:
                pass
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = process.communicate()
    done.set()
    sampler.join()
    if process.returncode:
        raise SystemExit(f"{' '.join(map(str, command))} failed:\n{err[-3000:]}")
    return {"seconds": time.perf_counter() - start, "cpu_seconds": cpu_of_children() - cpu_before,
            "peak_rss_gb": peak / 2**30, "stdout": out}


def run_stage(scratch: Path) -> dict:
    result = measure([sys.executable, str(ROOT / "stages/corpus.py"), "data/corpus.jsonl",
                      "metrics/corpus.json"], scratch)
    result["metrics"] = json.loads((scratch / "metrics/corpus.json").read_text())
    digest = hashlib.md5()
    with (scratch / "data/corpus.jsonl").open("rb") as handle:
        for block in iter(lambda: handle.read(2**22), b""):
            digest.update(block)
    result["md5"] = digest.hexdigest()
    return result


EXTRACTOR_ALONE = """
import sys, time
from pathlib import Path
import trafilatura
from humpback.corpus.html import EXTRACTOR, decode_page
files = sorted(Path(sys.argv[1]).rglob("*.html"))
start = time.perf_counter()
found = 0
for path in files:
    data = path.read_bytes()
    found += trafilatura.bare_extraction(decode_page(data, str(path)), **EXTRACTOR) is not None
print(time.perf_counter() - start, found)
"""


def bench(kind: str, size: int, workers: list[int], scratch_root: Path) -> dict:
    scratch = scratch_root / f"{kind}-{size}"
    inputs = scratch / "data/sources" / kind
    started = time.perf_counter()
    (make_extracted if kind == "extracted" else make_html)(inputs, size)
    row = {"kind": kind, "documents": size, "generate_s": time.perf_counter() - started,
           "input_gb": sum(p.stat().st_size for p in inputs.rglob("*") if p.is_file()) / 2**30,
           "runs": {}}
    if kind == "html":
        alone = measure([sys.executable, "-c", EXTRACTOR_ALONE, str(inputs)], ROOT)
        row["extractor_s"] = float(alone["stdout"].split()[0])
        row["extractor_cpu_s"] = alone["cpu_seconds"]
        set_workers(scratch, f"data/sources/{kind}", 1, filters=False)
        bare = run_stage(scratch)
        row["bare"] = {k: bare[k] for k in ("seconds", "cpu_seconds")} | {
            "stage_seconds": bare["metrics"]["seconds"]}
    for n in workers:
        set_workers(scratch, f"data/sources/{kind}", n)
        run = run_stage(scratch)
        row["runs"][n] = {k: run[k] for k in ("seconds", "cpu_seconds", "peak_rss_gb", "md5")} | {
            "stage_seconds": run["metrics"]["seconds"], "kept": run["metrics"]["kept"],
            "counts": {k: v for k, v in run["metrics"].items() if k.startswith("removed_")}}
        print(json.dumps({"kind": kind, "size": size, "workers": n, **row["runs"][n]}),
              flush=True)
    shutil.rmtree(scratch)
    return row


def report(rows: list[dict], load_before: tuple, load_after: tuple) -> str:
    cpu = platform.processor() or platform.machine()
    lines = [f"# Corpus stage at scale ({time.strftime('%Y-%m-%d')})", "",
             f"Machine: {os.cpu_count()} cores ({cpu}), "
             f"{psutil.virtual_memory().total / 2**30:.0f} GiB, Python {platform.python_version()}. "
             f"Load average before: {', '.join(f'{x:.2f}' for x in load_before)}; after: "
             f"{', '.join(f'{x:.2f}' for x in load_after)}.", "",
             "Wall time is what a user waits for on this machine as loaded; CPU time (the stage "
             "and its workers, user + system) is the work itself: documents per CPU-second is "
             "the throughput of one core whatever else runs.", "",
             "| input | documents | workers | wall s | CPU s | docs per CPU-second | peak RSS GB | kept | same bytes as 1 worker |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        runs = row["runs"]
        reference = runs[1]["md5"] if 1 in runs else None
        for n, run in runs.items():
            same = "–" if reference is None else ("yes" if run["md5"] == reference else "NO")
            lines.append(f"| {row['kind']} | {row['documents']:,} | {n} | {run['seconds']:.1f} | "
                         f"{run['cpu_seconds']:.1f} | {row['documents'] / run['cpu_seconds']:,.0f} | "
                         f"{run['peak_rss_gb']:.2f} | {run['kept']:,} | {same} |")
    html_rows = [r for r in rows if r["kind"] == "html" and 1 in r["runs"]]
    if html_rows:
        lines += ["", "HTML pages per CPU-second, one process each: trafilatura alone (the call "
                  "the stage makes, on pages already read), then the stage with 1 worker "
                  "(interpreter start, imports and the language model's loading included), with "
                  "language and near-duplicate filters off, and as shipped.", "",
                  "| pages | extractor alone | stage, no language/near-dup | ratio | stage as shipped | ratio |",
                  "|---|---|---|---|---|---|"]
        for row in html_rows:
            alone = row["documents"] / row["extractor_cpu_s"]
            bare = row["documents"] / row["bare"]["cpu_seconds"]
            full = row["documents"] / row["runs"][1]["cpu_seconds"]
            lines.append(f"| {row['documents']:,} | {alone:.1f} | {bare:.1f} | {bare / alone:.2f} | "
                         f"{full:.1f} | {full / alone:.2f} |")
    lines += ["", "Filter counts (1 worker):", ""]
    for row in rows:
        run = row["runs"].get(1) or next(iter(row["runs"].values()))
        lines.append(f"- {row['kind']} {row['documents']:,}: {json.dumps(run['counts'])}")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extracted", type=int, nargs="*", default=[10_000],
                        help="sizes of extracted-text corpora (documents)")
    parser.add_argument("--html", type=int, nargs="*", default=[1_000], help="numbers of pages")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--scratch", default=None, help="folder for inputs (default: a temp dir)")
    parser.add_argument("--out", default=None, help="write the markdown report here")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="corpus-bench-", dir=args.scratch))
    load_before = os.getloadavg()
    rows = []
    try:
        for size in args.extracted:
            rows.append(bench("extracted", size, args.workers, scratch))
        for size in args.html:
            rows.append(bench("html", size, args.workers, scratch))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    text = report(rows, load_before, os.getloadavg())
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
