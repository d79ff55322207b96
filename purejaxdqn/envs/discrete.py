"""The env a config names, with a discrete action space (``Box`` actions discretized)."""

from __future__ import annotations

from purejaxdqn.config import Config, ConfigError
from purejaxdqn.envs import make
from purejaxdqn.envs.protocol import Environment
from purejaxdqn.envs.spaces import Box, Discrete
from purejaxdqn.envs.wrappers import Discretize
from purejaxdqn.types import EnvParams


def make_env(config: Config) -> tuple[Environment, EnvParams]:
    """``envs.make(config.env, **config.env_kwargs)`` with a ``Discrete`` action space.

    A ``Box`` action space is discretized into ``config.bins`` values per dimension.

    Raises:
      ConfigError: for an unknown env, keyword arguments its factory rejects, or an action
        space the config cannot handle (one line).
    """
    try:
        env, env_params = make(config.env, **config.env_kwargs)
    except ValueError as e:
        raise ConfigError(f"env: {e}") from e
    except KeyError as e:  # Brax's registry: an unknown name
        raise ConfigError(f"env {config.env!r}: no such env ({e})") from e
    except TypeError as e:  # a factory rejecting a keyword
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ConfigError(f"env {config.env!r} with env_kwargs {config.env_kwargs}: {first}") from e
    space = env.action_space(env_params)
    if config.q_network == "state_action" and not isinstance(space, Box):
        raise ConfigError(
            f"q_network='state_action' needs a Box action space; {config.env!r} has {space!r}"
        )
    if isinstance(space, Box):
        try:
            env = Discretize(env, bins=config.bins)
        except ValueError as e:
            raise ConfigError(f"env {config.env!r} cannot be discretized: {e}") from e
    elif not isinstance(space, Discrete):
        raise ConfigError(f"env {config.env!r}: unsupported action space {space!r}")
    return env, env_params
