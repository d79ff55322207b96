"""Acting on a Q-function: ε schedules, ε-greedy actions and in-graph greedy evaluation.

Shared by every algorithm whose policy is greedy in a Q-function ``q_fn(obs [..]) -> [.., A]``.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from purejaxdqn.envs.protocol import Environment
from purejaxdqn.types import EnvParams, PRNGKey


def linear_epsilon(
    eps_start: jax.Array,
    eps_end: jax.Array,
    decay_steps: jax.Array,
    env_steps: jax.Array | float,
) -> jax.Array:
    """ε decaying linearly from ``eps_start`` to ``eps_end`` over ``decay_steps`` env steps."""
    frac = jnp.clip(env_steps / jnp.maximum(decay_steps, 1.0), 0.0, 1.0)
    return eps_start + frac * (eps_end - eps_start)


def epsilon_greedy(q: jax.Array, key: PRNGKey, epsilon: jax.Array) -> jax.Array:
    """ε-greedy actions.

    Args:
      q: Q-values ``[N, A]``.
      key: a PRNG key.
      epsilon: exploration probability ``[]``.

    Returns:
      Actions ``[N]`` int32: uniform over ``A`` with probability ε, else ``argmax q``.
    """
    greedy = jnp.argmax(q, axis=-1).astype(jnp.int32)
    k_explore, k_action = jax.random.split(key)
    explore = jax.random.uniform(k_explore, greedy.shape) < epsilon
    random_action = jax.random.randint(k_action, greedy.shape, 0, q.shape[-1], jnp.int32)
    return jnp.where(explore, random_action, greedy)


def greedy_episode_returns(
    env: Environment,
    env_params: EnvParams,
    q_fn: Callable[[jax.Array], jax.Array],
    key: PRNGKey,
    num_episodes: int,
) -> jax.Array:
    """Returns of ``num_episodes`` fresh greedy episodes, run in parallel inside the program.

    A ``lax.while_loop`` steps all episodes until every one has ended or the env's
    ``max_episode_steps`` is reached; an episode's reward stops counting once it ends.

    Args:
      env: the env (auto-resetting; rewards after an episode's end are ignored).
      env_params: its parameters.
      q_fn: ``q_fn(obs [E, *obs_shape]) -> [E, A]``.
      key: a PRNG key.
      num_episodes: ``E``.

    Returns:
      Undiscounted returns ``[E]`` float32.
    """
    max_steps = int(env.max_episode_steps(env_params))
    v_reset = jax.vmap(env.reset, in_axes=(0, None))
    v_step = jax.vmap(env.step, in_axes=(0, 0, 0, None))
    k_reset, k_step = jax.random.split(key)
    obs, env_state = v_reset(jax.random.split(k_reset, num_episodes), env_params)
    zeros = jnp.zeros((num_episodes,), jnp.float32)
    done = jnp.zeros((num_episodes,), bool)

    def cond(carry: tuple) -> jax.Array:
        t, _, _, _, done = carry
        return (t < max_steps) & ~jnp.all(done)

    def body(carry: tuple) -> tuple:
        t, obs, env_state, ret, done = carry
        action = jnp.argmax(q_fn(obs), axis=-1).astype(jnp.int32)
        keys = jax.random.split(jax.random.fold_in(k_step, t), num_episodes)
        obs, env_state, reward, term, trunc, _ = v_step(keys, env_state, action, env_params)
        ret = ret + jnp.where(done, 0.0, reward.astype(jnp.float32))
        return t + 1, obs, env_state, ret, done | term | trunc

    carry = (jnp.int32(0), obs, env_state, zeros, done)
    return jax.lax.while_loop(cond, body, carry)[3]
