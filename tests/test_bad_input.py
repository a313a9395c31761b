"""Bad input and bad params, through the stage entry points a user runs (`dvc repro` runs the
same commands): each ends in one line `error: <file>:<line>: ...` (or naming the params key), or,
where params say skip, in a count of rejected records in the metrics; never a traceback."""

import json
import os
import re
import subprocess
import sys
import time

import pytest
import torch
import yaml

from conftest import ROOT

BODY = "A clear paragraph about a topic, long enough for the length filter to keep it. " * 2
GOOD_DOC = f"Heading\n=======\n{BODY}"
PAIR = {"instruction": "Name a colour.", "output": "Blue."}


def make_project(tmp_path, change=None):
    """A project folder with the shipped params.yaml, edited by `change`."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["corpus"].update(min_chars=40, max_chars=400, max_segments=None, split_long=True)
    if change:
        change(params)
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (project / "dvc.yaml").write_text((ROOT / "dvc.yaml").read_text())  # each stage's params
    return project


def run(project, script, *args):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, str(ROOT / "stages" / script), *args], cwd=project,
                          env=env, capture_output=True, text=True, timeout=120)


def assert_one_line_error(result, *fragments):
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def jsonl(*records) -> bytes:
    return b"".join((r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n"
                    for r in records)


# --- corpus: unusable source records stop with file:line, or are skipped and counted ---

def corpus_project(tmp_path, files: dict[str, bytes], policy="error"):
    folder = tmp_path / "project" / "data" / "sources"  # corpus files live under data/sources
    folder.mkdir(parents=True)
    sources = []
    for name, data in files.items():
        (folder / name).write_bytes(data)
        sources.append(f"data/sources/{name}")
    return make_project(tmp_path, lambda p: p["corpus"].update(sources=sources,
                                                              on_bad_record=policy))


def run_corpus(project):
    return run(project, "corpus.py", "corpus.jsonl", "corpus-metrics.json")


BAD_CORPUS_FILES = {
    "malformed JSON": ({"docs.jsonl": jsonl({"text": GOOD_DOC}, b'{"text": "Head')},
                       "docs.jsonl:2: malformed JSON"),
    "non-UTF-8 jsonl": ({"docs.jsonl": jsonl({"text": GOOD_DOC}, {"text": "x"}, b'{"text": "\xff"}')},
                        "docs.jsonl:3: not UTF-8"),
    "non-UTF-8 text": ({"notes.txt": GOOD_DOC.encode() + b"\nmore\n\xfe\xff\n"},
                       "notes.txt:5: not UTF-8"),
    "missing field": ({"docs.jsonl": jsonl({"text": GOOD_DOC}, {"body": GOOD_DOC})},
                      "docs.jsonl:2: missing field 'text'"),
    "text not a string": ({"docs.jsonl": jsonl({"text": GOOD_DOC}, {"text": 42})},
                          "docs.jsonl:2: field 'text' must be text (a JSON string), found a "
                          "number: 42"),
    "UTF-16 jsonl": ({"docs.jsonl": '{"text": "x"}\n'.encode("utf-16")},
                     "docs.jsonl:1: UTF-16 text, not UTF-8 (save the file as UTF-8)"),
    "empty text file": ({"empty.txt": b""}, "empty.txt: empty file"),
    "empty jsonl": ({"empty.jsonl": b"\n"}, "empty.jsonl: empty file"),
}


@pytest.mark.parametrize("files, message", BAD_CORPUS_FILES.values(), ids=BAD_CORPUS_FILES)
def test_corpus_bad_record_is_one_line_naming_file_and_line(tmp_path, files, message):
    project = corpus_project(tmp_path, files)
    result = run_corpus(project)
    assert_one_line_error(result, message, "corpus.on_bad_record")
    assert not (project / "corpus.jsonl").exists()


def test_corpus_skip_policy_counts_rejected_records(tmp_path):
    files = {"docs.jsonl": jsonl({"text": GOOD_DOC}, b'{"text": "Head', b'{"text": "\xff"}',
                                 {"body": "x"}),
             "empty.txt": b"",
             "notes.txt": b"Title\n=====\n\xff\n"}
    project = corpus_project(tmp_path, files, policy="skip")
    result = run_corpus(project)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "docs.jsonl:2: malformed JSON" in result.stderr
    metrics = json.loads((project / "corpus-metrics.json").read_text())
    assert metrics["rejected_records"] == 5 and metrics["kept"] == 1


def test_corpus_that_filters_to_nothing_is_one_line(tmp_path):
    project = corpus_project(tmp_path, {"short.md": b"# Title\nToo short.\n\n# OTHER\nAlso short.\n"})
    assert_one_line_error(run_corpus(project), "short.md", "no segment passed the filters",
                          "removed_too_short")


def test_corpus_duplicates_are_removed_and_counted(tmp_path):
    # ids in a jsonl source are not used (segment ids are content hashes): a repeated id is
    # harmless, a repeated text is dropped as a duplicate
    twin = GOOD_DOC.replace("topic", "subject")
    files = {"docs.jsonl": jsonl({"id": "a", "text": GOOD_DOC}, {"id": "a", "text": twin},
                                 {"id": "b", "text": GOOD_DOC})}
    project = corpus_project(tmp_path, files)
    assert run_corpus(project).returncode == 0
    metrics = json.loads((project / "corpus-metrics.json").read_text())
    assert metrics["kept"] == 2 and metrics["removed_duplicate"] == 1
    ids = [json.loads(line)["id"] for line in (project / "corpus.jsonl").read_text().splitlines()]
    assert len(set(ids)) == 2


def test_corpus_control_characters_are_removed(tmp_path):
    dirty = GOOD_DOC.replace("clear", "cl\x00e\x07ar\x1b").replace("topic", "top\u200bic\r\n")
    project = corpus_project(tmp_path, {"docs.jsonl": jsonl({"text": dirty + "\ud800"})})
    result = run_corpus(project)
    assert result.returncode == 0, result.stderr
    (record,) = [json.loads(line) for line in (project / "corpus.jsonl").open(encoding="utf-8")]
    assert "clear" in record["text"] and "\r" not in record["text"]
    assert not any(ord(ch) < 32 and ch not in "\n\t" for ch in record["text"])


@pytest.mark.parametrize("name", ["huge.jsonl", "huge.txt"])
def test_corpus_10mb_single_line_document_is_rejected_quickly(tmp_path, name):
    line = ("word " * 2_000_000)[:10_000_000]
    data = jsonl({"text": "Huge\n====\n" + line}, {"text": GOOD_DOC}) if name.endswith("l") \
        else f"Huge\n====\n{line}\n\nSmall\n=====\n{BODY}\n".encode()
    project = corpus_project(tmp_path, {name: data})
    start = time.perf_counter()
    result = run_corpus(project)
    assert result.returncode == 0, result.stderr
    assert time.perf_counter() - start < 20  # about 2 s here, interpreter start included
    metrics = json.loads((project / "corpus-metrics.json").read_text())
    assert metrics["removed_too_long"] == 1 and metrics["kept"] == 1


def test_corpus_source_of_unknown_type_is_named(tmp_path):
    project = corpus_project(tmp_path, {"slides.pdf": b"%PDF"})
    assert_one_line_error(run_corpus(project), "slides.pdf: not a corpus file type")


# --- seed pairs ---

def seed_project(tmp_path, data: bytes, change=None):
    (tmp_path / "seed.jsonl").write_bytes(data)

    def edit(params):
        params["seed"].update(source=str(tmp_path / "seed.jsonl"), eval_fraction=0.25)
        if change:
            change(params)

    return make_project(tmp_path, edit)


def run_seed(project):
    return run(project, "seed.py", "train.jsonl", "eval.jsonl", "seed-metrics.json")


PAIRS = [dict(PAIR, id=f"p{i}") for i in range(8)]
BAD_SEEDS = {
    "malformed JSON": (jsonl(*PAIRS[:2], b'{"instruction": "x",'), "seed.jsonl:3: malformed JSON"),
    "non-UTF-8": (jsonl(PAIRS[0], b'{"instruction": "\xc3\x28", "output": "y"}'),
                  "seed.jsonl:2: not UTF-8"),
    "empty file": (b"", "seed.jsonl: no seed pairs"),
    "missing field": (jsonl(PAIRS[0], {"id": "q", "instruction": "x"}),
                      "seed.jsonl:2: missing field 'output'"),
    "empty field": (jsonl(PAIRS[0], {"id": "q", "instruction": "x", "output": " \t"}),
                    "seed.jsonl:2: empty field 'output'"),
    "instruction a number": (jsonl(PAIRS[0], {"id": "q", "instruction": 42, "output": "y"}),
                             "seed.jsonl:2: field 'instruction' must be text (a JSON string), "
                             "found a number: 42"),
    "output an array": (jsonl(PAIRS[0], {"id": "q", "instruction": "x", "output": ["a"]}),
                        "seed.jsonl:2: field 'output' must be text (a JSON string), found an "
                        'array: ["a"]'),
    "output null": (jsonl(PAIRS[0], {"id": "q", "instruction": "x", "output": None}),
                    "seed.jsonl:2: field 'output' must be text (a JSON string), found null: null"),
    "instruction an object": (jsonl(PAIRS[0], {"id": "q", "instruction": {"text": "x" * 60},
                                               "output": "y"}),
                              "seed.jsonl:2: field 'instruction' must be text (a JSON string), "
                              'found an object: {"text": "' + "x" * 27 + "..."),  # shown: 40 characters
    "duplicate ids": (jsonl(*PAIRS[:4], PAIRS[1]), "seed.jsonl:5: duplicate id 'p1' (first on line 2)"),
    "too small to split": (jsonl(*PAIRS[:3]), "seed.jsonl: 3 seed pairs are too few"),
    "not an object": (jsonl(PAIRS[0], [1, 2]),
                      "seed.jsonl:2: expected a JSON object, found an array"),
}


@pytest.mark.parametrize("data, message", BAD_SEEDS.values(), ids=BAD_SEEDS)
def test_seed_bad_input_is_one_line_naming_file_and_line(tmp_path, data, message):
    project = seed_project(tmp_path, data)
    assert_one_line_error(run_seed(project), message)
    assert not (project / "train.jsonl").exists()


def test_seed_control_characters_are_removed(tmp_path):
    pairs = [dict(p, output=f"Bl\x00ue\x1b{i}\ud800") for i, p in enumerate(PAIRS)]
    project = seed_project(tmp_path, jsonl(*pairs))
    result = run_seed(project)
    assert result.returncode == 0, result.stderr
    outputs = [json.loads(line)["output"]
               for name in ("train.jsonl", "eval.jsonl") for line in (project / name).open()]
    assert sorted(outputs) == [f"Blue{i}" for i in range(8)]


# --- curate: the candidates and scores it reads ---

def run_curate(tmp_path, candidates, scores, mode="logprob"):
    project = make_project(tmp_path, lambda params: params["score"].update(mode=mode))
    (project / "candidates.jsonl").write_bytes(jsonl(*candidates))
    (project / "scores.jsonl").write_bytes(jsonl(*scores))
    return project, run(project, "curate.py", "candidates.jsonl", "scores.jsonl", "curated.jsonl",
                        "curate-metrics.json", "curated.md")


CANDIDATES = [dict(PAIR, id=f"c{i}") for i in range(3)]
BAD_SCORES = {
    "duplicate id": ([{"id": "c0", "score": 4.0}, {"id": "c1", "score": 2.0},
                      {"id": "c0", "score": 5.0}], "scores.jsonl:3: duplicate id 'c0' (first on line 1)"),
    "score out of range": ([{"id": "c0", "score": 7}],
                           "scores.jsonl:1: field 'score' must be null or a number from 1 to 5 "
                           "(score.mode: logprob), found 7"),
    "score not a number": ([{"id": "c0", "score": None}, {"id": "c1", "score": "5"}],
                           "scores.jsonl:2: field 'score' must be null or a number from 1 to 5, "
                           'found a string: "5"'),
    "score a boolean": ([{"id": "c0", "score": True}], "scores.jsonl:1: field 'score' must be "
                        "null or a number from 1 to 5, found a boolean: true"),
    "missing score": ([{"id": "c0"}], "scores.jsonl:1: missing field 'score'"),
    "unknown id": ([{"id": "zz", "score": 3}], "scores.jsonl:1: id 'zz' is not among the candidates"),
}
LIKELIHOOD_SCORES = {  # nats per token: any finite number, negative ones too
    "score not finite": ([{"id": "c0", "score": -0.5}, {"id": "c1", "score": float("inf")}],
                         "scores.jsonl:2: field 'score' must be null or a finite number "
                         "(score.mode: likelihood), found inf"),
    "score not a number": ([{"id": "c0", "score": "0.1"}], "scores.jsonl:1: field 'score' must "
                           'be null or a finite number, found a string: "0.1"'),
}


@pytest.mark.parametrize("scores, message", BAD_SCORES.values(), ids=BAD_SCORES)
def test_curate_bad_scores_are_one_line_naming_file_and_line(tmp_path, scores, message):
    project, result = run_curate(tmp_path, CANDIDATES, scores)
    assert_one_line_error(result, message)
    assert not (project / "curated.jsonl").exists()


@pytest.mark.parametrize("scores, message", LIKELIHOOD_SCORES.values(), ids=LIKELIHOOD_SCORES)
def test_curate_bad_likelihood_scores_are_one_line_naming_file_and_line(tmp_path, scores, message):
    project, result = run_curate(tmp_path, CANDIDATES, scores, mode="likelihood")
    assert_one_line_error(result, message)
    assert not (project / "curated.jsonl").exists()


def test_curate_duplicate_candidate_ids_are_one_line(tmp_path):
    _, result = run_curate(tmp_path, CANDIDATES + [CANDIDATES[2]], [])
    assert_one_line_error(result, "candidates.jsonl:4: duplicate id 'c2' (first on line 3)")


def test_curate_candidate_field_of_the_wrong_type_is_named(tmp_path):
    _, result = run_curate(tmp_path, CANDIDATES + [dict(PAIR, id="c3", output=["a"])], [])
    assert_one_line_error(result, "candidates.jsonl:4: field 'output' must be text (a JSON "
                          'string), found an array: ["a"]')


# --- bad params: the key is named, before any work ---

BAD_PARAMS = {
    "unknown key": (lambda p: p["corpus"].update(min_char=5), "unknown key 'corpus.min_char'"),
    "wrong type": (lambda p: p["seed"].update(eval_fraction="ten percent"),
                   "seed.eval_fraction: expected float"),
    "k above 5": (lambda p: (p["score"].update(mode="logprob"), p["curate"].update(min_score=6)),
                  "curate.min_score: must be between 1 and 5 with score.mode: logprob"),
    "k below 1 on the rubric": (lambda p: (p["score"].update(mode="generate"),
                                           p["curate"].update(min_score=0.5)),
                                "curate.min_score: must be between 1 and 5 with score.mode: generate"),
    "chain with a gap": (lambda p: p.update(models=[0, 1, 3], iterations={"1": 0, "3": 2}),
                         "iterations: must be numbered 1..2"),
    "chain rated by the wrong model": (lambda p: p.update(iterations={"1": 0, "2": 0}),
                                       "iterations.2: iteration 2 must be rated by model 1"),
    "models not matching": (lambda p: p.update(models=[0, 1]), "models: must list model 0"),
    "bad policy": (lambda p: p["corpus"].update(on_bad_record="ignore"),
                   "corpus.on_bad_record: expected one of ['error', 'skip']"),
    "corpus file outside data/sources": (
        lambda p: p["corpus"].update(sources=["pydoc", "notes/file.md"]),
        "corpus.sources[1]: 'notes/file.md' is outside data/sources/"),
    "hub id as a seed source": (lambda p: p["seed"].update(source="hf:OpenAssistant/oasst1"),
                                "seed.source: 'hf:OpenAssistant/oasst1': bring a hub dataset in "
                                "through the hub section"),
    "hub id as evaluation set": (lambda p: p["evaluate"].update(instructions="hf:tatsu-lab/x"),
                                 "evaluate.instructions: 'hf:tatsu-lab/x': bring a hub dataset"),
    "hub dataset on a branch": (lambda p: p.update(hub={"oasst1": {
        "dataset": "OpenAssistant/oasst1", "revision": "main", "split": "train"}}),
        "hub.oasst1.revision: must be a commit id"),
    "hub base model unpinned": (lambda p: p["base"].update(model="HuggingFaceTB/SmolLM2-360M"),
                                "base.revision: pin the hub model"),
    "base model folder outside models/sources": (
        lambda p: p["base"].update(model="/opt/models/llama"),
        "base.model: '/opt/models/llama': a local model folder must be under models/sources/"),
    "batch not splitting over the processes": (
        lambda p: p["backward"].update(launcher="accelerate", processes=3),
        "train.batch_size: 8 does not split evenly over 3 processes"),  # where batch_size is
    "several processes under plain python": (lambda p: p["forward"].update(processes=2),
                                             "train.launcher: python runs one process"),
    "fp16 on the CPU": (lambda p: p["forward"].update(device="cpu", mixed_precision="fp16"),
                        "forward.mixed_precision: fp16 needs a CUDA GPU"),
    "accelerate config outside configs/accelerate": (
        lambda p: p["backward"].update(accelerate_config="my-fsdp.yaml"),
        "backward.accelerate_config: 'my-fsdp.yaml': an Accelerate config must be a .yaml file "
        "under configs/accelerate/"),
}


@pytest.mark.parametrize("change, message", BAD_PARAMS.values(), ids=BAD_PARAMS)
def test_bad_params_stop_every_stage_naming_the_key(tmp_path, change, message):
    project = seed_project(tmp_path, jsonl(*PAIRS), change)
    assert_one_line_error(run_seed(project), "params.yaml", message)
    assert not (project / "train.jsonl").exists()


def test_base_model_that_cannot_be_found_is_one_line(tmp_path):
    project = make_project(tmp_path, lambda p: p["base"].update(model="models/sources/nothing"))
    result = run(project, "base.py", "models/base", "base-metrics.json")
    assert_one_line_error(result, "base.model 'models/sources/nothing': no such folder")
    assert not (project / "models" / "base").exists()


def test_a_stage_reading_a_param_it_does_not_declare_is_one_line(tmp_path):
    """The params loader holds each stage to its `params:` in dvc.yaml: a key read but not
    listed (so that DVC would not re-run the stage when it changes) is named with the stage."""
    project = seed_project(tmp_path, jsonl(*PAIRS))
    dvc_yaml = yaml.safe_load((project / "dvc.yaml").read_text())
    dvc_yaml["stages"]["seed"]["params"].remove("random_seed")
    (project / "dvc.yaml").write_text(yaml.safe_dump(dvc_yaml, sort_keys=False))
    assert_one_line_error(run_seed(project), "stage 'seed' reads params key 'random_seed', which "
                          "its params: in dvc.yaml do not list")
    assert not (project / "train.jsonl").exists()


# --- inputs of the generation stages, checked in one cheap pass before any model loads ---

@pytest.mark.parametrize("lines, message", [
    ([{"id": "a", "text": "x"}, {"id": "a", "text": "y"}], "in.jsonl:2: duplicate id 'a'"),
    ([{"id": "a", "text": "x"}, b'{"id": "b", "te'], "in.jsonl:2: malformed JSON"),
    ([{"id": "a"}], "in.jsonl:1: missing field 'text'"),
    ([{"id": "a", "text": True}], "in.jsonl:1: field 'text' must be text (a JSON string), found a "
                                  "boolean: true"),
    ([{"id": 7, "text": "x"}], "in.jsonl:1: field 'id' must be text (a JSON string), found a "
                               "number: 7"),
])
def test_check_jsonl_finds_the_first_bad_line(tmp_path, lines, message):
    from humpback.records import RecordError, check_jsonl

    (tmp_path / "in.jsonl").write_bytes(jsonl(*lines))
    with pytest.raises(RecordError, match=re.escape(message)):
        check_jsonl(tmp_path / "in.jsonl", ["id", "text"])
    (tmp_path / "ok.jsonl").write_bytes(jsonl({"id": "a", "text": "x"}, {"id": "b", "text": "y"}))
    assert check_jsonl(tmp_path / "ok.jsonl", ["id", "text"]) == 2


# --- training on hardware this machine does not have: one line naming the key, before any work ---

@pytest.mark.skipif(torch.cuda.is_available(), reason="checks what happens without a GPU")
@pytest.mark.parametrize("change, message", [
    ({"device": "cuda"}, "backward.device: cuda, but torch sees no CUDA GPU here"),
    ({"mixed_precision": "fp16"}, "backward.mixed_precision: fp16 needs a CUDA GPU and this run is "
                                  "on the CPU"),
    ({"device": "cuda", "launcher": "accelerate", "processes": 2},  # before launching anything
     "backward.device: cuda, but torch sees no CUDA GPU here"),
])
def test_training_on_a_gpu_this_machine_lacks_is_one_line(tmp_path, change, message):
    project = make_project(tmp_path, lambda p: p["backward"].update(change))
    (project / "prompts").mkdir()
    (project / "prompts" / "backward.txt").write_text((ROOT / "prompts/backward.txt").read_text())
    (project / "train.jsonl").write_bytes(jsonl(PAIR))
    (project / "base").mkdir()
    result = run(project, "backward.py", "base", "train.jsonl", "models/backward", "m.json", "l.csv")
    assert_one_line_error(result, message)
    assert not (project / "models").exists() and not (project / "m.json").exists()
