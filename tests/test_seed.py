import json

import pytest

from conftest import ROOT
from humpback.config import SeedParams
from humpback.records import RecordError, read_jsonl
from humpback.seed import load_pairs, select_oasst1, split


def oasst_row(message_id, parent_id, role, text, lang="en", rank=None, tree="t"):
    return {"message_id": message_id, "parent_id": parent_id, "message_tree_id": tree,
            "role": role, "text": text, "lang": lang, "rank": rank}


OASST_ROWS = [
    oasst_row("p1", None, "prompter", "How do I boil an egg?", tree="t1"),
    oasst_row("a1", "p1", "assistant", "Second-best reply.", rank=1, tree="t1"),
    oasst_row("a2", "p1", "assistant", "Best reply: boil it 9 minutes.", rank=0, tree="t1"),
    oasst_row("p2", "a2", "prompter", "And a soft one?", tree="t1"),  # a later turn
    oasst_row("a3", "p2", "assistant", "6 minutes.", rank=0, tree="t1"),
    oasst_row("p3", None, "prompter", "¿Cómo estás?", lang="es", tree="t2"),  # not English
    oasst_row("a4", "p3", "assistant", "Bien.", rank=0, lang="es", tree="t2"),
    oasst_row("p4", None, "prompter", "Name a prime.", tree="t3"),
    oasst_row("a5", "p4", "assistant", "7 is prime.", rank=0, tree="t3"),
]


def test_oasst1_selection_is_first_turn_english_rank_zero():
    pairs = select_oasst1(OASST_ROWS, "en")
    assert [(p["instruction"], p["output"]) for p in pairs] == [
        ("How do I boil an egg?", "Best reply: boil it 9 minutes."), ("Name a prime.", "7 is prime.")]


def test_oasst1_rows_from_a_jsonl_file(tmp_path):
    path = tmp_path / "oasst.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in OASST_ROWS))
    params = SeedParams(source=str(path), format="oasst1", language="en",
                        eval_fraction=0.5, max_pairs=None)
    assert len(load_pairs(params)) == 2


def test_shipped_seed_set_is_large_and_varied():
    pairs = list(read_jsonl(ROOT / "data/seed.jsonl", required=["id", "instruction", "output"]))
    assert len(pairs) >= 100 and len({p["id"] for p in pairs}) == len(pairs)
    assert {p["category"] for p in pairs} >= {"how-to", "explanation", "writing", "coding",
                                              "advice", "lists", "short-factual"}


def test_split_is_seeded_and_disjoint():
    pairs = [{"id": str(i)} for i in range(50)]
    train, held_out = split(pairs, 0.1, seed=0)
    assert len(held_out) == 5 and not {p["id"] for p in train} & {p["id"] for p in held_out}
    assert split(pairs, 0.1, seed=0) == (train, held_out)


def test_too_small_to_split_is_a_clear_error():
    with pytest.raises(RecordError, match="too few to hold out"):
        split([{"id": "1"}, {"id": "2"}, {"id": "3"}], 0.1, seed=0, where="tiny.jsonl")


@pytest.mark.parametrize("line, message", [
    ('{"instruction": "x", "output": "y"\n', "bad.jsonl:2: malformed JSON"),
    ('{"instruction": "x"}\n', "bad.jsonl:2: missing field 'output'"),
    ('{"instruction": " ", "output": "y"}\n', "bad.jsonl:2: empty field 'instruction'"),
    ('[1, 2]\n', "bad.jsonl:2: expected a JSON object, found an array"),
])
def test_bad_lines_name_file_and_line(tmp_path, line, message):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"instruction": "a", "output": "b"}\n' + line)
    params = SeedParams(source=str(path), format="pairs", language="en",
                        eval_fraction=0.1, max_pairs=None)
    with pytest.raises(RecordError, match=message):
        load_pairs(params)


def test_non_utf8_and_duplicate_ids(tmp_path):
    path = tmp_path / "bytes.jsonl"
    path.write_bytes(b'{"instruction": "a", "output": "b"}\n{"instruction": "\xff", "output": "b"}\n')
    params = SeedParams(source=str(path), format="pairs", language="en",
                        eval_fraction=0.1, max_pairs=None)
    with pytest.raises(RecordError, match="bytes.jsonl:2: not UTF-8"):
        load_pairs(params)
    path.write_text('{"id": "x", "instruction": "a", "output": "b"}\n' * 2)
    with pytest.raises(RecordError, match="duplicate id 'x'"):
        load_pairs(params)


def test_fields_empty_after_cleaning_are_named(tmp_path):
    source = tmp_path / "seed.jsonl"
    source.write_text('{"instruction": "Say hi.", "output": "Hi"}\n'
                      '{"instruction": "\\u0001\\u0002 ", "output": "x"}\n')
    params = SeedParams(source=str(source), format="pairs", language="en",
                        eval_fraction=0.1, max_pairs=None)
    with pytest.raises(RecordError, match=r"seed.jsonl:2: field 'instruction' is empty once"):
        load_pairs(params)
