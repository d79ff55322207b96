"""Q-networks."""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp


class QNetwork(nn.Module):
    """An MLP with one output per discrete action.

    Attributes:
      num_actions: number of discrete actions ``A``.
      hidden: hidden layer widths.
      obs_ndim: rank of one observation; the trailing ``obs_ndim`` axes are flattened.
    """

    num_actions: int
    hidden: Sequence[int] = (64, 64)
    obs_ndim: int = 1

    @nn.compact
    def __call__(self, obs: jax.Array) -> jax.Array:
        """Q-values.

        Args:
          obs: observations, shape ``[..., *obs_shape]``; the trailing observation axes are
            flattened.

        Returns:
          Q-values, shape ``[..., A]``.
        """
        x = jnp.asarray(obs, jnp.float32)
        if self.obs_ndim != 1:
            x = x.reshape(*x.shape[: x.ndim - self.obs_ndim], -1)
        for width in self.hidden:
            x = nn.relu(nn.Dense(width)(x))
        return nn.Dense(self.num_actions)(x)
