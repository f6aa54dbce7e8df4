"""Paired confidence intervals and standard errors on synthetic arrays with known answers."""

import numpy as np
import pytest

from nasrec.evaluators.metrics import log_loss_from_logits
from nasrec.evaluators.stats import (
    Interval,
    log_loss_se,
    mean_and_spread,
    mean_interval,
    paired_auc_diff,
    paired_log_loss_diff,
    paired_row_diff,
    row_log_loss,
)


def _two_models(n, seed=0):
    """Labels from known probabilities; model a predicts them exactly, model b is a noisy version."""
    rng = np.random.default_rng(seed)
    p = 1 / (1 + np.exp(-rng.normal(-1.0, 1.0, n)))
    y = (rng.random(n) < p).astype(float)
    za = np.log(p / (1 - p))
    zb = za + rng.normal(0, 0.8, n)
    return y, za, zb


def test_row_losses_average_to_the_log_loss():
    y, za, _ = _two_models(1000)
    assert row_log_loss(y, za).mean() == pytest.approx(log_loss_from_logits(y, za), abs=1e-12)


def test_paired_ci_covers_the_true_difference_and_narrows_with_more_rows():
    # the true difference of expected log losses, measured on a very large sample
    y, za, zb = _two_models(2_000_000, seed=99)
    truth = row_log_loss(y, za).mean() - row_log_loss(y, zb).mean()
    widths, covered = [], 0
    for seed in range(20):
        y, za, zb = _two_models(4000, seed=seed)
        ci = paired_log_loss_diff(y, za, zb, n_resamples=500, seed=seed)
        covered += ci.low <= truth <= ci.high
        assert ci.estimate == pytest.approx(row_log_loss(y, za).mean() - row_log_loss(y, zb).mean())
    assert covered >= 17  # 95 % nominal: 19 of 20 expected; fails if the interval is far too narrow
    for n in (1000, 4000, 16000):
        y, za, zb = _two_models(n, seed=1)
        ci = paired_log_loss_diff(y, za, zb, n_resamples=500)
        assert ci.high < 0 and ci.rows == n  # the exact model is better
        widths.append(ci.high - ci.low)
    assert widths[0] > 1.6 * widths[1] > 1.6**2 * widths[2]  # about 1/sqrt(n): x2 per 4x rows


def test_pairing_is_tighter_than_two_independent_standard_errors():
    y, za, zb = _two_models(4000)
    ci = paired_log_loss_diff(y, za, zb, n_resamples=500)
    independent = 1.96 * np.hypot(log_loss_se(y, za), log_loss_se(y, zb))
    assert (ci.high - ci.low) / 2 < 0.6 * independent


def test_standard_error_of_the_log_loss():
    y, za, _ = _two_models(10_000)
    losses = row_log_loss(y, za)
    assert log_loss_se(y, za) == pytest.approx(losses.std(ddof=1) / 100)


def test_paired_auc_ci_covers_the_difference_and_favours_the_exact_model():
    y, za, zb = _two_models(3000)
    ci = paired_auc_diff(y, za, zb, n_resamples=300)
    assert ci.low < ci.estimate < ci.high and ci.low > 0
    widths = []
    for n in (1000, 4000, 16000):
        y, za, zb = _two_models(n, seed=1)
        ci = paired_auc_diff(y, za, zb, n_resamples=300)
        assert ci.rows == n
        widths.append(ci.high - ci.low)
    assert widths[0] > 1.6 * widths[1] > 1.6**2 * widths[2]  # narrows about as 1/sqrt(n)


def test_identical_models_give_a_zero_width_interval_and_mismatched_rows_are_refused():
    y, za, _ = _two_models(100)
    ci = paired_log_loss_diff(y, za, za)
    assert (ci.estimate, ci.low, ci.high) == (0.0, 0.0, 0.0) and not ci.excludes_zero
    with pytest.raises(
        ValueError,
        match=r"paired statistics need the same rows for every model \(got 100 labels "
        r"and \[100, 99\] predictions\)",
    ):
        paired_log_loss_diff(y, za, za[:99])
    with pytest.raises(ValueError, match="same rows"):
        paired_row_diff(np.ones(5), np.ones(4))
    two, three = np.stack([za, za]), np.stack([za, za, za])
    message = (
        r"^paired statistics need the same seeds for both models \(got predictions of shapes \(2, 100\) and "
        r"\(3, 100\)\)$"
    )
    with pytest.raises(ValueError, match=message):
        paired_log_loss_diff(y, two, three)
    with pytest.raises(ValueError, match=message):
        paired_auc_diff(y, two, three)


def test_paired_auc_diff_refuses_labels_of_one_class():
    scores = np.arange(10.0)
    for labels, positives in ((np.zeros(10), 0), (np.ones(10), 10)):
        with pytest.raises(ValueError) as info:
            paired_auc_diff(labels, scores, scores[::-1])
        assert (
            str(info.value)
            == f"paired_auc_diff needs both classes in the labels (got {positives} positives in 10 rows)"
        )
    with pytest.raises(ValueError) as info:  # seed 4 draws row 1 twice in both resamples
        paired_auc_diff(np.array([0.0, 1.0]), np.array([0.1, 0.9]), np.array([0.9, 0.1]), n_resamples=2, seed=4)
    assert str(info.value) == "paired_auc_diff: every one of 2 resamples of 2 rows drew one class"


def test_an_interval_prints_a_bound_near_zero_so_that_it_does_not_read_as_zero():
    """The report's zoo:dlrm row (runs/demo-s0): the interval excludes zero, its high bound printed -0.0000."""
    ci = Interval(
        estimate=-0.013288799871452565, low=-0.025878252722751433, high=-3.3583640752478806e-05, level=0.95, rows=1494
    )
    assert ci.excludes_zero and str(ci) == "-0.0133 [-0.0259, -3.36e-05]"
    assert str(Interval(estimate=0.0, low=0.0, high=4e-6, level=0.95, rows=3)) == "+0.0000 [+0.0000, +4e-06]"
    assert str(Interval(estimate=0.0042, low=0.00005, high=0.0065, level=0.95, rows=3)) == "+0.0042 [+0.0001, +0.0065]"


def test_mean_and_spread():
    assert mean_and_spread([0.5]) == (0.5, 0.0)
    mean, spread = mean_and_spread([0.4, 0.5, 0.6])
    assert mean == pytest.approx(0.5) and spread == pytest.approx(0.1)


def test_mean_interval_is_the_student_t_interval_and_covers_the_true_mean_at_its_level():
    i = mean_interval([0.004, -0.003, -0.002, -0.012, -0.012, -0.024])
    # mean -0.008167, sample sd 0.009928, t(0.975, 5) = 2.5706: half-width 2.5706 * 0.009928 / sqrt(6)
    assert (i.estimate, i.low, i.high, i.rows) == pytest.approx((-0.008167, -0.018586, 0.002252, 6), abs=2e-6)
    assert not i.excludes_zero
    rng = np.random.default_rng(0)
    covered = [mean_interval(rng.normal(1.0, 2.0, 6)) for _ in range(2000)]
    assert 0.93 < np.mean([c.low <= 1.0 <= c.high for c in covered]) < 0.97
    with pytest.raises(ValueError, match=r"^mean_interval needs at least 2 values, got 1$"):
        mean_interval([0.5])
