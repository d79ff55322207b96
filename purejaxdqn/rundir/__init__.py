"""The run directory on the host: its files, summary, plots and checkpoints.

Submodules: :mod:`~purejaxdqn.rundir.atomic` (atomic writes, JSON conversion),
:mod:`~purejaxdqn.rundir.files` (file names, writers, readers, run state),
:mod:`~purejaxdqn.rundir.summary` (the run summary), :mod:`~purejaxdqn.rundir.plots`
(learning curve and sweep plots) and :mod:`~purejaxdqn.rundir.checkpoint` (resumable
checkpoints).
"""

from purejaxdqn.rundir.atomic import atomic_write_bytes, atomic_write_text, fsync_dir, jsonable
from purejaxdqn.rundir.checkpoint import CHECKPOINT_DIR, Checkpointer
from purejaxdqn.rundir.files import (
    CONFIG_FILE,
    METRICS_COLUMNS,
    METRICS_FILE,
    PARAMS_FILE,
    PLOT_FILE,
    RUNNING_FILE,
    SUMMARY_FILE,
    check_run_dir,
    default_run_dir,
    is_complete,
    load_params,
    mark_complete,
    mark_incomplete,
    read_metrics_csv,
    run_entries,
    save_params,
    write_config,
    write_metrics_csv,
    write_summary,
)
from purejaxdqn.rundir.plots import plot_learning_curve, plot_sweep
from purejaxdqn.rundir.summary import summarize

__all__ = [
    "CHECKPOINT_DIR",
    "CONFIG_FILE",
    "METRICS_COLUMNS",
    "METRICS_FILE",
    "PARAMS_FILE",
    "PLOT_FILE",
    "RUNNING_FILE",
    "SUMMARY_FILE",
    "Checkpointer",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_run_dir",
    "default_run_dir",
    "fsync_dir",
    "is_complete",
    "jsonable",
    "load_params",
    "mark_complete",
    "mark_incomplete",
    "plot_learning_curve",
    "plot_sweep",
    "read_metrics_csv",
    "run_entries",
    "save_params",
    "summarize",
    "write_config",
    "write_metrics_csv",
    "write_summary",
]
