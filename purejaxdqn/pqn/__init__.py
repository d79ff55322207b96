"""PQN (Gallici et al. 2025, "Simplifying Deep Temporal Difference Learning") on the engine.

- :mod:`.state`: what a run carries (:class:`PQNState`) and a rollout (:class:`Rollout`).
- :mod:`.targets`: Q(λ) targets computed backwards over a rollout.
- :mod:`.learner`: ``num_epochs x num_minibatches`` gradient steps per rollout.
- :mod:`.train`: the one-scan trainer, :func:`make_pqn`.
- :mod:`.checks`: the config checks of ``algorithm='pqn'``.
"""

from purejaxdqn.pqn.learner import make_learn, minibatch_schedule, num_gradient_steps
from purejaxdqn.pqn.state import PQNState, Rollout
from purejaxdqn.pqn.targets import lambda_returns, q_lambda_targets
from purejaxdqn.pqn.train import PQN, make_pqn

__all__ = [
    "PQN",
    "PQNState",
    "Rollout",
    "lambda_returns",
    "make_learn",
    "make_pqn",
    "minibatch_schedule",
    "num_gradient_steps",
    "q_lambda_targets",
]
