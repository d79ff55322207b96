"""The run axis and how it is laid over devices and memory.

``P`` points times ``S`` seeds are flattened to one run axis ``[P * S]``: run ``r`` is point
``r // S`` with seed ``seed + r % S`` (the key ``jax.random.key(seed + r % S)``). The axis is
sharded over devices and, when it does not fit in memory, cut into sequential *groups* of
equal size (the last padded by repeating the final run); each group runs the same compiled
programs.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np

from purejaxdqn.config import Config, ConfigError, HyperParams, traced_field_names

#: Multiplier on the exactly sized state of the runs on a device, for XLA temporaries.
SAFETY_FACTOR = 2.0
#: Share of the host's physical memory a CPU run may plan for (shared by local devices).
HOST_MEMORY_FRACTION = 0.5


class DoesNotFit(ConfigError):
    """The runs cannot fit in device memory even one per device."""


@dataclasses.dataclass(frozen=True)
class RunAxis:
    """Points x seeds, flattened.

    Attributes:
      configs: each point's full config (the static fields are the same in all).
      seeds: seeds per point ``S``.
      seed: the first seed.
    """

    configs: tuple[Config, ...]
    seeds: int
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.configs:
            raise ConfigError("a run axis needs at least one point")
        if self.seeds < 1:
            raise ConfigError(f"seeds must be >= 1, got {self.seeds}")

    @property
    def points(self) -> int:
        """Points (configs) on the axis."""
        return len(self.configs)

    @property
    def runs(self) -> int:
        """Runs on the axis: points x seeds."""
        return self.points * self.seeds

    def seed_of(self, index: np.ndarray) -> np.ndarray:
        """The seed (key) of each run in ``index``, int32."""
        return np.asarray(self.seed + np.asarray(index) % self.seeds, np.int32)

    def hyperparams(self, index: np.ndarray) -> HyperParams:
        """Traced fields of the runs in ``index``, leaves ``[len(index)]`` float32.

        The values are the same as each point's ``Config.hyperparams()``.
        """
        point = np.asarray(index) // self.seeds
        fields = {
            name: np.asarray([getattr(c, name) for c in self.configs], np.float32)[point]
            for name in traced_field_names()
        }
        return HyperParams(**fields)


@dataclasses.dataclass(frozen=True)
class Layout:
    """How the run axis is cut into calls of the compiled programs.

    Attributes:
      runs: real runs (points x seeds).
      devices: devices the run axis is sharded over.
      groups: sequential groups of runs.
      runs_per_group: runs per group, a multiple of ``devices``.
      bytes_per_run: exact size of one run's arrays (:func:`estimate_run_bytes`).
      limit_bytes: memory limit per device.
      limit_source: where ``limit_bytes`` comes from.
    """

    runs: int
    devices: int
    groups: int
    runs_per_group: int
    bytes_per_run: int
    limit_bytes: int
    limit_source: str

    @property
    def padded_runs(self) -> int:
        """Runs including the padding of the last group: ``groups * runs_per_group``."""
        return self.groups * self.runs_per_group

    @property
    def estimate_bytes_per_device(self) -> int:
        """Planned bytes on one device for one group (safety factor included)."""
        return int(self.runs_per_group // self.devices * self.bytes_per_run * SAFETY_FACTOR)

    def group_index(self, group: int) -> np.ndarray:
        """Run indices of ``group`` (padding repeats the last run), ``[runs_per_group]``."""
        index = np.arange(group * self.runs_per_group, (group + 1) * self.runs_per_group)
        return np.minimum(index, self.runs - 1)


def mib(n: float) -> str:
    """``n`` bytes as MiB text."""
    return f"{n / 2**20:,.1f} MiB"


def plan_layout(
    runs: int, devices: int, bytes_per_run: int, limit_bytes: int, limit_source: str = "limit"
) -> Layout:
    """Fewest equal groups whose runs per device fit ``limit_bytes`` with :data:`SAFETY_FACTOR`.

    Raises:
      DoesNotFit: if even one run per device does not fit.
    """
    need = bytes_per_run * SAFETY_FACTOR
    fit = int(limit_bytes // need)
    if fit < 1:
        raise DoesNotFit(
            f"does not fit in device memory: one run needs about {mib(need)} "
            f"({mib(bytes_per_run)} x safety {SAFETY_FACTOR:g}), the limit is "
            f"{mib(limit_bytes)} per device ({limit_source}); reduce capacity or num_envs, "
            "or raise --max-memory-gb"
        )
    per_device = -(-runs // devices)
    groups = -(-per_device // fit)
    per_group = -(-per_device // groups) * devices
    return Layout(runs, devices, groups, per_group, bytes_per_run, int(limit_bytes), limit_source)


def _shaped_leaves(tree: Any) -> list[Any]:
    leaves = []
    for x in jax.tree.leaves(tree):
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            leaves.append(jax.ShapeDtypeStruct(x.shape + (2,), np.uint32))
        else:
            leaves.append(x)
    return leaves


def tree_bytes(tree: Any) -> int:
    """Bytes of the arrays (or shapes) in ``tree``; typed keys count as 2 x uint32."""
    return sum(math.prod(x.shape) * np.dtype(x.dtype).itemsize for x in _shaped_leaves(tree))


def estimate_output_bytes(trainer: Any, config: Config) -> int:
    """Bytes of one run's outputs kept on the host: final params, metrics rows, NaN step."""
    state, row = jax.eval_shape(trainer.start, jax.random.key(0), config.hyperparams())
    rows = (config.num_evals + 1) * tree_bytes(row)
    return tree_bytes(state.params) + rows + tree_bytes(state.diverged_step)


def host_memory_limit() -> int:
    """Bytes the host may hold for outputs: :data:`HOST_MEMORY_FRACTION` of its memory."""
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * HOST_MEMORY_FRACTION)


def check_outputs_fit(runs: int, output_bytes_per_run: int, limit_bytes: int) -> None:
    """Refuses runs whose outputs (twice: gathered, then written) cannot fit on the host.

    Raises:
      DoesNotFit: with the estimate and the limit.
    """
    need = 2 * runs * output_bytes_per_run
    if need > limit_bytes:
        raise DoesNotFit(
            f"does not fit in host memory: the outputs of {runs:,} runs need about "
            f"{mib(need)} (2 x {mib(output_bytes_per_run)} per run), the limit is "
            f"{mib(limit_bytes)} ({HOST_MEMORY_FRACTION:g} x host memory); use fewer seeds "
            "or points, or fewer evaluations (a larger eval_every)"
        )


def estimate_run_bytes(trainer: Any, config: Config) -> int:
    """Bytes of one run's arrays.

    They are its state (replay, params, optimizer, envs), its outputs (final params,
    ``num_evals + 1`` metrics rows, the NaN-guard step), its seed and hp.

    Nothing is compiled: shapes come from ``jax.eval_shape`` of ``trainer.start``.
    """
    hp = config.hyperparams()
    state, row = jax.eval_shape(trainer.start, jax.random.key(0), hp)
    output = tree_bytes(state.params) + (config.num_evals + 1) * tree_bytes(row)
    output += tree_bytes(state.diverged_step)
    return tree_bytes(state) + output + tree_bytes(hp) + 4  # + the int32 seed


def device_memory_limit(devices: Sequence[Any]) -> tuple[int, str]:
    """``(bytes per device, where the number comes from)``.

    The device's ``memory_stats()["bytes_limit"]`` where it reports one (GPU, TPU); else
    :data:`HOST_MEMORY_FRACTION` of the host's physical memory shared by its local devices.
    """
    try:
        stats = devices[0].memory_stats()
    except Exception:  # CPU backends may not implement it
        stats = None
    if stats and stats.get("bytes_limit"):
        return int(stats["bytes_limit"]), f"{devices[0].platform} bytes_limit"
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    local = max(1, sum(1 for d in devices if d.process_index == devices[0].process_index))
    source = f"{HOST_MEMORY_FRACTION:g} x host memory / {local} device(s)"
    return int(physical * HOST_MEMORY_FRACTION / local), source
