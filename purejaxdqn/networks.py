"""Q-networks.

Two families, both mapping observations ``[..., *obs_shape]`` to Q-values ``[..., A]``:

* :class:`QNetwork`: an MLP with one output per discrete action, optionally with a dueling
  head (value and mean-subtracted advantage streams).
* :class:`StateActionQNetwork`: the notebook's ``Q(s, a)``, an MLP that takes the state and a
  continuous action and outputs one scalar, evaluated over a whole action grid ``[K, d]`` in
  one vectorized call.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp


def _flatten_obs(obs: jax.Array, obs_ndim: int) -> jax.Array:
    x = jnp.asarray(obs, jnp.float32)
    if obs_ndim != 1:
        x = x.reshape(*x.shape[: x.ndim - obs_ndim], -1)
    return x


def dueling_aggregate(value: jax.Array, advantage: jax.Array) -> jax.Array:
    """The dueling aggregation ``Q = V + A - mean_a A`` (Wang et al. 2016, eq. 9).

    Args:
      value: state values, shape ``[..., 1]``.
      advantage: advantages, shape ``[..., A]``.

    Returns:
      Q-values, shape ``[..., A]``.
    """
    return value + advantage - jnp.mean(advantage, axis=-1, keepdims=True)


class QNetwork(nn.Module):
    """An MLP with one output per discrete action (or, for C51, one distribution per action).

    Attributes:
      num_actions: number of discrete actions ``A``.
      hidden: hidden layer widths.
      obs_ndim: rank of one observation; the trailing ``obs_ndim`` axes are flattened.
      dueling: if true, the shared torso feeds a value stream ``[..., 1]`` and an advantage
        stream ``[..., A]`` combined by :func:`dueling_aggregate` (per atom for C51).
      num_atoms: 0 for Q-values; ``K > 1`` for C51 logits ``[..., A, K]`` over the support
        ``z``, kept as the variable ``support/z`` (``[K]``, initialized to
        ``linspace(v_min, v_max, K)``; the trainer sets it from the traced ``v_min/v_max``).
      v_min: initial lowest atom (C51).
      v_max: initial highest atom (C51).
    """

    num_actions: int
    hidden: Sequence[int] = (64, 64)
    obs_ndim: int = 1
    dueling: bool = False
    num_atoms: int = 0
    v_min: float = -10.0
    v_max: float = 10.0

    @nn.compact
    def __call__(
        self, obs: jax.Array, return_logits: bool = False
    ) -> jax.Array | tuple[jax.Array, jax.Array]:
        """Q-values, or for C51 with ``return_logits`` the logits and the support.

        Args:
          obs: observations, shape ``[..., *obs_shape]``; the trailing observation axes are
            flattened.
          return_logits: C51 only: return ``(logits [..., A, K], z [K])``.

        Returns:
          Q-values, shape ``[..., A]`` (C51: ``sum_k softmax(logits)_k z_k``).
        """
        x = _flatten_obs(obs, self.obs_ndim)
        for width in self.hidden:
            x = nn.relu(nn.Dense(width)(x))
        k = max(self.num_atoms, 1)
        if not self.dueling:
            out = nn.Dense(self.num_actions * k)(x)
        else:
            value = nn.Dense(k, name="value")(x)
            advantage = nn.Dense(self.num_actions * k, name="advantage")(x)
            if self.num_atoms:  # per-atom aggregation over actions
                value = value[..., None, :]
                advantage = advantage.reshape(*advantage.shape[:-1], self.num_actions, k)
                return self._c51_out(
                    value + advantage - advantage.mean(axis=-2, keepdims=True), return_logits
                )
            out = dueling_aggregate(value, advantage)
        if not self.num_atoms:
            return out
        return self._c51_out(out.reshape(*out.shape[:-1], self.num_actions, k), return_logits)

    def _c51_out(
        self, logits: jax.Array, return_logits: bool
    ) -> jax.Array | tuple[jax.Array, jax.Array]:
        z = self.variable(
            "support", "z", lambda: jnp.linspace(self.v_min, self.v_max, self.num_atoms)
        ).value
        if return_logits:
            return logits, z
        return jnp.sum(jax.nn.softmax(logits, axis=-1) * z, axis=-1)


class StateActionQNetwork(nn.Module):
    """The notebook's ``Q(s, a)``: an MLP on ``[state, action]`` with one scalar output.

    Applied to observations it scores every row of a fixed action grid in one vectorized
    call, so it is a drop-in for a K-output head: ``[..., *obs_shape] -> [..., K]``, and
    argmax, ε-greedy, the TD target and replay (which stores the grid index) are unchanged.
    The first layer acts on the concatenation ``[obs, a]``; it is computed as
    ``obs @ W_obs + a @ W_act + b`` (the same affine map) so the state part is computed once
    per observation, not once per grid point.

    Attributes:
      action_grid: the grid, ``K`` rows of ``d`` action values (a tuple of tuples, hashable).
      hidden: hidden layer widths (at least one).
      obs_ndim: rank of one observation; the trailing ``obs_ndim`` axes are flattened.
    """

    action_grid: tuple[tuple[float, ...], ...]
    hidden: Sequence[int] = (64, 64)
    obs_ndim: int = 1

    @nn.compact
    def __call__(self, obs: jax.Array) -> jax.Array:
        """Q-values over the whole grid.

        Args:
          obs: observations, shape ``[..., *obs_shape]``.

        Returns:
          ``Q(obs, grid[k])`` for every grid row ``k``, shape ``[..., K]``.
        """
        grid = jnp.asarray(self.action_grid, jnp.float32)  # [K, d]
        x = _flatten_obs(obs, self.obs_ndim)  # [..., D]
        width, *rest = self.hidden
        h_obs = nn.Dense(width, name="obs_in")(x)  # [..., H]
        h_act = nn.Dense(width, use_bias=False, name="action_in")(grid)  # [K, H]
        h = nn.relu(h_obs[..., None, :] + h_act)  # [..., K, H]
        for w in rest:
            h = nn.relu(nn.Dense(w)(h))
        return nn.Dense(1, name="q")(h)[..., 0]
