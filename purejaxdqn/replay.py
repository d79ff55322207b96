"""Replay memory: Flashbax buffers behind one small functional interface."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import chex
import flashbax as fbx
import jax


class Transition(NamedTuple):
    """One transition ``(s, a, r, s', terminated)``.

    ``next_obs`` is the observation the step reached *before* any automatic reset, so a
    transition that ends in a time-limit truncation still holds the true next state.
    Leading axes: none for a single transition, ``[N]`` for a batch of ``N``.
    """

    obs: chex.Array
    action: chex.Array
    reward: chex.Array
    next_obs: chex.Array
    terminated: chex.Array


class ReplayBuffer(NamedTuple):
    """A replay buffer as pure functions.

    Attributes:
      init: ``init(example: Transition) -> state`` for an unbatched example transition.
      add: ``add(state, batch: Transition) -> state`` adds a ``[N]`` batch of transitions.
      sample: ``sample(state, key) -> Transition`` draws ``[batch_size]`` transitions
        uniformly with replacement from those added so far.
    """

    init: Callable[[Transition], Any]
    add: Callable[[Any, Transition], Any]
    sample: Callable[[Any, jax.Array], Transition]


def uniform_replay(capacity: int, batch_size: int) -> ReplayBuffer:
    """A FIFO buffer of ``capacity`` transitions with uniform sampling (Flashbax item buffer).

    Args:
      capacity: the number of transitions kept; the oldest are overwritten first.
      batch_size: transitions per sample.

    Returns:
      The buffer's functions.
    """
    if batch_size > capacity:
        raise ValueError(f"batch_size ({batch_size}) must be <= capacity ({capacity})")
    buffer = fbx.make_item_buffer(
        max_length=capacity, min_length=1, sample_batch_size=batch_size, add_batches=True
    )

    def sample(state: Any, key: jax.Array) -> Transition:
        return buffer.sample(state, key).experience

    return ReplayBuffer(init=buffer.init, add=buffer.add, sample=sample)
