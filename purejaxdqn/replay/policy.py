"""Replay policy: which buffer a config gets and how it is used.

How samples become one-step targets, PER's annealing and the sum-tree rebuild schedule.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from purejaxdqn import losses
from purejaxdqn.config import Config, HyperParams
from purejaxdqn.replay.buffers import (
    ReplayBuffer,
    Transition,
    rebuild_sum_tree,
    sequence_replay,
    uniform_replay,
)
from purejaxdqn.types import BufferState


def make_replay(config: Config) -> ReplayBuffer:
    """The replay buffer a config asks for.

    Flashbax's item buffer for 1-step uniform replay; else a buffer of per-env time series
    sampled as ``[B, n_step]`` sequences (``n_step`` 1 when only prioritized), with a sum tree
    over sequence starts when ``prioritized``.
    """
    if config.n_step == 1 and not config.prioritized:
        return uniform_replay(config.capacity, config.batch_size)
    return sequence_replay(
        config.capacity, config.batch_size, config.num_envs, config.n_step, config.prioritized
    )


def to_replay_dtype(config: Config, obs: jax.Array) -> jax.Array:
    """Observations cast to ``replay_obs_dtype`` for storage (the torso casts them back)."""
    return obs.astype(config.replay_obs_dtype)


def per_beta(config: Config, hp: HyperParams, env_steps: jax.Array) -> jax.Array:
    """PER's importance exponent, shape ``[]``.

    Linear from ``per_beta_start`` at ``learning_starts`` to 1 at ``total_steps``
    (``env_steps`` from the shared scan step).
    """
    span = max(config.total_steps - config.learning_starts, 1)
    frac = jnp.clip((env_steps - config.learning_starts) / span, 0.0, 1.0)
    return hp.per_beta_start + frac * (1.0 - hp.per_beta_start)


def scheduled_sum_tree_rebuild(
    config: Config, buffer_state: BufferState, env_steps: jax.Array
) -> BufferState:
    """Rebuilds a prioritized buffer's float32 sum tree from its leaves.

    The rebuild runs every ``per_rebuild_period`` env steps (a ``lax.cond`` on the shared
    step); identity for uniform buffers or ``per_rebuild_period == 0``.
    """
    if not config.prioritized or config.per_rebuild_period == 0:
        return buffer_state
    return jax.lax.cond(
        env_steps % config.per_rebuild_period == 0,
        rebuild_sum_tree,
        lambda s: s,
        buffer_state,
    )


def one_step_view(gamma: jax.Array, experience: Transition) -> tuple[Transition, jax.Array]:
    """A sampled batch as one-step transitions and their bootstrap discounts.

    Args:
      gamma: the discount factor, ``[]``.
      experience: transitions ``[B]`` or sequences ``[B, n]`` (with ``truncated``).

    Returns:
      ``(batch [B], discount_t [B])``. For sequences, ``batch.reward`` is the n-step return
      and ``batch.next_obs`` the observation bootstrapped from (see
      :func:`purejaxdqn.losses.n_step_return`).
    """
    if experience.reward.ndim == 1:
        discount = gamma * (1.0 - experience.terminated.astype(jnp.float32))
        return experience, discount
    assert experience.truncated is not None, "sequence samples carry `truncated`"
    done = experience.terminated | experience.truncated
    g, discount, last = jax.vmap(losses.n_step_return, in_axes=(0, 0, 0, None))(
        experience.reward, experience.terminated, done, gamma
    )
    rows = jnp.arange(last.shape[0])
    batch = Transition(
        obs=experience.obs[:, 0],
        action=experience.action[:, 0],
        reward=g,
        next_obs=experience.next_obs[rows, last],
        terminated=experience.terminated[rows, last],
    )
    return batch, discount
