"""Environments speaking the purejaxdqn :class:`Environment` protocol.

.. code-block:: python

    from purejaxdqn import envs

    env, params = envs.make("InvertedPendulum-v5")        # MuJoCo port (JAX)
    env, params = envs.make("CartPole-v1")                # any gymnax env id
    env, params = envs.make("brax:hopper", backend="mjx") # any Brax env
    env = envs.Discretize(env, bins=5)                    # Box actions -> Discrete(5 ** d)

Register your own (see ``docs/custom_env.md``) with :func:`register`.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any

from purejaxdqn.envs.pendulum import InvertedPendulum, PendulumParams
from purejaxdqn.envs.protocol import Environment
from purejaxdqn.envs.spaces import Box, Discrete
from purejaxdqn.envs.wrappers import Discretize

__all__ = [
    "Box",
    "Discrete",
    "Discretize",
    "Environment",
    "InvertedPendulum",
    "known_names",
    "make",
    "register",
]

Factory = Callable[..., Any]


def _pendulum_factory(version: int) -> Factory:
    def factory(
        reset_noise_scale: float = 0.01, max_episode_steps: int = 1000, **kwargs: Any
    ) -> tuple[InvertedPendulum, PendulumParams]:
        env = InvertedPendulum(version=version, **kwargs)
        params = PendulumParams(reset_noise_scale=reset_noise_scale, max_steps=max_episode_steps)
        return env, params

    return factory


_REGISTRY: dict[str, Factory] = {
    "InvertedPendulum-v5": _pendulum_factory(5),
    "InvertedPendulum-v4": _pendulum_factory(4),
}


def register(name: str, factory: Factory) -> None:
    """Makes ``make(name, **kwargs)`` call ``factory(**kwargs)``.

    Args:
      name: the env name; must not be taken (built-in, earlier registration, or a gymnax
        id) and must not start with ``"brax:"``.
      factory: a callable returning an :class:`Environment` (its ``default_params`` are then
        used) or an ``(env, params)`` pair.

    Raises:
      ValueError: if the name is taken.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"register: name must be a non-empty string, got {name!r}")
    if name in _REGISTRY or name in _gymnax_names() or name.startswith("brax:"):
        raise ValueError(f"register: the env name {name!r} is already taken")
    if not callable(factory):
        raise ValueError("register: factory must be callable")
    _REGISTRY[name] = factory


def _gymnax_names() -> list[str]:
    import gymnax

    return list(gymnax.registered_envs)


def known_names() -> list[str]:
    """Every name :func:`make` accepts, except the open-ended ``"brax:<name>"``."""
    return sorted(_REGISTRY) + sorted(n for n in _gymnax_names() if n not in _REGISTRY)


def make(name: str, **kwargs: Any) -> tuple[Any, Any]:
    """Builds an environment and its default params.

    Args:
      name: ``"InvertedPendulum-v5"``/``"-v4"`` (keyword arguments: ``reset_noise_scale``,
        ``max_episode_steps``, ``backend``, ``unroll``), a gymnax id such as
        ``"CartPole-v1"`` or ``"Breakout-MinAtar"`` (keyword arguments go to
        ``gymnax.make``), ``"brax:<name>"`` (keyword arguments: ``episode_length``, and the
        rest to ``brax.envs.get_environment``, e.g. ``backend="mjx"``), or a name given to
        :func:`register`.
      **kwargs: see above.

    Returns:
      ``(env, params)``.

    Raises:
      ValueError: for an unknown name.
    """
    if name in _REGISTRY:
        out = _REGISTRY[name](**kwargs)
        if isinstance(out, tuple):
            return out
        return out, out.default_params
    if name.startswith("brax:"):
        from purejaxdqn.envs.brax_env import BraxEnv

        env: Environment = BraxEnv(name[len("brax:") :], **kwargs)
        return env, env.default_params
    if name in _gymnax_names():
        from purejaxdqn.envs.gymnax_env import GymnaxEnv

        env = GymnaxEnv(name, **kwargs)
        return env, env.default_params
    close = difflib.get_close_matches(name, known_names(), n=5, cutoff=0.5)
    hint = f"closest: {', '.join(close)}" if close else f"{len(known_names())} known names"
    raise ValueError(
        f"unknown env {name!r} ({hint}; see purejaxdqn.envs.known_names()); also accepted: "
        "'brax:<name>' for any Brax env and names added with purejaxdqn.envs.register"
    )
