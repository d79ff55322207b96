"""purejaxdqn: DQN whose whole training run is one ``jax.lax.scan``.

The public API::

    from purejaxdqn import Config, make_train, envs, load_params

    train = make_train(Config(env="CartPole-v1"))
    out = jax.jit(jax.vmap(train))(jax.random.split(jax.random.key(0), 16))
"""

from purejaxdqn import envs
from purejaxdqn.config import Config, ConfigError, HyperParams, preset
from purejaxdqn.results import load_params
from purejaxdqn.train import DQN, TrainOutput, TrainState, make_dqn, make_env, make_train

__all__ = [
    "DQN",
    "Config",
    "ConfigError",
    "HyperParams",
    "TrainOutput",
    "TrainState",
    "envs",
    "load_params",
    "make_dqn",
    "make_env",
    "make_train",
    "preset",
]
__version__ = "0.1.0"
