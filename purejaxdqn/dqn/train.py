"""The one-scan DQN trainer: wiring of env, replay, network, learner and evaluation.

A run is one ``jax.lax.scan`` over evaluation periods; each trains ``eval_every`` env steps
(:mod:`purejaxdqn.dqn.loop`: ε-greedy action, env step with auto-reset, replay add, the
learning phases and target updates of the static schedule, with no branch per vector step)
and ends with a greedy evaluation and one metrics row.

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

from purejaxdqn import acting
from purejaxdqn import replay as replay_lib
from purejaxdqn.config import Config, HyperParams
from purejaxdqn.dqn.learner import make_learn_phase, make_optimizer
from purejaxdqn.dqn.loop import epsilon_at, make_period
from purejaxdqn.dqn.state import (
    INIT_STREAM,
    TrainOutput,
    TrainState,
)
from purejaxdqn.envs.discrete import resolve_env
from purejaxdqn.envs.protocol import Environment
from purejaxdqn.eval_rows import make_eval_rows
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


def make_dqn(
    config: Config,
    env: Environment | None = None,
    env_params: EnvParams = None,
    progress: ProgressFn | None = None,
) -> DQN:
    """Builds the pure functions of a DQN run.

    Args:
      config: the config; its static fields fix every shape.
      env: an env with a ``Discrete`` action space; default:
        :func:`~purejaxdqn.envs.discrete.make_env` of the config.
      env_params: its parameters (default: ``env.default_params``).
      progress: optional host function called from inside the program
        (``jax.debug.callback``) after every evaluation, once per seed.

    Raises:
      ConfigError: an action space that is not discrete, or a network the env's
        observations cannot feed.
    """
    env, env_params, num_actions, obs_shape = resolve_env(config, env, env_params, "DQN")
    n = config.num_envs
    network = make_network(config, env, num_actions, obs_shape)
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

    period_fn = make_period(config, env_params, act, learn_phase, buffer, v_step)

    evaluation_row, start_row = make_eval_rows(
        config.eval_every, greedy_returns, epsilon_at, progress
    )

    def train_periods(
        state: TrainState, hp: HyperParams, periods: jax.Array
    ) -> tuple[TrainState, Row]:
        def one_period(state: TrainState, period: jax.Array) -> tuple[TrainState, Row]:
            state, stats = period_fn(state, hp, period)
            return state, evaluation_row(state, period + 1, stats)

        return jax.lax.scan(one_period, state, periods)

    def start(key: PRNGKey, hp: HyperParams) -> tuple[TrainState, Row]:
        state = init(key, hp)
        return state, start_row(key, state.params, hp)

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
      env: optional env (default: :func:`~purejaxdqn.envs.discrete.make_env` of the config).
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
