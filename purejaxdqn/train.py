"""The one-scan DQN trainer.

A whole training run is one ``jax.lax.scan`` over evaluation periods, each an inner scan over
vector steps of ``num_envs`` envs. One iteration: ε-greedy action, env step (auto-reset),
replay add, then — gated by ``lax.cond`` on the scan step, which every seed shares, so the
branch stays a real branch under ``jax.vmap`` — a learning phase and a target update. Each
period ends with a greedy evaluation on fresh episodes and emits one metrics row.

.. code-block:: python

    train = make_train(Config(env="CartPole-v1"))
    out = jax.jit(jax.vmap(train))(jax.random.split(jax.random.key(0), 64))
    out.metrics["eval_return"]  # [64, num_evals + 1]

Everything derives its randomness from the seed key by ``fold_in`` with the scan step, so no
key is ever reused, seeds are independent, and a run split into chunks gives the same result
as an uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import chex
import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax

from purejaxdqn import envs as envs_lib
from purejaxdqn import losses
from purejaxdqn import replay as replay_lib
from purejaxdqn.config import Config, ConfigError, HyperParams
from purejaxdqn.envs.protocol import Environment
from purejaxdqn.envs.spaces import Box, Discrete
from purejaxdqn.networks import QNetwork, StateActionQNetwork
from purejaxdqn.replay import ReplayBuffer, Transition, sequence_replay, uniform_replay

Params = Any
ProgressFn = Callable[[np.ndarray, np.ndarray], None]

# Purposes of the per-seed key streams: fold_in(seed_key, purpose) then fold_in(·, step).
_INIT, _ACT, _ENV, _LEARN, _EVAL = range(5)


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
      diverged_step: env step (per seed) after which the loss or the parameters were first
        found non-finite, ``-1`` while they are finite. From then on the seed's parameters
        and optimizer state stay at their last finite values (the NaN guard).
    """

    params: Params
    target_params: Params
    opt_state: optax.OptState
    buffer_state: Any
    env_state: Any
    obs: jax.Array
    episode_return: jax.Array
    key: jax.Array
    diverged_step: jax.Array


class TrainOutput(NamedTuple):
    """What :func:`make_train`'s ``train`` returns (one seed; vmap adds ``[S]``).

    Attributes:
      params: final online parameters.
      metrics: dict of arrays with a leading ``[T]`` axis, ``T = num_evals + 1`` (the first
        row is the evaluation before any training): ``env_steps``, ``eval_return`` (mean over
        eval episodes), ``eval_returns`` ``[T, eval_episodes]``, ``train_return`` (mean return
        of the ε-greedy episodes finished in the period, NaN if none), ``loss``, ``q_mean``,
        ``epsilon``, ``updates``.
      diverged_step: env step at which the NaN guard stopped the seed's updates, ``-1`` if
        it never did (see :class:`TrainState`).
    """

    params: Params
    metrics: dict[str, jax.Array]
    diverged_step: jax.Array


class DQN(NamedTuple):
    """The pieces of a DQN run, for users who need more than :func:`make_train`.

    Attributes:
      config: the static config.
      env: the (discretized) environment.
      env_params: its parameters.
      network: the Q-network module.
      init: ``init(key, hp) -> TrainState``.
      start: ``start(key, hp) -> (state, first_row)``: ``init`` plus the evaluation before
        any training (metrics row 0).
      run: ``run(state, hp, period_indices) -> (state, metrics)`` trains one eval period per
        entry of ``period_indices`` (``[P]`` ints, ``0 <= i < num_evals``) and evaluates after
        each; chunks ``[0..k)``, ``[k..n)`` give the same result as ``[0..n)``.
      learn: ``learn(state, hp, key, env_steps) -> (state, loss_sum, q_sum)``: one learning phase
        (``learning_schedule(config)[1]`` gradient steps) on the state's replay, as ``run``
        does it; for timing the updates alone and for driving training by hand.
      evaluate: ``evaluate(params, key) -> returns [eval_episodes]`` greedy episodes.
      act: ``act(params, obs [N, *obs_shape], key, epsilon) -> actions [N]``.
    """

    config: Config
    env: Environment
    env_params: Any
    network: nn.Module
    init: Callable[[jax.Array, HyperParams], TrainState]
    start: Callable[[jax.Array, HyperParams], tuple[TrainState, dict[str, jax.Array]]]
    run: Callable[[TrainState, HyperParams, jax.Array], tuple[TrainState, dict[str, jax.Array]]]
    learn: Callable[
        [TrainState, HyperParams, jax.Array, jax.Array], tuple[TrainState, jax.Array, jax.Array]
    ]
    evaluate: Callable[[Params, jax.Array], jax.Array]
    act: Callable[[Params, jax.Array, jax.Array, jax.Array], jax.Array]


def make_env(config: Config) -> tuple[Environment, Any]:
    """The env named by ``config.env`` with a discrete action space.

    A ``Box`` action space is discretized into ``config.bins`` values per dimension.

    Raises:
      ConfigError: for an unknown env or an action space DQN cannot handle.
    """
    try:
        env, env_params = envs_lib.make(config.env)
    except ValueError as e:
        raise ConfigError(f"env: {e}") from e
    space = env.action_space(env_params)
    if config.q_network == "state_action" and not isinstance(space, Box):
        raise ConfigError(
            f"q_network='state_action' needs a Box action space; {config.env!r} has {space!r}"
        )
    if isinstance(space, Box):
        try:
            env = envs_lib.Discretize(env, bins=config.bins)
        except ValueError as e:
            raise ConfigError(f"env {config.env!r} cannot be discretized: {e}") from e
    elif not isinstance(space, Discrete):
        raise ConfigError(f"env {config.env!r}: unsupported action space {space!r}")
    return env, env_params


def make_network(
    config: Config, env: Environment, num_actions: int, obs_shape: tuple[int, ...]
) -> nn.Module:
    """The Q-network picked by the config: ``apply(params, obs [..., *obs_shape]) -> [..., A]``.

    Args:
      config: the config (``hidden``, ``conv``, ``dueling``, ``q_network``).
      env: the env; for ``q_network='state_action'`` a :class:`~purejaxdqn.envs.Discretize`
        whose grid ``env.actions`` ``[A, d]`` the network scores.
      num_actions: ``A``.
      obs_shape: the shape of one observation.

    Raises:
      ConfigError: ``q_network='state_action'`` on an env without an action grid; ``conv``
        layers on observations that are not images ``[H, W, C]`` or that they shrink to
        nothing (each 3x3 ``VALID`` layer removes 2 rows and 2 columns).
    """
    if config.conv and len(obs_shape) != 3:
        raise ConfigError(
            f"conv layers need image observations [H, W, C]; {config.env} observations have "
            f"shape {tuple(obs_shape)} (use conv=[] for an MLP on flat observations)"
        )
    if config.conv and min(obs_shape[:2]) - 2 * len(config.conv) < 1:
        raise ConfigError(
            f"{len(config.conv)} conv layers (3x3, VALID) leave no pixels of {config.env}'s "
            f"{obs_shape[0]}x{obs_shape[1]} observations"
        )
    if config.q_network == "state_action":
        grid = getattr(env, "actions", None)
        if grid is None or np.shape(grid)[0] != num_actions:
            raise ConfigError(
                "q_network='state_action' needs an env with an action grid `actions` [A, d] "
                "(a Box env wrapped in Discretize)"
            )
        return StateActionQNetwork(
            action_grid=tuple(tuple(float(v) for v in row) for row in np.asarray(grid)),
            hidden=config.hidden,
            obs_ndim=len(obs_shape),
            conv=config.conv,
        )
    return QNetwork(
        num_actions=num_actions,
        hidden=config.hidden,
        obs_ndim=len(obs_shape),
        conv=config.conv,
        dueling=config.dueling,
        num_atoms=config.num_atoms if config.distributional else 0,
        v_min=config.v_min,
        v_max=config.v_max,
    )


def with_support(config: Config, params: Params, hp: HyperParams) -> Params:
    """For C51, the network variables with the support ``z`` set to
    ``linspace(hp.v_min, hp.v_max, num_atoms)`` (traced, so sweepable); else ``params``."""
    if not config.distributional:
        return params
    z = jnp.linspace(hp.v_min, hp.v_max, config.num_atoms)
    return {**params, "support": {"z": z}}


def make_replay(config: Config) -> ReplayBuffer:
    """The replay buffer: Flashbax's item buffer for 1-step uniform replay, else a buffer of
    per-env time series sampled as ``[B, n_step]`` sequences (``n_step`` 1 when only
    prioritized), with a sum tree over sequence starts when ``prioritized``."""
    if config.n_step == 1 and not config.prioritized:
        return uniform_replay(config.capacity, config.batch_size)
    return sequence_replay(
        config.capacity, config.batch_size, config.num_envs, config.n_step, config.prioritized
    )


def per_beta(config: Config, hp: HyperParams, env_steps: jax.Array) -> jax.Array:
    """PER's importance exponent: linear from ``per_beta_start`` at ``learning_starts`` to 1
    at ``total_steps`` (env steps, from the shared scan step)."""
    span = max(config.total_steps - config.learning_starts, 1)
    frac = jnp.clip((env_steps - config.learning_starts) / span, 0.0, 1.0)
    return hp.per_beta_start + frac * (1.0 - hp.per_beta_start)


def maintain_replay(config: Config, buffer_state: Any, env_steps: jax.Array) -> Any:
    """Every ``per_rebuild_period`` env steps, rebuilds a prioritized buffer's float32 sum
    tree from its leaves (a ``lax.cond`` on the shared step); identity otherwise."""
    if not config.prioritized or config.per_rebuild_period == 0:
        return buffer_state
    return jax.lax.cond(
        env_steps % config.per_rebuild_period == 0,
        replay_lib.rebuild_sum_tree,
        lambda s: s,
        buffer_state,
    )


def one_step_view(hp: HyperParams, experience: Transition) -> tuple[Transition, jax.Array]:
    """A sampled batch as one-step transitions and their bootstrap discounts.

    Args:
      hp: traced hyperparameters (``gamma``).
      experience: transitions ``[B]`` or sequences ``[B, n]`` (with ``truncated``).

    Returns:
      ``(batch [B], discount_t [B])``. For sequences, ``batch.reward`` is the n-step return
      and ``batch.next_obs`` the observation bootstrapped from (see
      :func:`losses.n_step_return`).
    """
    if experience.reward.ndim == 1:
        discount = hp.gamma * (1.0 - experience.terminated.astype(jnp.float32))
        return experience, discount
    done = experience.terminated | experience.truncated
    g, discount, last = jax.vmap(losses.n_step_return, in_axes=(0, 0, 0, None))(
        experience.reward, experience.terminated, done, hp.gamma
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


def epsilon_schedule(hp: HyperParams, env_steps: jax.Array) -> jax.Array:
    """Linear decay from ``eps_start`` to ``eps_end`` over ``exploration_steps`` env steps."""
    frac = jnp.clip(env_steps / jnp.maximum(hp.exploration_steps, 1.0), 0.0, 1.0)
    return hp.eps_start + frac * (hp.eps_end - hp.eps_start)


def learning_schedule(config: Config) -> tuple[int, int]:
    """``(env steps between learning phases, gradient steps per phase)``.

    A phase runs every ``train_every`` env steps, or every vector step when ``num_envs`` is
    larger; it then takes proportionally more gradient steps, keeping the replay ratio
    ``gradient_steps / train_every``.
    """
    learn_every = max(config.train_every, config.num_envs)
    per_phase = config.gradient_steps * max(1, config.num_envs // config.train_every)
    return learn_every, per_phase


def num_updates(config: Config) -> int:
    """Gradient steps in a whole run (per seed)."""
    learn_every, per_phase = learning_schedule(config)
    phases = config.total_steps // learn_every - -(-config.learning_starts // learn_every) + 1
    return max(phases, 0) * per_phase


class CenteredRmsState(NamedTuple):
    """Running averages of :func:`scale_by_centered_rms`: ``E[g]`` and ``E[g^2]``."""

    mean: optax.Updates
    mean_sq: optax.Updates


def scale_by_centered_rms(
    decay: chex.Numeric, eps: chex.Numeric, eps_in_sqrt: bool
) -> optax.GradientTransformation:
    """Centered RMS scaling: ``g / sqrt(var + eps)`` or ``g / (sqrt(var) + eps)``.

    ``var = E[g^2] - E[g]^2`` with both averages decaying by ``decay`` from zero. The variance
    is clamped at 0: in float32 the difference can round below 0 when a gradient is nearly
    constant, and the eps-outside form would then take the sqrt of a negative number.
    """

    def init(params: optax.Params) -> CenteredRmsState:
        zeros = jax.tree.map(jnp.zeros_like, params)
        return CenteredRmsState(mean=zeros, mean_sq=zeros)

    def update(
        updates: optax.Updates, state: CenteredRmsState, params: optax.Params | None = None
    ) -> tuple[optax.Updates, CenteredRmsState]:
        del params
        mean = jax.tree.map(lambda m, g: decay * m + (1 - decay) * g, state.mean, updates)
        mean_sq = jax.tree.map(
            lambda v, g: decay * v + (1 - decay) * jnp.square(g), state.mean_sq, updates
        )

        def scale(g: jax.Array, m: jax.Array, v: jax.Array) -> jax.Array:
            var = jnp.maximum(v - jnp.square(m), 0.0)
            return g / jnp.sqrt(var + eps) if eps_in_sqrt else g / (jnp.sqrt(var) + eps)

        scaled = jax.tree.map(scale, updates, mean, mean_sq)
        return scaled, CenteredRmsState(mean=mean, mean_sq=mean_sq)

    return optax.GradientTransformation(init, update)


def make_optimizer(config: Config, hp: HyperParams) -> optax.GradientTransformation:
    """Global-norm clipping, then Adam or centered RMSProp.

    ``optimizer='rmsprop'`` is the Nature DQN / Roderick et al. (2017) form,
    ``g / sqrt(E[g^2] - E[g]^2 + eps)``; ``'rmsprop_torch'`` is PyTorch's ``RMSprop(centered=
    True)``, ``g / (sqrt(E[g^2] - E[g]^2) + eps)``, which the MinAtar paper's DQN uses (with
    ``momentum=0.95``). Both average with ``rms_decay`` and apply heavy-ball momentum
    ``rms_momentum`` (0 = none) to the scaled gradient *before* the learning rate, as PyTorch
    does: the momentum buffer is multiplied by the current rate, which matters when the rate
    decays. The learning rate decays linearly from ``lr`` to ``lr * lr_end_fraction`` over the
    run's gradient steps.
    """
    lr = optax.linear_schedule(hp.lr, hp.lr * hp.lr_end_fraction, max(num_updates(config), 1))
    if config.optimizer == "adam":
        opt = optax.adam(lr, eps=hp.adam_eps)
    else:
        opt = optax.chain(
            scale_by_centered_rms(
                hp.rms_decay, hp.rms_eps, eps_in_sqrt=config.optimizer == "rmsprop"
            ),
            optax.trace(decay=hp.rms_momentum),
            optax.scale_by_learning_rate(lr),
        )
    return optax.chain(optax.clip_by_global_norm(hp.max_grad_norm), opt)


def td_loss(
    config: Config,
    hp: HyperParams,
    q_tm1: jax.Array,
    batch: Transition,
    q_t: jax.Array,
    q_t_selector: jax.Array | None = None,
    discount_t: jax.Array | None = None,
    weights: jax.Array | None = None,
) -> tuple[jax.Array, jax.Array]:
    """Mean TD loss over a batch.

    Args:
      config: the config (``loss`` picks Huber or squared error, ``double_q`` the target).
      hp: traced hyperparameters (``gamma``, ``huber_delta``).
      q_tm1: online Q-values at ``batch.obs``, ``[B, A]`` (or any ``[B, A']`` whose column
        ``batch.action`` is the taken action's value: the Q(s, a) learner passes ``[B, 1]``).
      batch: transitions with leading axis ``[B]``.
      q_t: target-network Q-values at ``batch.next_obs``, ``[B, A]``.
      q_t_selector: online Q-values at ``batch.next_obs``, ``[B, A]`` (Double DQN only).
      discount_t: bootstrap discounts ``[B]`` (n-step: ``gamma^m (1 - terminated)``);
        default ``gamma * (1 - batch.terminated)``.
      weights: per-item loss weights ``[B]`` (prioritized replay's importance weights);
        default 1.

    Returns:
      ``(loss, td_errors [B])``. Termination zeroes the bootstrap; truncation does not.
    """
    chex.assert_rank([q_tm1, q_t], 2)
    if discount_t is None:
        discount_t = hp.gamma * (1.0 - batch.terminated.astype(q_tm1.dtype))
    r_t = batch.reward.astype(q_tm1.dtype)
    if config.double_q:
        if q_t_selector is None:
            raise ValueError("td_loss: double_q needs q_t_selector (online Q at next_obs)")
        td = jax.vmap(losses.double_q_learning_td_error)(
            q_tm1, batch.action, r_t, discount_t, q_t, q_t_selector
        )
    else:
        td = jax.vmap(losses.q_learning_td_error)(q_tm1, batch.action, r_t, discount_t, q_t)
    if config.loss == "huber":
        per_item = losses.huber_loss(td, hp.huber_delta)
    else:
        per_item = losses.l2_loss(td)
    if weights is not None:
        per_item = weights * per_item
    return jnp.mean(per_item), td


def _all_finite(tree: Any) -> jax.Array:
    """Whether every floating-point leaf of ``tree`` is finite (a scalar bool)."""
    leaves = [
        jnp.all(jnp.isfinite(x))
        for x in jax.tree.leaves(tree)
        if jnp.issubdtype(x.dtype, jnp.inexact)
    ]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.bool_(True)


def categorical_td_loss(
    logits_tm1: jax.Array,
    batch: Transition,
    discount_t: jax.Array,
    logits_t: jax.Array,
    a_t: jax.Array,
    z: jax.Array,
    weights: jax.Array | None = None,
) -> tuple[jax.Array, jax.Array]:
    """Mean C51 loss over a batch (cross-entropy to the projected target distribution).

    Args:
      logits_tm1: online logits at ``batch.obs``, ``[B, A, K]``.
      batch: one-step view of the sample, leading axis ``[B]`` (``reward`` may be n-step).
      discount_t: bootstrap discounts ``[B]`` (0 after a termination).
      logits_t: target-network logits at ``batch.next_obs``, ``[B, A, K]``.
      a_t: bootstrap actions ``[B]``: argmax of the target net's Q, or of the online net's
        for Double DQN.
      z: the support ``[K]``.
      weights: per-item loss weights ``[B]`` (PER); default 1.

    Returns:
      ``(loss, per_item_loss [B])``; the per-item losses are unweighted (PER priorities).
    """
    chex.assert_rank([logits_tm1, logits_t], 3)
    per_item = jax.vmap(losses.categorical_q_learning_loss, in_axes=(0, 0, 0, 0, 0, 0, None))(
        logits_tm1, batch.action, batch.reward.astype(jnp.float32), discount_t, logits_t, a_t, z
    )
    weighted = per_item if weights is None else weights * per_item
    return jnp.mean(weighted), per_item


def make_dqn(
    config: Config,
    env: Environment | None = None,
    env_params: Any = None,
    progress: ProgressFn | None = None,
) -> DQN:
    """Builds the pure functions of a DQN run (nothing is compiled here).

    Args:
      config: the config; its static fields fix every shape.
      env: an env with a ``Discrete`` action space; default: built from ``config.env``.
      env_params: its parameters (default: ``env.default_params``).
      progress: optional host function ``progress(env_steps, eval_return)`` called from inside
        the compiled program (``jax.debug.callback``) after every evaluation, once per seed.

    Returns:
      A :class:`DQN`.
    """
    if env is None:
        env, env_params = make_env(config)
    elif env_params is None:
        env_params = env.default_params
    space = env.action_space(env_params)
    if not isinstance(space, Discrete):
        raise ConfigError(f"DQN needs a Discrete action space, got {space!r}; wrap with Discretize")
    num_actions = space.n
    obs_shape = tuple(env.observation_space(env_params).shape)
    max_episode_steps = int(env.max_episode_steps(env_params))

    n = config.num_envs
    iters_per_eval = config.eval_every // n
    learn_every_steps, updates_per_phase = learning_schedule(config)

    network = make_network(config, env, num_actions, obs_shape)
    buffer: ReplayBuffer = make_replay(config)
    v_reset = jax.vmap(env.reset, in_axes=(0, None))
    v_step = jax.vmap(env.step, in_axes=(0, 0, 0, None))

    def stored(obs: jax.Array) -> jax.Array:
        """Observations as replay keeps them (``replay_obs_dtype``; the torso casts back)."""
        return obs.astype(config.replay_obs_dtype)

    def act(params: Params, obs: jax.Array, key: jax.Array, epsilon: jax.Array) -> jax.Array:
        q = network.apply(params, obs)
        greedy = jnp.argmax(q, axis=-1).astype(jnp.int32)
        k_explore, k_action = jax.random.split(key)
        explore = jax.random.uniform(k_explore, greedy.shape) < epsilon
        random_action = jax.random.randint(k_action, greedy.shape, 0, num_actions, jnp.int32)
        return jnp.where(explore, random_action, greedy)

    def evaluate(params: Params, key: jax.Array) -> jax.Array:
        k_reset, k_step = jax.random.split(key)
        obs, env_state = v_reset(jax.random.split(k_reset, config.eval_episodes), env_params)
        zeros = jnp.zeros((config.eval_episodes,), jnp.float32)
        done = jnp.zeros((config.eval_episodes,), bool)

        def cond(carry: tuple) -> jax.Array:
            t, _, _, _, done = carry
            return (t < max_episode_steps) & ~jnp.all(done)

        def body(carry: tuple) -> tuple:
            t, obs, env_state, ret, done = carry
            action = jnp.argmax(network.apply(params, obs), axis=-1).astype(jnp.int32)
            keys = jax.random.split(jax.random.fold_in(k_step, t), config.eval_episodes)
            obs, env_state, reward, term, trunc, _ = v_step(keys, env_state, action, env_params)
            ret = ret + jnp.where(done, 0.0, reward.astype(jnp.float32))
            return t + 1, obs, env_state, ret, done | term | trunc

        carry = (jnp.int32(0), obs, env_state, zeros, done)
        return jax.lax.while_loop(cond, body, carry)[3]

    def init(key: jax.Array, hp: HyperParams) -> TrainState:
        k_init = jax.random.fold_in(key, _INIT)
        k_net, k_env = jax.random.split(k_init)
        obs, env_state = v_reset(jax.random.split(k_env, n), env_params)
        params = with_support(config, network.init(k_net, obs), hp)
        example = Transition(
            obs=stored(obs[0]),
            action=jnp.zeros((), jnp.int32),
            reward=jnp.zeros((), jnp.float32),
            next_obs=stored(obs[0]),
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

    def make_loss_fn(
        params: Params,
        target_params: Params,
        batch: Transition,
        discount_t: jax.Array,
        weights: jax.Array | None,
        hp: HyperParams,
    ) -> Callable[[Params], tuple[jax.Array, tuple[jax.Array, jax.Array]]]:
        """``loss_fn(p) -> (loss, (mean Q of the taken actions, priority signal [B]))``; the
        signal is the TD error (C51: the per-item loss)."""
        q_sel_params = params if config.double_q else target_params

        def taken(q: jax.Array, action: jax.Array) -> jax.Array:
            return jnp.mean(jnp.take_along_axis(q, action[:, None], axis=-1))

        if config.distributional:
            logits_t, z = network.apply(target_params, batch.next_obs, return_logits=True)
            a_t = jnp.argmax(network.apply(q_sel_params, batch.next_obs), axis=-1)

            def c51_loss_fn(p: Params) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
                logits_tm1, z_p = network.apply(p, batch.obs, return_logits=True)
                loss, per_item = categorical_td_loss(
                    logits_tm1, batch, discount_t, logits_t, a_t, z, weights
                )
                q_tm1 = jnp.sum(jax.nn.softmax(logits_tm1, axis=-1) * z_p, axis=-1)
                return loss, (taken(q_tm1, batch.action), per_item)

            return c51_loss_fn

        q_t = network.apply(target_params, batch.next_obs)
        selector = network.apply(params, batch.next_obs) if config.double_q else None

        def q_loss_fn(p: Params) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
            if config.q_network == "state_action":
                # Q(s_t, a_t) scores only the taken grid action ([B, 1], and the batch's
                # action becomes index 0 of it) instead of the whole grid [B, K].
                q_tm1 = network.apply(p, batch.obs, batch.action)[:, None]
                td_batch = batch._replace(action=jnp.zeros_like(batch.action))
            else:
                q_tm1, td_batch = network.apply(p, batch.obs), batch
            loss, td = td_loss(config, hp, q_tm1, td_batch, q_t, selector, discount_t, weights)
            return loss, (taken(q_tm1, td_batch.action), td)

        return q_loss_fn

    def learn(
        params: Params,
        opt_state: optax.OptState,
        target_params: Params,
        buffer_state: Any,
        hp: HyperParams,
        key: jax.Array,
        beta: jax.Array,
        diverged: jax.Array,
    ) -> tuple[Params, optax.OptState, Any, jax.Array, jax.Array, jax.Array]:
        """A learning phase: ``updates_per_phase`` gradient steps on fresh replay samples.

        With prioritized replay each update weights its loss by the importance weights
        (exponent ``beta``) and then sets the sampled priorities from its TD errors.

        The NaN guard: if the phase leaves a non-finite loss or parameter, or the seed has
        already ``diverged``, the phase's result is dropped and the seed keeps its last
        finite ``params``, ``opt_state`` and replay priorities.

        Returns:
          ``(params, opt_state, buffer_state, loss_sum, q_sum, finite)``: sums over the
          phase's updates, and whether the phase stayed finite.
        """
        optimizer = make_optimizer(config, hp)

        def one_update(carry: tuple, j: jax.Array) -> tuple[tuple, tuple]:
            # The buffer is carried only when updates change it (priorities): a loop-carried
            # uniform buffer would cost XLA a copy of the whole replay per phase.
            params, opt_state, replay = carry
            current = replay if config.prioritized else buffer_state
            sample = buffer.sample(current, jax.random.fold_in(key, j))
            batch, discount_t = one_step_view(hp, sample.experience)
            weights = None
            if config.prioritized:
                weights = replay_lib.importance_weights(sample.probabilities, beta)
            loss_fn = make_loss_fn(params, target_params, batch, discount_t, weights, hp)
            (loss, (q_mean, td)), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            if config.prioritized:
                priorities = replay_lib.priorities_from_td(td, hp.per_alpha, hp.per_eps)
                # A zero-probability sample (not a valid item) keeps priority 0.
                priorities = jnp.where(sample.probabilities > 0, priorities, 0.0)
                replay = buffer.set_priorities(replay, sample.indices, priorities)
            params = optax.apply_updates(params, updates)
            return (params, opt_state, replay), (loss, q_mean)

        replay_in = buffer_state if config.prioritized else None
        (new_params, new_opt_state, replay), (loss, q_mean) = jax.lax.scan(
            one_update, (params, opt_state, replay_in), jnp.arange(updates_per_phase)
        )
        loss_sum, q_sum = jnp.sum(loss), jnp.sum(q_mean)
        finite = jnp.isfinite(loss_sum) & _all_finite(new_params)
        keep = finite & ~diverged

        def select(new: Any, old: Any) -> Any:
            return jax.tree.map(lambda a, b: jnp.where(keep, a, b), new, old)

        params, opt_state = select((new_params, new_opt_state), (params, opt_state))
        if config.prioritized:  # only the priorities changed
            buffer_state = buffer_state.replace(
                sum_tree_state=select(replay.sum_tree_state, buffer_state.sum_tree_state)
            )
        return params, opt_state, buffer_state, loss_sum, q_sum, finite

    def learn_phase(
        state: TrainState, hp: HyperParams, key: jax.Array, env_steps: jax.Array
    ) -> tuple[TrainState, jax.Array, jax.Array]:
        """One learning phase on ``state``'s replay, as the trainer runs it (NaN guard and
        prioritized replay included); the target network is left alone.

        Returns:
          ``(state, loss_sum, q_sum)``; ``state.diverged_step`` is set to ``env_steps`` if
          this phase is the first non-finite one.
        """
        params, opt_state, buffer_state, loss_sum, q_sum, finite = learn(
            state.params,
            state.opt_state,
            state.target_params,
            state.buffer_state,
            hp,
            key,
            per_beta(config, hp, jnp.asarray(env_steps, jnp.float32)),
            state.diverged_step >= 0,
        )
        diverged_step = jnp.where(finite, state.diverged_step, jnp.asarray(env_steps, jnp.int32))
        state = state.replace(
            params=params,
            opt_state=opt_state,
            buffer_state=buffer_state,
            diverged_step=jnp.where(state.diverged_step >= 0, state.diverged_step, diverged_step),
        )
        return state, loss_sum, q_sum

    def iteration(carry: tuple, t: jax.Array) -> tuple[tuple, None]:
        """One vector step; ``t`` is the global iteration index, shared by all seeds."""
        state, hp, acc = carry
        steps_before = t * n
        steps_after = steps_before + n
        epsilon = epsilon_schedule(hp, steps_before.astype(jnp.float32))
        k_act = jax.random.fold_in(jax.random.fold_in(state.key, _ACT), t)
        k_env = jax.random.fold_in(jax.random.fold_in(state.key, _ENV), t)
        k_learn = jax.random.fold_in(jax.random.fold_in(state.key, _LEARN), t)

        action = act(state.params, state.obs, k_act, epsilon)
        obs, env_state, reward, term, trunc, info = v_step(
            jax.random.split(k_env, n), state.env_state, action, env_params
        )
        reward = reward.astype(jnp.float32)
        transition = Transition(
            stored(state.obs), action, reward, stored(info["final_obs"]), term, trunc
        )
        buffer_state = buffer.add(state.buffer_state, transition)
        done = term | trunc
        episode_return = state.episode_return + reward
        acc = dict(acc)
        acc["ep_return_sum"] += jnp.sum(jnp.where(done, episode_return, 0.0))
        acc["ep_count"] += jnp.sum(done).astype(jnp.float32)
        state = state.replace(
            buffer_state=buffer_state,
            env_state=env_state,
            obs=obs,
            episode_return=jnp.where(done, 0.0, episode_return),
        )

        # Gating from the shared step: a real branch under vmap.
        do_learn = (steps_after >= config.learning_starts) & (steps_after % learn_every_steps == 0)
        zero = jnp.float32(0.0)
        state, loss_sum, q_sum = jax.lax.cond(
            do_learn,
            lambda: learn_phase(state, hp, k_learn, steps_after),
            lambda: (state, zero, zero),
        )
        buffer_state = maintain_replay(config, state.buffer_state, steps_after)
        acc["loss_sum"] += loss_sum
        acc["q_sum"] += q_sum
        acc["updates"] += jnp.where(do_learn, jnp.float32(updates_per_phase), zero)
        target_params = jax.lax.cond(
            steps_after % config.target_period == 0,
            lambda: optax.incremental_update(state.params, state.target_params, hp.tau),
            lambda: state.target_params,
        )
        state = state.replace(target_params=target_params, buffer_state=buffer_state)
        acc["epsilon"] = epsilon
        return (state, hp, acc), None

    def eval_row(state: TrainState, period: jax.Array, acc: dict) -> dict[str, jax.Array]:
        k_eval = jax.random.fold_in(jax.random.fold_in(state.key, _EVAL), period)
        returns = evaluate(state.params, k_eval)
        env_steps = period * config.eval_every
        updates = acc["updates"]
        row = {
            "env_steps": env_steps,
            "eval_return": jnp.mean(returns),
            "eval_returns": returns,
            "train_return": acc["ep_return_sum"] / acc["ep_count"],
            "loss": jnp.where(updates > 0, acc["loss_sum"] / jnp.maximum(updates, 1.0), jnp.nan),
            "q_mean": jnp.where(updates > 0, acc["q_sum"] / jnp.maximum(updates, 1.0), jnp.nan),
            "epsilon": acc["epsilon"],
            "updates": updates,
        }
        if progress is not None:
            jax.debug.callback(progress, env_steps, row["eval_return"])
        return row

    def zero_acc(hp: HyperParams) -> dict[str, jax.Array]:
        z = jnp.float32(0.0)
        acc = {k: z for k in ("ep_return_sum", "ep_count", "loss_sum", "q_sum", "updates")}
        acc["epsilon"] = epsilon_schedule(hp, z)
        return acc

    def run(
        state: TrainState, hp: HyperParams, periods: jax.Array
    ) -> tuple[TrainState, dict[str, jax.Array]]:
        def one_period(state: TrainState, period: jax.Array) -> tuple[TrainState, dict]:
            ts = period * iters_per_eval + jnp.arange(iters_per_eval)
            (state, _, acc), _ = jax.lax.scan(iteration, (state, hp, zero_acc(hp)), ts)
            return state, eval_row(state, period + 1, acc)

        return jax.lax.scan(one_period, state, periods)

    def start(key: jax.Array, hp: HyperParams) -> tuple[TrainState, dict[str, jax.Array]]:
        state = init(key, hp)
        zero = jnp.int32(0)
        first = evaluate(state.params, jax.random.fold_in(jax.random.fold_in(key, _EVAL), zero))
        nan = jnp.float32(jnp.nan)
        row0 = {
            "env_steps": zero,
            "eval_return": jnp.mean(first),
            "eval_returns": first,
            "train_return": nan,
            "loss": nan,
            "q_mean": nan,
            "epsilon": epsilon_schedule(hp, jnp.float32(0.0)),
            "updates": jnp.float32(0.0),
        }
        return state, row0

    return DQN(
        config=config,
        env=env,
        env_params=env_params,
        network=network,
        init=init,
        start=start,
        run=run,
        learn=learn_phase,
        evaluate=evaluate,
        act=act,
    )


def make_train(
    config: Config,
    env: Environment | None = None,
    env_params: Any = None,
    progress: ProgressFn | None = None,
) -> Callable[..., TrainOutput]:
    """A pure function that runs a whole DQN training run for one seed.

    Args:
      config: the config.
      env: optional env (default: ``envs.make(config.env)``, discretized if continuous).
      env_params: optional env parameters.
      progress: optional host callback, see :func:`make_dqn`.

    Returns:
      ``train(key, hp=None) -> TrainOutput``: ``key`` a PRNG key, ``hp`` optional traced
      :class:`HyperParams` (default: ``config.hyperparams()``). Jit it, vmap it over keys for
      seeds and over ``hp`` for a sweep: ``jax.jit(jax.vmap(train))(keys)``.
    """
    dqn = make_dqn(config, env, env_params, progress)

    def train(key: jax.Array, hp: HyperParams | None = None) -> TrainOutput:
        if hp is None:
            hp = config.hyperparams()
        state, row0 = dqn.start(key, hp)
        state, rows = dqn.run(state, hp, jnp.arange(config.num_evals))
        metrics = jax.tree.map(lambda a, b: jnp.concatenate([a[None], b]), row0, rows)
        return TrainOutput(params=state.params, metrics=metrics, diverged_step=state.diverged_step)

    return train
