"""What both commands do between a validated request and the report.

Drive the engine with a progress bar, checkpoints and log lines on stderr.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax

from purejaxdqn.cli.progress import Progress
from purejaxdqn.cli.table import format_table
from purejaxdqn.engine import engine
from purejaxdqn.engine.layout import Layout, RunAxis
from purejaxdqn.rundir import files
from purejaxdqn.rundir.checkpoint import CHECKPOINT_DIR, Checkpointer
from purejaxdqn.tracking.base import Tracker


def log(line: str) -> None:
    """One line on stderr, flushed."""
    print(line, file=sys.stderr, flush=True)


def train(
    build: Callable[..., Any],
    axis: RunAxis,
    out: Path,
    *,
    quiet: bool,
    checkpoint_every: int | None,
    resume: bool,
    meta: dict[str, Any],
    max_memory_bytes: int | None = None,
    before_compile: Callable[[Layout], None] | None = None,
    tracker: Tracker | None = None,
) -> engine.EngineResult:
    """Runs ``axis`` through the engine with a progress bar on stderr.

    Args:
      build: ``build(progress_fn) -> trainer``.
      axis: points x seeds.
      out: the run directory (its ``checkpoints/`` folder holds the checkpoints).
      quiet: no progress bar.
      checkpoint_every: env steps per seed between checkpoints (``None``: none).
      resume: continue from the latest checkpoint in ``out``.
      meta: facts saved with every checkpoint.
      max_memory_bytes: memory limit per device (default: the device's).
      before_compile: called with the layout once it is known to fit.
      tracker: dashboards fed each segment's rows on the host (``--log``); closed at the end.
    """
    config = axis.configs[0]
    segment = checkpoint_every // config.eval_every if checkpoint_every else None
    store = None
    if checkpoint_every or resume:
        store = Checkpointer(out, meta, writer=jax.process_index() == 0)
    progress = Progress(config.total_steps, axis.runs, enabled=not quiet)
    on_rows = tracker if tracker is not None and jax.process_index() == 0 else None
    try:
        return engine.execute(
            build,
            axis,
            max_memory_bytes=max_memory_bytes,
            segment_periods=segment,
            checkpoints=store,
            resume=resume,
            progress=progress,
            log=log,
            before_compile=before_compile,
            on_rows=on_rows,
        )
    finally:
        if tracker is not None:
            tracker.close()


def finish(out: Path, table: list[tuple[str, str]]) -> int:
    """Marks ``out`` complete, removes its checkpoints, prints the end table; returns 0."""
    files.mark_complete(out)
    shutil.rmtree(out / CHECKPOINT_DIR, ignore_errors=True)
    print(format_table(table))
    return 0
