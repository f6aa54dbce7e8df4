"""Paired confidence intervals and standard errors on synthetic arrays with known answers."""

import re
from typing import Any

import numpy as np
import pytest

from nasrec.evaluators import stats
from nasrec.evaluators.metrics import auc, log_loss_from_logits
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
from nasrec.records import Comparison


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
        for method in ("bootstrap", "delong"):
            with pytest.raises(ValueError) as info:
                paired_auc_diff(labels, scores, scores[::-1], method=method)
            assert (
                str(info.value)
                == f"paired_auc_diff needs both classes in the labels (got {positives} positives in 10 rows)"
            )
    with pytest.raises(ValueError) as info:
        paired_auc_diff(np.array([0.0, 1.0, 1.0]), scores[:3], scores[:3], method="delong")
    assert str(info.value) == "paired_auc_diff (delong) needs 2 rows of each class (got 2 positives in 3 rows)"
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
    assert not i.excludes_zero and i.method == "t"
    rng = np.random.default_rng(0)
    covered = [mean_interval(rng.normal(1.0, 2.0, 6)) for _ in range(2000)]
    assert 0.93 < np.mean([c.low <= 1.0 <= c.high for c in covered]) < 0.97
    with pytest.raises(ValueError, match=r"^mean_interval needs at least 2 values, got 1$"):
        mean_interval([0.5])


def _correlated(n, seed=0):
    """Two models sharing a latent logit (hard rows are hard for both): b's noise is larger, so a is better in
    log loss and in AUC."""
    rng = np.random.default_rng(seed)
    latent = rng.normal(-1.0, 1.0, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-latent))).astype(float)
    return y, latent + rng.normal(0, 0.5, n), latent + rng.normal(0, 0.8, n)


def _bootstrap_sd(statistic, n, resamples, seed=0):
    rng = np.random.default_rng(seed)
    return float(np.std([statistic(rng.integers(0, n, n)) for _ in range(resamples)], ddof=1))


def test_the_analytic_standard_errors_agree_with_the_bootstrap():
    y, za, zb = _correlated(10_000)
    delong = paired_auc_diff(y, za, zb, method="delong")
    assert delong.method == "delong" and delong.rows == 10_000
    se = (delong.high - delong.low) / 2 / 1.959964
    sd = _bootstrap_sd(lambda i: auc(y[i], za[i]) - auc(y[i], zb[i]), len(y), 300)
    assert se == pytest.approx(sd, rel=0.1)  # 0.00491 and 0.00494
    normal = paired_log_loss_diff(y, za, zb, method="normal")
    bootstrap = paired_log_loss_diff(y, za, zb, method="bootstrap")
    assert (normal.method, bootstrap.method, normal.estimate) == ("normal", "bootstrap", bootstrap.estimate)
    assert normal.high - normal.low == pytest.approx(bootstrap.high - bootstrap.low, rel=0.05)
    d = row_log_loss(y, za) - row_log_loss(y, zb)
    assert (normal.high - normal.low) / 2 == pytest.approx(1.959964 * d.std(ddof=1) / 100, rel=1e-6)


def test_the_analytic_intervals_cover_the_true_differences():
    y, za, zb = _correlated(1_000_000, seed=99)  # the true differences, on a very large sample
    true_auc = auc(y, za) - auc(y, zb)
    true_log_loss = row_log_loss(y, za).mean() - row_log_loss(y, zb).mean()
    covered_auc = covered_log_loss = 0
    for seed in range(100):
        y, za, zb = _correlated(2000, seed=seed)
        ci = paired_auc_diff(y, za, zb, method="delong")
        covered_auc += ci.low <= true_auc <= ci.high
        ci = paired_log_loss_diff(y, za, zb, method="normal")
        covered_log_loss += ci.low <= true_log_loss <= ci.high
    assert covered_auc >= 85 and covered_log_loss >= 85  # 95 nominal; 94 and 95


def test_delong_handles_ties_and_seeds_as_the_definition_does():
    """Scores of one decimal tie; against DeLong's covariance from the pairwise kernel (O(rows^2))."""
    y, za, zb = _correlated(600, seed=3)
    rng = np.random.default_rng(4)
    sa = np.round(np.stack([za, za + rng.normal(0, 0.3, 600), za + rng.normal(0, 0.3, 600)]), 1)
    sb = np.round(np.stack([zb, zb + rng.normal(0, 0.3, 600), zb + rng.normal(0, 0.3, 600)]), 1)
    ci = paired_auc_diff(y, sa, sb, method="delong")
    assert ci.estimate == paired_auc_diff(y, sa, sb, method="bootstrap", n_resamples=1).estimate
    assert ci.estimate == np.mean([auc(y, a) - auc(y, b) for a, b in zip(sa, sb, strict=True)])
    pos = y == 1
    kernel = [(s[pos, None] > s[None, ~pos]) + 0.5 * (s[pos, None] == s[None, ~pos]) for s in [*sa, *sb]]
    placements_pos = np.stack([k.mean(axis=1) for k in kernel])  # each positive against every negative
    placements_neg = np.stack([k.mean(axis=0) for k in kernel])
    covariance = np.cov(placements_pos) / pos.sum() + np.cov(placements_neg) / (~pos).sum()
    contrast = np.repeat([1 / 3, -1 / 3], 3)
    assert (ci.high - ci.low) / 2 == pytest.approx(1.959964 * np.sqrt(contrast @ covariance @ contrast), rel=1e-6)
    one = paired_auc_diff(y, sa[0], sb[0], method="delong")
    assert one.estimate == auc(y, sa[0]) - auc(y, sb[0]) and one.high - one.low > ci.high - ci.low


def test_auto_bootstraps_up_to_the_threshold_and_is_analytic_above(monkeypatch):
    monkeypatch.setattr(stats, "BOOTSTRAP_MAX_ROWS", 100)
    for n, log_loss, auc_method in ((100, "bootstrap", "bootstrap"), (101, "normal", "delong")):
        y, za, zb = _correlated(n)
        assert paired_log_loss_diff(y, za, zb, n_resamples=10).method == log_loss
        assert paired_row_diff(row_log_loss(y, za), row_log_loss(y, zb), n_resamples=10).method == log_loss
        assert paired_auc_diff(y, za, zb, n_resamples=10).method == auc_method
        assert paired_log_loss_diff(y, za, za).method == log_loss  # a degenerate interval records it too
    for call, analytic in ((paired_log_loss_diff, "normal"), (paired_auc_diff, "delong")):
        with pytest.raises(ValueError) as info:
            call(y, za, zb, method="exact")
        assert str(info.value) == f"method must be one of 'auto', 'bootstrap', '{analytic}' (got 'exact')"


def test_the_bootstrap_draws_the_stream_it_always_drew_and_bounds_its_chunks(monkeypatch):
    def old(d, seed=0, n_resamples=2000, chunk=200):  # the bootstrap before its chunks were bounded by rows
        rng = np.random.default_rng(seed)
        means = np.concatenate(
            [
                d[rng.integers(0, len(d), (min(chunk, n_resamples - i), len(d)))].mean(axis=1)
                for i in range(0, n_resamples, chunk)
            ]
        )
        return d.mean(), np.quantile(means, 0.025), np.quantile(means, 0.975)

    y, za, zb = _correlated(5000)
    d = row_log_loss(y, za) - row_log_loss(y, zb)
    ci = paired_log_loss_diff(y, za, zb, seed=7)
    # the same resamples: equal up to the order numpy sums a chunk's rows in (1e-17 apart with numpy 2.4)
    assert ci.method == "bootstrap" and (ci.estimate, ci.low, ci.high) == pytest.approx(old(d, seed=7), rel=1e-12)
    monkeypatch.setattr(stats, "_CHUNK_INDICES", 5000 * 7)  # 7 resamples of 5,000 rows a chunk
    ci = paired_row_diff(row_log_loss(y, za), row_log_loss(y, zb), n_resamples=30)
    assert (ci.estimate, ci.low, ci.high) == pytest.approx(old(d, n_resamples=30, chunk=7), rel=1e-12)
    assert ci.low != pytest.approx(old(d, seed=1, n_resamples=30, chunk=7)[1], rel=1e-6)  # another stream differs


def test_an_interval_records_its_method_and_one_written_without_it_was_a_bootstrap():
    old = '{"estimate": -0.0026, "low": -0.0041, "high": -0.0011, "level": 0.95, "rows": 2000}'
    c = Comparison.model_validate_json(f'{{"log_loss": {old}, "auc": {old}}}')
    assert c.log_loss.method == c.auc.method == "bootstrap"
    delong = c.auc.model_copy(update={"method": "delong"})
    assert Interval.model_validate_json(delong.model_dump_json()) == delong and '"method":"delong"' in (
        delong.model_dump_json()
    )


def test_nan_scores_are_refused_by_both_methods_and_one_lone_positive_falls_back_to_the_bootstrap(monkeypatch):
    """DeLong's sort put a NaN score above every other, giving a finite interval where no AUC exists; with one
    row of a class above the threshold, "auto" stopped on DeLong's two-rows rule where the bootstrap answers."""
    monkeypatch.setattr(stats, "BOOTSTRAP_MAX_ROWS", 4)
    y = np.array([1, 0, 1, 0, 0, 1, 0, 0])
    a = np.array([0.9, 0.1, np.nan, 0.2, 0.3, 0.8, 0.4, 0.5])
    b = np.array([0.5, 0.4, 0.6, 0.2, 0.1, 0.3, 0.7, 0.8])
    for method in ("bootstrap", "delong", "auto"):
        with pytest.raises(ValueError) as err:
            paired_auc_diff(y, a, b, method=method)
        assert str(err.value) == "paired_auc_diff: model a's scores hold 1 NaN values (no AUC ranks them)"
    lone = np.array([1, 0, 0, 0, 0, 0, 0, 0])
    out = paired_auc_diff(lone, np.arange(8.0)[::-1], np.arange(8.0), n_resamples=200)
    assert out.method == "bootstrap" and out.estimate == 1.0


def test_a_level_outside_0_1_and_no_resamples_are_refused_by_name_not_answered_with_nan():
    """`level=95` gave [+nan, +nan] (normal, DeLong, Student-t) or numpy's quantile error (bootstrap); no
    resamples gave numpy's "need at least one array to concatenate"."""
    y, za, zb = _correlated(200)
    losses_a, losses_b = row_log_loss(y, za), row_log_loss(y, zb)
    for method in ("normal", "bootstrap"):
        with pytest.raises(
            ValueError, match=r"^paired_log_loss_diff: level must be between 0 and 1, e\.g\. 0\.95 \(got 95\)$"
        ):
            paired_log_loss_diff(y, za, zb, level=95, method=method)
        with pytest.raises(
            ValueError, match=r"^paired_row_diff: level must be between 0 and 1, e\.g\. 0\.95 \(got 95\)$"
        ):
            paired_row_diff(losses_a, losses_b, level=95, method=method)
    for method in ("delong", "bootstrap"):
        with pytest.raises(
            ValueError, match=r"^paired_auc_diff: level must be between 0 and 1, e\.g\. 0\.95 \(got 95\)$"
        ):
            paired_auc_diff(y, za, zb, level=95, method=method)
    for level in (0, 1, -0.5, float("nan")):
        message = f"mean_interval: level must be between 0 and 1, e.g. 0.95 (got {level!r})"
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            mean_interval([0.1, 0.2, 0.4], level=level)
    bad: tuple[Any, ...] = (0, -1, 2.5)  # not ints of at least 1
    for n_resamples in bad:
        message = f": n_resamples must be an integer of at least 1 (got {n_resamples!r})"
        with pytest.raises(ValueError, match=f"^paired_log_loss_diff{re.escape(message)}$"):
            paired_log_loss_diff(y, za, zb, n_resamples=n_resamples, method="bootstrap")
        with pytest.raises(ValueError, match=f"^paired_row_diff{re.escape(message)}$"):
            paired_row_diff(losses_a, losses_b, n_resamples=n_resamples, method="bootstrap")
        with pytest.raises(ValueError, match=f"^paired_auc_diff{re.escape(message)}$"):
            paired_auc_diff(y, za, zb, n_resamples=n_resamples, method="bootstrap")


def test_nan_logits_and_labels_other_than_0_1_are_refused_by_every_function():
    """A NaN logit gave +nan [+nan, +nan] and labels 0/255 a log-loss difference of -37 (paired_auc_diff already
    refused NaN scores)."""
    y, za, zb = _correlated(200)
    for bad in (np.nan, np.inf):
        z = za.copy()
        z[[3, 7]] = bad
        with pytest.raises(ValueError, match=r"^paired_log_loss_diff: model b's logits hold 2 NaN or infinite values$"):
            paired_log_loss_diff(y, za, z)
        with pytest.raises(ValueError, match=r"^paired_log_loss_diff: model a's logits hold 2 NaN or infinite values$"):
            paired_log_loss_diff(y, np.stack([za, z]), np.stack([zb, zb]))  # [seeds, rows]
        for call in (row_log_loss, log_loss_se):
            with pytest.raises(ValueError, match=rf"^{call.__name__}: logits hold 2 NaN or infinite values$"):
                call(y, z)
        with pytest.raises(ValueError, match=r"^paired_row_diff: model a's losses hold 2 NaN or infinite values$"):
            paired_row_diff(np.where(np.isfinite(z), row_log_loss(y, za), bad), row_log_loss(y, zb))
        with pytest.raises(ValueError, match=r"^mean_interval: values hold 1 NaN or infinite values$"):
            mean_interval([0.1, bad, 0.3])
    z = za.copy()
    z[5] = np.nan
    with pytest.raises(
        ValueError, match=r"^paired_auc_diff: model b's scores hold 1 NaN values \(no AUC ranks them\)$"
    ):
        paired_auc_diff(y, za, z)
    labels = y * 255
    first = int(np.flatnonzero(y)[0])
    message = rf"^{{}}: labels must be 0 or 1 \(got {int(y.sum())} other values, the first 255 at row {first}\)$"
    for paired in (paired_log_loss_diff, paired_auc_diff):
        with pytest.raises(ValueError, match=message.format(paired.__name__)):
            paired(labels, za, zb)
    for one in (row_log_loss, log_loss_se):
        with pytest.raises(ValueError, match=message.format(one.__name__)):
            one(labels, za)
    with pytest.raises(
        ValueError, match=r"^row_log_loss: labels must be 0 or 1 \(got 1 other values, the first nan at row 1\)$"
    ):
        row_log_loss([0, np.nan, 1], [0.1, 0.2, 0.3])


def test_labels_logits_and_values_may_be_python_lists():
    """`labels` as a list gave "list indices must be integers or slices, not tuple"."""
    y, za, zb = _correlated(300)
    as_lists = (y.tolist(), za.tolist(), zb.tolist())
    assert paired_log_loss_diff(*as_lists, n_resamples=50) == paired_log_loss_diff(y, za, zb, n_resamples=50)
    assert paired_log_loss_diff(*as_lists, method="normal") == paired_log_loss_diff(y, za, zb, method="normal")
    assert paired_auc_diff(*as_lists, n_resamples=20) == paired_auc_diff(y, za, zb, n_resamples=20)
    assert paired_auc_diff(*as_lists, method="delong") == paired_auc_diff(y, za, zb, method="delong")
    assert paired_auc_diff([bool(v) for v in y], za, zb, method="delong") == paired_auc_diff(y, za, zb, method="delong")
    assert log_loss_se(y.tolist(), za.tolist()) == log_loss_se(y, za)
    assert mean_interval((0.1, 0.2, 0.4)) == mean_interval(np.array([0.1, 0.2, 0.4]))
