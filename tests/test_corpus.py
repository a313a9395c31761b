import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from humpback.config import CorpusParams
from humpback.corpus.build import build
from humpback.corpus.filters import rejection, repeats_itself
from humpback.corpus.segments import Document, Segment, split_segments
from humpback.records import RecordError, read_jsonl

PARAMS = CorpusParams(sources=["pydoc"], text_field="text", min_chars=40, max_chars=400,
                      split_long=False, max_segments=None)
BODY = "A clear paragraph about a topic that is long enough to be kept by the filter."


def built(params, tmp_path, seed=0):
    """The records `build` writes, and its counts (the ones this test file asserts on)."""
    out = tmp_path / f"corpus-{seed}.jsonl"
    counts = build(params, seed, out)
    records = list(read_jsonl(out)) if out.exists() else []
    return records, {k: v for k, v in counts.items() if k not in RUN_COUNTS}


# how the work was spread and near-dup settings, not what was filtered
RUN_COUNTS = ("tasks", "tasks_reused", "workers", "near_dup_bands", "near_dup_rows")


def test_segments_are_the_text_under_each_heading():
    text = f"Intro title\n***********\n\n{BODY}\n\nSecond part\n===========\n{BODY} Two.\n\n# Markdown\n{BODY} Three."
    segments = split_segments(Document("doc", text))
    assert [(s.heading, s.text) for s in segments] == [
        ("Intro title", BODY), ("Second part", BODY + " Two."), ("Markdown", BODY + " Three.")]


def test_long_sections_split_at_paragraphs_when_asked():
    text = "Title\n=====\n" + "\n\n".join([BODY] * 10)
    pieces = split_segments(Document("doc", text), max_chars=200)
    assert len(pieces) == 5 and all(len(p.text) <= 200 for p in pieces)


@pytest.mark.parametrize("heading, text, reason", [
    ("Fine", "short", "too_short"),
    ("Fine", BODY * 10, "too_long"),
    ("", BODY, "empty_heading"),
    ("QUICK LINKS", BODY, "all_caps_heading"),
    ("Advertisement", BODY, "navigation_heading"),
    ("Related posts", BODY, "navigation_heading"),
    ("Fine", "This sentence repeats itself a lot. " * 4, "repetitive"),
    ("Fine", BODY, None),
])
def test_filters(heading, text, reason):
    assert rejection(Segment("doc", heading, text), PARAMS) == reason


def test_repetition_needs_real_repeats():
    assert not repeats_itself("One sentence here is fine. Another one follows it. A third one ends.")


def test_metrics_count_every_removal_and_duplicates(tmp_path):
    doc = f"Alpha\n=====\n{BODY}\n\nBeta\n====\n{BODY}\n\nADVERTISEMENT\n=============\n{BODY} x\n\nGamma\n=====\nshort\n"
    (tmp_path / "a.md").write_text(doc)
    params = CorpusParams(sources=[str(tmp_path)], text_field="text", min_chars=40,
                          max_chars=400, split_long=False, max_segments=None)
    records, counts = built(params, tmp_path)
    assert [r["heading"] for r in records] == ["Alpha"]
    assert counts == {"documents": 1, "segments": 4, "removed_duplicate": 1,
                      "removed_all_caps_heading": 1, "removed_too_short": 1, "kept": 1,
                      "rejected_records": 0}


def test_jsonl_and_parquet_sources(tmp_path):
    text = f"Heading\n=======\n{BODY}"
    (tmp_path / "docs.jsonl").write_text(json.dumps({"body": text}) + "\n")
    pq.write_table(pa.table({"body": [text.replace("topic", "subject")]}), tmp_path / "d.parquet")
    params = CorpusParams(sources=[str(tmp_path / "docs.jsonl"), str(tmp_path / "d.parquet")],
                          text_field="body", min_chars=40, max_chars=400, split_long=False,
                          max_segments=None)
    records, _ = built(params, tmp_path)
    assert len(records) == 2 and records[0]["source"].endswith("docs.jsonl:1")


def test_default_pydoc_corpus_is_offline_and_sampled_reproducibly(tmp_path):
    params = CorpusParams(sources=["pydoc"], text_field="text", min_chars=600, max_chars=1500,
                          split_long=True, max_segments=50)
    first, counts = built(params, tmp_path)
    assert len(first) == 50 and counts["removed_sampling"] > 0
    assert all(600 <= len(r["text"]) <= 1500 for r in first)
    assert built(params, tmp_path)[0] == first and built(params, tmp_path, seed=1)[0] != first


def test_missing_source_names_the_path(tmp_path):
    params = CorpusParams(sources=[str(tmp_path / "nope.txt")], text_field="text", min_chars=1,
                          max_chars=10, split_long=False, max_segments=None)
    with pytest.raises(RecordError, match="nope.txt: corpus source not found"):
        built(params, tmp_path)


def test_control_characters_are_removed():
    (segment,) = split_segments(Document("d", "Title\n=====\nclean\x00 te\x07xt"))
    assert segment.text == "clean text"


# --- text cleaning, for any input ---

import unicodedata  # noqa: E402

from hypothesis import given, strategies as st  # noqa: E402

from humpback.corpus import clean_text  # noqa: E402  (the seed stage imports it from here)


def _bad_chars(text: str) -> set[str]:
    return {ch for ch in text if ch not in "\n\t"
            and (unicodedata.category(ch) in ("Cc", "Cs") or ch in "\u2028\u2029\ufeff")}


@given(st.text())
def test_cleaning_leaves_no_control_characters_and_is_idempotent(text):
    cleaned = clean_text(text)
    assert not _bad_chars(cleaned)
    assert clean_text(cleaned) == cleaned and len(cleaned) <= len(text)
    cleaned.encode("utf-8")  # lone surrogates, valid in JSON strings, are gone


@given(st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zs", "Zl", "Zp"),
                             blacklist_characters="\ufeff") | st.sampled_from(" \n\t")))
def test_cleaning_keeps_ordinary_text_unchanged(text):
    assert clean_text(text) == text


@given(st.text())
def test_segments_of_any_text_are_clean(text):
    for segment in split_segments(Document("doc", text), max_chars=200):
        assert not _bad_chars(segment.text) and not _bad_chars(segment.heading)


def test_unusual_spaces_and_line_breaks_are_normalised_not_dropped():
    assert clean_text("a\u00a0b\r\nc\u2028d\x0ce\x00f\ufeff") == "a b\nc\nd\nef"


# --- the dedup index ---

import numpy as np  # noqa: E402

from humpback.corpus.dedup import Deduplicator, KeySet, band_keys, exact_digest  # noqa: E402


@given(st.lists(st.lists(st.integers(0, 2**64 - 1), max_size=300), max_size=12))
def test_the_key_table_is_a_set(batches):
    table, reference = KeySet(capacity=16), set()  # tiny: it grows many times
    for batch in batches:
        keys = np.array(batch, dtype=np.uint64)
        assert table.contains(keys).tolist() == [k in reference or (k == 0 and 1 in reference)
                                                 or (k == 1 and 0 in reference) for k in batch]
        new = sorted({k if k else 1 for k in batch} - {k if k else 1 for k in reference})
        table.add(np.array(new, dtype=np.uint64))
        reference.update(new)
    assert table.size == len(reference)


@given(st.lists(st.integers(0, 30), min_size=1, max_size=80), st.integers(1, 40))
def test_duplicate_verdicts_do_not_depend_on_how_segments_are_chunked(picks, chunk):
    """The first of each group is kept whether its copies come in the same chunk or later."""
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi".split()
    texts = [" ".join(words[(p + i) % len(words)] for i in range(12)) + f" {p % 7}" for p in picks]
    digests = [exact_digest(t) for t in texts]
    bands = [band_keys(t, 3, 64, 0.7) for t in texts]

    def run(size):
        dedup, out = Deduplicator(0.7, 64), []
        for start in range(0, len(texts), size):
            out += dedup.verdicts(digests[start:start + size], bands[start:start + size])
        return out

    assert run(chunk) == run(len(texts))
    assert run(1) == run(len(texts))
    first = {t: i for i, t in reversed(list(enumerate(texts)))}
    assert all((v == "duplicate") == (first[t] != i) for i, (t, v) in enumerate(zip(texts, run(1)))
               if v != "near_duplicate")
