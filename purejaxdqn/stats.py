"""Statistics of runs across seeds, on the host with NumPy and scipy.

The recommendations of Agarwal et al. (2021), "Deep Reinforcement Learning at the Edge of
the Statistical Precipice", are followed: the interquartile mean (IQM) across seeds as the
point estimate, with a percentile bootstrap confidence interval over seeds.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

__all__ = [
    "FinalReturnStats",
    "bootstrap_ci",
    "curve_stats",
    "final_return_stats",
    "iqm",
    "learning_curve_auc",
    "rank_points",
]

# Upper bound on the number of float64 elements in one batch of bootstrap resamples
# (2**22 elements = 32 MiB), so curve_stats stays within a modest amount of memory.
_MAX_RESAMPLE_ELEMENTS = 1 << 22


def iqm(x: ArrayLike, axis: int = -1) -> np.ndarray | float:
    """Interquartile mean: the mean of the middle 50% of the values along ``axis``.

    This is ``scipy.stats.trim_mean(x, 0.25, axis=axis)``: with ``n`` values along ``axis``,
    ``floor(0.25 * n)`` of the smallest and as many of the largest are dropped and the rest
    averaged. For ``n`` divisible by 4 this is exactly the middle half; otherwise slightly
    more than half is kept (e.g. ``n = 5`` keeps the middle 3 values, ``n = 3`` keeps all 3).

    Args:
        x: Values, any shape ``[..., n, ...]``.
        axis: Axis to reduce over.

    Returns:
        The IQM with ``axis`` removed: a Python float when the result is a scalar, otherwise
        an array of shape ``x.shape`` without ``axis``.
    """
    result = stats.trim_mean(np.asarray(x, dtype=np.float64), 0.25, axis=axis)
    if np.ndim(result) == 0:
        return float(result)
    return np.asarray(result)


def bootstrap_ci(
    x: ArrayLike,
    statistic: Callable[..., Any] = iqm,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of ``statistic`` over seeds.

    Seeds are resampled with replacement (``scipy.stats.bootstrap`` with
    ``method="percentile"``); this is the single-task case of the stratified bootstrap of
    Agarwal et al. (2021).

    Degenerate inputs (a single seed, or all seeds equal) have a zero-width interval, and
    ``(value, value)`` is returned directly without calling scipy (which would reject one
    observation or warn about a degenerate distribution).

    Args:
        x: Per-seed scores, shape ``[S]``.
        statistic: Statistic of a 1-D sample. If it accepts an ``axis`` keyword it is called
            vectorized over all resamples at once (as :func:`iqm` and ``np.mean`` are).
        confidence: Confidence level in ``(0, 1)``.
        n_resamples: Number of bootstrap resamples.
        seed: Seed of the ``np.random.Generator`` that draws the resamples; the same seed
            gives the same interval.

    Returns:
        ``(lower, upper)`` as Python floats.

    Raises:
        ValueError: If ``x`` is not 1-D, is empty, or ``confidence`` is outside ``(0, 1)``.
    """
    data = np.asarray(x, dtype=np.float64)
    if data.ndim != 1:
        raise ValueError(f"bootstrap_ci expects per-seed scores of shape [S], got {data.shape}")
    if data.size == 0:
        raise ValueError("bootstrap_ci needs at least one score")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if data.size == 1 or np.all(data == data[0]):
        value = float(statistic(data))
        return value, value
    result = stats.bootstrap(
        (data,),
        statistic,
        n_resamples=n_resamples,
        confidence_level=confidence,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    low, high = result.confidence_interval
    return float(low), float(high)


def curve_stats(
    returns: np.ndarray,
    confidence: float = 0.95,
    n_resamples: int = 1000,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """IQM and percentile bootstrap confidence band of a learning curve across seeds.

    All eval points are bootstrapped in one vectorized ``scipy.stats.bootstrap`` call. scipy
    draws one matrix of seed indices per batch of resamples and applies it to every eval
    point, so column ``t`` of the band is the interval that
    ``bootstrap_ci(returns[:, t], confidence=confidence, n_resamples=n_resamples, seed=seed)``
    gives (the same resampled seeds, in the same order).

    Args:
        returns: Evaluation returns, shape ``[S, T]`` (seeds x eval points).
        confidence: Confidence level in ``(0, 1)``.
        n_resamples: Number of bootstrap resamples.
        seed: Seed of the resampling generator.

    Returns:
        ``(iqm, lower, upper)``, each float64 of shape ``[T]``. With a single seed the band
        collapses onto the IQM (which is that seed's curve).

    Raises:
        ValueError: If ``returns`` is not 2-D with at least one seed, or ``confidence`` is
            outside ``(0, 1)``.
    """
    data = np.asarray(returns, dtype=np.float64)
    if data.ndim != 2 or data.shape[0] == 0:
        raise ValueError(f"curve_stats expects returns of shape [S, T], got {data.shape}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    n_seeds, n_points = data.shape
    center = np.atleast_1d(iqm(data, axis=0)).astype(np.float64)
    if n_seeds == 1 or n_points == 0:
        return center, center.copy(), center.copy()
    batch = max(1, _MAX_RESAMPLE_ELEMENTS // (n_seeds * n_points))
    # Columns with a non-finite return get no band (NaN); they are bootstrapped as zeros so
    # that scipy sees no NaN. The resampled seeds are shared by all columns, so the other
    # columns' bands are unchanged.
    finite = np.all(np.isfinite(data), axis=0)
    result = stats.bootstrap(
        (np.where(finite, data, 0.0),),
        iqm,
        n_resamples=n_resamples,
        batch=batch if batch < n_resamples else None,
        confidence_level=confidence,
        method="percentile",
        axis=0,
        rng=np.random.default_rng(seed),
    )
    low = np.asarray(result.confidence_interval.low, dtype=np.float64).reshape(n_points)
    high = np.asarray(result.confidence_interval.high, dtype=np.float64).reshape(n_points)
    low[~finite] = np.nan
    high[~finite] = np.nan
    # Columns where every seed has the same value: the band is exactly that value.
    constant = np.all(data == data[:1], axis=0)
    low[constant] = center[constant]
    high[constant] = center[constant]
    return center, low, high


def learning_curve_auc(env_steps: ArrayLike, eval_return: ArrayLike) -> np.ndarray:
    """Time-averaged evaluation return: the area under the learning curve per step spanned.

    The trapezoid integral of ``eval_return`` over ``env_steps`` divided by
    ``env_steps[-1] - env_steps[0]``, in return units.

    Args:
        env_steps: Environment steps of the evaluations, shape ``[T]``.
        eval_return: Evaluation returns, shape ``[..., T]``.

    Returns:
        float64 array of shape ``[...]``.

    Raises:
        ValueError: If ``env_steps`` is not 1-D or the last axis of ``eval_return`` is not
            ``T`` long.
    """
    x = np.asarray(env_steps, np.float64)
    y = np.asarray(eval_return, np.float64)
    if x.ndim != 1:
        raise ValueError(f"env_steps must have shape [T], got {x.shape}")
    if y.ndim == 0 or y.shape[-1] != x.shape[0]:
        raise ValueError(f"eval_return must have shape [..., {x.shape[0]}], got {y.shape}")
    return np.trapezoid(y, x, axis=-1) / (x[-1] - x[0])


@dataclasses.dataclass(frozen=True)
class FinalReturnStats:
    """Statistics of the final return over seeds.

    Attributes:
        iqm: Interquartile mean of the returns, as :func:`iqm` gives it: NaN when a
            return is NaN, possibly finite when an infinite return is trimmed.
        ci95: 95% percentile bootstrap interval ``(lo, hi)`` of the IQM, ``None`` unless
            every return is finite.
        mean: Mean of the returns.
        std: Population standard deviation (``ddof=0``: one seed gives 0).
        finite: Whether every return is finite.
    """

    iqm: float
    ci95: tuple[float, float] | None
    mean: float
    std: float
    finite: bool


def final_return_stats(returns: ArrayLike, seed: int = 0) -> FinalReturnStats:
    """IQM, its 95% bootstrap interval, mean and std of per-seed final returns.

    Args:
        returns: Final return of each seed, shape ``[S]``.
        seed: Seed of the bootstrap's resampling generator.

    Returns:
        A :class:`FinalReturnStats`; ``ci95`` is ``None`` when a return is NaN or infinite
        (a diverged seed), rather than an interval computed from non-finite values.

    Raises:
        ValueError: If ``returns`` is not a non-empty 1-D array.
    """
    data = np.asarray(returns, dtype=np.float64)
    if data.ndim != 1 or data.size == 0:
        raise ValueError(f"returns must have shape [S] with S >= 1, got {data.shape}")
    finite = bool(np.all(np.isfinite(data)))
    ci = bootstrap_ci(data, iqm, confidence=0.95, seed=seed) if finite else None
    return FinalReturnStats(
        iqm=float(iqm(data)),
        ci95=ci,
        mean=float(np.mean(data)),
        std=float(np.std(data)),
        finite=finite,
    )


def rank_points(final_return: ArrayLike, seed: int = 0) -> list[dict[str, Any]]:
    """Sweep points ranked by the IQM of their final returns over seeds, best first.

    Args:
        final_return: Final returns, shape ``[P, S]`` (points x seeds).
        seed: Seed of the bootstrap's resampling generator.

    Returns:
        One dict per point: ``point`` (its index), ``final_return_iqm`` (``-inf`` when a
        return is not finite, so such points rank last) and ``final_return_ci95``
        (``[lo, hi]``, ``[None, None]`` when a return is not finite). Ties keep the point
        order.

    Raises:
        ValueError: If ``final_return`` is not 2-D, or a point has no seeds.
    """
    data = np.asarray(final_return, np.float64)
    if data.ndim != 2:
        raise ValueError(f"final_return must have shape [P, S], got {data.shape}")
    rows = []
    for p, returns in enumerate(data):
        summary = final_return_stats(returns, seed=seed)
        score = summary.iqm if summary.finite else -math.inf
        ci = list(summary.ci95) if summary.ci95 is not None else [None, None]
        rows.append({"point": p, "final_return_iqm": score, "final_return_ci95": ci})
    return sorted(rows, key=lambda r: -r["final_return_iqm"])
