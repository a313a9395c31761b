"""Pairwise judging: the verdict parser, both orders, the win rate and its interval, the judges."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hypothesis import given, strategies as st

from conftest import ROOT
from humpback.engines import Endpoint, Sampling
from humpback.engines.http import HTTPEngine, HTTPEngineError
from humpback.judging import (Comparison, judge, outcome, parse_verdict, wilson_interval,
                              win_rate)
from humpback.prompts import load_template

TEMPLATE = load_template(ROOT / "prompts/judge.txt", {"instruction", "output_a", "output_b"})


@pytest.mark.parametrize("text, verdict", [
    ("Winner: A", "A"), ("winner: b", "B"), ("**Winner:** tie", "tie"), ("Winner = Tie", "tie"),
    ("Both are fine.\nWinner: Response B", "B"), ("Winner: (a)", "A"), ("Winner: [B]", "B"),
    ("Winner: A\nOn reflection, Winner: B", "B"),  # the last verdict counts
    ("A is better", None), ("Winner: C", None), ("Winner: Alice", None), ("", None),
])
def test_parse_verdict(text, verdict):
    assert parse_verdict(text) == verdict


@pytest.mark.parametrize("verdict, model_is_a, result", [
    ("A", True, "win"), ("B", True, "loss"), ("A", False, "loss"), ("B", False, "win"),
    ("tie", True, "tie"), ("tie", False, "tie"), (None, True, None),
])
def test_outcome_is_seen_from_the_evaluated_models_side(verdict, model_is_a, result):
    assert outcome(verdict, model_is_a) == result


class ScriptedJudge:
    """A stand-in judge (what is tested here is the bookkeeping of orders, not a model)."""
    tokenizer = None

    def __init__(self, rule):
        self.rule, self.prompts = rule, []

    def generate(self, prompts, sampling: Sampling, desc: str = ""):
        self.prompts += prompts
        return [self.rule(*_answers(p)) for p in prompts]


def _answers(prompt: str) -> tuple[str, str]:
    a = prompt.split("Response A:\n", 1)[1].split("\n\nResponse B:\n")[0]
    return a, prompt.split("Response B:\n", 1)[1]


COMPARISONS = [Comparison("Name a prime.", "Two is the smallest prime number.", "2"),
               Comparison("Say hi.", "Hi", "Hello there, nice to meet you.")]


def test_both_orders_cancel_a_judge_that_always_picks_the_first_answer():
    engine = ScriptedJudge(lambda a, b: "Winner: A")
    records = judge(engine, TEMPLATE, COMPARISONS, "generate")
    assert len(engine.prompts) == 4
    assert [_answers(p) for p in engine.prompts[:2]] == [("Two is the smallest prime number.", "2"),
                                                        ("2", "Two is the smallest prime number.")]
    assert [r["outcomes"] for r in records] == [["win", "loss"], ["win", "loss"]]
    summary = win_rate(records)
    assert summary["win_rate"] == 0.5 and summary["first_position_rate"] == 1.0


def test_a_consistent_judge_decides_in_both_orders():
    engine = ScriptedJudge(lambda a, b: "Winner: A" if len(a) > len(b) else "Winner: B")
    records = judge(engine, TEMPLATE, COMPARISONS, "generate")
    assert [r["outcomes"] for r in records] == [["win", "win"], ["loss", "loss"]]
    assert [r["points"] for r in records] == [1.0, 0.0]
    summary = win_rate(records)
    assert (summary["wins"], summary["losses"], summary["win_rate"]) == (2, 2, 0.5)
    assert summary["first_position_rate"] == 0.5


def test_unparseable_verdicts_are_counted_and_left_out_of_the_rate():
    replies = iter(["Winner: A", "I cannot decide.", "no idea", "nothing"])
    records = judge(ScriptedJudge(lambda a, b: next(replies)), TEMPLATE, COMPARISONS, "generate")
    assert [r["points"] for r in records] == [1.0, None]
    summary = win_rate(records)
    assert (summary["win_rate"], summary["judged"], summary["unparseable"]) == (1.0, 1, 3)
    assert records[1]["judge_said"] == ["no idea", "nothing"]


def test_ties_count_half():
    records = judge(ScriptedJudge(lambda a, b: "Winner: tie"), TEMPLATE, COMPARISONS, "generate")
    assert win_rate(records)["win_rate"] == 0.5 and win_rate(records)["ties"] == 4


def test_wilson_interval_known_values():
    assert wilson_interval(0.5, 100) == pytest.approx((0.4038, 0.5962), abs=1e-4)
    assert wilson_interval(1.0, 10) == pytest.approx((0.7225, 1.0), abs=1e-4)
    assert wilson_interval(0.0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    low, high = wilson_interval(0.8, 40, confidence=0.99)
    narrow = wilson_interval(0.8, 40, confidence=0.9)
    assert low < narrow[0] < 0.8 < narrow[1] < high
    assert wilson_interval(0.3, 0) == (0.0, 1.0)


@given(st.floats(0, 1), st.integers(1, 10_000))
def test_wilson_interval_holds_the_rate(rate, n):
    low, high = wilson_interval(rate, n)
    assert 0 <= low <= rate + 1e-12 and rate - 1e-12 <= high <= 1


def test_logprob_verdicts_from_the_tiny_model(tiny_model):
    from humpback.config import load_params
    from humpback.engines import EngineSpec, load_engine

    engine = load_engine(EngineSpec("hf", str(tiny_model), batch_size=2),
                         load_params(ROOT / "params.yaml").engine)
    records = judge(engine, TEMPLATE, COMPARISONS, "logprob")
    for record in records:
        assert all(o in ("win", "loss", "tie") for o in record["outcomes"])
        for said in record["judge_said"]:
            assert set(said) == {"A", "B", "tie"} and 0 < sum(said.values()) <= 1.0001


class ChatCompletions(BaseHTTPRequestHandler):
    """An OpenAI-compatible endpoint that prefers the longer answer and checks the key."""
    key = "test-key-123"

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.headers.get("Authorization") != f"Bearer {self.key}":
            self.send_response(401)
            self.end_headers()
            return
        a, b = _answers(body["messages"][0]["content"])
        reply = {"choices": [{"message": {"role": "assistant",
                                          "content": f"Winner: {'A' if len(a) > len(b) else 'B'}"}}]}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def endpoint():
    server = ThreadingHTTPServer(("127.0.0.1", 0), ChatCompletions)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def test_http_judge_reads_its_key_from_the_environment(endpoint, monkeypatch):
    monkeypatch.setenv("JUDGE_KEY", ChatCompletions.key)
    records = judge(HTTPEngine(Endpoint(endpoint, "judge", "JUDGE_KEY", section="judge")), TEMPLATE, COMPARISONS, "generate")
    assert [r["points"] for r in records] == [1.0, 0.0]
    assert ChatCompletions.key not in json.dumps(records)


def test_http_judge_errors_name_the_param_not_the_key(endpoint, monkeypatch):
    monkeypatch.setenv("JUDGE_KEY", "wrong-key-456")
    with pytest.raises(HTTPEngineError, match=r"judge.base_url .*: HTTP 401") as err:
        judge(HTTPEngine(Endpoint(endpoint, "judge", "JUDGE_KEY", section="judge")), TEMPLATE, COMPARISONS, "generate")
    assert "wrong-key-456" not in str(err.value)
    with pytest.raises(HTTPEngineError, match="judge.base_url http://127.0.0.1:9/v1"):
        HTTPEngine(Endpoint("http://127.0.0.1:9/v1", "judge", "JUDGE_KEY", section="judge")).generate(["x"], Sampling(4))


def test_an_endpoint_chosen_by_rewrite_names_rewrite_in_its_errors(tmp_path):
    """judge and rewrite choose an endpoint the same way (config.ModelChoice); each endpoint's
    errors name the section it was chosen in."""
    import dataclasses

    from humpback.config import load_params
    from humpback.engines import chosen_spec, load_engine

    params = load_params(ROOT / "params.yaml")
    for name, extra in {"judge": {"mode": "generate"}, "rewrite": {}}.items():
        choice = dataclasses.replace(getattr(params, name), model="http", api_model="m",
                                     base_url="http://127.0.0.1:9/v1", **extra)
        engine = load_engine(chosen_spec(choice, "hf", "models/base", None, 1), params.engine)
        with pytest.raises(HTTPEngineError, match=rf"^{name}\.base_url http://127.0.0.1:9/v1"):
            engine.generate(["x"], Sampling(4))
        with pytest.raises(HTTPEngineError, match=rf"^{name}\.model: http: an endpoint generates"):
            engine.next_token_probs(["x"], [[1]])


class BusyCompletions(ChatCompletions):
    """A busy server: the first try of every prompt is refused with 429 (Retry-After: 0), the
    second with 503; the third is answered. It counts tries, answers and requests open at once."""
    lock = threading.Lock()
    tries: dict = {}
    answered: dict = {}
    open_now = most_open = 0

    def do_POST(self):
        cls = BusyCompletions
        with cls.lock:
            cls.open_now += 1
            cls.most_open = max(cls.most_open, cls.open_now)
        try:
            length = int(self.headers["Content-Length"])
            prompt = json.loads(self.rfile.read(length))["messages"][0]["content"]
            with cls.lock:
                cls.tries[prompt] = tries = cls.tries.get(prompt, 0) + 1
            if tries < 3:
                self.send_response(429 if tries == 1 else 503)
                if tries == 1:
                    self.send_header("Retry-After", "0")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            with cls.lock:
                cls.answered[prompt] = cls.answered.get(prompt, 0) + 1
            a, b = _answers(prompt)
            time.sleep(0.05)  # long enough for requests to overlap
            data = json.dumps({"choices": [{"message": {
                "content": f"Winner: {'A' if len(a) > len(b) else 'B'}"}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        finally:
            with cls.lock:
                cls.open_now -= 1


def test_http_judge_retries_a_busy_server_and_bounds_requests_in_flight():
    server = ThreadingHTTPServer(("127.0.0.1", 0), BusyCompletions)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        engine = HTTPEngine(Endpoint(url, "judge", "NO_KEY_SET", max_in_flight=2, retries=2))
        records = judge(engine, TEMPLATE, COMPARISONS, "generate")
    finally:
        server.shutdown()
    assert [r["points"] for r in records] == [1.0, 0.0]  # every verdict arrived, in its place
    assert [r["judge_said"] for r in records] == [["Winner: A", "Winner: B"],
                                                  ["Winner: B", "Winner: A"]]
    assert len(BusyCompletions.tries) == 4 and set(BusyCompletions.tries.values()) == {3}
    assert BusyCompletions.answered == dict.fromkeys(BusyCompletions.tries, 1)  # once each
    assert BusyCompletions.most_open <= 2


def test_http_judge_gives_up_after_its_retries(endpoint):
    class AlwaysBusy(ChatCompletions):
        def do_POST(self):
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), AlwaysBusy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        with pytest.raises(HTTPEngineError, match=r"HTTP 503 Service Unavailable \(after 2 tries\)"):
            HTTPEngine(Endpoint(url, "judge", "NO_KEY_SET", retries=1)).generate(["x"], Sampling(4))
    finally:
        server.shutdown()


def test_weighted_preference_cancels_position_and_keeps_the_signal():
    from humpback.judging import _preference

    # A judge that leans to A by the same amount in both orders: no preference left.
    assert _preference({"A": 0.6, "B": 0.2, "tie": 0.1}, {"A": 0.6, "B": 0.2, "tie": 0.1}) == 0.5
    # It picks A both times (argmax), but gives the evaluated model more when it is B as well.
    assert _preference({"A": 0.6, "B": 0.2, "tie": 0.0}, {"A": 0.5, "B": 0.5, "tie": 0.0}) == 0.625
    records = [{"points": 0.5, "outcomes": ["win", "loss"], "preference": p} for p in (0.625, 0.5)]
    assert win_rate(records)["weighted_win_rate"] == 0.5625
    assert "weighted_win_rate" not in win_rate([{"points": 1.0, "outcomes": ["win", "win"]}])
