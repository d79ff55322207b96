"""DQN's learner: the loss of a sampled batch and a learning phase of gradient steps.

Losses are the batch functions of :mod:`purejaxdqn.losses` (one-step or n-step Q-learning,
Double DQN, C51), weighted by PER's importance weights when replay is prioritized. Updates
run under the NaN guard: a gradient step whose loss or gradient norm is non-finite (or whose
optimizer hyperparameters are) is not applied, nor is any later one, so the seed keeps its
last finite parameters and optimizer state; a phase with such a step also drops its
priorities (PER) and marks the seed diverged. The guard decides before each update, so its
selects fuse into the optimizer's arithmetic instead of costing a pass over the parameters
and optimizer state after every phase.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from purejaxdqn import losses, nan_guard, optimizers
from purejaxdqn import replay as replay_lib
from purejaxdqn.config import Config, HyperParams
from purejaxdqn.dqn.cadence import learning_cadence, num_updates
from purejaxdqn.dqn.state import TrainState
from purejaxdqn.replay import ReplayBuffer, Transition
from purejaxdqn.types import BufferState, Params, PRNGKey

#: ``loss_fn(params) -> (loss, (mean Q of the taken actions, priority signal [B]))``.
LossFn = Callable[[Params], tuple[jax.Array, tuple[jax.Array, jax.Array]]]


def make_optimizer(config: Config, hp: HyperParams) -> optax.GradientTransformation:
    """The config's optimizer, its rate decaying over the run's gradient steps."""
    return optimizers.optimizer_from_config(config, hp, decay_steps=num_updates(config))


def _taken_mean(q: jax.Array, action: jax.Array) -> jax.Array:
    """Mean over the batch of ``q [B, A]`` at the taken actions ``[B]``."""
    return jnp.mean(jnp.take_along_axis(q, action[:, None], axis=-1))


def make_loss_fn(
    config: Config,
    network: nn.Module,
    hp: HyperParams,
    params: Params,
    target_params: Params,
    batch: Transition,
    discount_t: jax.Array,
    weights: jax.Array | None,
) -> LossFn:
    """The loss of one batch as a function of the online parameters.

    Args:
      config: the config (``distributional``, ``double_q``, ``q_network``, ``loss``).
      network: the Q-network.
      hp: traced hyperparameters (``huber_delta``).
      params: the current online parameters (Double DQN's selector; no gradient).
      target_params: the target network's parameters.
      batch: one-step view of the sample, leading axis ``[B]``.
      discount_t: bootstrap discounts ``[B]``.
      weights: PER importance weights ``[B]``, or ``None``.

    Returns:
      ``loss_fn(p) -> (loss, (q_mean, signal [B]))``; the signal is the TD error (C51: the
      per-item loss), from which PER sets priorities.
    """
    # The ignores below: flax annotates Module.apply as maybe returning (output, mutated
    # variables); without ``mutable`` it returns the network's output.
    selector_params = params if config.double_q else target_params
    if config.distributional:
        logits_t, z = network.apply(target_params, batch.next_obs, return_logits=True)
        a_t = jnp.argmax(network.apply(selector_params, batch.next_obs), axis=-1)  # type: ignore[arg-type]

        def c51_loss_fn(p: Params) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
            logits_tm1, z_p = network.apply(p, batch.obs, return_logits=True)
            loss, per_item = losses.categorical_td_loss(
                logits_tm1, batch.action, batch.reward, discount_t, logits_t, a_t, z, weights
            )
            q_tm1 = jnp.sum(jax.nn.softmax(logits_tm1, axis=-1) * z_p, axis=-1)  # type: ignore[operator]
            return loss, (_taken_mean(q_tm1, batch.action), per_item)

        return c51_loss_fn

    q_t = network.apply(target_params, batch.next_obs)
    selector = network.apply(params, batch.next_obs) if config.double_q else None

    def q_loss_fn(p: Params) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
        if config.q_network == "state_action":
            # Score only the taken grid action ([B, 1]; it becomes column 0) for Q(s_t, a_t)
            # instead of the whole grid [B, K].
            q_tm1 = network.apply(p, batch.obs, batch.action)[:, None]  # type: ignore[call-overload]
            a_tm1 = jnp.zeros_like(batch.action)
        else:
            q_tm1, a_tm1 = network.apply(p, batch.obs), batch.action
        loss, td = losses.td_loss(
            q_tm1,
            a_tm1,
            batch.reward,
            discount_t,
            q_t,
            selector,
            kind=config.loss,
            huber_delta=hp.huber_delta,
            weights=weights,
        )
        return loss, (_taken_mean(q_tm1, a_tm1), td)  # type: ignore[arg-type]

    return q_loss_fn


class PhaseResult(NamedTuple):
    """A learning phase's outcome (sums over its gradient steps), the NaN guard applied."""

    params: Params
    opt_state: optax.OptState
    buffer_state: BufferState | None
    loss_sum: jax.Array
    q_sum: jax.Array
    finite: jax.Array  # [] bool: every step finite (and the seed had not diverged before)


def make_learn_phase(
    config: Config, network: nn.Module, buffer: ReplayBuffer
) -> Callable[
    [TrainState, HyperParams, PRNGKey, jax.Array], tuple[TrainState, jax.Array, jax.Array]
]:
    """``learn_phase(state, hp, key, env_steps) -> (state, loss_sum, q_sum)``.

    One learning phase on ``state``'s replay: ``learning_cadence(config).gradient_steps``
    updates on fresh samples (PER: importance-weighted, then priorities set from the TD
    errors), under the NaN guard; ``state.diverged_step`` becomes ``env_steps`` if the phase
    is the seed's first non-finite one. The target network is left alone.
    """
    steps_per_phase = learning_cadence(config).gradient_steps

    def gradient_steps(
        state: TrainState, hp: HyperParams, key: PRNGKey, beta: jax.Array
    ) -> PhaseResult:
        optimizer = make_optimizer(config, hp)
        frozen_buffer = state.buffer_state

        def one_update(carry: tuple, j: jax.Array) -> tuple[tuple, tuple]:
            # The buffer is carried only when updates change it (priorities): a loop-carried
            # uniform buffer would cost XLA a copy of the whole replay per phase.
            params, opt_state, replay, alive = carry
            current = replay if config.prioritized else frozen_buffer
            sample = buffer.sample(current, jax.random.fold_in(key, j))
            batch, discount_t = replay_lib.one_step_view(hp.gamma, sample.experience)
            weights = None
            if config.prioritized:
                assert sample.probabilities is not None
                weights = replay_lib.importance_weights(sample.probabilities, beta)
            loss_fn = make_loss_fn(
                config, network, hp, params, state.target_params, batch, discount_t, weights
            )
            (loss, (q_mean, td)), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
            updates, new_opt_state = optimizer.update(grads, opt_state, params)
            alive = alive & nan_guard.step_is_finite(loss, grads)
            if config.prioritized:
                assert sample.indices is not None and sample.probabilities is not None
                priorities = replay_lib.priorities_from_td(td, hp.per_alpha, hp.per_eps)
                # A zero-probability sample (not a valid item) keeps priority 0.
                priorities = jnp.where(sample.probabilities > 0, priorities, 0.0)
                replay = buffer.set_priorities(replay, sample.indices, priorities)
            params, opt_state = nan_guard.keep_if(
                alive, (optax.apply_updates(params, updates), new_opt_state), (params, opt_state)
            )
            return (params, opt_state, replay, alive), (loss, q_mean)

        replay_in = frozen_buffer if config.prioritized else None
        alive = ~(state.diverged_step >= 0) & optimizers.inputs_are_finite(hp)
        (params, opt_state, replay, alive), (loss, q_mean) = jax.lax.scan(
            one_update,
            (state.params, state.opt_state, replay_in, alive),
            jnp.arange(steps_per_phase),
        )
        return PhaseResult(params, opt_state, replay, jnp.sum(loss), jnp.sum(q_mean), alive)

    def learn_phase(
        state: TrainState, hp: HyperParams, key: PRNGKey, env_steps: jax.Array
    ) -> tuple[TrainState, jax.Array, jax.Array]:
        beta = replay_lib.per_beta(config, hp, jnp.asarray(env_steps, jnp.float32))
        result = gradient_steps(state, hp, key, beta)
        buffer_state = state.buffer_state
        if config.prioritized:  # only the priorities changed
            assert result.buffer_state is not None
            buffer_state = buffer_state.replace(
                sum_tree_state=nan_guard.keep_if(
                    result.finite, result.buffer_state.sum_tree_state, buffer_state.sum_tree_state
                )
            )
        state = state.replace(  # type: ignore[attr-defined]  # flax.struct.dataclass adds it
            params=result.params,
            opt_state=result.opt_state,
            buffer_state=buffer_state,
            diverged_step=nan_guard.first_divergence(state.diverged_step, result.finite, env_steps),
        )
        return state, result.loss_sum, result.q_sum

    return learn_phase
