"""The one-scan PQN trainer (Gallici et al. 2025), in the engine's :class:`Trainer` form.

A run is one ``jax.lax.scan`` over evaluation periods, each an inner scan over rollouts: an
ε-greedy rollout of ``num_envs`` envs for ``num_steps`` steps (ε constant within it, decaying
linearly over env steps), the Q(λ) targets of the rollout from the current network
(:mod:`.targets`), then ``num_epochs x num_minibatches`` gradient steps (:mod:`.learner`). No
replay, no target network. Each period ends with the same greedy evaluation and metrics row
as DQN's.

.. code-block:: python

    pqn = make_pqn(preset("CartPole-v1", algorithm="pqn"))
    state, row0 = pqn.start(jax.random.key(0), pqn.config.hyperparams())
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from purejaxdqn import acting, metrics
from purejaxdqn.config import Config, ConfigError, HyperParams
from purejaxdqn.dqn.state import (
    ACT_STREAM,
    ENV_STREAM,
    INIT_STREAM,
    LEARN_STREAM,
    stream_key,
)
from purejaxdqn.envs.discrete import resolve_env
from purejaxdqn.envs.protocol import Environment
from purejaxdqn.eval_rows import make_eval_rows
from purejaxdqn.networks import make_network
from purejaxdqn.pqn.learner import (
    LearnFn,
    make_learn,
    make_optimizer,
    rollout_size,
    steps_per_rollout,
)
from purejaxdqn.pqn.state import PQNState, Rollout
from purejaxdqn.pqn.targets import q_lambda_targets
from purejaxdqn.types import EnvParams, Params, PRNGKey

ProgressFn = Callable[[np.ndarray, np.ndarray], None]
Row = dict[str, jax.Array]


class PQN(NamedTuple):
    """The pure functions of a PQN run (nothing compiled), as the engine trains them.

    Attributes:
      config: the config (``algorithm='pqn'``).
      env: the (discretized) environment.
      env_params: its parameters.
      network: the Q-network module.
      init: ``init(key, hp) -> PQNState``.
      start: ``start(key, hp) -> (state, row)``: ``init`` and the evaluation at env step 0.
      train_periods: ``train_periods(state, hp, periods [P] int) -> (state, rows [P])``;
        ``[0..k)`` then ``[k..n)`` gives the same result as ``[0..n)``.
      learn: one rollout's gradient steps, see :func:`~purejaxdqn.pqn.learner.make_learn`.
      greedy_returns: ``greedy_returns(params, key) -> [eval_episodes]`` greedy episodes.
      act: ``act(params, obs [N, *obs_shape], key, epsilon) -> actions [N]``.
    """

    config: Config
    env: Environment
    env_params: EnvParams
    network: nn.Module
    init: Callable[[PRNGKey, HyperParams], PQNState]
    start: Callable[[PRNGKey, HyperParams], tuple[PQNState, Row]]
    train_periods: Callable[[PQNState, HyperParams, jax.Array], tuple[PQNState, Row]]
    learn: LearnFn
    greedy_returns: Callable[[Params, PRNGKey], jax.Array]
    act: Callable[[Params, jax.Array, PRNGKey, jax.Array], jax.Array]


def epsilon_at(hp: HyperParams, env_steps: jax.Array | float) -> jax.Array:
    """The exploration ε of a rollout that starts after ``env_steps`` env steps."""
    return acting.linear_epsilon(hp.eps_start, hp.eps_end, hp.exploration_steps, env_steps)


def make_pqn(
    config: Config,
    env: Environment | None = None,
    env_params: EnvParams = None,
    progress: ProgressFn | None = None,
) -> PQN:
    """Builds the pure functions of a PQN run.

    Args:
      config: the config (``algorithm='pqn'``); its static fields fix every shape.
      env: an env with a ``Discrete`` action space; default:
        :func:`~purejaxdqn.envs.discrete.make_env` of the config.
      env_params: its parameters (default: ``env.default_params``).
      progress: optional host function called from inside the program
        (``jax.debug.callback``) after every evaluation, once per seed.

    Raises:
      ConfigError: a config of another algorithm, an action space that is not discrete, or
        a network the env's observations cannot feed.
    """
    if config.algorithm != "pqn":
        raise ConfigError(f"make_pqn needs algorithm='pqn', got {config.algorithm!r}")
    env, env_params, num_actions, obs_shape = resolve_env(config, env, env_params, "PQN")
    n, steps = config.num_envs, config.num_steps
    rollouts_per_eval = config.eval_every // rollout_size(config)
    network = make_network(config, env, num_actions, obs_shape)
    learn = make_learn(config, network)
    v_reset = jax.vmap(env.reset, in_axes=(0, None))
    v_step = jax.vmap(env.step, in_axes=(0, 0, 0, None))

    # The ignores: flax annotates Module.apply as maybe returning (output, mutated variables).
    def q_values(params: Params, obs: jax.Array) -> jax.Array:
        return network.apply(params, obs)  # type: ignore[return-value]

    def act(params: Params, obs: jax.Array, key: PRNGKey, epsilon: jax.Array) -> jax.Array:
        return acting.epsilon_greedy(q_values(params, obs), key, epsilon)

    def greedy_returns(params: Params, key: PRNGKey) -> jax.Array:
        q_fn = lambda obs: q_values(params, obs)
        return acting.greedy_episode_returns(env, env_params, q_fn, key, config.eval_episodes)

    def init(key: PRNGKey, hp: HyperParams) -> PQNState:
        k_net, k_env = jax.random.split(jax.random.fold_in(key, INIT_STREAM))
        obs, env_state = v_reset(jax.random.split(k_env, n), env_params)
        params = dict(network.init(k_net, obs))
        return PQNState(
            params=params,
            opt_state=make_optimizer(config, hp).init(params["params"]),
            env_state=env_state,
            obs=obs,
            episode_return=jnp.zeros((n,), jnp.float32),
            key=key,
            diverged_step=jnp.int32(-1),
        )

    def collect(state: PQNState, hp: HyperParams, u: jax.Array, stats: metrics.PeriodStats):
        """Rollout ``u`` (global index): ``(state, Rollout [T, N], stats)``."""
        epsilon = epsilon_at(hp, (u * n * steps).astype(jnp.float32))

        def env_step(carry: tuple, t: jax.Array) -> tuple[tuple, Rollout]:
            state, stats = carry
            action = act(state.params, state.obs, stream_key(state.key, ACT_STREAM, t), epsilon)
            keys = jax.random.split(stream_key(state.key, ENV_STREAM, t), n)
            obs, env_state, reward, term, trunc, info = v_step(
                keys, state.env_state, action, env_params
            )
            reward = reward.astype(jnp.float32)
            done = term | trunc
            episode_return = state.episode_return + reward
            stats = metrics.add_episodes(stats, done, episode_return)
            step = Rollout(
                state.obs, action, reward * hp.reward_scale, term, trunc, info["final_obs"]
            )
            state = state.replace(
                env_state=env_state,
                obs=obs,
                episode_return=jnp.where(done, 0.0, episode_return),
            )
            return (state, stats), step

        ts = u * steps + jnp.arange(steps)
        (state, stats), rollout = jax.lax.scan(env_step, (state, stats), ts)
        return state, rollout, stats._replace(epsilon=epsilon)

    def update(carry: tuple, u: jax.Array) -> tuple[tuple, None]:
        """One rollout and its gradient steps; ``u`` is the rollout's global index."""
        state, hp, stats = carry
        state, rollout, stats = collect(state, hp, u, stats)
        # The network the rollout acted with values the states it reached (BatchNorm: its
        # running averages), all T x N of them in one batched call.
        q_next = q_values(state.params, rollout.next_obs)
        target = q_lambda_targets(
            rollout.reward, rollout.terminated, rollout.truncated, q_next, hp.gamma, hp.lam
        )
        flat = lambda x: x.reshape(n * steps, *x.shape[2:])
        env_steps = (u + 1) * n * steps
        state, loss_sum, q_sum = learn(
            state,
            hp,
            stream_key(state.key, LEARN_STREAM, u),
            flat(rollout.obs),
            flat(rollout.action),
            flat(target),
            env_steps,
        )
        stats = stats._replace(
            loss_sum=stats.loss_sum + loss_sum,
            q_sum=stats.q_sum + q_sum,
            updates=stats.updates + jnp.float32(steps_per_rollout(config)),
        )
        return (state, hp, stats), None

    evaluation_row, start_row = make_eval_rows(
        config.eval_every, greedy_returns, epsilon_at, progress
    )

    def train_periods(state: PQNState, hp: HyperParams, periods: jax.Array) -> tuple[PQNState, Row]:
        def one_period(state: PQNState, period: jax.Array) -> tuple[PQNState, Row]:
            us = period * rollouts_per_eval + jnp.arange(rollouts_per_eval)
            start_stats = metrics.zero_stats(epsilon_at(hp, jnp.float32(0.0)))
            (state, _, stats), _ = jax.lax.scan(update, (state, hp, start_stats), us)
            return state, evaluation_row(state, period + 1, stats)

        return jax.lax.scan(one_period, state, periods)

    def start(key: PRNGKey, hp: HyperParams) -> tuple[PQNState, Row]:
        state = init(key, hp)
        return state, start_row(key, state.params, hp)

    return PQN(
        config=config,
        env=env,
        env_params=env_params,
        network=network,
        init=init,
        start=start,
        train_periods=train_periods,
        learn=learn,
        greedy_returns=greedy_returns,
        act=act,
    )
