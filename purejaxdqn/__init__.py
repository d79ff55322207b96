"""purejaxdqn: DQN whose whole training run is one ``jax.lax.scan``.

The public API::

    from purejaxdqn import Config, make_train, envs, load_params, load_run

    train = make_train(Config(env="CartPole-v1"))
    out = jax.jit(jax.vmap(train))(jax.vmap(jax.random.key)(jnp.arange(16)))

Attributes are imported on first use (``import purejaxdqn`` imports neither JAX nor pandas).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Before anything imports mujoco: MUJOCO_GL=osmesa on a headless machine (videos).
import purejaxdqn._mujoco_gl  # noqa: F401, E402  # isort: skip

#: Public name -> the module that defines it.
_LAZY = {
    "DQN": "purejaxdqn.dqn",
    "Config": "purejaxdqn.config",
    "ConfigError": "purejaxdqn.config",
    "HyperParams": "purejaxdqn.config",
    "PQN": "purejaxdqn.pqn",
    "TrainOutput": "purejaxdqn.dqn",
    "TrainState": "purejaxdqn.dqn",
    "load_params": "purejaxdqn.rundir.files",
    "load_run": "purejaxdqn.results",
    "load_sweep": "purejaxdqn.results",
    "make_dqn": "purejaxdqn.dqn",
    "make_env": "purejaxdqn.envs.discrete",
    "make_pqn": "purejaxdqn.pqn",
    "make_train": "purejaxdqn.dqn",
    "make_trainer": "purejaxdqn.algorithms",
    "preset": "purejaxdqn.presets",
}

__all__ = [
    "DQN",
    "PQN",
    "Config",
    "ConfigError",
    "HyperParams",
    "TrainOutput",
    "TrainState",
    "__version__",
    "envs",
    "load_params",
    "load_run",
    "load_sweep",
    "make_dqn",
    "make_env",
    "make_pqn",
    "make_train",
    "make_trainer",
    "preset",
]

if TYPE_CHECKING:
    from purejaxdqn import envs
    from purejaxdqn.algorithms import make_trainer
    from purejaxdqn.config import Config, ConfigError, HyperParams
    from purejaxdqn.dqn import DQN, TrainOutput, TrainState, make_dqn, make_train
    from purejaxdqn.envs.discrete import make_env
    from purejaxdqn.pqn import PQN, make_pqn
    from purejaxdqn.presets import preset
    from purejaxdqn.results import load_run, load_sweep
    from purejaxdqn.rundir.files import load_params


def __getattr__(name: str) -> Any:
    """Imports a public attribute (or the ``envs`` subpackage) on first access."""
    if name == "envs":
        return importlib.import_module("purejaxdqn.envs")
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'purejaxdqn' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
