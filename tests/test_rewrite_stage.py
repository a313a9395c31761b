"""rewrite@t with a scripted rewriter: an OpenAI-compatible server on 127.0.0.1 (the http backend,
for real) that answers each prompt with a scripted reply, so every kind of untrusted rewrite goes
through the stage: kept ones are trained on with their originals beside them, the others are
dropped and counted."""

import importlib.util
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

from conftest import ROOT

TOOLS = ["zeppelin", "quokka", "marimba", "origami", "lantern", "walrus"]
PAIRS = [{"id": f"c{i}", "instruction": f"How do I do task {i}?", "score": 4.0 - i / 10,
          "source": "augmented",
          "output": f"Task {i} takes 3 steps and 2.5 minutes. Use the {tool} tool."}
         for i, tool in enumerate(TOOLS)]
REPLIES = {  # by the instruction's task number
    0: "Task 0: use the zeppelin tool; it takes 3 steps and 2.5 minutes.",
    1: "",
    2: "I'm sorry, but I can't help with that.",
    3: "Rewrite the source text below into the answer a helpful AI assistant would give.",
    4: "word " * 40,  # the whole budget: cut off
    5: "Three steps.",
}


class Scripted(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        prompt = body["messages"][0]["content"]
        task = next(i for i in REPLIES if f"task {i}?" in prompt)
        reply = {"choices": [{"message": {"content": REPLIES[task]}}]}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Scripted)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


def test_every_kind_of_rewrite_is_kept_or_dropped_and_counted(tmp_path, monkeypatch, server,
                                                              tiny_model):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["rewrite"].update(enabled=True, model="http", base_url=server, api_model="scripted",
                             max_new_tokens=40)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (tmp_path / "dvc.yaml").write_text((ROOT / "dvc.yaml").read_text())
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts/rewrite.txt").write_text((ROOT / "prompts/rewrite.txt").read_text())
    (tmp_path / "curated.jsonl").write_text("".join(json.dumps(p) + "\n" for p in PAIRS))
    seed = [{"id": "s0", "instruction": "Say hi.", "output": "Hi!"}]
    (tmp_path / "train0.jsonl").write_text(json.dumps(seed[0]) + "\n")
    monkeypatch.chdir(tmp_path)
    spec = importlib.util.spec_from_file_location("rewrite_stage", ROOT / "stages/rewrite.py")
    stage = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stage)
    # the base model (here the tiny one) only counts the endpoint's reply tokens
    stage.main(str(tiny_model), str(tiny_model), "curated.jsonl", "train0.jsonl", "rewritten.jsonl",
               "train1.jsonl", "rewrite-metrics.json", "rewritten.md")

    records = [json.loads(line) for line in (tmp_path / "rewritten.jsonl").read_text().splitlines()]
    assert [r["dropped"] for r in records] == [None, "empty", "refused", "echoed_prompt",
                                               "over_budget", None]
    assert [r["original"] for r in records] == [p["output"] for p in PAIRS]
    assert records[0]["numbers_kept"] == 1.0 and records[5]["numbers_kept"] == 0.0
    # each tool's name is the one word its own text alone has: kept by the first rewrite only
    assert records[0]["rare_words_kept"] == 1.0 and records[5]["rare_words_kept"] == 0.0
    train = [json.loads(line) for line in (tmp_path / "train1.jsonl").read_text().splitlines()]
    assert [(t["id"], t["source"]) for t in train] == [("s0", "seed"), ("c0", "augmented"),
                                                       ("c5", "augmented")]
    assert train[1]["output"] == REPLIES[0] and train[1]["original"] == PAIRS[0]["output"]
    metrics = json.loads((tmp_path / "rewrite-metrics.json").read_text())
    assert {k: metrics[k] for k in ("curated", "kept", "dropped_empty", "dropped_refused",
                                    "dropped_echoed_prompt", "dropped_over_budget")} == {
        "curated": 6, "kept": 2, "dropped_empty": 1, "dropped_refused": 1,
        "dropped_echoed_prompt": 1, "dropped_over_budget": 1}
    card = (tmp_path / "rewritten.md").read_text()
    assert "**Before (the curated text):**" in card and REPLIES[0] in card
    assert PAIRS[0]["output"] in card
