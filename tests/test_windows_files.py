"""Files saved on Windows (a UTF-8 byte-order mark, CRLF line ends) are read like any other:
every reader of user-edited input gives the same result for both spellings of the same data."""

import dataclasses
import json

from conftest import ROOT
from test_bad_input import GOOD_DOC, PAIRS, corpus_project, jsonl, make_project, run, seed_project


def windows(data: bytes) -> bytes:
    """The same file as Notepad and many Windows tools save it."""
    return b"\xef\xbb\xbf" + data.replace(b"\n", b"\r\n")


def folder(tmp_path, spelling):
    path = tmp_path / spelling.__name__
    path.mkdir()
    return path


def outputs(project, *names) -> list[bytes]:
    return [(project / name).read_bytes() for name in names]


def test_seed_pairs(tmp_path):
    results = []
    for spelling in (bytes, windows):
        project = seed_project(folder(tmp_path, spelling), spelling(jsonl(*PAIRS)))
        result = run(project, "seed.py", "train.jsonl", "eval.jsonl", "seed-metrics.json")
        assert result.returncode == 0, result.stderr
        results.append(outputs(project, "train.jsonl", "eval.jsonl"))
    assert results[0] == results[1] and b"\r" not in b"".join(results[0])


def test_corpus_jsonl_and_text_files(tmp_path):
    files = {"docs.jsonl": jsonl({"text": GOOD_DOC.replace("topic", "subject")}),
             "notes.md": f"# Notes\n{GOOD_DOC.replace('Heading', 'Other')}\n".encode()}
    results = []
    for spelling in (bytes, windows):
        project = corpus_project(folder(tmp_path, spelling),
                                 {name: spelling(data) for name, data in files.items()})
        result = run(project, "corpus.py", "corpus.jsonl", "corpus-metrics.json")
        assert result.returncode == 0, result.stderr
        results.append(outputs(project, "corpus.jsonl"))
    segments = [json.loads(line) for line in results[0][0].splitlines()]
    assert len(segments) == 2 and results[0] == results[1]


CANDIDATES = [dict(PAIRS[0], id=f"c{i}") for i in range(4)]
SCORES = [{"id": f"c{i}", "score": 2.0 + i} for i in range(4)]


def test_candidates_and_scores(tmp_path):
    results = []
    for spelling in (bytes, windows):
        project = make_project(folder(tmp_path, spelling))
        (project / "candidates.jsonl").write_bytes(spelling(jsonl(*CANDIDATES)))
        (project / "scores.jsonl").write_bytes(spelling(jsonl(*SCORES)))
        result = run(project, "curate.py", "candidates.jsonl", "scores.jsonl", "curated.jsonl",
                     "curate-metrics.json", "curated.md")
        assert result.returncode == 0, result.stderr
        results.append(outputs(project, "curated.jsonl", "curated.md"))
    assert results[0] == results[1] and b"c3" in results[0][0]


def test_hand_labels(tmp_path):
    labels = [{"id": c["id"], "instruction": c["instruction"], "label": "good" if i % 2 else "bad"}
              for i, c in enumerate(CANDIDATES)]
    results = []
    for spelling in (bytes, windows):
        project = make_project(folder(tmp_path, spelling),
                               lambda p: p["compare"].update(labels="labels.jsonl"))
        (project / "labels.jsonl").write_bytes(spelling(jsonl(*labels)))
        (project / "candidates.jsonl").write_bytes(jsonl(*CANDIDATES))
        (project / "curated").mkdir()
        (project / "curated" / "1.jsonl").write_bytes(jsonl(*CANDIDATES[:2]))
        result = run(project, "compare.py", "evaluate", "judge", "rater", "candidates.jsonl",
                     "curated", "iterations.csv", "rater.csv", "curation.json")
        assert result.returncode == 0, result.stderr
        results.append(json.loads((project / "curation.json").read_text()))
    assert results[0]["curation_quality"]["1"]["labelled"] == 4 and results[0] == results[1]


def test_evaluation_instructions(tmp_path):
    from humpback.config import load_params
    from humpback.evaluation import load_instructions

    rows = [{"instruction": "Say hi.", "output": "Hi!"}, {"instruction": "Count to 3."}]
    results = []
    for spelling in (bytes, windows):
        path = tmp_path / f"{spelling.__name__}.jsonl"
        path.write_bytes(spelling(jsonl(*rows)))
        params = dataclasses.replace(load_params(ROOT / "params.yaml").evaluate,
                                     instructions=str(path))
        results.append(load_instructions(params))
    assert results[0] == results[1] == [{"instruction": "Say hi.", "reference": "Hi!"},
                                        {"instruction": "Count to 3.", "reference": None}]


def test_answers_read_by_the_judge(tmp_path):
    from humpback.records import read_json

    answers = [{"instruction": "Say hi.", "output": "Hi!", "generator": "humpback-M0"}]
    text = json.dumps(answers, indent=2).encode() + b"\n"
    (tmp_path / "windows.json").write_bytes(windows(text))
    assert read_json(tmp_path / "windows.json") == answers


def test_prompt_templates(tmp_path):
    from humpback.prompts import load_template

    template = (ROOT / "prompts" / "backward.txt").read_bytes()
    (tmp_path / "windows.txt").write_bytes(windows(template))
    assert (load_template(tmp_path / "windows.txt", {"output"})
            == load_template(ROOT / "prompts" / "backward.txt", {"output"}))


def test_blank_lines_and_a_second_mark_from_concatenated_files(tmp_path):
    from humpback.records import numbered_jsonl

    data = windows(jsonl(*PAIRS[:2])) + b"\r\n" + windows(jsonl(PAIRS[2]))
    (tmp_path / "joined.jsonl").write_bytes(data)
    numbered = list(numbered_jsonl(tmp_path / "joined.jsonl", ["instruction", "output"]))
    assert numbered == [(1, PAIRS[0]), (2, PAIRS[1]), (4, PAIRS[2])]
