"""The NaN guard: a seed whose update turns non-finite keeps its last finite state."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from purejaxdqn.types import PyTree


def all_finite(tree: PyTree) -> jax.Array:
    """Whether every floating-point leaf of ``tree`` is finite, ``[]`` bool."""
    leaves = [
        jnp.all(jnp.isfinite(x))
        for x in jax.tree.leaves(tree)
        if jnp.issubdtype(x.dtype, jnp.inexact)
    ]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.bool_(True)


def step_is_finite(loss: jax.Array, grads: PyTree) -> jax.Array:
    """Whether a gradient step's ``loss`` and the global norm of its ``grads`` are finite.

    ``[]`` bool. A finite norm bounds every squared gradient below float32's largest value,
    so the optimizers of :mod:`purejaxdqn.optimizers` (``eps > 0``, finite hyperparameters:
    :func:`~purejaxdqn.optimizers.inputs_are_finite`) keep finite state and make a finite
    update; finite parameters then stay finite short of values near 3.4e38. An overflowing
    norm counts as non-finite, as clipping would scale by ``max_norm / inf`` anyway. The
    norm is taken of the leaves raveled into one vector, exactly as the flattened optimizer
    chain clips them, so XLA computes it once for both.
    """
    flat = jnp.concatenate([jnp.reshape(x, [-1]) for x in jax.tree.leaves(grads)])
    return jnp.isfinite(loss) & jnp.isfinite(optax.tree_utils.tree_norm(flat))


def keep_if(keep: jax.Array, new: PyTree, old: PyTree) -> PyTree:
    """``new`` where ``keep`` (``[]`` bool) else ``old``, leaf by leaf."""
    return jax.tree.map(lambda a, b: jnp.where(keep, a, b), new, old)


def first_divergence(
    diverged_step: jax.Array, finite: jax.Array, env_steps: jax.Array
) -> jax.Array:
    """The updated NaN-guard step.

    ``env_steps`` if this update is the seed's first non-finite one, else ``diverged_step``
    unchanged (``-1`` while always finite).
    """
    now = jnp.where(finite, diverged_step, jnp.asarray(env_steps, jnp.int32))
    return jnp.where(diverged_step >= 0, diverged_step, now)
