"""Automatic reset: the one place where an ended episode's state is swapped for a fresh one."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp


def select_reset(
    end: jax.Array, reset_obs: jax.Array, reset_state: Any, obs: jax.Array, state: Any
) -> tuple[jax.Array, Any]:
    """``(reset_obs, reset_state)`` where the episode ended, else ``(obs, state)``.

    Args:
      end: ``terminated | truncated``, ``[]`` bool.
      reset_obs: the first observation of a fresh episode.
      reset_state: the state of that fresh episode (same structure as ``state``).
      obs: the observation the step reached.
      state: the state the step reached.

    Returns:
      ``(obs, state)`` to continue from.
    """
    chosen_obs = jnp.where(end, reset_obs, obs)
    chosen_state = jax.tree_util.tree_map(lambda r, n: jnp.where(end, r, n), reset_state, state)
    return chosen_obs, chosen_state
