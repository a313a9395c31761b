"""The label-free rater check: swapped outputs, the AUC of genuine over swapped, its interval."""

import random

from hypothesis import given
from hypothesis import strategies as st

from humpback.rater_check import (auc, delong_interval, is_chance, report, roc_curve,
                                  sample_ids, swapped)


def test_auc_known_values():
    assert auc([3, 4, 5], [1, 2]) == 1.0
    assert auc([1, 2], [3, 4, 5]) == 0.0
    assert auc([2, 2], [2, 2]) == 0.5
    # pairs: (3>1, 3>2, 3=3), (1<3 ... ): 3 vs [1,2,3] -> 2.5; 1 vs [1,2,3] -> 0.5; total 3 of 6
    assert auc([3, 1], [1, 2, 3]) == 0.5


@given(st.lists(st.integers(1, 5), min_size=1, max_size=30),
       st.lists(st.integers(1, 5), min_size=1, max_size=30))
def test_auc_is_the_mann_whitney_statistic_from_midranks(genuine, other):
    """An independent computation: U from the midranks of the pooled scores."""
    pooled = sorted(genuine + other)
    midrank = {v: (pooled.index(v) + 1 + len(pooled) - pooled[::-1].index(v)) / 2 for v in pooled}
    u = sum(midrank[x] for x in genuine) - len(genuine) * (len(genuine) + 1) / 2
    assert abs(auc(genuine, other) - u / (len(genuine) * len(other))) < 1e-12


def test_delong_interval_covers_chance_as_often_as_it_claims():
    """Genuine and swapped from the same distribution (a rater with no signal): the 95 %
    interval contains 0.5 in about 95 % of samples of 64 and 64."""
    rng = random.Random(0)
    covered = 0
    for _ in range(300):
        a = [rng.gauss(3, 0.2) for _ in range(64)]
        b = [rng.gauss(3, 0.2) for _ in range(64)]
        low, high = delong_interval(a, b)
        covered += low <= 0.5 <= high
    assert 0.91 <= covered / 300 <= 0.99


def test_a_rater_with_signal_is_not_chance_and_one_without_is():
    rng = random.Random(1)
    strong = report([rng.gauss(3.6, 0.2) for _ in range(64)], [rng.gauss(3.3, 0.2) for _ in range(64)])
    assert strong["auc"] > 0.75 and strong["ci_low"] > 0.5 and not is_chance(strong)
    same = report([3.5] * 10, [3.5] * 10)
    assert same["auc"] == 0.5 and is_chance(same)
    assert is_chance(report([], [1.0]))


def test_swapped_pairs_never_keep_their_own_output():
    sampled = [{"id": f"c{i}", "instruction": f"q{i}", "output": f"a{i}"} for i in range(5)]
    pairs = swapped(sampled)
    assert [p["id"] for p in pairs] == ["c0~c1", "c1~c2", "c2~c3", "c3~c4", "c4~c0"]
    assert all(p["output"] != f"a{p['instruction'][1:]}" for p in pairs)
    assert swapped(sampled[:1]) == []


def test_the_sample_is_fixed_whatever_the_order():
    ids = [f"seg-{i}" for i in range(100)]
    first = sample_ids(ids, 10, seed=0)
    assert sample_ids(list(reversed(ids)), 10, seed=0) == first and len(first) == 10
    assert sample_ids(ids, 10, seed=1) != first


def test_roc_curve_runs_from_the_origin_to_the_corner():
    points = roc_curve([5, 4, 3], [2, 1])
    assert points[0] == {"false_positive_rate": 0.0, "true_positive_rate": 0.0}
    assert points[-1] == {"false_positive_rate": 1.0, "true_positive_rate": 1.0}
    assert {"false_positive_rate": 0.0, "true_positive_rate": 1.0} in points
