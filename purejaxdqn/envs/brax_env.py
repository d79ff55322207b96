"""Any Brax environment behind the purejaxdqn :class:`~purejaxdqn.envs.Environment` protocol.

``envs.make("brax:hopper", backend="mjx")`` builds ``brax.envs.get_environment("hopper",
backend="mjx")`` and wraps it with a time limit: Brax's ``done`` becomes ``terminated``,
reaching ``episode_length`` steps ``truncated``. Actions are ``Box(-1, 1, (action_size,))``
(Brax's convention); observations are cast to float32.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from purejaxdqn.envs.autoreset import select_reset
from purejaxdqn.envs.notes import quiet_third_party
from purejaxdqn.envs.spaces import Box

__all__ = ["BraxEnv", "BraxParams", "BraxState", "brax_names"]


@functools.cache
def _brax_envs() -> Any:
    with quiet_third_party():  # MJX's notes about optional packages
        from brax import envs as brax_envs
    return brax_envs


def brax_names() -> list[str]:
    """The names Brax's registry knows (``brax.envs.get_environment`` accepts), sorted."""
    return sorted(_brax_envs()._envs)  # Brax has no public listing of its registry


@struct.dataclass
class BraxParams:
    """Parameters of :class:`BraxEnv`.

    Attributes:
      episode_length: the time limit in steps (static).
    """

    episode_length: int = struct.field(pytree_node=False, default=1000)


@struct.dataclass
class BraxState:
    """Brax's env state and the step count.

    Attributes:
      brax_state: ``brax.envs.State``.
      t: ``[]`` int32 steps taken in this episode.
    """

    brax_state: Any
    t: jax.Array


class BraxEnv:
    """A Brax environment with a time limit and automatic reset.

    Args:
      env_name: a Brax env name (``"inverted_pendulum"``, ``"hopper"``, ...).
      episode_length: the time limit (default 1000).
      **kwargs: passed to ``brax.envs.get_environment`` (e.g. ``backend="mjx"``).

    Attributes:
      name: ``"brax:<env_name>"``.
      brax_env: the wrapped Brax environment.
    """

    def __init__(self, env_name: str, episode_length: int = 1000, **kwargs: Any) -> None:
        with quiet_third_party():  # and Brax's notice on every model it loads
            self.brax_env = _brax_envs().get_environment(env_name, **kwargs)
        self.name = f"brax:{env_name}"
        self._episode_length = int(episode_length)

    @property
    def default_params(self) -> BraxParams:
        """``BraxParams(episode_length)`` as given at construction."""
        return BraxParams(episode_length=self._episode_length)

    def max_episode_steps(self, params: BraxParams) -> int:
        """``params.episode_length`` (a Python int)."""
        return int(params.episode_length)

    def action_space(self, params: BraxParams) -> Box:
        """``Box(-1, 1, (action_size,))``."""
        return Box(-1.0, 1.0, (self.brax_env.action_size,), jnp.float32)

    def observation_space(self, params: BraxParams) -> Box:
        """``Box(-inf, inf, (observation_size,))``, float32."""
        return Box(-np.inf, np.inf, (self.brax_env.observation_size,), jnp.float32)

    def reset(self, key: jax.Array, params: BraxParams) -> tuple[jax.Array, BraxState]:
        """Starts an episode: ``(obs [observation_size], state)``."""
        bs = self.brax_env.reset(key)
        return jnp.asarray(bs.obs, jnp.float32), BraxState(bs, jnp.zeros((), jnp.int32))

    def step(
        self, key: jax.Array, state: BraxState, action: jax.Array, params: BraxParams
    ) -> tuple[jax.Array, BraxState, jax.Array, jax.Array, jax.Array, dict[str, jax.Array]]:
        """One step, resetting automatically at the end of an episode.

        Args:
          key: a PRNG key (used by the automatic reset).
          state: the current state.
          action: ``[action_size]`` float in [-1, 1].
          params: the env parameters.

        Returns:
          ``(obs, state, reward [], terminated [] bool, truncated [] bool, info)`` with
          ``info["final_obs"]`` the observation before any reset.
        """
        bs = self.brax_env.step(state.brax_state, jnp.asarray(action))
        t = state.t + 1
        final_obs = jnp.asarray(bs.obs, jnp.float32)
        terminated = bs.done > 0.5
        truncated = t >= params.episode_length
        reset_obs, reset_state = self.reset(key, params)
        obs, new_state = select_reset(
            terminated | truncated, reset_obs, reset_state, final_obs, BraxState(bs, t)
        )
        reward = jnp.asarray(bs.reward, jnp.result_type(float))
        return obs, new_state, reward, terminated, truncated, {"final_obs": final_obs}
