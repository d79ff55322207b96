"""PQN's learner: ``num_epochs x num_minibatches`` gradient steps on one rollout.

Each epoch shuffles the rollout's ``B = num_envs x num_steps`` transitions with a fresh
permutation and cuts it into ``num_minibatches`` equal minibatches, so every transition is
used exactly ``num_epochs`` times per rollout. All ``E x M`` steps are one ``lax.scan`` that
gathers its minibatch from the (unchanged) rollout by index. The rollout's update runs under
the NaN guard, as DQN's learning phases do.
"""

from __future__ import annotations

from collections.abc import Callable

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from purejaxdqn import losses, nan_guard, optimizers
from purejaxdqn.config import Config, HyperParams
from purejaxdqn.pqn.state import PQNState
from purejaxdqn.types import Params, PRNGKey

#: ``learn(state, hp, key, obs [B, ...], action [B], target [B], env_steps)
#: -> (state, loss_sum, q_sum)``.
LearnFn = Callable[..., tuple[PQNState, jax.Array, jax.Array]]


def rollout_size(config: Config) -> int:
    """Transitions per rollout, ``num_envs x num_steps``."""
    return config.num_envs * config.num_steps


def steps_per_rollout(config: Config) -> int:
    """Gradient steps per rollout, ``num_epochs x num_minibatches``."""
    return config.num_epochs * config.num_minibatches


def num_gradient_steps(config: Config) -> int:
    """Gradient steps in a whole run (per seed), over which the learning rate decays."""
    return config.total_steps // rollout_size(config) * steps_per_rollout(config)


def make_optimizer(config: Config, hp: HyperParams) -> optax.GradientTransformation:
    """The config's optimizer (PQN's presets: RAdam), its rate decaying over the run."""
    return optimizers.optimizer_from_config(config, hp, decay_steps=num_gradient_steps(config))


def minibatch_schedule(
    key: PRNGKey, batch: int, num_epochs: int, num_minibatches: int
) -> jax.Array:
    """Indices of every gradient step's minibatch, ``[num_epochs * num_minibatches, batch // M]``.

    Epoch ``e`` is a permutation of ``0 .. batch-1`` drawn with ``fold_in(key, e)`` (a key
    no other epoch uses), cut into ``num_minibatches`` consecutive pieces.
    """
    perms = jax.vmap(lambda e: jax.random.permutation(jax.random.fold_in(key, e), batch))(
        jnp.arange(num_epochs)
    )
    return perms.reshape(num_epochs * num_minibatches, batch // num_minibatches)


def make_learn(config: Config, network: nn.Module) -> LearnFn:
    """``learn(state, hp, key, obs, action, target, env_steps) -> (state, loss_sum, q_sum)``.

    One rollout's ``E x M`` gradient steps of the TD loss (``config.loss``) between
    ``Q(obs, action)`` and the fixed targets, under the NaN guard: if the loss or a parameter
    turns non-finite the rollout's update is dropped and ``state.diverged_step`` becomes
    ``env_steps`` (the first time). With BatchNorm, each step normalises with its minibatch's
    statistics and updates the running averages.
    """
    batch_norm = config.norm == "batch"

    def q_of(variables: Params, p: Params, obs: jax.Array) -> tuple[jax.Array, Params]:
        full = {**variables, "params": p}
        if batch_norm:
            q, updates = network.apply(full, obs, train=True, mutable=["batch_stats"])
            return q, {**variables, **updates}  # type: ignore[dict-item]
        return network.apply(full, obs), variables  # type: ignore[return-value]

    def learn(
        state: PQNState,
        hp: HyperParams,
        key: PRNGKey,
        obs: jax.Array,
        action: jax.Array,
        target: jax.Array,
        env_steps: jax.Array,
    ) -> tuple[PQNState, jax.Array, jax.Array]:
        chex.assert_rank([action, target], 1)
        chex.assert_equal_shape_prefix([obs, action, target], 1)
        optimizer = make_optimizer(config, hp)
        schedule = minibatch_schedule(
            key, action.shape[0], config.num_epochs, config.num_minibatches
        )

        def one_step(carry: tuple, idx: jax.Array) -> tuple[tuple, tuple]:
            variables, opt_state = carry
            a, g = action[idx], target[idx]

            def loss_fn(p: Params) -> tuple[jax.Array, tuple[jax.Array, Params]]:
                q, new_variables = q_of(variables, p, obs[idx])
                q_sa = jnp.take_along_axis(q, a[:, None], axis=-1)[:, 0]
                td = q_sa - g
                per_item = (
                    losses.huber_loss(td, hp.huber_delta)
                    if config.loss == "huber"
                    else losses.l2_loss(td)
                )
                return jnp.mean(per_item), (jnp.mean(q_sa), new_variables)

            (loss, (q_mean, variables)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
                variables["params"]
            )
            updates, opt_state = optimizer.update(grads, opt_state, variables["params"])
            variables = {**variables, "params": optax.apply_updates(variables["params"], updates)}
            return (variables, opt_state), (loss, q_mean)

        (params, opt_state), (loss, q_mean) = jax.lax.scan(
            one_step, (state.params, state.opt_state), schedule
        )
        loss_sum, q_sum = jnp.sum(loss), jnp.sum(q_mean)
        finite = jnp.isfinite(loss_sum) & nan_guard.all_finite(params)
        keep = finite & ~(state.diverged_step >= 0)
        params, opt_state = nan_guard.keep_if(
            keep, (params, opt_state), (state.params, state.opt_state)
        )
        state = state.replace(  # type: ignore[attr-defined]  # flax.struct.dataclass adds it
            params=params,
            opt_state=opt_state,
            diverged_step=nan_guard.first_divergence(state.diverged_step, finite, env_steps),
        )
        return state, loss_sum, q_sum

    return learn
