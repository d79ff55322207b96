"""Any gymnax environment behind the purejaxdqn :class:`~purejaxdqn.envs.Environment` protocol.

gymnax's ``step`` folds the time limit into a single ``done`` and resets by itself. This
adapter calls gymnax's ``step_env``/``reset_env`` (no automatic reset) and splits ``done``
generically:

* ``terminated`` is ``env.is_terminal(state, params)`` evaluated with
  ``max_steps_in_episode`` replaced by a huge value, i.e. termination without the time limit;
* ``truncated`` is ``state.time >= max_steps_in_episode`` (True on the step that reaches the
  limit, even if that step also terminates, as in gymnasium's ``TimeLimit``).

Envs whose params have no ``max_steps_in_episode`` report gymnax's ``done`` as
``terminated`` and never truncate. Observations are cast to float32 (MinAtar's boolean
grids included); rewards are the default float dtype.
"""

from __future__ import annotations

from typing import Any

import gymnax
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import spaces as gspaces

from purejaxdqn.envs.autoreset import select_reset
from purejaxdqn.envs.spaces import Box, Discrete, Space

__all__ = ["GymnaxEnv", "GymnaxState", "convert_space"]

_NO_LIMIT = 2**30


@struct.dataclass
class GymnaxState:
    """The wrapped gymnax env state.

    Attributes:
      env_state: gymnax's own state pytree (its ``time`` field counts steps).
    """

    env_state: Any


def convert_space(space: Any, obs: bool = False) -> Space:
    """Converts a gymnax space to a purejaxdqn space.

    Args:
      space: a ``gymnax.environments.spaces.Discrete`` or ``Box``.
      obs: whether it is an observation space (then the dtype becomes float32, as the
        adapter casts observations).

    Returns:
      ``Discrete(n)`` or ``Box(low, high, shape, dtype)``. A discrete observation space
      becomes ``Box(0, n - 1, ())``.
    """
    if isinstance(space, gspaces.Discrete):
        if obs:
            return Box(0, space.n - 1, (), jnp.float32)
        return Discrete(int(space.n))
    if isinstance(space, gspaces.Box):
        low = np.asarray(space.low, np.float64)
        high = np.asarray(space.high, np.float64)
        dtype = jnp.float32 if obs else space.dtype
        return Box(low, high, tuple(space.shape), dtype)
    raise TypeError(f"unsupported gymnax space {type(space).__name__}")


class GymnaxEnv:
    """A gymnax environment with gymnasium-style ``terminated``/``truncated``.

    Args:
      env_or_name: a gymnax env id (``"CartPole-v1"``, ``"Breakout-MinAtar"``, ...) or a
        gymnax environment instance.
      **kwargs: passed to ``gymnax.make`` when a name is given.

    Attributes:
      name: the gymnax env id.
      gymnax_env: the wrapped gymnax environment.
    """

    def __init__(self, env_or_name: Any, **kwargs: Any) -> None:
        if isinstance(env_or_name, str):
            self.gymnax_env, self._default_params = gymnax.make(env_or_name, **kwargs)
            self.name = env_or_name
        else:
            self.gymnax_env = env_or_name
            self._default_params = env_or_name.default_params
            self.name = getattr(env_or_name, "name", type(env_or_name).__name__)

    @property
    def default_params(self) -> Any:
        """Gymnax's default params pytree for the env."""
        return self._default_params

    def _has_limit(self, params: Any) -> bool:
        return hasattr(params, "max_steps_in_episode")

    def max_episode_steps(self, params: Any) -> int:
        """``params.max_steps_in_episode`` as a Python int (2**30 if the env has none)."""
        if not self._has_limit(params):
            return _NO_LIMIT
        return int(params.max_steps_in_episode)

    def action_space(self, params: Any) -> Space:
        """Gymnax's action space, converted."""
        return convert_space(self.gymnax_env.action_space(params))

    def observation_space(self, params: Any) -> Space:
        """Gymnax's observation space, converted, dtype float32."""
        return convert_space(self.gymnax_env.observation_space(params), obs=True)

    def reset(self, key: jax.Array, params: Any) -> tuple[jax.Array, GymnaxState]:
        """Starts an episode.

        Args:
          key: a PRNG key.
          params: gymnax params.

        Returns:
          ``(obs, state)``, ``obs`` float32 of ``observation_space.shape``.
        """
        obs, env_state = self.gymnax_env.reset_env(key, params)
        return jnp.asarray(obs, jnp.float32), GymnaxState(env_state)

    def step(
        self, key: jax.Array, state: GymnaxState, action: jax.Array, params: Any
    ) -> tuple[jax.Array, GymnaxState, jax.Array, jax.Array, jax.Array, dict[str, jax.Array]]:
        """One step, resetting automatically at the end of an episode.

        Args:
          key: a PRNG key (split for the dynamics and the reset).
          state: the current state.
          action: an element of ``action_space(params)``.
          params: gymnax params.

        Returns:
          ``(obs, state, reward [], terminated [] bool, truncated [] bool, info)`` with
          ``info["final_obs"]`` the observation before any reset.
        """
        k_step, k_reset = jax.random.split(key)
        env = self.gymnax_env
        obs, env_state, reward, done, _ = env.step_env(k_step, state.env_state, action, params)
        final_obs = jnp.asarray(obs, jnp.float32)
        if self._has_limit(params):
            no_limit = params.replace(max_steps_in_episode=_NO_LIMIT)
            terminated = jnp.asarray(env.is_terminal(env_state, no_limit), bool)
            truncated = env_state.time >= params.max_steps_in_episode
        else:
            terminated = jnp.asarray(done, bool)
            truncated = jnp.zeros((), bool)
        reset_obs, reset_state = self.reset(k_reset, params)
        obs, new_state = select_reset(
            terminated | truncated, reset_obs, reset_state, final_obs, GymnaxState(env_state)
        )
        reward = jnp.asarray(reward, jnp.result_type(float))
        return obs, new_state, reward, terminated, truncated, {"final_obs": final_obs}
