"""Optimizers: optax factories for the DQN family.

``make_optimizer`` chains global-norm clipping with Adam, RAdam or one of two centered RMSProp forms
built on :func:`scale_by_centered_rms`, all with a linearly decaying learning rate.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import optax

OPTIMIZERS = ("adam", "rmsprop", "rmsprop_torch", "radam")


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

    Args:
      decay: decay of both running averages.
      eps: the stabilizer, added inside or outside the square root.
      eps_in_sqrt: ``True`` for ``sqrt(var + eps)`` (Nature DQN), ``False`` for
        ``sqrt(var) + eps`` (PyTorch's ``RMSprop(centered=True)``).

    Returns:
      An ``optax.GradientTransformation``.
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


def make_optimizer(
    name: str,
    *,
    lr: chex.Numeric,
    lr_end_fraction: chex.Numeric,
    decay_steps: int,
    max_grad_norm: chex.Numeric,
    adam_eps: chex.Numeric = 1e-8,
    rms_decay: chex.Numeric = 0.95,
    rms_eps: chex.Numeric = 0.01,
    rms_momentum: chex.Numeric = 0.0,
) -> optax.GradientTransformation:
    """Global-norm clipping, then Adam, RAdam or centered RMSProp, with a linearly decaying rate.

    The chain runs on the parameters raveled into one vector (``optax.flatten``), so its
    state holds ``[num_params]`` vectors; the updates it returns have the parameters' tree.

    ``'rmsprop'`` is the Nature DQN / Roderick et al. (2017) form ``g / sqrt(var + eps)``;
    ``'rmsprop_torch'`` is PyTorch's ``RMSprop(centered=True)``, ``g / (sqrt(var) + eps)``.
    Both apply heavy-ball momentum ``rms_momentum`` to the scaled gradient *before* the
    learning rate, as PyTorch does, so a decaying rate multiplies the whole momentum buffer.

    Args:
      name: one of :data:`OPTIMIZERS`.
      lr: initial learning rate.
      lr_end_fraction: final rate as a fraction of ``lr`` (1 = constant).
      decay_steps: gradient steps over which the rate decays (at least 1 is used).
      max_grad_norm: global-norm clipping threshold (``inf`` = off).
      adam_eps: Adam's (and RAdam's) epsilon.
      rms_decay: decay of the RMSProp averages.
      rms_eps: RMSProp's epsilon.
      rms_momentum: RMSProp's heavy-ball momentum (0 = none).

    Returns:
      An ``optax.GradientTransformation``.
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {list(OPTIMIZERS)}, got {name!r}")
    schedule = optax.linear_schedule(lr, lr * lr_end_fraction, max(decay_steps, 1))
    if name == "adam":
        opt = optax.adam(schedule, eps=adam_eps)
    elif name == "radam":  # Liu et al. 2020, PQN's optimizer
        opt = optax.radam(schedule, eps=adam_eps)
    else:
        opt = optax.chain(
            scale_by_centered_rms(rms_decay, rms_eps, eps_in_sqrt=name == "rmsprop"),
            optax.trace(decay=rms_momentum),
            optax.scale_by_learning_rate(schedule),
        )
    # One flat vector for the whole chain: a handful of fused ops per step instead of a few
    # per parameter leaf, which is most of a small network's update on CPU.
    return optax.flatten(optax.chain(optax.clip_by_global_norm(max_grad_norm), opt))


def inputs_are_finite(hp: Any) -> jax.Array:
    """Whether the traced optimizer fields of ``hp`` are usable, ``[]`` bool.

    All finite, except ``max_grad_norm``, which may be ``inf`` (no clipping) but not NaN.
    Config validation guarantees it; the NaN guard checks it again for hyperparameters
    built by hand.
    """
    finite = [
        jnp.isfinite(getattr(hp, name))
        for name in ("lr", "lr_end_fraction", "adam_eps", "rms_decay", "rms_eps", "rms_momentum")
    ]
    return jnp.all(jnp.stack([*finite, ~jnp.isnan(hp.max_grad_norm)]))


def optimizer_from_config(config: Any, hp: Any, decay_steps: int) -> optax.GradientTransformation:
    """:func:`make_optimizer` of ``config.optimizer`` with the traced fields of ``hp``.

    Args:
      config: a :class:`~purejaxdqn.config.Config` (its ``optimizer`` name).
      hp: its :class:`~purejaxdqn.config.HyperParams` (lr, decay, clipping, eps, ...).
      decay_steps: the gradient steps over which the learning rate decays (the algorithm's
        count for the whole run).
    """
    return make_optimizer(
        config.optimizer,
        lr=hp.lr,
        lr_end_fraction=hp.lr_end_fraction,
        decay_steps=decay_steps,
        max_grad_norm=hp.max_grad_norm,
        adam_eps=hp.adam_eps,
        rms_decay=hp.rms_decay,
        rms_eps=hp.rms_eps,
        rms_momentum=hp.rms_momentum,
    )
