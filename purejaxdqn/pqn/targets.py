"""Q(λ) targets of a rollout, computed backwards with one ``jax.lax.scan``.

Peng's Q(λ) as PQN uses it: ``G_t = r_t + γ_t [(1 - λ_t) max_a Q(s_{t+1}, a) + λ_t G_{t+1}]``,
bootstrapping from ``max_a Q`` at the rollout's last step. Episode ends are handled as
follows (:func:`q_lambda_targets`): a *termination* cuts the bootstrap (``γ_t = 0``); a
*time-limit truncation* ends the λ-trace (``λ_t = 0``, the next step belongs to another
episode) but bootstraps from the value of the observation the episode ended in.
purejaxql's PQN treats every episode end as a termination; on CartPole (truncated at 500
steps) that teaches the value ``r`` to the time-limit states, which look like any other
balanced state (the observation has no clock), biasing their neighbours' values down.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp


def lambda_returns(
    r_t: chex.Array, discount_t: chex.Array, v_t: chex.Array, lambda_: chex.Array
) -> jax.Array:
    """λ-returns over a leading time axis (rlax's ``lambda_returns``, batched).

    ``G_t = r_t + discount_t [(1 - λ_t) v_t + λ_t G_{t+1}]`` with ``G_T = v_{T-1}``, so the
    last step bootstraps ``r + discount v``.

    Args:
      r_t: rewards ``[T, ...]``.
      discount_t: discounts ``[T, ...]`` (0 where the episode terminated).
      v_t: bootstrap values of the next states ``[T, ...]``.
      lambda_: mixing ``[T, ...]`` (or broadcastable to it).

    Returns:
      ``G [T, ...]``.
    """
    chex.assert_equal_shape([r_t, discount_t, v_t])
    lambda_ = jnp.broadcast_to(lambda_, r_t.shape)

    def backward(acc: jax.Array, x: tuple) -> tuple[jax.Array, jax.Array]:
        r, discount, v, lam = x
        acc = r + discount * ((1.0 - lam) * v + lam * acc)
        return acc, acc

    _, returns = jax.lax.scan(backward, v_t[-1], (r_t, discount_t, v_t, lambda_), reverse=True)
    return returns


def q_lambda_targets(
    r_t: chex.Array,
    terminated_t: chex.Array,
    truncated_t: chex.Array,
    q_t: chex.Array,
    gamma: chex.Numeric,
    lambda_: chex.Numeric,
) -> jax.Array:
    """Peng's Q(λ) targets of a rollout.

    Args:
      r_t: rewards ``[T, N]``.
      terminated_t: episode ended in a terminal state at step ``t``, ``[T, N]`` bool.
      truncated_t: episode ended at its time limit at step ``t``, ``[T, N]`` bool.
      q_t: Q-values of the observation each step reached (before any reset),
        ``[T, N, A]``.
      gamma: discount ``γ``.
      lambda_: ``λ`` (0: one-step Q-learning targets, 1: returns to the rollout's end).

    Returns:
      Targets ``[T, N]``: a termination bootstraps nothing, a truncation bootstraps
      ``max_a q_t`` and starts a new trace.
    """
    chex.assert_rank([r_t, q_t], [2, 3])
    chex.assert_equal_shape([r_t, terminated_t, truncated_t])
    v_t = jnp.max(q_t, axis=-1)
    discount_t = gamma * (1.0 - terminated_t.astype(r_t.dtype))
    lambda_t = lambda_ * (1.0 - (terminated_t | truncated_t).astype(r_t.dtype))
    return lambda_returns(r_t, discount_t, v_t, lambda_t)
