"""The metrics-row schema: what every evaluation point records, defined once.

A trainer accumulates :class:`PeriodStats` over the env steps of one eval period and turns
them, with the greedy returns of the evaluation that ends the period, into a row
(:func:`metrics_row`). Row ``0`` is the evaluation before any training.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

#: Keys of a metrics row (one seed): ``[]`` scalars except ``eval_returns [eval_episodes]``.
ROW_KEYS = (
    "env_steps",
    "eval_return",
    "eval_returns",
    "train_return",
    "loss",
    "q_mean",
    "epsilon",
    "updates",
)
#: The row keys ``metrics.csv`` holds, in its column order after ``seed``.
CSV_KEYS = ("env_steps", "eval_return", "loss", "q_mean", "epsilon", "train_return")


class PeriodStats(NamedTuple):
    """Sums over one eval period (one seed), all float32 ``[]``.

    Attributes:
      ep_return_sum: summed returns of the ε-greedy episodes that ended in the period.
      ep_count: how many ended.
      loss_sum: summed loss over the period's gradient steps.
      q_sum: summed mean Q of the taken actions over the gradient steps.
      updates: gradient steps taken.
      epsilon: the exploration ε of the latest step.
    """

    ep_count: jax.Array
    ep_return_sum: jax.Array
    epsilon: jax.Array
    loss_sum: jax.Array
    q_sum: jax.Array
    updates: jax.Array


def zero_stats(epsilon: jax.Array) -> PeriodStats:
    """Stats of a period that has not started, with the ε it starts from."""
    z = jnp.float32(0.0)
    return PeriodStats(ep_count=z, ep_return_sum=z, epsilon=epsilon, loss_sum=z, q_sum=z, updates=z)


def add_episodes(stats: PeriodStats, done: jax.Array, episode_return: jax.Array) -> PeriodStats:
    """Adds the episodes that ended this step (``done [N]``, their returns ``[N]``)."""
    return stats._replace(
        ep_return_sum=stats.ep_return_sum + jnp.sum(jnp.where(done, episode_return, 0.0)),
        ep_count=stats.ep_count + jnp.sum(done).astype(jnp.float32),
    )


def metrics_row(
    env_steps: jax.Array, eval_returns: jax.Array, stats: PeriodStats
) -> dict[str, jax.Array]:
    """One metrics row.

    Args:
      env_steps: env steps per seed at the evaluation, ``[]`` int.
      eval_returns: greedy returns of the evaluation episodes, ``[eval_episodes]``.
      stats: the period's sums.

    Returns:
      A dict with :data:`ROW_KEYS`; means over a period with no episode or no update are NaN.
    """
    updates = stats.updates
    return {
        "env_steps": env_steps,
        "eval_return": jnp.mean(eval_returns),
        "eval_returns": eval_returns,
        "train_return": stats.ep_return_sum / stats.ep_count,
        "loss": jnp.where(updates > 0, stats.loss_sum / jnp.maximum(updates, 1.0), jnp.nan),
        "q_mean": jnp.where(updates > 0, stats.q_sum / jnp.maximum(updates, 1.0), jnp.nan),
        "epsilon": stats.epsilon,
        "updates": updates,
    }
