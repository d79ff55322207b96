"""The NaN guard: a seed whose update turns non-finite keeps its last finite state."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from purejaxdqn.types import PyTree


def all_finite(tree: PyTree) -> jax.Array:
    """Whether every floating-point leaf of ``tree`` is finite, ``[]`` bool."""
    leaves = [
        jnp.all(jnp.isfinite(x))
        for x in jax.tree.leaves(tree)
        if jnp.issubdtype(x.dtype, jnp.inexact)
    ]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.bool_(True)


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
