"""What a DQN run carries and returns."""

from __future__ import annotations

from typing import NamedTuple

import flax.struct
import jax
import optax

from purejaxdqn.types import BufferState, EnvState, Params, PRNGKey

# Purposes of the per-seed key streams: fold_in(seed_key, purpose) then fold_in(., step).
INIT_STREAM, ACT_STREAM, ENV_STREAM, LEARN_STREAM, EVAL_STREAM = range(5)


def stream_key(key: PRNGKey, purpose: int, step: jax.Array) -> PRNGKey:
    """The key of ``purpose`` at ``step``: ``fold_in(fold_in(key, purpose), step)``."""
    return jax.random.fold_in(jax.random.fold_in(key, purpose), step)


@flax.struct.dataclass
class TrainState:
    """Everything a run carries from one step to the next (one seed; vmap adds ``[S]``).

    Attributes:
      params: online Q-network parameters.
      target_params: target-network parameters.
      opt_state: optimizer state.
      buffer_state: replay buffer state.
      env_state: env states, leading axis ``[N]`` (``num_envs``).
      obs: current observations, ``[N, *obs_shape]``.
      episode_return: return so far of each env's running episode, ``[N]``.
      key: the seed's base key; per-step keys are derived from it, it never changes.
      diverged_step: env step after which the loss or the parameters were first found
        non-finite, ``-1`` while finite; from then on parameters and optimizer state stay at
        their last finite values (the NaN guard).
    """

    params: Params
    target_params: Params
    opt_state: optax.OptState
    buffer_state: BufferState
    env_state: EnvState
    obs: jax.Array
    episode_return: jax.Array
    key: PRNGKey
    diverged_step: jax.Array


class TrainOutput(NamedTuple):
    """What :func:`~purejaxdqn.dqn.make_train`'s ``train`` returns (one seed; vmap adds ``[S]``).

    Attributes:
      params: final online parameters.
      metrics: rows stacked on a leading ``[T]`` axis, ``T = num_evals + 1``, keys
        :data:`purejaxdqn.metrics.ROW_KEYS` (``eval_returns`` is ``[T, eval_episodes]``).
      diverged_step: env step at which the NaN guard stopped the seed, ``-1`` if never.
    """

    params: Params
    metrics: dict[str, jax.Array]
    diverged_step: jax.Array
