"""The metrics rows every algorithm reports: greedy returns at its evaluation points.

Shared by :mod:`purejaxdqn.dqn` and :mod:`purejaxdqn.pqn`, so both evaluate with the same
keys (``stream_key(run key, EVAL_STREAM, period)``) and report the same row schema
(:mod:`purejaxdqn.metrics`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from purejaxdqn import metrics
from purejaxdqn.config import HyperParams
from purejaxdqn.dqn.state import EVAL_STREAM, stream_key
from purejaxdqn.types import Params, PRNGKey

Row = dict[str, jax.Array]
ProgressFn = Callable[..., None]

__all__ = ["make_eval_rows"]


def make_eval_rows(
    eval_every: int,
    greedy_returns: Callable[[Params, PRNGKey], jax.Array],
    epsilon_at: Callable[[HyperParams, Any], jax.Array],
    progress: ProgressFn | None = None,
) -> tuple[Callable[[Any, jax.Array, metrics.PeriodStats], Row], Callable[..., Row]]:
    """``(evaluation_row, start_row)`` for an algorithm's ``train_periods`` and ``start``.

    Args:
      eval_every: env steps per seed between evaluations.
      greedy_returns: ``(params, key) -> returns [eval_episodes]``.
      epsilon_at: ``(hp, env steps) -> ε``, for the row at env step 0.
      progress: optional host callback ``(env_steps, eval_return)`` after each evaluation.

    Returns:
      ``evaluation_row(state, period, stats)``: the row after ``period`` eval periods of a
      state with ``params`` and ``key`` fields; ``start_row(key, params, hp)``: the row at env
      step 0 of the run whose key is ``key``.
    """

    def evaluation_row(state: Any, period: jax.Array, stats: metrics.PeriodStats) -> Row:
        returns = greedy_returns(state.params, stream_key(state.key, EVAL_STREAM, period))
        row = metrics.metrics_row(period * eval_every, returns, stats)
        if progress is not None:
            jax.debug.callback(progress, row["env_steps"], row["eval_return"])
        return row

    def start_row(key: PRNGKey, params: Params, hp: HyperParams) -> Row:
        zero = jnp.int32(0)
        returns = greedy_returns(params, stream_key(key, EVAL_STREAM, zero))
        return metrics.metrics_row(zero, returns, metrics.zero_stats(epsilon_at(hp, 0.0)))

    return evaluation_row, start_row
