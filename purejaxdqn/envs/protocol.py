"""The environment protocol every trainer in purejaxdqn speaks.

An environment is a stateless object with pure methods, shaped like gymnax 1.0 but with
gymnasium's split of ``terminated`` and ``truncated``:

.. code-block:: python

    env, params = envs.make("InvertedPendulum-v5")
    obs, state = env.reset(key, params)
    obs, state, reward, terminated, truncated, info = env.step(key, state, action, params)

``step`` resets automatically when an episode ends (``terminated | truncated``): the returned
``obs``/``state`` then belong to the fresh episode and ``info["final_obs"]`` holds the last
observation of the episode that ended, so a learner can bootstrap through a time-limit
truncation. When the episode did not end, ``info["final_obs"]`` equals ``obs``.

Every method must be a pure function of its arguments that works under ``jax.jit`` and
``jax.vmap`` (no Python control flow on traced values). ``params`` is a pytree: a user may
vmap over its leaves. Everything that fixes a shape is a property of the env object.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import jax

from purejaxdqn.envs.spaces import Space
from purejaxdqn.types import EnvParams, EnvState

Info = dict[str, jax.Array]


@runtime_checkable
class Environment(Protocol):
    """What purejaxdqn needs of an environment.

    Attributes:
      name: a human-readable name, used in run directories and messages.
    """

    name: str

    @property
    def default_params(self) -> EnvParams:
        """The default parameters pytree."""
        ...

    def max_episode_steps(self, params: EnvParams) -> int:
        """The time limit: an episode is truncated after this many steps (a Python int)."""
        ...

    def reset(self, key: jax.Array, params: EnvParams) -> tuple[jax.Array, EnvState]:
        """Starts an episode.

        Args:
          key: a PRNG key.
          params: the env parameters.

        Returns:
          ``(obs, state)``: the first observation, shape ``observation_space.shape``, and the
          env state pytree.
        """
        ...

    def step(
        self, key: jax.Array, state: EnvState, action: jax.Array, params: EnvParams
    ) -> tuple[jax.Array, EnvState, jax.Array, jax.Array, jax.Array, Info]:
        """Advances one step and resets automatically at the end of an episode.

        Args:
          key: a PRNG key (used for the automatic reset and any stochastic dynamics).
          state: the env state.
          action: an element of ``action_space(params)``.
          params: the env parameters.

        Returns:
          ``(obs, state, reward, terminated, truncated, info)``: ``reward`` a float scalar,
          ``terminated``/``truncated`` bool scalars, and ``info["final_obs"]`` the observation
          reached by this step before any automatic reset.
        """
        ...

    def action_space(self, params: EnvParams) -> Space:
        """The action space (static)."""
        ...

    def observation_space(self, params: EnvParams) -> Space:
        """The observation space (static)."""
        ...
