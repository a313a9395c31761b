import pytest
from hypothesis import given, strategies as st

from humpback.scoring import Summary, expected_rating, parse_score


@pytest.mark.parametrize("text, score", [
    ("The answer is complete.\nScore: 4", 4),
    ("Reasoning...\n**Score:** 5", 5),
    ("Score: 4/5", 4),
    ("score: 3 out of 5", 3),
    ("Score = 2", 2),
    ("Score: [5]", 5),
    ("Rating: 4", 4),
    ("Score: 4.5", 4.5),
    ("First I thought Score: 2, but on reflection\nScore: 5", 5),  # the last one counts
])
def test_parse_score_variants(text, score):
    assert parse_score(text) == score


@pytest.mark.parametrize("text", ["", "I think it is good.", "Score: 7", "Score: 0", "Score:"])
def test_unparseable_or_out_of_range_is_none(text):
    assert parse_score(text) is None


@given(st.text())
def test_parse_score_never_raises_and_stays_in_range(text):
    score = parse_score(text)
    assert score is None or 1 <= score <= 5


def test_expected_rating_renormalises_over_digits():
    expected, best = expected_rating([0.0, 0.0, 0.2, 0.2, 0.4])
    assert expected == pytest.approx((3 * 0.2 + 4 * 0.2 + 5 * 0.4) / 0.8)
    assert best == 5


def test_summary_counts_unparsed_ratings():
    summary = Summary()
    summary.add([{"score": 4.0}, {"score": None}])
    summary.add([{"score": 2.6}])  # streamed in chunks
    metrics, table = summary.metrics(), summary.table()
    assert metrics["parsed"] == 2 and metrics["parse_rate"] == pytest.approx(2 / 3, abs=1e-4)
    assert metrics["histogram"] == {"1": 0, "2": 0, "3": 1, "4": 1, "5": 0}
    assert table[3] == {"score": 4, "count": 1}
