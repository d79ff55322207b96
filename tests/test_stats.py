"""Tests for purejaxdqn.stats against hand computations, NumPy and scipy."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import scipy.stats

from purejaxdqn import stats

# --------------------------------------------------------------------------------------------
# iqm
# --------------------------------------------------------------------------------------------


def test_iqm_n_divisible_by_4_is_mean_of_middle_half():
    x = [10.0, 0.0, 3.0, 100.0, 4.0, 1.0, 5.0, -50.0]
    # sorted: -50 0 | 1 3 4 5 | 10 100 -> middle half 1, 3, 4, 5
    assert stats.iqm(x) == pytest.approx((1 + 3 + 4 + 5) / 4)
    assert isinstance(stats.iqm(x), float)


def test_iqm_n_not_divisible_by_4_follows_trim_mean():
    # trim_mean cuts floor(0.25 * n) from each end.
    # n = 6: cut 1 each end. sorted -3 | 2 4 7 9 | 100
    assert stats.iqm([9.0, -3.0, 2.0, 7.0, 4.0, 100.0]) == pytest.approx((2 + 4 + 7 + 9) / 4)
    # n = 5: cut 1 each end. sorted 1 | 2 3 4 | 50
    assert stats.iqm([50.0, 1.0, 4.0, 2.0, 3.0]) == pytest.approx(3.0)
    # n = 3: floor(0.75) = 0, nothing is cut -> plain mean.
    assert stats.iqm([0.0, 1.0, 8.0]) == pytest.approx(3.0)


def test_iqm_axis():
    x = np.array([[1.0, 2.0, 3.0, 100.0], [4.0, 4.0, 4.0, 4.0]])
    np.testing.assert_allclose(stats.iqm(x, axis=1), [2.5, 4.0])
    np.testing.assert_allclose(stats.iqm(x.T, axis=0), [2.5, 4.0])


# --------------------------------------------------------------------------------------------
# bootstrap_ci
# --------------------------------------------------------------------------------------------


def test_bootstrap_ci_two_points_hand_computed():
    # With x = [0, 1] the IQM of a resample is its mean: 0, 0.5 or 1 with probabilities
    # 1/4, 1/2, 1/4. The 2.5% and 97.5% percentiles are therefore 0 and 1.
    lo, hi = stats.bootstrap_ci([0.0, 1.0])
    assert (lo, hi) == (0.0, 1.0)


def test_bootstrap_ci_brackets_iqm_and_matches_independent_bootstrap():
    x = np.random.default_rng(3).normal(10.0, 2.0, size=16)
    lo, hi = stats.bootstrap_ci(x, n_resamples=20000)
    value = stats.iqm(x)
    assert lo < value < hi
    # Independent percentile bootstrap written with NumPy and a different generator.
    idx = np.random.default_rng(12345).integers(0, x.size, size=(20000, x.size))
    boot = np.sort(x[idx], axis=1)[:, 4:12].mean(axis=1)  # IQM of 16 values: middle 8
    ref_lo, ref_hi = np.percentile(boot, [2.5, 97.5])
    tol = 0.05 * (ref_hi - ref_lo)  # Monte Carlo error of the percentiles
    assert lo == pytest.approx(ref_lo, abs=tol)
    assert hi == pytest.approx(ref_hi, abs=tol)


def test_bootstrap_ci_shrinks_with_more_seeds():
    rng = np.random.default_rng(0)
    few = rng.normal(size=8)
    many = rng.normal(size=256)
    lo_few, hi_few = stats.bootstrap_ci(few)
    lo_many, hi_many = stats.bootstrap_ci(many)
    assert hi_many - lo_many < 0.5 * (hi_few - lo_few)


def test_bootstrap_ci_reproducible_with_seed():
    x = np.random.default_rng(1).normal(size=10)
    assert stats.bootstrap_ci(x, seed=7) == stats.bootstrap_ci(x, seed=7)
    assert stats.bootstrap_ci(x, seed=7) != stats.bootstrap_ci(x, seed=8)


def test_bootstrap_ci_other_statistic_and_confidence():
    x = np.random.default_rng(2).normal(size=32)
    lo95, hi95 = stats.bootstrap_ci(x, statistic=np.mean)
    lo50, hi50 = stats.bootstrap_ci(x, statistic=np.mean, confidence=0.5)
    assert lo95 < lo50 < np.mean(x) < hi50 < hi95


@pytest.mark.parametrize("x", [[3.5], [2.0, 2.0, 2.0, 2.0], np.full(64, -1.25)])
def test_bootstrap_ci_degenerate(x):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lo, hi = stats.bootstrap_ci(x)
    assert lo == hi == float(np.asarray(x)[0])
    assert not math.isnan(lo)


def test_bootstrap_ci_rejects_bad_input():
    with pytest.raises(ValueError):
        stats.bootstrap_ci(np.zeros((2, 3)))
    with pytest.raises(ValueError):
        stats.bootstrap_ci([])


# --------------------------------------------------------------------------------------------
# curve_stats
# --------------------------------------------------------------------------------------------


def test_curve_stats_matches_per_column_bootstrap_ci():
    # scipy draws one index matrix per resample batch and applies it to every column, so each
    # column sees the same resamples as a 1-D bootstrap with the same seed. Only floating
    # point summation order can differ, hence the tight tolerance instead of equality.
    returns = np.random.default_rng(4).normal(size=(64, 50)).cumsum(axis=1)
    center, lo, hi = stats.curve_stats(returns, seed=3)
    assert center.shape == lo.shape == hi.shape == (50,)
    for t in range(0, 50, 7):
        ref = stats.bootstrap_ci(returns[:, t], n_resamples=1000, seed=3)
        np.testing.assert_allclose((lo[t], hi[t]), ref, rtol=1e-12, atol=1e-12)
        assert center[t] == pytest.approx(stats.iqm(returns[:, t]))
    assert np.all(lo <= center) and np.all(center <= hi)


def test_curve_stats_single_seed_and_constant_columns():
    curve = np.array([[1.0, 2.0, 3.0]])
    center, lo, hi = stats.curve_stats(curve)
    np.testing.assert_array_equal(center, curve[0])
    np.testing.assert_array_equal(lo, curve[0])
    np.testing.assert_array_equal(hi, curve[0])

    returns = np.stack([np.array([5.0, 1.0, 7.0]), np.array([5.0, 2.0, 7.0])] * 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        center, lo, hi = stats.curve_stats(returns)
    np.testing.assert_array_equal(lo[[0, 2]], [5.0, 7.0])
    np.testing.assert_array_equal(hi[[0, 2]], [5.0, 7.0])
    assert lo[1] < hi[1]


# --------------------------------------------------------------------------------------------
# learning_curve_auc
# --------------------------------------------------------------------------------------------


def test_learning_curve_auc_is_the_time_averaged_return():
    steps = np.array([0.0, 100.0, 300.0, 600.0])
    returns = np.random.default_rng(8).normal(size=(2, 3, 4))
    auc = stats.learning_curve_auc(steps, returns)
    assert auc.shape == (2, 3)
    # Trapezoids by hand: sum of width * mean height, over the steps spanned.
    widths = np.diff(steps)
    heights = (returns[..., 1:] + returns[..., :-1]) / 2
    np.testing.assert_allclose(auc, (heights * widths).sum(axis=-1) / 600.0, rtol=1e-12)
    # A constant curve averages to the constant.
    np.testing.assert_allclose(stats.learning_curve_auc(steps, np.full(4, 7.5)), 7.5)


def test_learning_curve_auc_rejects_mismatched_shapes():
    with pytest.raises(ValueError):
        stats.learning_curve_auc(np.zeros((2, 3)), np.zeros(3))
    with pytest.raises(ValueError):
        stats.learning_curve_auc(np.arange(4), np.zeros((2, 3)))


# --------------------------------------------------------------------------------------------
# final_return_stats
# --------------------------------------------------------------------------------------------


def test_final_return_stats_against_numpy_and_scipy():
    returns = np.random.default_rng(9).normal(100.0, 20.0, size=12).astype(np.float32)
    result = stats.final_return_stats(returns)
    x = returns.astype(np.float64)
    assert result.finite
    assert result.iqm == pytest.approx(np.sort(x)[3:9].mean(), rel=1e-12)  # middle half of 12
    assert result.mean == pytest.approx(np.mean(x), rel=1e-12)
    assert result.std == pytest.approx(np.std(x, ddof=0), rel=1e-12)
    reference = scipy.stats.bootstrap(
        (x,),
        lambda s, axis: scipy.stats.trim_mean(s, 0.25, axis=axis),
        n_resamples=2000,
        confidence_level=0.95,
        method="percentile",
        rng=np.random.default_rng(0),
    ).confidence_interval
    assert result.ci95 == pytest.approx((reference.low, reference.high), rel=1e-12)
    assert stats.final_return_stats(returns, seed=1).ci95 != result.ci95


def test_final_return_stats_with_a_nan_return():
    returns = np.array([1.0, np.nan, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0])
    result = stats.final_return_stats(returns)
    assert not result.finite
    assert result.ci95 is None
    assert math.isnan(result.mean) and math.isnan(result.std)
    reference = scipy.stats.trim_mean(returns, 0.25)
    assert (math.isnan(result.iqm) and math.isnan(reference)) or result.iqm == reference


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
def test_final_return_stats_with_an_infinite_return():
    result = stats.final_return_stats(np.array([1.0, 2.0, np.inf, 4.0]))
    assert not result.finite and result.ci95 is None
    assert result.iqm == pytest.approx(scipy.stats.trim_mean([1.0, 2.0, np.inf, 4.0], 0.25))


def test_final_return_stats_single_seed_and_bad_shapes():
    result = stats.final_return_stats([42.0])
    assert (result.iqm, result.ci95, result.mean, result.std) == (42.0, (42.0, 42.0), 42.0, 0.0)
    with pytest.raises(ValueError):
        stats.final_return_stats([])
    with pytest.raises(ValueError):
        stats.final_return_stats(np.zeros((2, 2)))


# --------------------------------------------------------------------------------------------
# rank_points
# --------------------------------------------------------------------------------------------


def test_ranking_is_the_iqm_by_numpy():
    rng = np.random.default_rng(0)
    final = rng.normal(size=(5, 8)) * 10
    final[:, 0] = 1e6  # an outlier per point that the IQM drops
    final[3] = final[1]  # a tie keeps the point order
    by_hand = np.sort(final, axis=1)[:, 2:6].mean(axis=1)  # middle half of 8 seeds
    ranking = stats.rank_points(final)
    assert [r["point"] for r in ranking] == list(np.argsort(-by_hand, kind="stable"))
    for r in ranking:
        np.testing.assert_allclose(r["final_return_iqm"], by_hand[r["point"]])
        lo, hi = r["final_return_ci95"]
        assert lo <= r["final_return_iqm"] <= hi
        assert [lo, hi] == list(stats.bootstrap_ci(final[r["point"]]))


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
def test_ranking_puts_non_finite_points_last():
    final = np.array([[1.0, 2.0, 3.0], [np.nan, 100.0, 100.0], [5.0, 6.0, 7.0], [np.inf] * 3])
    ranking = stats.rank_points(final, seed=4)
    assert [r["point"] for r in ranking] == [2, 0, 1, 3]
    for r in ranking[2:]:
        assert r["final_return_iqm"] == -math.inf
        assert r["final_return_ci95"] == [None, None]
    assert ranking[0]["final_return_iqm"] == pytest.approx(6.0)  # 3 seeds: the mean
    assert ranking[0]["final_return_ci95"] == list(stats.bootstrap_ci(final[2], seed=4))
    with pytest.raises(ValueError):
        stats.rank_points(np.zeros(3))
