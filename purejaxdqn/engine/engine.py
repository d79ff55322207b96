"""The engine: one loop that trains the flattened run axis of any trainer.

``run`` and ``sweep`` (and the benchmarks) hand it a trainer builder and a
:class:`~purejaxdqn.engine.layout.RunAxis`; it lays the runs over devices and memory groups,
compiles ``start`` and ``train_periods`` once, trains each group in chunks of calls of a few
seconds (:mod:`~purejaxdqn.engine.loop`: checkpoints and interrupts happen between chunks),
feeds the progress bar, and returns host arrays. A single run is a sweep of one point.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import jax
import numpy as np

from purejaxdqn.config import Config, ConfigError
from purejaxdqn.engine import layout as layout_lib
from purejaxdqn.engine.loop import Interrupted, Loop
from purejaxdqn.engine.programs import make_programs
from purejaxdqn.types import PyTree

ProgressFn = Callable[[np.ndarray, np.ndarray], None]
#: Runs a CPU device trains at a time (:func:`~purejaxdqn.engine.programs.vmap_in_blocks`).
#: Blocks of 8 keep a block's replay, parameters and activations in the core's caches: on the
#: project's 2-core CPU, CleanRL's CartPole config at 64 seeds trains 1.3-1.4x faster than
#: with all 32 runs of a device in one vmap (``benchmarks/README.md``, "Runs in blocks").
CPU_RUNS_PER_BLOCK = 8
#: Environment variable overriding the runs per block (``0``: all of a device's at once).
RUNS_PER_BLOCK_ENV = "PUREJAXDQN_RUNS_PER_BLOCK"
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


def plan(
    trainer: Trainer,
    axis: layout_lib.RunAxis,
    devices: Sequence[Any],
    max_memory_bytes: int | None = None,
) -> layout_lib.Layout:
    """The layout of ``axis`` over ``devices`` within memory (nothing compiled).

    Both are sized with ``jax.eval_shape``: one run's arrays on a device (cut into groups
    when they do not fit at once) and every run's outputs on the host.

    Raises:
      ConfigError: if even one run per device, or the outputs on the host, do not fit, or
        a DQN run would never update (``learning_starts >= total_steps``).
    """
    config = axis.configs[0]
    # DQN learns after a replay warm-up (PQN from its first rollout). Legal for tests of
    # acting; never what a run wants.
    if config.algorithm == "dqn" and config.learning_starts >= config.total_steps:
        raise ConfigError(
            f"learning_starts ({config.learning_starts}) must be < total_steps "
            f"({config.total_steps}): the run would never update"
        )
    outputs = layout_lib.estimate_output_bytes(trainer, axis.configs[0])
    layout_lib.check_outputs_fit(axis.runs, outputs, layout_lib.host_memory_limit())
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
    segment_periods: int = 1,
    runs_per_block: int | None | str = "auto",
    checkpoint_periods: int | None = None,
    checkpoints: CheckpointStore | None = None,
    resume: bool = False,
    progress: ProgressSink | None = None,
    log: Callable[[str], None] | None = None,
    before_compile: Callable[[layout_lib.Layout], None] | None = None,
    after_compile: Callable[[], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_rows: RowsFn | None = None,
) -> EngineResult:
    """Trains every run of ``axis``.

    Args:
      build: ``build(progress_fn) -> trainer`` (the callback goes into the program).
      axis: points x seeds.
      devices: devices to shard the runs over (default :func:`default_devices`).
      max_memory_bytes: memory limit per device (default: the device's).
      segment_periods: eval periods per compiled call of ``train_periods`` (must divide
        ``num_evals``). Calls are queued in chunks of about
        :data:`~purejaxdqn.engine.loop.CHUNK_SECONDS`; results do not depend on either.
      runs_per_block: runs each device trains at a time (``None``: all at once; ``"auto"``:
        :func:`default_runs_per_block`). Results can differ from one block size to another
        in the last bits of float32 (XLA may round a smaller batch of matmuls differently);
        a resume checks it is the checkpoint's.
      checkpoint_periods: eval periods between checkpoints (a multiple of
        ``segment_periods``; ``None``: a checkpoint only when stopped by ``should_stop``).
      checkpoints: where to save and find checkpoints (``None``: none).
      resume: continue from the latest intact checkpoint in ``checkpoints``, if any; it is
        read and checked before anything is compiled.
      progress: the progress display.
      log: where to report compiling and grouping.
      before_compile: called with the layout once it is known to fit.
      after_compile: called once the programs are compiled.
      should_stop: polled at chunk boundaries; when it returns ``True`` the position is
        checkpointed and :class:`~purejaxdqn.engine.loop.Interrupted` is raised.
      on_rows: called on the host with each segment's rows (see :data:`RowsFn`), e.g. to
        stream them to a dashboard; never from inside the program.

    Returns:
      An :class:`EngineResult`.

    Raises:
      ConfigError: a segment length that does not divide the run, runs that cannot fit, or
        a checkpoint that does not match this run.
      Interrupted: ``should_stop`` asked to stop before the end.
    """
    log = log or (lambda _: None)
    config = axis.configs[0]
    num_evals = config.num_evals
    segment = int(segment_periods)
    if segment < 1 or num_evals % segment:
        raise ConfigError(f"segments of {segment} eval periods do not divide {num_evals}")
    if checkpoint_periods is not None and (checkpoint_periods < 1 or checkpoint_periods % segment):
        raise ConfigError(
            f"checkpoints every {checkpoint_periods} eval periods are not a multiple of the "
            f"segment ({segment})"
        )
    devices = default_devices(axis.runs) if devices is None else list(devices)
    trainer = build(progress)
    layout = plan(trainer, axis, devices, max_memory_bytes)
    block = default_runs_per_block(devices) if runs_per_block == "auto" else runs_per_block
    assert block is None or isinstance(block, int)
    if block is not None and block < 1:
        raise ConfigError(f"runs_per_block must be >= 1 or None, got {block}")
    programs = make_programs(trainer, devices, axis.points > 1, block)
    loop = Loop(axis, layout, programs, segment, checkpoint_periods, should_stop, block)
    # Read and check the checkpoint before the (long) compile: a bad one fails in seconds.
    snap = loop.restore(checkpoints, log) if resume and checkpoints is not None else None
    if before_compile is not None:
        before_compile(layout)
    if layout.groups > 1:
        log(
            f"memory: {axis.runs} runs do not fit at once within "
            f"{layout_lib.mib(layout.limit_bytes)} per device ({layout.limit_source}): "
            f"{layout.groups} sequential groups of {layout.runs_per_group} runs, one compiled "
            "program"
        )
    log(
        f"compiling {layout.runs_per_group} runs per call on {len(devices)} "
        f"{devices[0].platform} device(s)..."
    )
    compile_seconds = loop.compile()
    if after_compile is not None:
        after_compile()
    log(f"compiled in {compile_seconds:.1f}s; training")
    train_start = time.perf_counter()
    done = snap.done if snap is not None else None
    for group in range(snap.group if snap is not None else 0, layout.groups):
        resume_here = snap if snap is not None and snap.group == group else None
        outputs = loop.train_group(group, resume_here, done, checkpoints, progress, on_rows)
        done = outputs if done is None else _merge(done, outputs)
        if group + 1 == layout.groups:
            break
        stop, saved = loop.should_stop(), None
        if checkpoints is not None and (stop or checkpoint_periods is not None):
            meta = {"group": group + 1, "next_period": 0, "layout": loop.meta}
            saved = checkpoints.save(Snapshot(group + 1, 0, None, {}, done), meta)
        if stop:
            path = None if saved is None else str(saved)
            raise Interrupted(loop.reached(done, {}), path, config.total_steps)
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


def default_runs_per_block(devices: Sequence[Any]) -> int | None:
    """Runs a device trains at a time (``None``: all of them).

    ``$PUREJAXDQN_RUNS_PER_BLOCK`` if set, else :data:`CPU_RUNS_PER_BLOCK` on CPU and
    ``None`` on accelerators.

    Raises:
      ConfigError: the variable is not a whole number >= 0.
    """
    raw = os.environ.get(RUNS_PER_BLOCK_ENV, "").strip()
    if raw:
        try:
            value = int(raw)
        except ValueError:
            value = -1
        if value < 0:
            raise ConfigError(f"{RUNS_PER_BLOCK_ENV} must be a whole number >= 0, got {raw!r}")
        return value or None
    return CPU_RUNS_PER_BLOCK if devices and devices[0].platform == "cpu" else None


def default_devices(runs: int) -> list[Any]:
    """``jax.devices()``, in one process no more of them than ``runs``.

    Fewer runs than devices would otherwise be padded with copies of the last run (a 1-seed
    run on a host split into one CPU device per core would train the seed once per core).
    """
    devices = list(jax.devices())
    if jax.process_count() == 1:
        devices = devices[: max(1, runs)]
    return devices


def _merge(done: dict[str, Any], outputs: dict[str, Any]) -> dict[str, Any]:
    """Finished groups' outputs followed by one more group's."""
    return {
        "rows": {k: np.concatenate([done["rows"][k], outputs["rows"][k]]) for k in outputs["rows"]},
        "params": _concat([done["params"], outputs["params"]]),
        "diverged_step": np.concatenate([done["diverged_step"], outputs["diverged_step"]]),
    }
