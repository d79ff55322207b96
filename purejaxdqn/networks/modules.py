"""Q-network modules.

Two families, both mapping observations ``[..., *obs_shape]`` to Q-values ``[..., A]``, both
on the same :class:`Torso` (optional 3x3 convolutions for image observations, then flatten):

* :class:`QNetwork`: an MLP with one output per discrete action, optionally with a dueling
  head (value and mean-subtracted advantage streams).
* :class:`StateActionQNetwork`: ``Q(s, a)``, an MLP that takes the state and a
  continuous action and outputs one scalar, evaluated over a whole action grid ``[K, d]`` in
  one vectorized call.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from purejaxdqn.networks.dense import Dense


class Conv3x3(nn.Module):
    """A 3x3, stride-1, ``VALID`` convolution computed as one matrix product over patches.

    The same map as ``nn.Conv(features, (3, 3), padding="VALID")`` (kernel ``[3, 3, C, F]``,
    bias ``[F]``), written as a gather of the nine shifted views ``[N, H-2, W-2, 9C]`` times
    the kernel reshaped to ``[9C, F]``. Under ``vmap`` over seeds (one kernel per seed) XLA
    turns a convolution into a grouped one, which its CPU backend runs ~2x slower than this
    batched matrix product (measured at MinAtar's ``[10, 10, 4] -> 16`` with batch 32).

    Attributes:
      features: output channels ``F``.
    """

    features: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        """``[N, H, W, C] -> [N, H-2, W-2, F]``."""
        channels = x.shape[-1]
        kernel = self.param(
            "kernel", nn.initializers.lecun_normal(), (3, 3, channels, self.features)
        )
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        h, w = x.shape[1] - 2, x.shape[2] - 2
        patches = jnp.concatenate(
            [x[:, i : i + h, j : j + w, :] for i in range(3) for j in range(3)], axis=-1
        )
        return patches @ kernel.reshape(9 * channels, self.features) + bias


class Torso(nn.Module):
    """Observations to flat features: optional convolutions, then flatten.

    With ``conv`` empty this is a reshape (no parameters). With ``conv = (c1, c2, ...)`` the
    observation must be an image ``[H, W, C]``; each layer is a 3x3, stride-1, ``VALID``
    convolution with ReLU (the MinAtar paper's DQN has one layer of 16 channels:
    ``[10, 10, C] -> [8, 8, 16]``, 1024 features).

    Attributes:
      obs_ndim: rank of one observation; the trailing ``obs_ndim`` axes are one observation.
      conv: output channels of each convolution.
      norm: :func:`normalize` after each convolution, before its ReLU.
    """

    obs_ndim: int = 1
    conv: Sequence[int] = ()
    norm: str = "none"

    @nn.compact
    def __call__(self, obs: jax.Array, train: bool = False) -> jax.Array:
        """Features ``[..., F]`` of observations ``[..., *obs_shape]`` (cast to float32)."""
        x = jnp.asarray(obs, jnp.float32)
        lead = x.shape[: x.ndim - self.obs_ndim]
        if self.conv:
            if self.obs_ndim != 3:
                raise ValueError(f"conv layers need image observations [H, W, C], got {x.shape}")
            x = x.reshape(-1, *x.shape[-3:])
            for channels in self.conv:
                x = nn.relu(normalize(self.norm, Conv3x3(channels)(x), train))
        return x.reshape(*lead, -1)


def normalize(kind: str, x: jax.Array, train: bool) -> jax.Array:
    """``x [..., F]`` normalised over its features, as PQN does before each ReLU.

    Call it inside a compact module. ``'layer'``: LayerNorm over the last axis (learned scale
    and bias). ``'batch'``: BatchNorm per feature over every leading axis; with ``train`` it
    uses the batch's statistics and updates the running averages in the ``batch_stats``
    collection (apply with ``mutable=["batch_stats"]``), without it the running averages.
    ``'none'``: ``x``.
    """
    if kind == "layer":
        return nn.LayerNorm()(x)
    if kind == "batch":
        return nn.BatchNorm(use_running_average=not train)(x)
    if kind != "none":
        raise ValueError(f"norm must be 'none', 'layer' or 'batch', got {kind!r}")
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
      conv: channels of the :class:`Torso`'s convolutions (image observations only).
      dueling: if true, the shared torso feeds a value stream ``[..., 1]`` and an advantage
        stream ``[..., A]`` combined by :func:`dueling_aggregate` (per atom for C51).
      num_atoms: 0 for Q-values; ``K > 1`` for C51 logits ``[..., A, K]`` over the support
        ``z``, kept as the variable ``support/z`` (``[K]``, initialized to
        ``linspace(v_min, v_max, K)``; the trainer sets it from the traced ``v_min/v_max``).
      v_min: initial lowest atom (C51).
      v_max: initial highest atom (C51).
      norm: :func:`normalize` after every hidden layer (and convolution), before its ReLU.
    """

    num_actions: int
    hidden: Sequence[int] = (64, 64)
    obs_ndim: int = 1
    conv: Sequence[int] = ()
    dueling: bool = False
    num_atoms: int = 0
    v_min: float = -10.0
    v_max: float = 10.0
    norm: str = "none"

    @nn.compact
    def __call__(
        self, obs: jax.Array, return_logits: bool = False, train: bool = False
    ) -> jax.Array | tuple[jax.Array, jax.Array]:
        """Q-values, or for C51 with ``return_logits`` the logits and the support.

        Args:
          obs: observations, shape ``[..., *obs_shape]``.
          return_logits: C51 only: return ``(logits [..., A, K], z [K])``.
          train: BatchNorm only: normalise with the batch's statistics (and update the
            running averages) instead of the running averages.

        Returns:
          Q-values, shape ``[..., A]`` (C51: ``sum_k softmax(logits)_k z_k``).
        """
        x = Torso(self.obs_ndim, self.conv, self.norm, name="torso")(obs, train)
        for width in self.hidden:
            x = nn.relu(normalize(self.norm, Dense(width)(x), train))
        k = max(self.num_atoms, 1)
        if not self.dueling:
            out = Dense(self.num_actions * k)(x)
        else:
            value = Dense(k, name="value")(x)
            advantage = Dense(self.num_actions * k, name="advantage")(x)
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
    """``Q(s, a)``: an MLP on ``[state, action]`` with one scalar output.

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
      conv: channels of the :class:`Torso`'s convolutions (image observations only).
    """

    action_grid: tuple[tuple[float, ...], ...]
    hidden: Sequence[int] = (64, 64)
    obs_ndim: int = 1
    conv: Sequence[int] = ()

    @nn.compact
    def __call__(self, obs: jax.Array, action: jax.Array | None = None) -> jax.Array:
        """Q-values over the whole grid, or of one grid action per observation.

        Args:
          obs: observations, shape ``[..., *obs_shape]``.
          action: optional grid indices ``[...]`` (int): score only ``grid[action]``, 1/K of
            the work of the whole grid (the learner's ``Q(s_t, a_t)``).

        Returns:
          ``Q(obs, grid[k])`` for every grid row ``k``, shape ``[..., K]``; with ``action``,
          ``Q(obs, grid[action])``, shape ``[...]``.
        """
        grid = jnp.asarray(self.action_grid, jnp.float32)  # [K, d]
        x = Torso(self.obs_ndim, self.conv, name="torso")(obs)  # [..., D]
        width, *rest = self.hidden
        h_obs = Dense(width, name="obs_in")(x)  # [..., H]
        if action is None:
            h_act = Dense(width, use_bias=False, name="action_in")(grid)  # [K, H]
            h = nn.relu(h_obs[..., None, :] + h_act)  # [..., K, H]
        else:
            h_act = Dense(width, use_bias=False, name="action_in")(grid[action])  # [..., H]
            h = nn.relu(h_obs + h_act)  # [..., H]
        for w in rest:
            h = nn.relu(Dense(w)(h))
        return Dense(1, name="q")(h)[..., 0]
