"""Replay: Flashbax buffers behind pure functions and the policy that picks and uses them.

The buffers are in :mod:`.buffers`, the policy in :mod:`.policy`.
"""

from purejaxdqn.replay.buffers import (
    ReplayBuffer,
    ReplaySample,
    Transition,
    importance_weights,
    priorities_from_td,
    rebuild_sum_tree,
    sequence_replay,
    sum_tree_drift,
    uniform_replay,
)
from purejaxdqn.replay.policy import (
    make_replay,
    one_step_view,
    per_beta,
    scheduled_sum_tree_rebuild,
    to_replay_dtype,
)

__all__ = [
    "ReplayBuffer",
    "ReplaySample",
    "Transition",
    "importance_weights",
    "make_replay",
    "one_step_view",
    "per_beta",
    "priorities_from_td",
    "rebuild_sum_tree",
    "scheduled_sum_tree_rebuild",
    "sequence_replay",
    "sum_tree_drift",
    "to_replay_dtype",
    "uniform_replay",
]
