"""When DQN learns: env steps between learning phases and gradient steps per phase."""

from __future__ import annotations

from typing import NamedTuple

from purejaxdqn.config import Config


class LearningCadence(NamedTuple):
    """How often DQN learns.

    Attributes:
      every: env steps (per seed) between learning phases.
      gradient_steps: gradient steps per phase.
    """

    every: int
    gradient_steps: int


def learning_cadence(config: Config) -> LearningCadence:
    """A phase every ``train_every`` env steps, or every vector step when ``num_envs`` is larger.

    A phase then has proportionally more gradient steps: the replay ratio
    ``gradient_steps / train_every`` is kept.
    """
    every = max(config.train_every, config.num_envs)
    per_phase = config.gradient_steps * max(1, config.num_envs // config.train_every)
    return LearningCadence(every, per_phase)


def num_updates(config: Config) -> int:
    """Gradient steps in a whole run (per seed)."""
    every, per_phase = learning_cadence(config)
    phases = config.total_steps // every - -(-config.learning_starts // every) + 1
    return max(phases, 0) * per_phase
