"""Greedy episodes recorded step by step in JAX: the rollout a video shows.

One jit-compiled ``lax.while_loop`` (at most the env's time limit) steps the env the policy
was trained on (this project's JAX env, the one
:func:`purejaxdqn.acting.greedy_episode_returns` evaluates in during training) and keeps
every observation the episode passes through. The returns and lengths written beside a
video are computed from these same recorded rewards, so the frames and the numbers
describe one rollout.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp

from purejaxdqn.envs.protocol import Environment
from purejaxdqn.types import EnvParams, PRNGKey

#: The longest episode a video records (a bound on the scan's length).
MAX_VIDEO_STEPS = 100_000


class Episodes(NamedTuple):
    """Recorded greedy episodes (leading axes ``[...]`` as vmapped by the caller).

    Attributes:
      observations: ``[..., T + 1, *obs_shape]``: the first observation, then, for every step
        ``t``, the observation that step reached before any automatic reset
        (``info["final_obs"]``); ``T`` is the env's time limit. Episode frames are
        ``observations[..., : length + 1]``; entries after them are zero.
      actions: ``[..., T]`` int32, the greedy actions (zero after the episode ended).
      rewards: ``[..., T]`` float32, zero after the episode ended.
      length: ``[...]`` int32, steps until the first ``terminated | truncated`` (``T`` if
        none came).
      returns: ``[...]`` float32, the undiscounted return, ``rewards.sum(-1)``.

    The loop stops when the episode ends, so no step after it is taken (under ``vmap`` the
    finished episodes' buffers are left unchanged while the others run on).
    """

    observations: jax.Array
    actions: jax.Array
    rewards: jax.Array
    length: jax.Array
    returns: jax.Array


def greedy_episodes(
    env: Environment,
    env_params: EnvParams,
    q_fn: Callable[[jax.Array], jax.Array],
    key: PRNGKey,
) -> Episodes:
    """One greedy episode, every observation kept (vmap over ``key`` for more).

    Args:
      env: the (auto-resetting) env.
      env_params: its parameters.
      q_fn: ``q_fn(obs [1, *obs_shape]) -> [1, A]``.
      key: a PRNG key: split into the reset key and the base of the per-step keys
        (``fold_in(k_step, t)``).

    Returns:
      :class:`Episodes` without leading axes.

    Raises:
      ValueError: if the env's time limit is above :data:`MAX_VIDEO_STEPS`.
    """
    max_steps = int(env.max_episode_steps(env_params))
    if max_steps > MAX_VIDEO_STEPS:
        raise ValueError(
            f"{env.name}: time limit {max_steps} steps, above the {MAX_VIDEO_STEPS} a video takes"
        )
    k_reset, k_step = jax.random.split(key)
    obs0, state0 = env.reset(k_reset, env_params)
    observations = jnp.zeros((max_steps + 1, *obs0.shape), obs0.dtype).at[0].set(obs0)
    actions = jnp.zeros((max_steps,), jnp.int32)
    rewards = jnp.zeros((max_steps,), jnp.float32)

    def cond(carry: tuple) -> jax.Array:
        t, done = carry[0], carry[3]
        return (t < max_steps) & ~done

    def body(carry: tuple) -> tuple:
        t, obs, state, _, observations, actions, rewards = carry
        q = q_fn(obs[None])
        chex.assert_rank(q, 2)
        action = jnp.argmax(q[0], axis=-1).astype(jnp.int32)
        obs, state, reward, term, trunc, info = env.step(
            jax.random.fold_in(k_step, t), state, action, env_params
        )
        observations = observations.at[t + 1].set(info["final_obs"].astype(obs0.dtype))
        actions = actions.at[t].set(action)
        rewards = rewards.at[t].set(reward.astype(jnp.float32))
        return t + 1, obs, state, term | trunc, observations, actions, rewards

    carry = (jnp.int32(0), obs0, state0, jnp.zeros((), bool), observations, actions, rewards)
    length, *_, observations, actions, rewards = jax.lax.while_loop(cond, body, carry)
    return Episodes(observations, actions, rewards, length, rewards.sum())


def make_recorder(
    env: Environment, env_params: EnvParams, apply: Callable[[Any, jax.Array], jax.Array]
) -> Callable[[Any, jax.Array], Episodes]:
    """A jit-compiled ``record(params [S, ...], keys [S, E]) -> Episodes [S, E, ...]``.

    Args:
      env: the env the policy acts in.
      env_params: its parameters.
      apply: the Q-network's ``apply(params, obs [..., *obs_shape]) -> [..., A]``.

    Returns:
      The recorder: seed ``s`` (params ``params[s]``) plays episode ``e`` from ``keys[s, e]``.
    """

    def one(params: Any, key: jax.Array) -> Episodes:
        return greedy_episodes(env, env_params, lambda obs: apply(params, obs), key)

    per_seed = jax.vmap(one, in_axes=(None, 0))
    return jax.jit(jax.vmap(per_seed, in_axes=(0, 0)))
