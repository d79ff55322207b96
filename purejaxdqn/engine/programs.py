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

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
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


def vmap_in_blocks(
    fn: Callable[..., Any], in_axes: tuple[int | None, ...], block: int | None
) -> Callable[..., Any]:
    """``jax.vmap(fn, in_axes)``, computed ``block`` runs at a time.

    The runs (the leading axis of the arguments whose axis is ``0``) are cut into blocks of
    ``block``, each a ``vmap`` of its own, one after another in a ``fori_loop`` that writes
    the outputs in place (a last, smaller block takes the remainder). Every run computes
    the same function as under the one big ``vmap`` (XLA may round a smaller batch's
    matmuls differently in the last bits); on CPU a block's arrays stay in the core's
    caches through its whole segment. ``None``, or a block not below the run count:
    the plain ``vmap``.

    The outputs' leading axis is the runs'; ``fn``'s first argument and its first output
    must have the same structure (a state in, the next state out), which the loop updates
    in place.
    """
    whole = jax.vmap(fn, in_axes=in_axes)

    def run(*args: Any) -> Any:
        runs = next(
            jax.tree.leaves(a)[0].shape[0] for a, ax in zip(args, in_axes, strict=True) if ax == 0
        )
        if block is None or block >= runs:
            return whole(*args)
        size = int(block)
        blocks, rest = divmod(runs, size)

        def part(start: Any, length: int) -> tuple[Any, ...]:
            return tuple(
                jax.tree.map(lambda x: jax.lax.dynamic_slice_in_dim(x, start, length), a)
                if ax == 0
                else a
                for a, ax in zip(args, in_axes, strict=True)
            )

        out_shape = jax.eval_shape(whole, *args)
        others = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), out_shape[1:])

        def put_part(full: Any, new: Any, start: Any) -> Any:
            return jax.tree.map(
                lambda x, y: jax.lax.dynamic_update_slice_in_dim(x, y, start, 0), full, new
            )

        def advance(carry: tuple[Any, Any], start: Any, length: int) -> tuple[Any, Any]:
            """Trains runs ``start .. start + length - 1`` and writes them into ``carry``."""
            new = whole(*part(start, length))
            return put_part(carry[0], new[0], start), put_part(carry[1], new[1:], start)

        carry = jax.lax.fori_loop(
            0, blocks, lambda i, c: advance(c, i * size, size), (args[0], others)
        )
        if rest:  # the remainder, a smaller block
            carry = advance(carry, blocks * size, rest)
        return (carry[0], *carry[1])

    return run


def make_programs(
    trainer: Any,
    devices: Sequence[Any],
    batched_hp: bool = True,
    runs_per_block: int | None = None,
) -> Programs:
    """Jitted, sharded programs of ``trainer``.

    ``trainer`` is an object with ``start`` and ``train_periods``, e.g.
    :class:`~purejaxdqn.dqn.DQN`.

    With ``batched_hp`` the hyperparameters have the run axis ``[R]``; without, they are
    scalars shared by every run (one point: the program then is exactly a vmap over seeds).
    ``runs_per_block``: each device trains its runs that many at a time
    (:func:`vmap_in_blocks`; ``None``: all at once).
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

    # train_periods(state [R], hp, periods [K]) -> (state [R], rows [R, K])
    train_periods = vmap_in_blocks(trainer.train_periods, (0, hp_axis, None), runs_per_block)

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
