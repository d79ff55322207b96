"""The algorithms the engine trains, picked by ``config.algorithm``."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from purejaxdqn.config import Config, ConfigError
from purejaxdqn.dqn import DQN, make_dqn
from purejaxdqn.envs.protocol import Environment
from purejaxdqn.pqn import PQN, make_pqn
from purejaxdqn.types import EnvParams

ProgressFn = Callable[[np.ndarray, np.ndarray], None]


def make_trainer(
    config: Config,
    env: Environment | None = None,
    env_params: EnvParams = None,
    progress: ProgressFn | None = None,
) -> DQN | PQN:
    """The trainer of ``config.algorithm`` (:func:`make_dqn` or :func:`make_pqn`).

    Both satisfy :class:`purejaxdqn.engine.engine.Trainer` and have a ``network`` whose
    ``apply(params, obs)`` gives greedy Q-values.

    Raises:
      ConfigError: an unknown algorithm, or what the algorithm's builder refuses.
    """
    if config.algorithm == "dqn":
        return make_dqn(config, env, env_params, progress)
    if config.algorithm == "pqn":
        return make_pqn(config, env, env_params, progress)
    raise ConfigError(f"unknown algorithm {config.algorithm!r}")
