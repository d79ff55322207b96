"""The env a config names, with a discrete action space (``Box`` actions discretized)."""

from __future__ import annotations

from purejaxdqn.config import Config, ConfigError
from purejaxdqn.envs import make
from purejaxdqn.envs.protocol import Environment
from purejaxdqn.envs.spaces import Box, Discrete
from purejaxdqn.envs.wrappers import Discretize
from purejaxdqn.types import EnvParams


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def make_env(config: Config) -> tuple[Environment, EnvParams]:
    """``envs.make(config.env, **config.env_kwargs)`` with a ``Discrete`` action space.

    A ``Box`` action space is discretized into ``config.bins`` values per dimension.

    Raises:
      ConfigError: for an unknown env, keyword arguments its factory rejects, an env that
        cannot be built (e.g. data it cannot download), or an action space the config cannot
        handle (one line).
    """
    try:
        env, env_params = make(config.env, **config.env_kwargs)
    except ValueError as e:
        message = _first_line(e)
        raise ConfigError(message if message.startswith("env ") else f"env: {message}") from e
    except TypeError as e:  # a factory rejecting a keyword
        raise ConfigError(
            f"env {config.env!r} with env_kwargs {config.env_kwargs}: {_first_line(e)}"
        ) from e
    except OSError as e:  # e.g. gymnax's MNIST bandit downloads its data on first use
        raise ConfigError(
            f"env {config.env!r} could not fetch or read what it needs ({type(e).__name__}: "
            f"{_first_line(e)}); it may need the internet on first use"
        ) from e
    except Exception as e:  # a third-party or user factory failing in its own way
        raise ConfigError(
            f"env {config.env!r} could not be built ({type(e).__name__}: {_first_line(e)})"
        ) from e
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


def resolve_env(
    config: Config, env: Environment | None, env_params: EnvParams, algorithm: str
) -> tuple[Environment, EnvParams, int, tuple[int, ...]]:
    """A trainer's env: ``(env, env_params, number of actions, observation shape)``.

    Args:
      config: the run's config (``make_env`` of it when ``env`` is ``None``).
      env: the user's env, or ``None``.
      env_params: its parameters (``None``: ``env.default_params``).
      algorithm: the trainer's name, for the error.

    Raises:
      ConfigError: an action space that is not ``Discrete`` (one line).
    """
    if env is None:
        env, env_params = make_env(config)
    elif env_params is None:
        env_params = env.default_params
    space = env.action_space(env_params)
    if not isinstance(space, Discrete):
        raise ConfigError(
            f"{algorithm} needs a Discrete action space, got {space!r}; wrap with Discretize"
        )
    return env, env_params, int(space.n), tuple(env.observation_space(env_params).shape)
