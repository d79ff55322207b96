"""The engine's loop over one group of runs: compiled calls, chunks, checkpoints, interrupts.

A group is trained by calling the compiled ``train_periods`` program, ``segment`` eval
periods per call. Calls are queued asynchronously in *chunks*; the host waits for a chunk's
metrics rows, and only there checkpoints and looks for an interrupt. The first chunk is one
call; later chunks hold as many calls as fit in :data:`CHUNK_SECONDS` by the measured time
of a call, so an interrupt is seen within seconds whatever the run's size. Every call runs
the same program on the state the previous one returned, so results do not depend on how
calls are grouped into chunks (byte-identical to one call for the whole run).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import jax
import numpy as np

from purejaxdqn.config import ConfigError
from purejaxdqn.engine import layout as layout_lib
from purejaxdqn.engine.compile_options import compile_lowered
from purejaxdqn.engine.programs import Programs, put, to_host, tree_to_host

if TYPE_CHECKING:
    from purejaxdqn.engine.engine import CheckpointStore, ProgressSink, RowsFn, Snapshot

#: Wall-clock seconds a chunk of calls aims at (between two looks for an interrupt).
CHUNK_SECONDS = 2.0
#: Test hook: chunks of one call, each followed by this many seconds of sleep, so a test can
#: signal a tiny run mid-training. Never set in normal use.
PAUSE_ENV = "PUREJAXDQN_TEST_CHUNK_PAUSE"


class Interrupted(Exception):
    """Training stopped on request at a chunk boundary (after saving a checkpoint).

    Attributes:
      rows: metrics rows of the runs reached so far, ``[R', T', ...]`` (real runs only,
        each truncated to the evaluations every one of them has).
      checkpoint: the checkpoint saved for ``--resume`` (``None`` without a store).
      env_steps: env steps per run of the last evaluation in ``rows``.
    """

    def __init__(self, rows: dict[str, np.ndarray], checkpoint: str | None, env_steps: int):
        super().__init__(f"interrupted at env step {env_steps}")
        self.rows, self.checkpoint, self.env_steps = rows, checkpoint, env_steps


def layout_meta(layout: layout_lib.Layout, runs_per_block: int | None = None) -> dict[str, int]:
    """The layout facts saved with a checkpoint (a resume must plan the same).

    ``runs_per_block`` (``None``: all of a device's runs at once) is left out when it does
    not cut a device's runs, so that it is compared only where it changes the program.
    """
    meta = {
        "groups": layout.groups,
        "runs_per_group": layout.runs_per_group,
        "devices": layout.devices,
    }
    if runs_per_block is not None and runs_per_block < layout.runs_per_group // layout.devices:
        meta["runs_per_block"] = runs_per_block
    return meta


def _rows_concat(parts: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([np.asarray(p[k]) for p in parts], axis=1) for k in parts[0]}


class Loop:
    """The compiled programs of one ``execute`` call and the loop over a group's chunks.

    Args:
      axis: the run axis.
      layout: its layout.
      programs: the sharded programs.
      segment: eval periods per compiled call (divides ``num_evals``).
      checkpoint_periods: eval periods between checkpoints (a multiple of ``segment``;
        ``None``: checkpoints only when interrupted).
      should_stop: polled at every chunk boundary; ``True`` stops training.
      runs_per_block: runs each device trains at a time (``None``: all), saved with
        checkpoints.
    """

    def __init__(
        self,
        axis: layout_lib.RunAxis,
        layout: layout_lib.Layout,
        programs: Programs,
        segment: int,
        checkpoint_periods: int | None = None,
        should_stop: Callable[[], bool] | None = None,
        runs_per_block: int | None = None,
    ) -> None:
        self.axis, self.layout, self.programs, self.segment = axis, layout, programs, segment
        self.meta = layout_meta(layout, runs_per_block)
        self.checkpoint_periods = checkpoint_periods
        self.should_stop = should_stop or (lambda: False)
        self.config = axis.configs[0]
        self.trained_periods = 0  # eval periods trained here, summed over real runs
        self.seconds_per_call: float | None = None
        seeds, hp = self.inputs(0)
        shapes = jax.eval_shape(self.programs.start, seeds, hp)[0]
        self.state_shape = jax.tree.map(
            lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=programs.sharding), shapes
        )

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
        """Compiles both programs (with ``compile_options``); returns the seconds it took."""
        t0 = time.perf_counter()
        seeds, hp = self.inputs(0)
        platform = self.programs.sharding.mesh.devices.flat[0].platform
        self.start = compile_lowered(self.programs.start.lower(seeds, hp), platform)
        periods = put(np.arange(self.segment, dtype=np.int32), self.programs.replicated)
        lowered = self.programs.train_periods.lower(self.state_shape, hp, periods)
        self.train = compile_lowered(lowered, platform)
        return time.perf_counter() - t0

    def restore(self, checkpoints: CheckpointStore, log: Callable[[str], None]) -> Snapshot | None:
        """The latest intact snapshot, checked against this layout (``None`` if none)."""
        try:
            snap = checkpoints.restore_latest(self.state_shape)
        except ValueError as e:
            raise ConfigError(f"resume: {e}") from e
        if snap is None:
            return None
        planned = self.meta
        if snap.layout is not None and snap.layout != planned:
            raise ConfigError(
                f"resume: {snap.source} was written with {snap.layout}, this process plans "
                f"{planned}: resume with the same devices, memory limit and "
                "$PUREJAXDQN_RUNS_PER_BLOCK"
            )
        groups = self.layout.groups
        where = f"group {snap.group + 1}/{groups}, " if groups > 1 else ""
        step = snap.next_period * self.config.eval_every
        log(f"resumed from {snap.source} ({where}env step {step:,})")
        return snap

    def _chunk_calls(self, period: int) -> int:
        """Calls in the next chunk from ``period``: to the next checkpoint or end at most."""
        end = self.config.num_evals
        if self.checkpoint_periods:
            end = min(end, (period // self.checkpoint_periods + 1) * self.checkpoint_periods)
        most = (end - period) // self.segment
        if self.seconds_per_call is None or os.environ.get(PAUSE_ENV):
            return 1
        return int(max(1, min(most, CHUNK_SECONDS // max(self.seconds_per_call, 1e-6))))

    def _run_chunk(self, state: Any, hp: Any, period: int) -> tuple[Any, dict[str, Any], int]:
        """Queues one chunk of calls from ``period``; waits for its rows (on the host)."""
        calls = self._chunk_calls(period)
        t0 = time.perf_counter()
        parts = []
        for c in range(calls):
            first = period + c * self.segment
            periods = np.arange(first, first + self.segment, dtype=np.int32)
            state, rows = self.train(state, hp, put(periods, self.programs.replicated))
            parts.append(rows)
        host = _rows_concat([tree_to_host(p) for p in parts])  # waits for the chunk
        self.seconds_per_call = (time.perf_counter() - t0) / calls
        time.sleep(float(os.environ.get(PAUSE_ENV) or 0))
        return state, host, period + calls * self.segment

    def train_group(
        self,
        group: int,
        snap: Snapshot | None,
        done: dict[str, Any] | None,
        checkpoints: CheckpointStore | None,
        progress: ProgressSink | None,
        on_rows: RowsFn | None = None,
    ) -> dict[str, Any]:
        """Trains ``group`` from its start (or from ``snap``), chunk by chunk.

        ``on_rows`` gets the real runs' new host rows after the start and after each chunk.

        Returns the group's host outputs.

        Raises:
          Interrupted: when ``should_stop`` says so at a chunk boundary before the end (a
            checkpoint of that boundary is saved first).
        """
        from purejaxdqn.engine.engine import Snapshot

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
            before = period
            state, chunk_rows, period = self._run_chunk(state, hp, period)
            rows = _rows_concat([rows, chunk_rows])
            emit(chunk_rows)
            self.trained_periods += (period - before) * real_runs
            if period == num_evals:
                break
            stop = self.should_stop()
            every = self.checkpoint_periods
            saved = None
            if checkpoints is not None and (stop or (every and period % every == 0)):
                meta = {"group": group, "next_period": period, "layout": self.meta}
                snapshot = Snapshot(group, period, tree_to_host(state), rows, done)
                saved = checkpoints.save(snapshot, meta)
            if stop:
                step = period * self.config.eval_every
                raise Interrupted(self.reached(done, rows), _str(saved), step)
        if progress is not None:
            progress.finish()
        return {
            "rows": rows,
            "params": tree_to_host(state.params),
            "diverged_step": np.asarray(to_host(state.diverged_step)),
        }

    def reached(self, done: dict[str, Any] | None, rows: dict[str, Any]) -> dict[str, np.ndarray]:
        """Rows of the real runs reached so far, cut to the evaluations all of them have.

        Finished groups' rows come first, then ``rows`` (the current group's).
        """
        parts = [] if done is None else [done["rows"]]
        if rows:
            parts.append(rows)
        t = min(np.asarray(p["eval_return"]).shape[1] for p in parts)
        out = {k: np.concatenate([np.asarray(p[k])[:, :t] for p in parts]) for k in parts[0]}
        return {k: v[: self.axis.runs] for k, v in out.items()}


def _str(path: Any) -> str | None:
    return None if path is None else str(path)


def _local_devices(programs: Programs) -> int:
    """Devices of the mesh that belong to this process."""
    devices = programs.sharding.mesh.devices.flat
    return sum(d.process_index == jax.process_index() for d in devices)
