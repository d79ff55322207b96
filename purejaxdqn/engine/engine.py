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


class Trainer(Protocol):
    """What the engine needs of an algorithm (:class:`~purejaxdqn.dqn.DQN` is one).

    ``start(key, hp) -> (state, row)`` and ``train_periods(state, hp, periods) -> (state,
    rows)`` for one run; ``state.params`` and ``state.diverged_step`` are its outputs.
    """

    config: Config

    def start(self, key: jax.Array, hp: Any) -> tuple[Any, dict[str, jax.Array]]: ...

    def train_periods(
        self, state: Any, hp: Any, periods: jax.Array
    ) -> tuple[Any, dict[str, jax.Array]]: ...


class ProgressSink(Protocol):
    """A progress display fed by the program's per-run callbacks."""

    def __call__(self, env_steps: np.ndarray, eval_return: np.ndarray) -> None: ...

    def begin(self, label: str, reports: int, done_steps: int) -> None: ...

    def finish(self) -> None: ...


class CheckpointStore(Protocol):
    """Where segment checkpoints go (:class:`~purejaxdqn.rundir.checkpoint.Checkpointer`)."""

    def save(self, snapshot: Snapshot, meta: dict[str, Any]) -> Any: ...

    def restore_latest(self, like: Any) -> Snapshot | None: ...


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
            f"{layout.groups} sequential groups of "
            f"{layout.runs_per_group} runs, one compiled program"
        )
    # One point: hyperparameters shared by all runs (not batched), as a plain vmap over seeds.
    batched_hp = axis.points > 1
    programs = make_programs(trainer, devices, batched_hp)
    local = sum(d.process_index == jax.process_index() for d in devices)
    reports = layout.runs_per_group * local // len(devices)

    def inputs(group: int) -> tuple[jax.Array, Any]:
        index = layout.group_index(group)
        if batched_hp:
            hp = jax.tree.map(lambda x: put(x, programs.sharding), axis.hyperparams(index))
        else:
            hp = jax.tree.map(
                lambda x: put(np.asarray(x), programs.replicated), config.hyperparams()
            )
        return put(axis.seed_of(index), programs.sharding), hp

    log(
        f"compiling {layout.runs_per_group} runs per call on {len(devices)} "
        f"{devices[0].platform} device(s)..."
    )
    t0 = time.perf_counter()
    seeds0, hp0 = inputs(0)
    start = programs.start.lower(seeds0, hp0).compile()
    state_shape = _sharded_like(jax.eval_shape(programs.start, seeds0, hp0)[0], programs)
    periods0 = put(np.arange(segment, dtype=np.int32), programs.replicated)
    train = programs.train_periods.lower(state_shape, hp0, periods0).compile()
    compile_seconds = time.perf_counter() - t0
    log(f"compiled in {compile_seconds:.1f}s; training")

    snap = None
    if resume and checkpoints is not None:
        try:
            snap = checkpoints.restore_latest(state_shape)
        except ValueError as e:
            raise ConfigError(f"resume: {e}") from e
        saved_layout = None if snap is None else snap.layout
        if saved_layout is not None and saved_layout != _layout_meta(layout):
            raise ConfigError(
                f"resume: {snap.source} was written with {saved_layout}, this process plans "
                f"{_layout_meta(layout)}: resume with the same devices and memory limit"
            )
        if snap is not None:
            where = f"group {snap.group + 1}/{layout.groups}, " if layout.groups > 1 else ""
            step = snap.next_period * config.eval_every
            log(f"resumed from {snap.source} ({where}env step {step:,})")
    resumed = snap is not None
    train_start = time.perf_counter()
    trained_periods = 0
    done = snap.done if snap is not None else None
    first_group = snap.group if snap is not None else 0
    for group in range(first_group, layout.groups):
        seeds, hp = inputs(group)
        real_runs = min(layout.runs_per_group, axis.runs - group * layout.runs_per_group)
        if snap is not None and snap.group == group and snap.state is not None:
            state = jax.tree.map(lambda x: put(x, programs.sharding), snap.state)
            rows, period = snap.rows, snap.next_period
        else:
            state, row0 = start(seeds, hp)
            rows = {k: np.asarray(to_host(v))[:, None] for k, v in row0.items()}
            period = 0
        if progress is not None:
            label = f"group {group + 1}/{layout.groups}" if layout.groups > 1 else ""
            progress.begin(label, reports, period * config.eval_every)
        while period < num_evals:
            periods = put(np.arange(period, period + segment, dtype=np.int32), programs.replicated)
            state, segment_rows = train(state, hp, periods)
            rows = _rows_concat(rows, tree_to_host(segment_rows))
            period += segment
            trained_periods += segment * real_runs
            if checkpoints is not None and period < num_evals:
                meta = {"group": group, "next_period": period, "layout": _layout_meta(layout)}
                checkpoints.save(Snapshot(group, period, tree_to_host(state), rows, done), meta)
        outputs = {
            "rows": rows,
            "params": tree_to_host(state.params),
            "diverged_step": np.asarray(to_host(state.diverged_step)),
        }
        done = outputs if done is None else _merge(done, outputs)
        if progress is not None:
            progress.finish()
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
        trained_env_steps=trained_periods * config.eval_every,
        resumed=resumed,
    )


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
