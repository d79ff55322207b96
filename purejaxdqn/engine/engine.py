"""The engine: one loop that trains the flattened run axis of any trainer.

``run`` and ``sweep`` (and the benchmarks) hand it a trainer builder and a
:class:`~purejaxdqn.engine.layout.RunAxis`; it lays the runs over devices and memory groups,
compiles ``start`` and ``train_periods`` once, trains each group in *segments* of eval
periods (saving a checkpoint after a segment when asked), feeds the progress bar, and
returns host arrays. A single run is a sweep of one point.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import jax
import numpy as np

from purejaxdqn.config import Config, ConfigError
from purejaxdqn.engine import layout as layout_lib
from purejaxdqn.engine.programs import Programs, make_programs, put, to_host, tree_to_host
from purejaxdqn.types import PyTree

ProgressFn = Callable[[np.ndarray, np.ndarray], None]
#: ``on_rows(runs [N], rows)``: host rows ``[N, K, ...]`` of the real runs ``runs`` (indices on
#: the run axis), called after a group's start (``K = 1``) and after each segment it trains.
RowsFn = Callable[[np.ndarray, dict[str, np.ndarray]], None]


class Trainer(Protocol):
    """What the engine needs of an algorithm (:class:`~purejaxdqn.dqn.DQN` is one).

    ``start(key, hp) -> (state, row)`` and ``train_periods(state, hp, periods) -> (state,
    rows)`` for one run; ``state.params`` and ``state.diverged_step`` are its outputs.
    """

    config: Config

    def start(self, key: jax.Array, hp: Any) -> tuple[Any, dict[str, jax.Array]]:
        """``(state, row)``: one run's initial state and its metrics row at env step 0."""
        ...

    def train_periods(
        self, state: Any, hp: Any, periods: jax.Array
    ) -> tuple[Any, dict[str, jax.Array]]:
        """``(state, rows)``: one run trained through eval periods ``periods [K]``."""
        ...


class ProgressSink(Protocol):
    """A progress display fed by the program's per-run callbacks."""

    def __call__(self, env_steps: np.ndarray, eval_return: np.ndarray) -> None:
        """Records one run's evaluation (scalars)."""
        ...

    def begin(self, label: str, reports: int, done_steps: int) -> None:
        """Starts a group: ``reports`` callbacks per eval point, ``done_steps`` already done."""
        ...

    def finish(self) -> None:
        """Ends the current group's display."""
        ...


class CheckpointStore(Protocol):
    """Where segment checkpoints go (:class:`~purejaxdqn.rundir.checkpoint.Checkpointer`)."""

    def save(self, snapshot: Snapshot, meta: dict[str, Any]) -> Any:
        """Saves ``snapshot`` (host arrays) with ``meta``."""
        ...

    def restore_latest(self, like: Any) -> Snapshot | None:
        """The newest snapshot, its state checked against ``like`` (``None`` if none)."""
        ...


@dataclasses.dataclass
class Snapshot:
    """The engine's position: everything a resumed run needs.

    Attributes:
      group: the group being trained.
      next_period: the next eval period of that group.
      state: the group's state (leaves ``[runs_per_group, ...]``), ``None`` at a group's start.
      rows: that group's metrics rows so far, ``[runs_per_group, T_so_far, ...]``.
      done: finished groups' outputs: ``rows`` (dict), ``params`` and ``diverged_step``,
        concatenated over groups (``None`` before the first group ends).
      source: where it was read from (restored snapshots).
      layout: ``groups``, ``runs_per_group`` and ``devices`` of the run that saved it.
    """

    group: int
    next_period: int
    state: PyTree | None
    rows: dict[str, np.ndarray]
    done: dict[str, Any] | None
    source: str = ""
    layout: dict[str, int] | None = None


@dataclasses.dataclass
class EngineResult:
    """A finished run axis, on the host, padding dropped.

    Attributes:
      rows: metrics rows, ``[R, T, ...]`` per key (``T = num_evals + 1``).
      params: final online parameters, leaves ``[R, ...]``.
      diverged_step: ``[R]`` NaN-guard steps (``-1``: never).
      layout: how the runs were laid out.
      compile_seconds: time spent compiling.
      train_seconds: time spent training (after compiling).
      trained_env_steps: env steps this process trained, over all real runs.
      resumed: whether the run continued from a checkpoint.
    """

    rows: dict[str, np.ndarray]
    params: PyTree
    diverged_step: np.ndarray
    layout: layout_lib.Layout
    compile_seconds: float
    train_seconds: float
    trained_env_steps: int
    resumed: bool


def _concat(parts: Sequence[PyTree]) -> PyTree:
    return jax.tree.map(lambda *xs: np.concatenate(xs, axis=0), *parts)


def _rows_concat(a: dict[str, np.ndarray], b: dict[str, Any]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([a[k], np.asarray(b[k])], axis=1) for k in a}


def plan(
    trainer: Trainer,
    axis: layout_lib.RunAxis,
    devices: Sequence[Any],
    max_memory_bytes: int | None = None,
) -> layout_lib.Layout:
    """The layout of ``axis`` over ``devices`` within memory (nothing compiled).

    Raises:
      ConfigError: if even one run per device does not fit.
    """
    bytes_per_run = layout_lib.estimate_run_bytes(trainer, axis.configs[0])
    if max_memory_bytes is None:
        limit, source = layout_lib.device_memory_limit(devices)
    else:
        limit, source = int(max_memory_bytes), "--max-memory-gb"
    return layout_lib.plan_layout(axis.runs, len(devices), bytes_per_run, limit, source)


def execute(
    build: Callable[[ProgressFn | None], Trainer],
    axis: layout_lib.RunAxis,
    *,
    devices: Sequence[Any] | None = None,
    max_memory_bytes: int | None = None,
    segment_periods: int | None = None,
    checkpoints: CheckpointStore | None = None,
    resume: bool = False,
    progress: ProgressSink | None = None,
    log: Callable[[str], None] | None = None,
    before_compile: Callable[[layout_lib.Layout], None] | None = None,
    on_rows: RowsFn | None = None,
) -> EngineResult:
    """Trains every run of ``axis``.

    Args:
      build: ``build(progress_fn) -> trainer`` (the callback goes into the program).
      axis: points x seeds.
      devices: devices to shard the runs over (default ``jax.devices()``).
      max_memory_bytes: memory limit per device (default: the device's).
      segment_periods: eval periods per call of ``train_periods`` (must divide
        ``num_evals``; default all of them). A checkpoint follows every segment.
      checkpoints: where to save and find checkpoints (``None``: none).
      resume: continue from the latest checkpoint in ``checkpoints``, if any.
      progress: the progress display.
      log: where to report compiling and grouping.
      before_compile: called with the layout once it is known to fit.
      on_rows: called on the host with each segment's rows (see :data:`RowsFn`), e.g. to
        stream them to a dashboard; never from inside the program.

    Returns:
      An :class:`EngineResult`.

    Raises:
      ConfigError: a segment length that does not divide the run, runs that cannot fit, or
        a checkpoint that does not match this run.
    """
    log = log or (lambda _: None)
    config = axis.configs[0]
    num_evals = config.num_evals
    segment = num_evals if segment_periods is None else int(segment_periods)
    if segment < 1 or num_evals % segment:
        raise ConfigError(f"segments of {segment} eval periods do not divide {num_evals}")
    devices = list(jax.devices() if devices is None else devices)
    trainer = build(progress)
    layout = plan(trainer, axis, devices, max_memory_bytes)
    if before_compile is not None:
        before_compile(layout)
    if layout.groups > 1:
        log(
            f"memory: {axis.runs} runs do not fit at once within "
            f"{layout_lib.mib(layout.limit_bytes)} per device ({layout.limit_source}): "
            f"{layout.groups} sequential groups of {layout.runs_per_group} runs, one compiled "
            "program"
        )
    loop = _Loop(axis, layout, make_programs(trainer, devices, axis.points > 1), segment)
    log(
        f"compiling {layout.runs_per_group} runs per call on {len(devices)} "
        f"{devices[0].platform} device(s)..."
    )
    compile_seconds = loop.compile()
    log(f"compiled in {compile_seconds:.1f}s; training")
    snap = loop.restore(checkpoints, log) if resume and checkpoints is not None else None
    train_start = time.perf_counter()
    done = snap.done if snap is not None else None
    for group in range(snap.group if snap is not None else 0, layout.groups):
        resume_here = snap if snap is not None and snap.group == group else None
        outputs = loop.train_group(group, resume_here, done, checkpoints, progress, on_rows)
        done = outputs if done is None else _merge(done, outputs)
        if checkpoints is not None and group + 1 < layout.groups:
            meta = {"group": group + 1, "next_period": 0, "layout": _layout_meta(layout)}
            checkpoints.save(Snapshot(group + 1, 0, None, {}, done), meta)
    train_seconds = time.perf_counter() - train_start
    assert done is not None
    keep = lambda x: np.asarray(x)[: axis.runs]
    return EngineResult(
        rows={k: keep(v) for k, v in done["rows"].items()},
        params=jax.tree.map(keep, done["params"]),
        diverged_step=keep(done["diverged_step"]),
        layout=layout,
        compile_seconds=compile_seconds,
        train_seconds=train_seconds,
        trained_env_steps=loop.trained_periods * config.eval_every,
        resumed=snap is not None,
    )


class _Loop:
    """The compiled programs of one :func:`execute` call and the loop over a group's segments."""

    def __init__(
        self, axis: layout_lib.RunAxis, layout: layout_lib.Layout, programs: Programs, segment: int
    ) -> None:
        self.axis, self.layout, self.programs, self.segment = axis, layout, programs, segment
        self.config = axis.configs[0]
        self.trained_periods = 0  # eval periods trained here, summed over real runs

    def inputs(self, group: int) -> tuple[jax.Array, Any]:
        """``(seeds [G], hp)`` of ``group``, laid out on the devices."""
        sharding, index = self.programs.sharding, self.layout.group_index(group)
        if self.axis.points > 1:
            hp = jax.tree.map(lambda x: put(x, sharding), self.axis.hyperparams(index))
        else:  # one point: hyperparameters shared by all runs, a plain vmap over seeds
            replicated = self.programs.replicated
            hp = jax.tree.map(lambda x: put(np.asarray(x), replicated), self.config.hyperparams())
        return put(self.axis.seed_of(index), sharding), hp

    def compile(self) -> float:
        """Compiles both programs; returns the seconds it took."""
        t0 = time.perf_counter()
        seeds, hp = self.inputs(0)
        self.start = self.programs.start.lower(seeds, hp).compile()
        shapes = jax.eval_shape(self.programs.start, seeds, hp)[0]
        self.state_shape = _sharded_like(shapes, self.programs)
        periods = put(np.arange(self.segment, dtype=np.int32), self.programs.replicated)
        self.train = self.programs.train_periods.lower(self.state_shape, hp, periods).compile()
        return time.perf_counter() - t0

    def restore(self, checkpoints: CheckpointStore, log: Callable[[str], None]) -> Snapshot | None:
        """The latest snapshot, checked against this layout (``None`` if there is none)."""
        try:
            snap = checkpoints.restore_latest(self.state_shape)
        except ValueError as e:
            raise ConfigError(f"resume: {e}") from e
        if snap is None:
            return None
        planned = _layout_meta(self.layout)
        if snap.layout is not None and snap.layout != planned:
            raise ConfigError(
                f"resume: {snap.source} was written with {snap.layout}, this process plans "
                f"{planned}: resume with the same devices and memory limit"
            )
        groups = self.layout.groups
        where = f"group {snap.group + 1}/{groups}, " if groups > 1 else ""
        step = snap.next_period * self.config.eval_every
        log(f"resumed from {snap.source} ({where}env step {step:,})")
        return snap

    def train_group(
        self,
        group: int,
        snap: Snapshot | None,
        done: dict[str, Any] | None,
        checkpoints: CheckpointStore | None,
        progress: ProgressSink | None,
        on_rows: RowsFn | None = None,
    ) -> dict[str, Any]:
        """Trains ``group`` from its start (or from ``snap``), one segment per call.

        A checkpoint follows every segment but the last; returns the group's host outputs.
        """
        layout, num_evals = self.layout, self.config.num_evals
        seeds, hp = self.inputs(group)
        real_runs = min(layout.runs_per_group, self.axis.runs - group * layout.runs_per_group)
        real = layout.group_index(group)[:real_runs]

        def emit(part: dict[str, Any]) -> None:  # the real runs' new rows, to ``on_rows``
            if on_rows is not None:
                on_rows(real, {k: np.asarray(v)[:real_runs] for k, v in part.items()})

        if snap is not None and snap.state is not None:
            state = jax.tree.map(lambda x: put(x, self.programs.sharding), snap.state)
            rows, period = snap.rows, snap.next_period
        else:
            state, row0 = self.start(seeds, hp)
            rows = {k: np.asarray(to_host(v))[:, None] for k, v in row0.items()}
            period = 0
            emit(rows)
        if progress is not None:
            label = f"group {group + 1}/{layout.groups}" if layout.groups > 1 else ""
            reports = layout.runs_per_group * _local_devices(self.programs) // layout.devices
            progress.begin(label, reports, period * self.config.eval_every)
        while period < num_evals:
            periods = np.arange(period, period + self.segment, dtype=np.int32)
            state, segment_rows = self.train(state, hp, put(periods, self.programs.replicated))
            new_rows = tree_to_host(segment_rows)
            rows = _rows_concat(rows, new_rows)
            emit(new_rows)
            period += self.segment
            self.trained_periods += self.segment * real_runs
            if checkpoints is not None and period < num_evals:
                meta = {"group": group, "next_period": period, "layout": _layout_meta(layout)}
                checkpoints.save(Snapshot(group, period, tree_to_host(state), rows, done), meta)
        if progress is not None:
            progress.finish()
        return {
            "rows": rows,
            "params": tree_to_host(state.params),
            "diverged_step": np.asarray(to_host(state.diverged_step)),
        }


def _local_devices(programs: Programs) -> int:
    """Devices of the mesh that belong to this process."""
    devices = programs.sharding.mesh.devices.flat
    return sum(d.process_index == jax.process_index() for d in devices)


def _layout_meta(layout: layout_lib.Layout) -> dict[str, int]:
    return {
        "groups": layout.groups,
        "runs_per_group": layout.runs_per_group,
        "devices": layout.devices,
    }


def _sharded_like(shapes: PyTree, programs: Programs) -> PyTree:
    """Abstract arrays laid out along the run axis, for lowering ``train_periods``."""
    return jax.tree.map(
        lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=programs.sharding), shapes
    )


def _merge(done: dict[str, Any], outputs: dict[str, Any]) -> dict[str, Any]:
    """Finished groups' outputs followed by one more group's."""
    return {
        "rows": {k: np.concatenate([done["rows"][k], outputs["rows"][k]]) for k in outputs["rows"]},
        "params": _concat([done["params"], outputs["params"]]),
        "diverged_step": np.concatenate([done["diverged_step"], outputs["diverged_step"]]),
    }
