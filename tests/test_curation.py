from humpback.config import CurateParams
from humpback.curation import curate, training_set

CANDIDATES = [{"id": f"c{i}", "instruction": f"q{i}", "output": f"a{i}"} for i in range(6)]
SCORES = [{"id": "c0", "score": 5.0}, {"id": "c1", "score": 3.2}, {"id": "c2", "score": None},
          {"id": "c3", "score": 4.0}, {"id": "c4", "score": 4.0}, {"id": "c5", "score": 1.0}]


def test_keeps_scores_at_or_above_k_best_first():
    kept = curate(CANDIDATES, SCORES, CurateParams(min_score=4, top_fraction=None))
    assert [(p["id"], p["score"]) for p in kept] == [("c0", 5.0), ("c3", 4.0), ("c4", 4.0)]
    assert all(p["source"] == "augmented" for p in kept)


def test_top_fraction_of_all_candidates_and_unrated_never_kept():
    kept = curate(CANDIDATES, SCORES, CurateParams(min_score=1, top_fraction=0.5))
    assert [p["id"] for p in kept] == ["c0", "c3", "c4"]
    everything = curate(CANDIDATES, SCORES, CurateParams(min_score=1, top_fraction=None))
    assert "c2" not in {p["id"] for p in everything} and len(everything) == 5


def test_training_set_marks_sources():
    rows = training_set([{"id": "s", "instruction": "x", "output": "y"}],
                        curate(CANDIDATES, SCORES, CurateParams(5, None)))
    assert [r["source"] for r in rows] == ["seed", "augmented"]
