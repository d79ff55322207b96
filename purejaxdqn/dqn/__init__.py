"""DQN and its family (Double, dueling, n-step, prioritized replay, C51, Q(s, a)).

- :mod:`.state`: what a run carries (:class:`TrainState`) and returns (:class:`TrainOutput`).
- :mod:`.cadence`: when it learns (the static schedule and its block layout).
- :mod:`.loop`: one eval period of training as branch-free scans.
- :mod:`.learner`: batch losses and the learning phase under the NaN guard.
- :mod:`.train`: the one-scan trainer, :func:`make_dqn` and :func:`make_train`.
"""

from purejaxdqn.dqn.cadence import LearningCadence, learning_cadence, num_updates
from purejaxdqn.dqn.learner import make_learn_phase, make_loss_fn, make_optimizer
from purejaxdqn.dqn.state import TrainOutput, TrainState
from purejaxdqn.dqn.train import DQN, epsilon_at, make_dqn, make_train

__all__ = [
    "DQN",
    "LearningCadence",
    "TrainOutput",
    "TrainState",
    "epsilon_at",
    "learning_cadence",
    "make_dqn",
    "make_learn_phase",
    "make_loss_fn",
    "make_optimizer",
    "make_train",
    "num_updates",
]
