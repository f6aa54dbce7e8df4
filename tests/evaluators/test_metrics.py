import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nasrec.evaluators.metrics import auc, average_ranks, log_loss, log_loss_from_logits, normalized_entropy
from nasrec.evaluators.ranking import agreement, kendall_difference, kendall_tau, top_k_overlap


def brute_force_auc(labels, scores) -> float:
    pos = [s for s, y in zip(scores, labels, strict=True) if y == 1]
    neg = [s for s, y in zip(scores, labels, strict=True) if y == 0]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(pos, neg))
    return wins / (len(pos) * len(neg))


@given(st.lists(st.tuples(st.integers(0, 1), st.integers(-3, 3)), min_size=2, max_size=40))
def test_auc_equals_brute_force_pairwise_count_with_ties(rows):
    labels, scores = zip(*rows, strict=True)
    if len(set(labels)) < 2:
        assert np.isnan(auc(np.array(labels), np.array(scores, dtype=float)))
        return
    assert auc(np.array(labels), np.array(scores, dtype=float)) == pytest.approx(brute_force_auc(labels, scores))


def test_auc_known_values():
    assert auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])) == pytest.approx(0.75)
    assert auc(np.array([0, 1]), np.array([0.5, 0.5])) == pytest.approx(0.5)


def test_log_loss_on_logits_matches_probabilities():
    rng = np.random.default_rng(0)
    y, z = rng.integers(0, 2, 100), rng.normal(size=100) * 3
    assert log_loss_from_logits(y, z) == pytest.approx(log_loss(y, 1 / (1 + np.exp(-z))), rel=1e-6)
    assert log_loss_from_logits(np.array([1.0]), np.array([0.0])) == pytest.approx(np.log(2))


def test_normalized_entropy_is_one_for_the_base_rate():
    y = np.array([1, 0, 0, 0] * 25)
    base_logit = np.log(0.25 / 0.75)
    assert normalized_entropy(y, np.full(100, base_logit)) == pytest.approx(1.0)


def test_kendall_tau_is_none_where_undefined():
    assert kendall_tau([1, 2, 3, 4], [2, 4, 6, 8]) == 1.0 and kendall_tau([1, 2, 3, 4], [4, 3, 2, 1]) == -1.0
    assert kendall_tau([1, 2, 3, 4], [1, 2, 4, 3]) == pytest.approx(4 / 6)  # 5 of 6 pairs agree
    assert kendall_tau([1, 2, 3], [5, 5, 5]) is None  # a constant list: no pair is ordered


def test_rank_agreement_figures():
    proxy = [0.40, 0.41, 0.42, 0.43, 0.44]
    assert agreement(proxy, proxy).kendall_tau == pytest.approx(1.0)
    flipped = agreement(proxy, proxy[::-1], k=2)
    assert flipped.kendall_tau == pytest.approx(-1.0) and flipped.spearman_rho == pytest.approx(-1.0)
    assert flipped.top_k_overlap == 0.0
    assert top_k_overlap(np.array([1, 2, 3, 4.0]), np.array([2, 1, 4, 3.0]), 2) == 1.0
    with pytest.raises(ValueError, match="at least 3 candidates"):
        agreement([1, 2], [1, 2])


def test_kendall_difference_is_paired_and_its_interval_excludes_zero_only_for_a_real_gap():
    rng = np.random.default_rng(0)
    reference = rng.normal(size=60)
    good, noisy = reference + 0.3 * rng.normal(size=60), reference + 2.0 * rng.normal(size=60)
    diff, low, high = kendall_difference(good, noisy, reference)
    assert diff == pytest.approx(kendall_tau(good, reference) - kendall_tau(noisy, reference))
    assert 0 < low < diff < high
    assert kendall_difference(good, good, reference) == (0.0, 0.0, 0.0)  # the same proxy: every resample agrees
    twin = good + 1e-9 * rng.normal(size=60)  # the same order, other values
    assert kendall_difference(twin, good, reference) == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="three equal-length score lists"):
        kendall_difference([1, 2, 3], [1, 2], [1, 2, 3])


def test_a_proxy_with_one_score_for_every_candidate_has_no_order_and_its_agreement_round_trips():
    out = agreement([0.5] * 4, [0.40, 0.41, 0.42, 0.43], k=2)
    assert np.isnan(out.kendall_tau) and np.isnan(out.spearman_rho) and np.isnan(out.pearson_r)
    assert out.kendall_low is None and out.kendall_high is None and out.n == 4
    text = out.model_dump_json()
    assert '"kendall_tau":null' in text
    back = type(out).model_validate_json(text)
    assert np.isnan(back.kendall_tau) and back.top_k_overlap == out.top_k_overlap


@given(st.lists(st.integers(-3, 3) | st.floats(allow_nan=False), max_size=60))
def test_average_ranks_are_scipys_rankdata(values):
    from scipy.stats import rankdata

    x = np.array(values, dtype=np.float64)
    assert np.array_equal(average_ranks(x), rankdata(x))


def test_auc_of_a_nan_score_is_nan_and_a_column_of_scores_is_a_vector():
    assert np.isnan(auc(np.array([0, 1, 1]), np.array([0.1, np.nan, 0.8])))
    assert auc(np.array([0, 0, 1, 1]), np.array([[0.1], [0.4], [0.35], [0.8]])) == pytest.approx(0.75)
