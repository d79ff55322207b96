"""purejaxdqn: DQN whose whole training run is one ``jax.lax.scan``.

The public API::

    from purejaxdqn import Config, make_train, envs, load_params

    train = make_train(Config(env="CartPole-v1"))
    out = jax.jit(jax.vmap(train))(jax.vmap(jax.random.key)(jnp.arange(16)))
"""

__version__ = "0.1.0"

from purejaxdqn import envs
from purejaxdqn.algorithms import make_trainer
from purejaxdqn.config import Config, ConfigError, HyperParams
from purejaxdqn.dqn import DQN, TrainOutput, TrainState, make_dqn, make_train
from purejaxdqn.envs.discrete import make_env
from purejaxdqn.pqn import PQN, make_pqn
from purejaxdqn.presets import preset
from purejaxdqn.rundir.files import load_params

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
    "make_dqn",
    "make_env",
    "make_pqn",
    "make_train",
    "make_trainer",
    "preset",
]
