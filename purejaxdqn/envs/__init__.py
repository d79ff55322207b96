"""Environments speaking the purejaxdqn :class:`Environment` protocol.

.. code-block:: python

    from purejaxdqn import envs

    env, params = envs.make("InvertedPendulum-v5")        # MuJoCo port (JAX)
    env, params = envs.make("CartPole-v1")                # any gymnax env id
    env, params = envs.make("brax:hopper", backend="mjx") # any Brax env
    env, params = envs.make("my_pkg.my_envs:make_walk")   # a factory in an importable module
    env = envs.Discretize(env, bins=5)                    # Box actions -> Discrete(5 ** d)

Register your own (see ``docs/custom_env.md``) with :func:`register`, or name its factory
as ``"module:attribute"`` (what the command line's ``--env`` takes: a fresh process does not
know what another one registered).
"""

from __future__ import annotations

import difflib
import importlib
import math
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
        if isinstance(max_episode_steps, bool) or not isinstance(max_episode_steps, int):
            raise ValueError(f"max_episode_steps must be an integer, got {max_episode_steps!r}")
        if max_episode_steps < 1:
            raise ValueError(f"max_episode_steps must be >= 1, got {max_episode_steps!r}")
        noise = reset_noise_scale
        if isinstance(noise, bool) or not isinstance(noise, int | float) or not noise >= 0:
            raise ValueError(f"reset_noise_scale must be a number >= 0, got {noise!r}")
        if not math.isfinite(noise):
            raise ValueError(f"reset_noise_scale must be finite, got {noise!r}")
        if not isinstance(kwargs.get("unroll", False), bool):
            raise ValueError(f"unroll must be true or false, got {kwargs['unroll']!r}")
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
        rest to ``brax.envs.get_environment``, e.g. ``backend="mjx"``), a name given to
        :func:`register`, or ``"module:attribute"``: the factory ``attribute`` of the
        importable module ``module`` (as for :func:`register`; keyword arguments go to it).
      **kwargs: see above.

    Returns:
      ``(env, params)``.

    Raises:
      ValueError: for an unknown name, a factory that cannot be imported or that does not
        return an env (one line, with the closest known names for a misspelt one).
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"env name must be a non-empty string, got {name!r}")
    if name in _REGISTRY:
        return _call_factory(name, _REGISTRY[name], kwargs)
    if name.startswith("brax:"):
        from purejaxdqn.envs.brax_env import BraxEnv, brax_names

        brax_name = name[len("brax:") :]
        names = brax_names()
        if brax_name not in names:
            close = difflib.get_close_matches(brax_name, names, n=1, cutoff=0.6)
            hint = f"did you mean brax:{close[0]}? " if close else ""
            raise ValueError(
                f"unknown Brax env {name!r} ({hint}Brax has: {', '.join(names)})"
                if brax_name
                else f"{name!r} needs a Brax env name after 'brax:', one of {', '.join(names)}"
            )
        env: Environment = BraxEnv(brax_name, **kwargs)
        return env, env.default_params
    if name in _gymnax_names():
        from purejaxdqn.envs.gymnax_env import GymnaxEnv

        env = GymnaxEnv(name, **kwargs)
        return env, env.default_params
    if ":" in name:
        return _call_factory(name, import_factory(name), kwargs)
    raise ValueError(
        f"unknown env {name!r} ({_closest(name, known_names())}); also accepted: "
        "'brax:<name>' for a Brax env, 'module:factory' for your own (docs/custom_env.md)"
    )


def _closest(name: str, names: list[str]) -> str:
    """``"did you mean A, B?"`` for the names closest to ``name``, else how many there are."""
    by_case = {n.lower(): n for n in names}
    close = difflib.get_close_matches(name.lower(), list(by_case), n=3, cutoff=0.6)
    if close:
        return f"did you mean {', '.join(by_case[c] for c in close)}?"
    return f"{len(names)} known names: purejaxdqn.envs.known_names()"


def import_factory(spec: str) -> Factory:
    """The factory that ``"package.module:attribute"`` names (the module is imported).

    Raises:
      ValueError: if the module cannot be imported, has no such attribute, or it is not
        callable (one line).
    """
    module_name, _, attr = spec.rpartition(":")
    if not module_name or not attr or not all(p.isidentifier() for p in module_name.split(".")):
        raise ValueError(
            f"env {spec!r}: expected 'package.module:factory' naming an importable module"
        )
    try:
        module = importlib.import_module(module_name)
    except Exception as e:  # the user's module: any error importing it is theirs
        first = str(e).splitlines()[0] if str(e) else ""
        raise ValueError(
            f"env {spec!r}: cannot import {module_name} ({type(e).__name__}: {first}; is its "
            "folder on PYTHONPATH?)"
        ) from None
    factory = module
    for part in attr.split("."):
        if not hasattr(factory, part):
            raise ValueError(f"env {spec!r}: module {module_name} has no attribute {attr!r}")
        factory = getattr(factory, part)
    if not callable(factory):
        raise ValueError(f"env {spec!r}: {attr} is not callable (expected an env factory)")
    return factory


def _call_factory(name: str, factory: Factory, kwargs: dict[str, Any]) -> tuple[Any, Any]:
    """``factory(**kwargs)`` as ``(env, params)``, checked against the protocol."""
    out = factory(**kwargs)
    env, params = out if isinstance(out, tuple) and len(out) == 2 else (out, None)
    if not isinstance(env, Environment):
        raise ValueError(
            f"env {name!r}: the factory returned {type(env).__name__}, not an Environment "
            "(see purejaxdqn/envs/protocol.py) or an (env, params) pair"
        )
    return env, env.default_params if params is None else params
