"""Wrappers that change an environment's interface."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from purejaxdqn.envs.spaces import Box, Discrete

__all__ = ["Discretize"]


class Discretize:
    """Turns a bounded ``Box`` action space of ``d`` dims into ``Discrete(bins ** d)``.

    Each dimension gets ``bins`` evenly spaced values from ``low`` to ``high`` (both
    included); the discrete actions index the joint grid in row-major order (the last
    dimension varies fastest). Everything else is delegated to the wrapped env.

    Args:
      env: an environment whose action space is a bounded ``Box``.
      bins: values per dimension, ``K >= 2``.
      max_actions: the largest grid allowed (default 4096).

    Attributes:
      actions: ``[bins ** d, d]`` float32 NumPy array, row ``i`` is discrete action ``i``.

    Raises:
      ValueError: if the action space is not a bounded ``Box``, ``bins < 2``, or
        ``bins ** d > max_actions``.
    """

    def __init__(self, env: Any, bins: int = 5, max_actions: int = 4096) -> None:
        space = env.action_space(env.default_params)
        if not isinstance(space, Box):
            raise ValueError(f"Discretize needs a Box action space, got {space!r}")
        if not space.bounded:
            raise ValueError(
                f"Discretize needs a bounded Box, got low={space.low}, high={space.high}"
            )
        if int(bins) != bins or bins < 2:
            raise ValueError(f"Discretize: bins must be an integer >= 2, got {bins!r}")
        bins = int(bins)
        d = int(np.prod(space.shape))
        n = bins**d
        if n > max_actions:
            raise ValueError(
                f"Discretize: {bins} bins over {d} action dims give {n} actions, more than "
                f"max_actions={max_actions}; use fewer bins or raise max_actions"
            )
        low, high = space.low.reshape(-1), space.high.reshape(-1)
        axes = [np.linspace(low[i], high[i], bins) for i in range(d)]
        grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(n, d)
        self.env = env
        self.bins = bins
        self.actions = grid.astype(np.float32)
        self._box_shape = space.shape
        self.name = f"{env.name}-discrete{bins}"

    @property
    def default_params(self) -> Any:
        """The wrapped env's default params."""
        return self.env.default_params

    def max_episode_steps(self, params: Any) -> int:
        """The wrapped env's time limit."""
        return self.env.max_episode_steps(params)

    def action_space(self, params: Any) -> Discrete:
        """``Discrete(bins ** d)``."""
        return Discrete(self.actions.shape[0])

    def observation_space(self, params: Any) -> Any:
        """The wrapped env's observation space."""
        return self.env.observation_space(params)

    def continuous_action(self, action: jax.Array) -> jax.Array:
        """The ``Box`` action (shape of the wrapped action space) for a discrete index."""
        return jnp.asarray(self.actions)[action].reshape(self._box_shape)

    def reset(self, key: jax.Array, params: Any) -> tuple[jax.Array, Any]:
        """Delegates to the wrapped env."""
        return self.env.reset(key, params)

    def step(
        self, key: jax.Array, state: Any, action: jax.Array, params: Any
    ) -> tuple[jax.Array, Any, jax.Array, jax.Array, jax.Array, dict[str, Any]]:
        """Steps the wrapped env with the grid point ``actions[action]``.

        Args:
          key: a PRNG key.
          state: the wrapped env's state.
          action: ``[]`` int, a discrete action in ``[0, bins ** d)``.
          params: the wrapped env's params.

        Returns:
          The wrapped env's ``(obs, state, reward, terminated, truncated, info)``.
        """
        return self.env.step(key, state, self.continuous_action(action), params)

    def __getattr__(self, name: str) -> Any:
        if name == "env":  # not yet set (e.g. during unpickling)
            raise AttributeError(name)
        return getattr(self.env, name)
