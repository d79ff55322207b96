"""What both commands do between a validated request and the report.

Drive the engine with a progress bar, checkpoints, a lock on the run directory, log lines on
stderr, and the interrupts: SIGINT or SIGTERM while training stops at the next chunk
boundary (seconds), saves a checkpoint there, writes the metrics so far and a summary marked
``interrupted``, says how to resume and exits 130 (143 for SIGTERM); while compiling it exits
at once, leaving nothing misleading; a second signal exits at once.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax

from purejaxdqn.cli.progress import Progress
from purejaxdqn.cli.table import format_table
from purejaxdqn.engine import engine
from purejaxdqn.engine.layout import Layout, RunAxis
from purejaxdqn.engine.loop import Interrupted
from purejaxdqn.rundir import files, lock
from purejaxdqn.rundir.checkpoint import CHECKPOINT_DIR, Checkpointer
from purejaxdqn.tracking.base import Tracker


def log(line: str) -> None:
    """One line on stderr, flushed."""
    print(line, file=sys.stderr, flush=True)


def exit_code(signum: int) -> int:
    """The shell's exit code of a command ended by ``signum``: 130 for SIGINT, 143 for TERM."""
    return 128 + int(signum)


class Interrupts:
    """Catches SIGINT and SIGTERM for the life of a ``with`` block (main thread only).

    A watcher thread reads the signals from a wakeup pipe, so they are seen even while the
    main thread waits in XLA (compiling, or for a device). The first one sets
    :attr:`signum` (the engine polls :meth:`requested` between chunks); while
    :attr:`compiling`, or on a second signal, ``on_exit_now(signum)`` runs and the process
    exits at once.
    """

    def __init__(self, on_exit_now: Callable[[int, bool], None]) -> None:
        self.on_exit_now = on_exit_now
        self.signum: int | None = None
        self.compiling = True
        self.finishing = False
        self._lock = threading.Lock()
        self._active = False

    def requested(self) -> bool:
        """Whether a signal asked training to stop."""
        return self.signum is not None

    def __enter__(self) -> Interrupts:
        if threading.current_thread() is not threading.main_thread():
            return self  # signals go to the main thread only: leave them alone
        self._read, write = os.pipe()
        os.set_blocking(write, False)
        self._write = write
        signals = (signal.SIGINT, signal.SIGTERM)
        caught = [s for s in signals if signal.getsignal(s) != signal.SIG_IGN]  # nohup: ignored
        self._old = {s: signal.signal(s, lambda *_: None) for s in caught}
        self._old_fd = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
        self._active = True
        threading.Thread(target=self._watch, daemon=True, name="purejaxdqn-signals").start()
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._active:
            return
        signal.set_wakeup_fd(self._old_fd)
        for s, handler in self._old.items():
            signal.signal(s, handler)
        self._active = False
        os.close(self._write)  # ends the watcher (read returns b"")

    def _watch(self) -> None:
        while True:
            try:
                data = os.read(self._read, 64)
            except OSError:
                return
            if not data:
                os.close(self._read)
                return
            for signum in data:
                self._signal(signum)

    def _signal(self, signum: int) -> None:
        with self._lock:
            if not self._active or signum not in (signal.SIGINT, signal.SIGTERM):
                return
            second = self.signum is not None
            self.signum = self.signum or signum
            if self.finishing and not second:
                log(f"{signal.Signals(signum).name}: finishing the final writes first")
                return
            if second or self.compiling:
                self.on_exit_now(signum, second)
                sys.stderr.flush()
                os._exit(exit_code(signum))


def train(
    build: Callable[..., Any],
    axis: RunAxis,
    out: Path,
    *,
    quiet: bool,
    checkpoint_every: int | None,
    resume: bool,
    meta: dict[str, Any],
    resume_command: str,
    on_interrupt: Callable[[Interrupted], None],
    on_result: Callable[[engine.EngineResult], int],
    max_memory_bytes: int | None = None,
    before_compile: Callable[[Layout], None] | None = None,
    tracker: Tracker | None = None,
) -> int:
    """Runs ``axis`` through the engine with a progress bar on stderr; returns the exit code.

    Args:
      build: ``build(progress_fn) -> trainer``.
      axis: points x seeds.
      out: the run directory (its ``checkpoints/`` folder holds the checkpoints).
      quiet: no progress bar.
      checkpoint_every: env steps per seed between checkpoints (``None``: only on interrupt).
      resume: continue from the latest intact checkpoint in ``out``.
      meta: facts saved with every checkpoint.
      resume_command: the command that resumes this run (said when interrupted).
      on_interrupt: writes the metrics so far and an ``interrupted`` summary.
      on_result: writes the results and returns the exit code (a signal meanwhile waits
        for it to finish).
      max_memory_bytes: memory limit per device (default: the device's).
      before_compile: called with the layout once it is known to fit; takes the lock of
        ``out`` (:func:`purejaxdqn.rundir.lock.acquire`) before anything is written.

      tracker: dashboards fed each chunk's rows on the host (``--log``); closed at the end.

    Raises:
      SystemExit: 130 or 143 after an interrupt (everything saved first).
    """
    config = axis.configs[0]
    writer = jax.process_index() == 0
    existed = out.exists()
    store = Checkpointer(out, meta, writer=writer, log=log)
    progress = Progress(config.total_steps, axis.runs, enabled=not quiet)
    prepared: list[bool] = []
    on_rows = tracker if tracker is not None and writer else None

    def prepare(layout: Layout) -> None:
        if writer:
            lock.acquire(out, log)
            files.remove_partial_writes(out)
        prepared.append(True)
        if before_compile is not None:
            before_compile(layout)

    def exit_now(signum: int, second: bool) -> None:
        name = signal.Signals(signum).name
        if second:
            log(f"{name} again: stopped at once; resume with: {resume_command}")
        elif not prepared or not writer:
            log(f"{name} while preparing: stopped; nothing was written")
        elif not existed and not resume:
            shutil.rmtree(out, ignore_errors=True)
            log(f"{name} while compiling: stopped before training; removed {out}")
        else:
            log(f"{name} while compiling: nothing new trained; resume with: {resume_command}")
        if writer and prepared:
            lock.release(out)

    with Interrupts(exit_now) as interrupts:
        try:
            result = engine.execute(
                build,
                axis,
                max_memory_bytes=max_memory_bytes,
                checkpoint_periods=checkpoint_every // config.eval_every
                if checkpoint_every
                else None,
                checkpoints=store,
                resume=resume,
                progress=progress,
                log=log,
                before_compile=prepare,
                after_compile=lambda: setattr(interrupts, "compiling", False),
                should_stop=interrupts.requested,
                on_rows=on_rows,
            )
        except Interrupted as stopped:
            interrupts.compiling = True  # a second signal now exits at once
            assert interrupts.signum is not None
            if not quiet:
                sys.stderr.write("\n")
            if writer:
                on_interrupt(stopped)
                lock.release(out)
            name = signal.Signals(interrupts.signum).name
            log(
                f"{name}: stopped at env step {stopped.env_steps:,} of {config.total_steps:,} "
                f"(checkpoint saved, metrics so far written); resume with: {resume_command}"
            )
            raise SystemExit(exit_code(interrupts.signum)) from None
        finally:
            if tracker is not None:
                tracker.close()
        interrupts.finishing = True
        return on_result(result)


def interrupted_summary(stopped: Interrupted, config: Any, command: str) -> dict[str, Any]:
    """The ``summary.json`` of a stopped run: where it stopped and how to resume."""
    return {
        "interrupted": True,
        "env": config.env,
        "total_steps": config.total_steps,
        "env_steps_done": stopped.env_steps,
        "runs_reached": int(stopped.rows["eval_return"].shape[0]),
        "checkpoint": stopped.checkpoint,
        "resume": command,
    }


def finish(out: Path, table: list[tuple[str, str]]) -> int:
    """Marks ``out`` complete, removes its checkpoints and lock, prints the end table."""
    files.mark_complete(out)
    shutil.rmtree(out / CHECKPOINT_DIR, ignore_errors=True)
    lock.release(out)
    print(format_table(table))
    return 0
