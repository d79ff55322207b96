"""Replay buffers: Flashbax buffers behind one small functional interface."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import chex
import flashbax as fbx
import jax
import jax.numpy as jnp

from purejaxdqn.replay.sampling import uniform_index


class Transition(NamedTuple):
    """One transition ``(s, a, r, s', terminated, truncated)``.

    ``next_obs`` is the observation the step reached *before* any automatic reset, so a
    transition that ends in a time-limit truncation still holds the true next state.
    ``truncated`` (optional, ``None`` if absent) marks a time-limit end; the n-step target
    needs it to cut its window at an episode boundary.
    Leading axes: none for a single transition, ``[N]`` for a batch of ``N``, ``[B, n]`` for
    a batch of sequences.
    """

    obs: chex.Array
    action: chex.Array
    reward: chex.Array
    next_obs: chex.Array
    terminated: chex.Array
    truncated: chex.Array | None = None


class ReplaySample(NamedTuple):
    """A sampled batch.

    Attributes:
      experience: transitions ``[B]`` (item buffer) or sequences ``[B, n]``.
      indices: ``[B]`` int sum-tree indices of the samples (prioritized buffers; else ``None``).
      probabilities: ``[B]`` sampling probabilities (prioritized buffers; else ``None``).
    """

    experience: Transition
    indices: jax.Array | None = None
    probabilities: jax.Array | None = None


class ReplayBuffer(NamedTuple):
    """A replay buffer as pure functions.

    Attributes:
      init: ``init(example: Transition) -> state`` for an unbatched example transition.
      add: ``add(state, batch: Transition) -> state`` adds a ``[N]`` batch of transitions, one
        per env (env ``i``'s transitions are consecutive in time for sequence buffers).
      sample: ``sample(state, key) -> ReplaySample`` draws ``[batch_size]`` transitions (or
        sequences) with replacement from those added so far.
      set_priorities: ``set_priorities(state, indices [B], priorities [B]) -> state`` sets the
        sampling priorities (already raised to the exponent α); identity for uniform buffers.
    """

    init: Callable[[Transition], Any]
    add: Callable[[Any, Transition], Any]
    sample: Callable[[Any, jax.Array], ReplaySample]
    set_priorities: Callable[[Any, jax.Array, jax.Array], Any]


def _no_priorities(state: Any, indices: jax.Array, priorities: jax.Array) -> Any:
    del indices, priorities
    return state


def uniform_replay(capacity: int, batch_size: int) -> ReplayBuffer:
    """A FIFO buffer of ``capacity`` transitions with uniform sampling (Flashbax item buffer).

    Flashbax stores and adds; sampling draws slots with :func:`.sampling.uniform_index`.

    Args:
      capacity: the number of transitions kept; the oldest are overwritten first.
      batch_size: transitions per sample.

    Returns:
      The buffer's functions; ``sample`` gives ``[batch_size]`` transitions.
    """
    if batch_size > capacity:
        raise ValueError(f"batch_size ({batch_size}) must be <= capacity ({capacity})")
    buffer = fbx.make_item_buffer(
        max_length=capacity, min_length=1, sample_batch_size=batch_size, add_batches=True
    )

    def sample(state: Any, key: jax.Array) -> ReplaySample:
        # Flashbax's item buffer keeps items along the time axis of one row ([1, capacity, ...]);
        # it samples a logical index in [0, valid) and maps it through the ring's head. The
        # valid items are slots [0, valid) before the ring is full and all slots after, so a
        # uniform slot in [0, valid) is the same distribution, without the head or Flashbax's
        # two randint calls (sampling.uniform_index).
        valid = jnp.where(state.is_full, capacity, state.current_index)
        slot = uniform_index(key, (batch_size,), valid)
        return ReplaySample(jax.tree.map(lambda x: x[0, slot], state.experience))

    return ReplayBuffer(
        init=buffer.init, add=buffer.add, sample=sample, set_priorities=_no_priorities
    )


def sequence_replay(
    capacity: int,
    batch_size: int,
    num_envs: int,
    sequence_length: int,
    prioritized: bool = False,
) -> ReplayBuffer:
    """A buffer of per-env time series, sampling sequences of consecutive transitions.

    Each of the ``num_envs`` rows keeps the last ``capacity // num_envs`` transitions of one
    env in time order. A sample is ``[batch_size, sequence_length]`` consecutive transitions
    of one row; Flashbax only samples sequences lying wholly in the valid data (none crosses
    the write head or reaches into the not-yet-filled part). A sequence may cross an episode
    boundary: the n-step target cuts it at the first ``terminated | truncated``.

    Args:
      capacity: total transitions kept (rounded down to a multiple of ``num_envs``).
      batch_size: sequences per sample.
      num_envs: envs adding one transition each per ``add``.
      sequence_length: ``n``, transitions per sampled sequence.
      prioritized: Flashbax's prioritized trajectory buffer (sum tree over sequence starts;
        new sequences get the largest priority recorded so far) instead of uniform sampling.

    Returns:
      The buffer's functions.
    """
    time_len = capacity // num_envs
    if time_len < sequence_length:
        raise ValueError(
            f"capacity // num_envs ({time_len}) must be >= sequence_length ({sequence_length})"
        )
    kwargs = dict(
        add_batch_size=num_envs,
        sample_batch_size=batch_size,
        sample_sequence_length=sequence_length,
        period=1,
        min_length_time_axis=sequence_length,
        max_length_time_axis=time_len,
    )
    if prioritized:
        # Exponent 1: the trainer raises priorities to the traced alpha itself.
        buffer = fbx.make_prioritised_trajectory_buffer(**kwargs, priority_exponent=1.0)
    else:
        buffer = fbx.make_trajectory_buffer(**kwargs)

    def add(state: Any, batch: Transition) -> Any:
        return buffer.add(state, jax.tree.map(lambda x: x[:, None], batch))

    def sample(state: Any, key: jax.Array) -> ReplaySample:
        s = buffer.sample(state, key)
        if prioritized:
            return ReplaySample(s.experience, s.indices, s.probabilities)
        return ReplaySample(s.experience)

    set_priorities = buffer.set_priorities if prioritized else _no_priorities
    return ReplayBuffer(init=buffer.init, add=add, sample=sample, set_priorities=set_priorities)


def priorities_from_td(td: jax.Array, alpha: jax.Array, eps: jax.Array) -> jax.Array:
    """Prioritized replay's sampling priorities ``(|td| + eps) ** alpha``, shape of ``td``."""
    return (jnp.abs(td) + eps) ** alpha


def importance_weights(probabilities: jax.Array, beta: jax.Array) -> jax.Array:
    """PER importance weights ``w_i = (N P(i))^-beta / max_j w_j`` over a sampled batch.

    The buffer size ``N`` cancels in the normalization (``max_j w_j`` is at the smallest
    ``P(j)``), so ``w_i = (P(i) / min_j P(j))^-beta``. A sample of probability 0 (which a
    drifted float32 sum tree can return, Flashbax issue #52) gets weight 0 and is left out of
    the minimum.

    Args:
      probabilities: sampling probabilities ``[B]``.
      beta: importance exponent ``[]`` (annealed to 1).

    Returns:
      Weights in ``[0, 1]``, shape ``[B]``.
    """
    chex.assert_rank(probabilities, 1)
    valid = probabilities > 0
    p = jnp.where(valid, probabilities, jnp.max(probabilities))
    return jnp.where(valid, (p / jnp.min(p)) ** (-beta), 0.0)


def _sum_tree_leaves(state: Any) -> jax.Array:
    tree = state.sum_tree_state
    return tree.nodes[2**tree.tree_depth - 1 :]


def sum_tree_drift(state: Any) -> jax.Array:
    """``root - sum(leaves)`` of a prioritized buffer's float32 sum tree (0 when exact).

    Flashbax updates the tree by adding ``new - old`` to every ancestor of a changed leaf, so
    float32 rounding accumulates in the inner nodes (Flashbax issue #52). The leaves are
    summed here pairwise, as a freshly built tree would.
    """
    tree = state.sum_tree_state
    return tree.nodes[0] - _pairwise_levels(_sum_tree_leaves(state), tree.tree_depth)[0][0]


def _pairwise_levels(leaves: jax.Array, depth: int) -> list[jax.Array]:
    levels = [leaves]
    for _ in range(depth):
        levels.append(levels[-1].reshape(-1, 2).sum(axis=1))
    return levels[::-1]  # root level first


def rebuild_sum_tree(state: Any) -> Any:
    """A prioritized buffer state whose sum tree's inner nodes are recomputed from its leaves.

    Removes the drift :func:`sum_tree_drift` measures; ``O(capacity)``.
    """
    tree = state.sum_tree_state
    levels = _pairwise_levels(_sum_tree_leaves(state), tree.tree_depth)
    nodes = jnp.concatenate(levels).astype(tree.nodes.dtype)
    return state.replace(sum_tree_state=tree.replace(nodes=nodes))
