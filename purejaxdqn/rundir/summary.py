"""The summary of a finished run: final-return statistics, timing and throughput."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from purejaxdqn.rundir.atomic import jsonable
from purejaxdqn.stats import final_return_stats

__all__ = ["summarize"]


def summarize(
    env: str,
    final_returns: ArrayLike,
    reward_threshold: float | None,
    total_steps: int,
    compile_seconds: float,
    train_seconds: float,
    env_steps_total: int,
    extra: dict | None = None,
) -> dict[str, Any]:
    """Summary statistics of a run, as plain JSON types.

    Args:
        env: Environment name.
        final_returns: Final evaluation return of each seed, shape ``[S]``.
        reward_threshold: Return at which the environment counts as solved, or ``None``.
        total_steps: Configured number of environment steps per seed.
        compile_seconds: Time spent compiling.
        train_seconds: Time spent training (after compilation).
        env_steps_total: Environment steps taken across all seeds (and parallel envs).
        extra: More entries merged in last (they override the keys above); converted to
            plain JSON types.

    Returns:
        A dict with ``env``, ``seeds``, ``total_steps``, ``final_return_iqm``,
        ``final_return_ci95`` (``[lo, hi]``, 95% percentile bootstrap over seeds;
        ``[None, None]`` when a return is not finite), ``final_return_mean``,
        ``final_return_std`` (population std, ``ddof=0``, so one seed gives 0 rather than
        NaN), ``final_return_per_seed``, ``reward_threshold``, ``solved_fraction`` (share of
        seeds with final return ``>= reward_threshold``, ``None`` without a threshold),
        ``solved_seeds`` (count, ``None`` without a threshold), ``compile_seconds``,
        ``train_seconds``, ``env_steps_per_second`` (``env_steps_total / train_seconds``;
        ``None`` if ``train_seconds <= 0``) and the ``extra`` entries. Non-finite floats are
        stored as ``None`` so the dict is strict JSON.

    Raises:
        ValueError: If ``final_returns`` is not a non-empty 1-D array.
    """
    returns = np.asarray(final_returns, dtype=np.float64)
    if returns.ndim != 1 or returns.size == 0:
        raise ValueError(f"final_returns must have shape [S] with S >= 1, got {returns.shape}")
    if reward_threshold is None:
        solved_seeds = None
        solved_fraction = None
    else:
        solved = returns >= float(reward_threshold)
        solved_seeds = int(solved.sum())
        solved_fraction = solved_seeds / returns.size
    stats = final_return_stats(returns)
    summary = {
        "env": str(env),
        "seeds": int(returns.size),
        "total_steps": int(total_steps),
        "final_return_iqm": stats.iqm,
        "final_return_ci95": list(stats.ci95) if stats.ci95 is not None else [None, None],
        "final_return_mean": stats.mean,
        "final_return_std": stats.std,
        "final_return_per_seed": returns.tolist(),
        "reward_threshold": None if reward_threshold is None else float(reward_threshold),
        "solved_fraction": solved_fraction,
        "solved_seeds": solved_seeds,
        "compile_seconds": float(compile_seconds),
        "train_seconds": float(train_seconds),
        "env_steps_per_second": (
            float(env_steps_total) / float(train_seconds) if train_seconds > 0 else None
        ),
    }
    if extra:
        summary.update(extra)
    return jsonable(summary, finite_only=True)
