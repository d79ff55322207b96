"""What a PQN run carries: no replay and no target network."""

from __future__ import annotations

from typing import NamedTuple

import flax.struct
import jax
import optax

from purejaxdqn.types import EnvState, Params, PRNGKey


@flax.struct.dataclass
class PQNState:
    """Everything a PQN run carries from one rollout to the next (one seed; vmap adds ``[S]``).

    Attributes:
      params: the Q-network's flax variables: ``{"params": ...}`` and, with BatchNorm,
        ``{"batch_stats": ...}`` (running averages, updated by the learning steps).
      opt_state: optimizer state of ``params["params"]``.
      env_state: env states, leading axis ``[N]`` (``num_envs``).
      obs: current observations, ``[N, *obs_shape]``.
      episode_return: return so far (unscaled rewards) of each env's running episode, ``[N]``.
      key: the seed's base key; per-step keys are derived from it, it never changes.
      diverged_step: env step after which the loss or the parameters were first found
        non-finite, ``-1`` while finite (the NaN guard, as in DQN).
    """

    params: Params
    opt_state: optax.OptState
    env_state: EnvState
    obs: jax.Array
    episode_return: jax.Array
    key: PRNGKey
    diverged_step: jax.Array


class Rollout(NamedTuple):
    """One rollout of ``num_envs`` envs for ``num_steps`` steps, leading axes ``[T, N]``.

    Attributes:
      obs: observations the actions were taken in, ``[T, N, *obs_shape]``.
      action: actions, ``[T, N]`` int32.
      reward: rewards times ``reward_scale``, ``[T, N]``.
      terminated: the step ended its episode in a terminal state, ``[T, N]``.
      truncated: the step ended its episode at the time limit, ``[T, N]``.
      next_obs: the observation each step reached, before any reset, ``[T, N, *obs_shape]``.
    """

    obs: jax.Array
    action: jax.Array
    reward: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    next_obs: jax.Array
