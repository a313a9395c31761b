"""The corpus stage on the inputs users of the method bring: HTML pages with navigation chrome,
Common Crawl WARC and WET files, and extracted web text without headings (jsonl, .gz, .zst,
parquet), all made here from real text (tests/web_inputs.py); near-duplicates, the language filter,
the same bytes for any number of workers, and nothing passed over in silence."""

import gzip
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
import zstandard

from conftest import ROOT
from humpback.config import CorpusParams
from humpback.corpus import sources
from humpback.corpus.build import build
from humpback.corpus.segments import Document, pack, segment
from humpback.errors import HumpbackError
from humpback.records import read_jsonl
from web_inputs import (CHROME, chrome_page, page_content, paragraphs, visible_text, write_warc,
                        write_wet)

CODE = "# fn main() {\n#     println!(\"not a heading\");\n# }"


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the build keeps its shards under ./.humpback


@pytest.fixture(scope="module")
def site():
    """20 pages of a documentation site: (file name, URL, content, HTML bytes)."""
    rng, pool = random.Random(7), paragraphs()
    pages = []
    for i in range(20):
        content = page_content(rng, pool)
        pages.append((f"page{i:02d}.html", f"https://docs.example.org/guide/page{i:02d}.html",
                      content, chrome_page(content, code=CODE if i % 3 == 0 else None).encode()))
    return pages


def params(sources_, **changes) -> CorpusParams:
    values = dict(sources=[str(s) for s in sources_], text_field="text", min_chars=200,
                  max_chars=1500, split_long=True, max_segments=None)
    return CorpusParams(**{**values, **changes})


def run(p: CorpusParams, out="out.jsonl", seed=0):
    counts = build(p, seed, out)
    return (list(read_jsonl(out)) if Path(out).exists() else []), counts


def assert_no_chrome(records):
    for record in records:
        for line in CHROME:
            assert line not in record["text"] and line not in record["heading"], (line, record)


# --- 1. HTML pages ---

def test_html_pages_give_their_content_under_their_own_headings_and_no_chrome(tmp_path, site):
    folder = tmp_path / "site"
    folder.mkdir()
    for name, _, _, data in site:
        (folder / name).write_bytes(data)
    records, counts = run(params([folder]))
    headings = {name: [h for _, h, _ in content] for name, _, content, _ in site}
    assert counts["documents"] == 20 and counts["kept"] >= 40
    assert {Path(r["source"]).name for r in records} == set(headings)  # every page gave segments
    assert_no_chrome(records)
    for record in records:
        assert record["heading"] in headings[Path(record["source"]).name]
        assert "\u00b6" not in record["heading"]  # the permalink anchor is chrome too
        assert isinstance(record["position"], int) and "url" not in record
    by_page: dict = {}
    for record in records:
        by_page.setdefault(record["source"], []).append(record["position"])
    assert all(p == sorted(set(p)) for p in by_page.values())  # positions in page order
    # the code block's `# fn main() {` stays code inside its section, never a heading
    with_code = [r for r in records if "fn main()" in r["text"]]
    assert with_code and all(r["heading"] != "fn main() {" for r in records)


def test_html_text_before_the_first_heading_has_none_and_is_dropped(tmp_path):
    pool = paragraphs(300)
    page = f"<html><body><main><p>{pool[0]}</p><h2>Real section</h2><p>{pool[1]}</p>" \
           f"</main></body></html>"
    (tmp_path / "a.htm").write_text(page)
    records, counts = run(params([tmp_path / "a.htm"]))
    assert [r["heading"] for r in records] == ["Real section"]
    assert counts["removed_empty_heading"] == 1


@pytest.mark.parametrize("name", ["site.zip", "site.tar.gz"])
def test_pages_inside_an_archive_are_read_like_a_folder(tmp_path, site, name):
    import tarfile
    import zipfile

    folder = tmp_path / "site"
    folder.mkdir()
    for page, _, _, data in site[:6]:
        (folder / page).write_bytes(data)
    (folder / "theme.css").write_text("body {}")
    archive = tmp_path / name
    if name.endswith(".zip"):
        with zipfile.ZipFile(archive, "w") as out:
            for path in sorted(folder.iterdir()):
                out.write(path, f"site/{path.name}")
    else:
        with tarfile.open(archive, "w:gz") as out:
            for path in sorted(folder.iterdir()):
                out.add(path, f"site/{path.name}")
    records, counts = run(params([archive]))
    from_folder, _ = run(params([folder]), out="folder.jsonl")
    assert [(r["heading"], r["text"]) for r in records] == \
        [(r["heading"], r["text"]) for r in from_folder]
    assert records[0]["source"] == f"{archive}:site/page00.html"
    assert counts["archive_members_skipped"] == 1


# --- 2. Crawl archives ---

@pytest.mark.parametrize("name", ["crawl.warc", "crawl.warc.gz"])
def test_warc_html_responses_are_extracted_and_other_records_counted(tmp_path, site, name):
    folder = tmp_path / "site"
    folder.mkdir()
    for page, _, _, data in site:
        (folder / page).write_bytes(data)
    write_warc(tmp_path / name, [(url, data) for _, url, _, data in site])
    records, counts = run(params([tmp_path / name]))
    assert counts["warc_records"] == {"warcinfo": 1, "request": 20, "response text/html": 20,
                                      "response application/pdf": 1, "response image/png": 1,
                                      "response status 301": 1}
    urls = {url for _, url, _, _ in site}
    assert {r["url"] for r in records} == urls
    assert all(r["source"].startswith(f"{tmp_path / name}:") for r in records)
    assert_no_chrome(records)
    # the same segments as the pages read as files
    from_files, _ = run(params([folder]), out="files.jsonl")
    assert [(r["heading"], r["text"]) for r in records] == \
        [(r["heading"], r["text"]) for r in from_files]


def test_wet_conversion_records_are_extracted_text(tmp_path, site):
    docs = [(url, visible_text(content)) for _, url, content, _ in site]
    write_wet(tmp_path / "crawl.warc.wet.gz", docs)
    records, counts = run(params([tmp_path / "crawl.warc.wet.gz"]))
    assert counts["warc_records"] == {"warcinfo": 1, "conversion": 20}
    assert counts["documents"] == 20 and {r["url"] for r in records} == {u for u, _ in docs}
    assert all(r["heading"] == "" for r in records)  # no headings in extracted text
    assert "removed_empty_heading" not in counts


# --- 3. Extracted web text without headings ---

def write_extracted(folder: Path, site, fmt: str) -> Path:
    """The pages' visible text as C4/FineWeb store it, with their URLs."""
    rows = [{"text": visible_text(content) + ("\n" + CODE if i % 3 == 0 else ""), "url": url,
             "timestamp": "2024-01-01T00:00:00Z"} for i, (_, url, content, _) in enumerate(site)]
    lines = b"".join(json.dumps(r).encode() + b"\n" for r in rows)
    path = folder / f"web.{fmt}"
    if fmt == "jsonl":
        path.write_bytes(lines)
    elif fmt == "jsonl.gz":
        path.write_bytes(gzip.compress(lines))
    elif fmt == "jsonl.zst":
        path.write_bytes(zstandard.ZstdCompressor().compress(lines))
    else:
        pq.write_table(pa.table({k: [r[k] for r in rows] for k in rows[0]}), path,
                       row_group_size=6)  # four row groups: four tasks, read in batches
    return path


@pytest.mark.parametrize("fmt", ["jsonl", "jsonl.gz", "jsonl.zst", "parquet"])
def test_extracted_text_without_headings_yields_segments(tmp_path, site, fmt):
    path = write_extracted(tmp_path, site, fmt)
    records, counts = run(params([path]))
    assert counts["documents"] == 20
    assert len({r["source"] for r in records}) >= 18  # nearly every document gives segments
    assert "removed_empty_heading" not in counts and "removed_too_long" not in counts
    assert all(r["heading"] == "" and 200 <= len(r["text"]) <= 1500 for r in records)
    assert {r["url"] for r in records} <= {url for _, url, _, _ in site}
    first_row = 0 if fmt == "parquet" else 1
    assert sorted({int(r["source"].rsplit(":", 1)[1]) for r in records})[0] == first_row
    if fmt == "parquet":
        assert counts["tasks"] == 4
    # the same segments whatever the container
    reference, _ = run(params([write_extracted(tmp_path, site, "jsonl")]), out="ref.jsonl")
    assert [r["text"] for r in records] == [r["text"] for r in reference]


def test_a_title_field_serves_as_heading_and_the_heading_filters_apply_to_it(tmp_path):
    pool = paragraphs()
    rows = [{"title": "Reading files in Python", "text": "\n".join(pool[:3])},
            {"title": "Advertisement", "text": "\n".join(pool[3:6])},
            {"title": None, "text": "\n".join(pool[6:9])}]
    (tmp_path / "t.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    records, counts = run(params([tmp_path / "t.jsonl"], title_field="title"))
    assert counts["removed_navigation_heading"] >= 1
    assert {r["heading"] for r in records} == {"Reading files in Python", ""}


def test_packing_cuts_at_line_breaks_into_pieces_of_about_equal_length():
    lines = [f"Line {i} of a paragraph that goes on for a while to fill the window." for i in range(70)]
    text = "\n".join(lines)  # about 5,000 characters
    pieces = pack(text, 1500, "lines")
    assert len(pieces) == 4 and all(1000 <= len(p) <= 1500 for p in pieces)
    assert "\n".join(pieces) == text  # cut only at line breaks, nothing lost
    long_line = " ".join(f"Sentence number {i} ends here." for i in range(200))
    assert all(len(p) <= 1500 for p in pack(long_line, 1500, "lines"))  # cut at sentence ends
    paras = "\n\n".join(lines[:30])
    assert segment(Document("d", paras, kind="jsonl"), "document", 1500, True)[0].text == paras
    assert len(segment(Document("d", paras, kind="jsonl"), "paragraphs", 1500, True)) == 2


# --- 4. Near-duplicates and language ---

def test_exact_and_near_duplicates_are_removed_and_counted(tmp_path):
    pool = paragraphs()
    original = "\n".join(pool[10:14])
    near = original.replace(original.split()[40], "different", 1)
    rows = [original, original, near, "\n".join(pool[20:24])]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in rows))
    records, counts = run(params([tmp_path / "d.jsonl"], near_dup_threshold=0.8))
    assert [r["source"].rsplit(":", 1)[1] for r in records] == ["1", "4"]
    assert counts["removed_duplicate"] == 1 and counts["removed_near_duplicate"] == 1
    records, counts = run(params([tmp_path / "d.jsonl"]), out="exact-only.jsonl")
    assert len(records) == 3 and "removed_near_duplicate" not in counts


GERMAN = ("Die Stadt liegt an einem breiten Fluss, und im Sommer sitzen die Menschen am Ufer.\n"
          "Am Abend gehen viele Familien spazieren, während die Kinder auf den Wiesen spielen.\n"
          "Der Markt auf dem alten Platz ist jeden Samstag geöffnet und bietet frisches Obst.\n"
          "Im Winter friert der Fluss selten zu, aber die Straßen sind oft glatt und gefährlich.\n"
          "Die Bibliothek der Stadt besitzt eine große Sammlung alter Bücher und Handschriften.\n"
          "Besucher können das Museum am Bahnhof kostenlos besichtigen, außer an Feiertagen.")
FRENCH = ("La ville se trouve au bord d'un grand fleuve, et en été les habitants se promènent.\n"
          "Le soir, les familles dînent dehors pendant que les enfants jouent dans les parcs.\n"
          "Le marché de la vieille place ouvre chaque samedi et propose des fruits frais.\n"
          "En hiver, le fleuve gèle rarement, mais les routes sont souvent glissantes.\n"
          "La bibliothèque municipale possède une grande collection de livres anciens.\n"
          "Les visiteurs peuvent entrer gratuitement au musée de la gare, sauf les jours fériés.")


def test_documents_in_other_languages_are_removed_and_counted(tmp_path):
    english = "\n".join(paragraphs()[30:33])
    rows = [english, GERMAN, FRENCH]
    (tmp_path / "l.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in rows))
    records, counts = run(params([tmp_path / "l.jsonl"], languages=["en"]))
    assert {r["source"].rsplit(":", 1)[1] for r in records} == {"1"}
    assert counts["removed_language"] == 2
    records, _ = run(params([tmp_path / "l.jsonl"], languages=["en", "de"]), out="de.jsonl")
    assert {r["source"].rsplit(":", 1)[1] for r in records} == {"1", "2"}
    with pytest.raises(HumpbackError, match="corpus.languages: 'xx' not known to py3langid"):
        run(params([tmp_path / "l.jsonl"], languages=["xx"]), out="xx.jsonl")


# --- 5. Workers, ranges ---

def test_the_output_is_the_same_bytes_for_any_number_of_workers(tmp_path, site):
    folder = tmp_path / "data"
    (folder / "site").mkdir(parents=True)
    for name, _, _, data in site:
        (folder / "site" / name).write_bytes(data)
    write_warc(folder / "crawl.warc.gz", [(url, data) for _, url, _, data in site[:8]])
    write_extracted(folder, site, "parquet")
    write_extracted(folder, site, "jsonl.gz")
    outputs = []
    for workers in (1, 2, 3):
        p = params([folder], workers=workers, near_dup_threshold=0.8, max_segments=50,
                   languages=["en"])
        _, counts = run(p, out=f"w{workers}.jsonl")
        assert counts["workers"] == workers
        outputs.append(Path(f"w{workers}.jsonl").read_bytes())
    assert outputs[0] == outputs[1] == outputs[2] and outputs[0].count(b"\n") == 50
    assert counts["removed_duplicate"] > 0  # the WARC repeats pages the folder holds


def test_a_large_jsonl_file_is_read_in_ranges_with_its_own_line_numbers(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "RANGE_BYTES", 4096)
    pool = paragraphs()
    lines = [json.dumps({"n": i + 1, "text": "\n".join(pool[i:i + 3])}) for i in range(60)]
    (tmp_path / "big.jsonl").write_text("\n".join(lines) + "\n")
    tasks, _ = sources.plan([str(tmp_path / "big.jsonl")])
    assert len(tasks) > 5
    records, counts = run(params([tmp_path / "big.jsonl"], workers=2, min_chars=50))
    by_source = {int(r["source"].rsplit(":", 1)[1]) for r in records}
    assert counts["documents"] == 60 and by_source <= set(range(1, 61)) and len(by_source) > 50
    rows = {json.loads(line)["n"]: json.loads(line)["text"] for line in lines}
    for record in records:  # each segment's line number is the line it came from
        assert record["text"] in rows[int(record["source"].rsplit(":", 1)[1])]


# --- 7. Nothing silent: through the stage's entry point, as `dvc repro` runs it ---

def stage_project(tmp_path, files: dict, **changes) -> Path:
    project = tmp_path / "project"
    (project / "data" / "sources").mkdir(parents=True)
    for name, data in files.items():
        target = project / "data" / "sources" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    params_ = yaml.safe_load((ROOT / "params.yaml").read_text())
    params_["corpus"].update({"min_chars": 200, "max_segments": None, "workers": 1, **changes})
    (project / "params.yaml").write_text(yaml.safe_dump(params_, sort_keys=False))
    (project / "dvc.yaml").write_text((ROOT / "dvc.yaml").read_text())
    return project


def run_stage(project, env=None):
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, str(ROOT / "stages/corpus.py"), "data/corpus.jsonl",
                           "metrics/corpus.json"], cwd=project, env=env, capture_output=True,
                          text=True, timeout=300)


def one_line_error(result) -> str:
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_files_of_types_not_read_are_named_in_one_warning_line(tmp_path, site):
    files = {f"site/{name}": data for name, _, _, data in site[:3]}
    files.update({"site/theme.css": b"body{}", "site/app.js": b"1", "site/logo.png": b"\x89PNG",
                  "site/fonts/a.woff2": b"x", "site/sitemap.xml": b"<urlset/>"})
    project = stage_project(tmp_path, files, sources=["data/sources"])
    result = run_stage(project)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "passed over 5 files" in warnings[0], result.stderr
    assert "data/sources/site/app.js" in warnings[0] and "and 2 more" in warnings[0]
    metrics = json.loads((project / "metrics/corpus.json").read_text())
    assert metrics["skipped_files"] == 5 and metrics["kept"] > 0
    card = (project / "data/corpus.md").read_text()
    assert "| **kept** | **" in card and "files in source folders of types not read: 5" in card


@pytest.mark.parametrize("name, data, message", [
    ("slides.pdf", b"%PDF-1.4", "slides.pdf: not a corpus file type"),
    ("broken.jsonl.gz", b"not gzip at all", "broken.jsonl.gz: cannot be read"),
    ("broken.jsonl.zst", b"not zstd at all", "broken.jsonl.zst: cannot be read"),
    ("broken.parquet", b"not parquet", "broken.parquet: not a readable parquet file"),
    ("broken.warc.gz", b"not a WARC file", "broken.warc.gz: record 1: malformed WARC record"),
    ("broken.zip", b"not a zip file", "broken.zip: not a readable archive"),
    ("broken.tar.gz", b"not a tar file", "broken.tar.gz: not a readable archive"),
])
def test_an_explicitly_named_unreadable_file_fails_in_one_line(tmp_path, name, data, message):
    project = stage_project(tmp_path, {name: data}, sources=[f"data/sources/{name}"])
    assert message in one_line_error(run_stage(project))
    assert not (project / "data/corpus.jsonl").exists()


def broken_warc(tmp_path, site) -> bytes:
    """A WARC whose 6th record (the 3rd page's request) has a mangled header line."""
    write_warc(tmp_path / "ok.warc", [(url, data) for _, url, _, data in site[:5]], extra=False)
    data = (tmp_path / "ok.warc").read_bytes()
    starts = [i for i in range(len(data)) if data.startswith(b"WARC/1", i)]
    return data[:starts[5]] + b"GARBAGE\r\n" + data[starts[5] + 8:]


def test_a_malformed_warc_record_is_named_under_error_and_counted_under_skip(tmp_path, site):
    project = stage_project(tmp_path, {"crawl.warc": broken_warc(tmp_path, site)},
                            sources=["data/sources/crawl.warc"])
    line = one_line_error(run_stage(project))
    assert "data/sources/crawl.warc: record 6: malformed WARC record" in line
    assert "corpus.on_bad_record" in line
    project = stage_project(tmp_path / "skip", {"crawl.warc": broken_warc(tmp_path, site)},
                            sources=["data/sources/crawl.warc"], on_bad_record="skip")
    result = run_stage(project)
    assert result.returncode == 0, result.stderr
    assert "record 6: malformed WARC record" in result.stderr
    metrics = json.loads((project / "metrics/corpus.json").read_text())
    assert metrics["rejected_records"] == 1 and metrics["documents"] == 2  # the pages before it


def test_an_undecodable_page_is_named_under_error_and_counted_under_skip(tmp_path, site):
    junk = random.Random(1).randbytes(3000)
    pages = [(url, data) for _, url, _, data in site[:2]] + [("https://docs.example.org/x", junk)]
    write_warc(tmp_path / "crawl.warc.gz", pages, extra=False)
    data = (tmp_path / "crawl.warc.gz").read_bytes()
    project = stage_project(tmp_path, {"crawl.warc.gz": data}, sources=["data/sources/crawl.warc.gz"])
    assert "crawl.warc.gz:7: page cannot be decoded" in one_line_error(run_stage(project))
    project = stage_project(tmp_path / "skip", {"crawl.warc.gz": data},
                            sources=["data/sources/crawl.warc.gz"], on_bad_record="skip")
    result = run_stage(project)
    assert result.returncode == 0, result.stderr
    metrics = json.loads((project / "metrics/corpus.json").read_text())
    assert metrics["rejected_records"] == 1 and metrics["documents"] == 2


def test_a_missing_web_library_is_one_line_naming_what_to_install(tmp_path, site):
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text(
        "import sys\n"
        "class Hide:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'trafilatura':\n"
        "            raise ImportError('hidden by the test')\n"
        "sys.meta_path.insert(0, Hide())\n")
    project = stage_project(tmp_path, {"a.html": site[0][3]}, sources=["data/sources/a.html"])
    result = run_stage(project, env={"PYTHONPATH": f"{hide}{os.pathsep}{ROOT}"})
    line = one_line_error(result)
    assert "reading HTML pages needs the package trafilatura" in line and "pip install" in line
