"""The compiled programs of the engine.

They are a trainer's ``start`` and ``train_periods``, vmapped over runs and sharded over
devices.

The run axis is sharded over a 1-D mesh ``("runs",)`` with ``jax.shard_map``: each device
trains its own block of runs with no communication. Keys are made inside from plain int
seeds, so inputs are ordinary arrays on any number of hosts (``key(s)`` inside is the same
key as ``key(s)`` outside). With several hosts (``jax.distributed.initialize()`` first),
``jax.devices()`` spans them all; inputs are built with ``jax.make_array_from_callback`` and
results gathered with ``multihost_utils.process_allgather``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import chex
import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from purejaxdqn.types import PyTree


class Programs(NamedTuple):
    """A trainer's compiled programs and their shardings (:func:`make_programs`).

    Attributes:
      start: ``start(seeds [R] int32, hp [R]) -> (state [R], row [R])``.
      train_periods: ``train_periods(state [R], hp [R], periods [K]) -> (state, rows [R, K])``;
        the state argument is donated.
      sharding: the ``NamedSharding`` of the run axis.
      replicated: the sharding of inputs every device sees whole (``periods``).
    """

    start: jax.stages.Wrapped
    train_periods: jax.stages.Wrapped
    sharding: NamedSharding
    replicated: NamedSharding


def make_programs(trainer: Any, devices: Sequence[Any], batched_hp: bool = True) -> Programs:
    """Jitted, sharded programs of ``trainer``.

    ``trainer`` is an object with ``start`` and ``train_periods``, e.g.
    :class:`~purejaxdqn.dqn.DQN`.

    With ``batched_hp`` the hyperparameters have the run axis ``[R]``; without, they are
    scalars shared by every run (one point: the program then is exactly a vmap over seeds).
    """
    mesh = Mesh(np.array(list(devices)), ("runs",))
    runs, whole = PartitionSpec("runs"), PartitionSpec()
    hp_spec, hp_axis = (runs, 0) if batched_hp else (whole, None)

    def start(seeds: jax.Array, hp: Any) -> Any:
        chex.assert_rank(seeds, 1)
        if batched_hp:
            chex.assert_tree_shape_prefix(hp, seeds.shape)
        run_start = lambda s, h: trainer.start(jax.random.key(s), h)
        return jax.vmap(run_start, in_axes=(0, hp_axis))(seeds, hp)

    def train_periods(state: Any, hp: Any, periods: jax.Array) -> Any:
        return jax.vmap(trainer.train_periods, in_axes=(0, hp_axis, None))(state, hp, periods)

    sharded_start = jax.shard_map(
        start, mesh=mesh, in_specs=(runs, hp_spec), out_specs=runs, check_vma=False
    )
    sharded_train = jax.shard_map(
        train_periods, mesh=mesh, in_specs=(runs, hp_spec, whole), out_specs=runs, check_vma=False
    )
    return Programs(
        start=jax.jit(sharded_start),
        train_periods=jax.jit(sharded_train, donate_argnums=0),
        sharding=NamedSharding(mesh, runs),
        replicated=NamedSharding(mesh, whole),
    )


def put(x: np.ndarray, sharding: NamedSharding) -> jax.Array:
    """A host array (the same on every host) as a global array laid out by ``sharding``."""
    if jax.process_count() == 1:
        return jax.device_put(x, sharding)
    return jax.make_array_from_callback(np.shape(x), sharding, lambda index: x[index])


def to_host(x: Any) -> np.ndarray | jax.Array:
    """A (possibly multi-host) array as one NumPy array on this host.

    Typed PRNG keys are returned as keys (host-side copies).
    """
    if isinstance(x, np.ndarray):
        return x
    if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
        # wrap_key_data takes NumPy key data too; its annotation says jax.Array.
        return jax.random.wrap_key_data(to_host(jax.random.key_data(x)))  # type: ignore[arg-type]
    if getattr(x, "is_fully_addressable", True):
        return np.asarray(jax.device_get(x))
    from jax.experimental import multihost_utils

    return np.asarray(multihost_utils.process_allgather(x, tiled=True))


def tree_to_host(tree: PyTree) -> PyTree:
    """:func:`to_host` of every leaf."""
    return jax.tree.map(to_host, tree)
