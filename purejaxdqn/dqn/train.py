"""The one-scan DQN trainer: wiring of env, replay, network, learner and evaluation.

A run is one ``jax.lax.scan`` over evaluation periods, each an inner scan over vector steps
of ``num_envs`` envs: ε-greedy action, env step (auto-reset), replay add, then, gated by a
``lax.cond`` on the scan step that every seed shares (so it stays a real branch under
``vmap``), a learning phase and a target update. Each period ends with a greedy evaluation
and one metrics row.

.. code-block:: python

    train = make_train(Config(env="CartPole-v1"))
    out = jax.jit(jax.vmap(train))(jax.vmap(jax.random.key)(jnp.arange(64)))
    out.metrics["eval_return"]  # [64, num_evals + 1]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from purejaxdqn import acting, metrics
from purejaxdqn import replay as replay_lib
from purejaxdqn.config import Config, ConfigError, HyperParams
from purejaxdqn.dqn.cadence import learning_cadence
from purejaxdqn.dqn.learner import make_learn_phase, make_optimizer
from purejaxdqn.dqn.state import (
    ACT_STREAM,
    ENV_STREAM,
    EVAL_STREAM,
    INIT_STREAM,
    LEARN_STREAM,
    TrainOutput,
    TrainState,
    stream_key,
)
from purejaxdqn.envs.discrete import make_env
from purejaxdqn.envs.protocol import Environment
from purejaxdqn.envs.spaces import Discrete
from purejaxdqn.networks import make_network, with_support
from purejaxdqn.types import EnvParams, Params, PRNGKey

#: ``progress(env_steps, eval_return)``, called on the host after each seed's evaluation.
ProgressFn = Callable[[np.ndarray, np.ndarray], None]
Row = dict[str, jax.Array]


class DQN(NamedTuple):
    """The pure functions of a DQN run (nothing compiled); :func:`make_train` composes them.

    Attributes:
      config: the config.
      env: the (discretized) environment.
      env_params: its parameters.
      network: the Q-network module.
      init: ``init(key, hp) -> TrainState``.
      start: ``start(key, hp) -> (state, row)``: ``init`` and the evaluation before any
        training (metrics row 0).
      train_periods: ``train_periods(state, hp, periods [P] int) -> (state, rows [P])``
        trains one eval period per entry (``0 <= i < num_evals``) and evaluates after each;
        ``[0..k)`` then ``[k..n)`` gives the same result as ``[0..n)``.
      learn_phase: ``learn_phase(state, hp, key, env_steps) -> (state, loss_sum, q_sum)``:
        one learning phase on the state's replay, as training runs it.
      greedy_returns: ``greedy_returns(params, key) -> [eval_episodes]`` greedy episodes.
      act: ``act(params, obs [N, *obs_shape], key, epsilon) -> actions [N]``.
    """

    config: Config
    env: Environment
    env_params: EnvParams
    network: nn.Module
    init: Callable[[PRNGKey, HyperParams], TrainState]
    start: Callable[[PRNGKey, HyperParams], tuple[TrainState, Row]]
    train_periods: Callable[[TrainState, HyperParams, jax.Array], tuple[TrainState, Row]]
    learn_phase: Callable[
        [TrainState, HyperParams, PRNGKey, jax.Array], tuple[TrainState, jax.Array, jax.Array]
    ]
    greedy_returns: Callable[[Params, PRNGKey], jax.Array]
    act: Callable[[Params, jax.Array, PRNGKey, jax.Array], jax.Array]


def epsilon_at(hp: HyperParams, env_steps: jax.Array | float) -> jax.Array:
    """The exploration ε after ``env_steps`` env steps (linear decay)."""
    return acting.linear_epsilon(hp.eps_start, hp.eps_end, hp.exploration_steps, env_steps)


def make_iteration(
    config: Config,
    env_params: EnvParams,
    act: Callable[[Params, jax.Array, PRNGKey, jax.Array], jax.Array],
    learn_phase: Callable[..., tuple[TrainState, jax.Array, jax.Array]],
    buffer: replay_lib.ReplayBuffer,
    v_step: Callable[..., tuple],
) -> Callable[[tuple, jax.Array], tuple[tuple, None]]:
    """The scan body of training, for one vector step ``t`` of ``num_envs`` envs.

    ``iteration((state, hp, stats), t) -> ((state, hp, stats), None)``: act, step, store, then
    maybe learn and update the target network.
    """
    n = config.num_envs
    cadence = learning_cadence(config)

    def iteration(carry: tuple, t: jax.Array) -> tuple[tuple, None]:
        """One vector step; ``t`` is the global iteration index, shared by all seeds."""
        state, hp, stats = carry
        steps_after = (t + 1) * n
        epsilon = epsilon_at(hp, (t * n).astype(jnp.float32))
        k_act = stream_key(state.key, ACT_STREAM, t)
        k_env = stream_key(state.key, ENV_STREAM, t)
        k_learn = stream_key(state.key, LEARN_STREAM, t)

        action = act(state.params, state.obs, k_act, epsilon)
        obs, env_state, reward, term, trunc, info = v_step(
            jax.random.split(k_env, n), state.env_state, action, env_params
        )
        reward = reward.astype(jnp.float32)
        transition = replay_lib.Transition(
            replay_lib.to_replay_dtype(config, state.obs),
            action,
            reward,
            replay_lib.to_replay_dtype(config, info["final_obs"]),
            term,
            trunc,
        )
        buffer_state = buffer.add(state.buffer_state, transition)
        done = term | trunc
        episode_return = state.episode_return + reward
        stats = metrics.add_episodes(stats, done, episode_return)
        state = state.replace(
            buffer_state=buffer_state,
            env_state=env_state,
            obs=obs,
            episode_return=jnp.where(done, 0.0, episode_return),
        )

        # Gated by the shared step: a real branch under vmap.
        do_learn = (steps_after >= config.learning_starts) & (steps_after % cadence.every == 0)
        zero = jnp.float32(0.0)
        state, loss_sum, q_sum = jax.lax.cond(
            do_learn,
            lambda: learn_phase(state, hp, k_learn, steps_after),
            lambda: (state, zero, zero),
        )
        buffer_state = replay_lib.scheduled_sum_tree_rebuild(
            config, state.buffer_state, steps_after
        )
        stats = stats._replace(
            loss_sum=stats.loss_sum + loss_sum,
            q_sum=stats.q_sum + q_sum,
            updates=stats.updates + jnp.where(do_learn, jnp.float32(cadence.gradient_steps), zero),
        )
        target_params = jax.lax.cond(
            steps_after % config.target_period == 0,
            lambda: optax.incremental_update(state.params, state.target_params, hp.tau),
            lambda: state.target_params,
        )
        state = state.replace(target_params=target_params, buffer_state=buffer_state)
        return (state, hp, stats._replace(epsilon=epsilon)), None

    return iteration


def make_dqn(
    config: Config,
    env: Environment | None = None,
    env_params: EnvParams = None,
    progress: ProgressFn | None = None,
) -> DQN:
    """Builds the pure functions of a DQN run.

    Args:
      config: the config; its static fields fix every shape.
      env: an env with a ``Discrete`` action space; default: :func:`make_env` of the config.
      env_params: its parameters (default: ``env.default_params``).
      progress: optional host function called from inside the program
        (``jax.debug.callback``) after every evaluation, once per seed.

    Raises:
      ConfigError: an action space that is not discrete, or a network the env's
        observations cannot feed.
    """
    if env is None:
        env, env_params = make_env(config)
    elif env_params is None:
        env_params = env.default_params
    space = env.action_space(env_params)
    if not isinstance(space, Discrete):
        raise ConfigError(f"DQN needs a Discrete action space, got {space!r}; wrap with Discretize")
    obs_shape = tuple(env.observation_space(env_params).shape)
    n = config.num_envs
    iters_per_eval = config.eval_every // n
    network = make_network(config, env, space.n, obs_shape)
    buffer = replay_lib.make_replay(config)
    learn_phase = make_learn_phase(config, network, buffer)
    v_reset = jax.vmap(env.reset, in_axes=(0, None))
    v_step = jax.vmap(env.step, in_axes=(0, 0, 0, None))

    # The ignores: flax annotates Module.apply as maybe returning (output, mutated variables).
    def act(params: Params, obs: jax.Array, key: PRNGKey, epsilon: jax.Array) -> jax.Array:
        return acting.epsilon_greedy(network.apply(params, obs), key, epsilon)  # type: ignore[arg-type]

    def greedy_returns(params: Params, key: PRNGKey) -> jax.Array:
        q_fn = lambda obs: network.apply(params, obs)
        return acting.greedy_episode_returns(env, env_params, q_fn, key, config.eval_episodes)  # type: ignore[arg-type]

    def init(key: PRNGKey, hp: HyperParams) -> TrainState:
        k_net, k_env = jax.random.split(jax.random.fold_in(key, INIT_STREAM))
        obs, env_state = v_reset(jax.random.split(k_env, n), env_params)
        params = with_support(config, network.init(k_net, obs), hp)
        stored = replay_lib.to_replay_dtype(config, obs[0])
        example = replay_lib.Transition(
            obs=stored,
            action=jnp.zeros((), jnp.int32),
            reward=jnp.zeros((), jnp.float32),
            next_obs=stored,
            terminated=jnp.zeros((), bool),
            truncated=jnp.zeros((), bool),
        )
        return TrainState(
            params=params,
            target_params=params,
            opt_state=make_optimizer(config, hp).init(params),
            buffer_state=buffer.init(example),
            env_state=env_state,
            obs=obs,
            episode_return=jnp.zeros((n,), jnp.float32),
            key=key,
            diverged_step=jnp.int32(-1),
        )

    iteration = make_iteration(config, env_params, act, learn_phase, buffer, v_step)

    def evaluation_row(state: TrainState, period: jax.Array, stats: metrics.PeriodStats) -> Row:
        returns = greedy_returns(state.params, stream_key(state.key, EVAL_STREAM, period))
        row = metrics.metrics_row(period * config.eval_every, returns, stats)
        if progress is not None:
            jax.debug.callback(progress, row["env_steps"], row["eval_return"])
        return row

    def train_periods(
        state: TrainState, hp: HyperParams, periods: jax.Array
    ) -> tuple[TrainState, Row]:
        def one_period(state: TrainState, period: jax.Array) -> tuple[TrainState, Row]:
            ts = period * iters_per_eval + jnp.arange(iters_per_eval)
            start_stats = metrics.zero_stats(epsilon_at(hp, jnp.float32(0.0)))
            (state, _, stats), _ = jax.lax.scan(iteration, (state, hp, start_stats), ts)
            return state, evaluation_row(state, period + 1, stats)

        return jax.lax.scan(one_period, state, periods)

    def start(key: PRNGKey, hp: HyperParams) -> tuple[TrainState, Row]:
        state = init(key, hp)
        zero = jnp.int32(0)
        returns = greedy_returns(state.params, stream_key(key, EVAL_STREAM, zero))
        return state, metrics.metrics_row(zero, returns, metrics.zero_stats(epsilon_at(hp, 0.0)))

    return DQN(
        config=config,
        env=env,
        env_params=env_params,
        network=network,
        init=init,
        start=start,
        train_periods=train_periods,
        learn_phase=learn_phase,
        greedy_returns=greedy_returns,
        act=act,
    )


def make_train(
    config: Config,
    env: Environment | None = None,
    env_params: EnvParams = None,
    progress: ProgressFn | None = None,
) -> Callable[..., TrainOutput]:
    """A pure function that runs a whole DQN training run for one seed.

    Args:
      config: the config.
      env: optional env (default: :func:`make_env` of the config).
      env_params: optional env parameters.
      progress: optional host callback, see :func:`make_dqn`.

    Returns:
      ``train(key, hp=None) -> TrainOutput``: ``key`` a PRNG key, ``hp`` optional traced
      :class:`HyperParams` (default ``config.hyperparams()``). Jit it; vmap it over keys for
      seeds and over ``hp`` for a sweep.
    """
    dqn = make_dqn(config, env, env_params, progress)

    def train(key: PRNGKey, hp: HyperParams | None = None) -> TrainOutput:
        if hp is None:
            hp = config.hyperparams()
        state, row0 = dqn.start(key, hp)
        state, rows = dqn.train_periods(state, hp, jnp.arange(config.num_evals))
        stacked = jax.tree.map(lambda a, b: jnp.concatenate([a[None], b]), row0, rows)
        return TrainOutput(params=state.params, metrics=stacked, diverged_step=state.diverged_step)

    return train
