"""Q-networks (:mod:`.modules`) and the factory that picks one from a config (:mod:`.factory`)."""

from purejaxdqn.networks.factory import make_network, with_support
from purejaxdqn.networks.modules import (
    Conv3x3,
    QNetwork,
    StateActionQNetwork,
    Torso,
    dueling_aggregate,
    normalize,
)

__all__ = [
    "Conv3x3",
    "QNetwork",
    "StateActionQNetwork",
    "Torso",
    "dueling_aggregate",
    "make_network",
    "normalize",
    "with_support",
]
