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


def test_precision_and_recall_against_hand_labels(tmp_path):
    from humpback.curation import label_quality, read_labels

    labels_file = tmp_path / "labels.jsonl"
    labels_file.write_text("".join(
        f'{{"id": "c{i}", "instruction": "q{i}", "label": "{"good" if i < 3 else "bad"}"}}\n'
        for i in range(5)) + '{"id": "c5", "instruction": "an older instruction", "label": "good"}\n')
    labels = read_labels(labels_file)
    kept = curate(CANDIDATES, SCORES, CurateParams(min_score=4, top_fraction=None))  # c0 c3 c4
    quality = label_quality(CANDIDATES, kept, labels)
    # c5's label was for another instruction: it does not apply to the candidate (c5, q5).
    assert quality == {"labelled": 5, "labelled_good": 3, "baseline_precision": 0.6,
                       "curated_labelled": 3, "precision": 0.3333, "recall": 0.3333}


def test_a_bad_label_names_its_line(tmp_path):
    import pytest

    from humpback.curation import read_labels
    from humpback.records import RecordError

    labels_file = tmp_path / "labels.jsonl"
    labels_file.write_text('{"id": "c0", "instruction": "q0", "label": "good"}\n\n'
                           '{"id": "c1", "instruction": "q1", "label": "meh"}\n')
    with pytest.raises(RecordError, match=r"labels.jsonl:3: label must be 'good' or 'bad'"):
        read_labels(labels_file)
    labels_file.write_text('{"id": "c0", "instruction": "q0", "label": true}\n')
    with pytest.raises(RecordError, match=r"labels.jsonl:1: field 'label' must be text \(a JSON "
                                          r"string\), found a boolean: true"):
        read_labels(labels_file)


def test_likelihood_scores_are_nats_per_token_and_any_threshold_in_those_units(tmp_path):
    """In likelihood mode a score is a gain in nats per token: negative is fine, a threshold is
    in the same units, and a non-finite score is named on its line."""
    import json

    import pytest

    from humpback.curation import read_scores
    from humpback.records import RecordError
    from humpback.scoring_modes import MODES

    path = tmp_path / "scores.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in [
        {"id": "c0", "score": -0.4}, {"id": "c1", "score": 0.9}, {"id": "c2", "score": None}]))
    scores = read_scores(path, {"c0", "c1", "c2"}, MODES["likelihood"])
    kept = curate(CANDIDATES[:3], scores, CurateParams(min_score=-0.5, top_fraction=None))
    assert [k["id"] for k in kept] == ["c1", "c0"]
    assert [k["id"] for k in curate(CANDIDATES[:3], scores, CurateParams(
        min_score=None, top_fraction=0.34))] == ["c1"]
    with pytest.raises(RecordError, match=r"scores.jsonl:1: field 'score' must be null or a "
                                          r"number from 1 to 5 \(score.mode: logprob\)"):
        read_scores(path, {"c0", "c1", "c2"}, MODES["logprob"])
    path.write_text('{"id": "c0", "score": Infinity}\n')
    with pytest.raises(RecordError, match=r"scores.jsonl:1: .* a finite number \(score.mode: "
                                          r"likelihood\), found inf"):
        read_scores(path, {"c0"}, MODES["likelihood"])
