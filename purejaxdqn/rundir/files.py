"""The files of a run directory: names, writers and readers, and the run-state marker.

A run directory holds:

- ``config.json``: the configuration the run was started with, plus the run entries.
- ``metrics.csv``: one row per seed per evaluation point.
- ``summary.json``: final-return statistics, timing and throughput.
- ``learning_curve.png``: the IQM learning curve with a bootstrap confidence band.
- ``params.msgpack``: the trained parameters of every seed (leading seed axis).
- ``RUNNING``: a marker that exists while the run is in progress (or was interrupted).
- ``LOCK``: the live writer's pid, host and start time (:mod:`~purejaxdqn.rundir.lock`).

Every file is written atomically (see :mod:`purejaxdqn.rundir.atomic`).
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from purejaxdqn.config import ConfigError
from purejaxdqn.rundir.atomic import atomic_write_bytes, atomic_write_text, fsync_dir, jsonable

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.csv"
SUMMARY_FILE = "summary.json"
PLOT_FILE = "learning_curve.png"
PARAMS_FILE = "params.msgpack"
RUNNING_FILE = "RUNNING"

#: Columns that every ``metrics.csv`` starts with, in order.
METRICS_COLUMNS = ("seed", "env_steps", "eval_return", "loss", "q_mean", "epsilon")


# --------------------------------------------------------------------------------------------
# Config, metrics and summary
# --------------------------------------------------------------------------------------------


def write_config(run_dir: str | os.PathLike[str], config: dict) -> None:
    """Write ``config.json``: keys sorted, indented by 2.

    NumPy/JAX scalars and arrays become numbers and lists, tuples become lists, paths become
    strings. Non-finite floats are kept (written as ``NaN``/``Infinity``, which Python's
    ``json`` reads back) so that the configuration round-trips exactly.

    Args:
        run_dir: Run directory (created if missing).
        config: The run's configuration.
    """
    text = json.dumps(jsonable(config, finite_only=False), sort_keys=True, indent=2)
    atomic_write_text(Path(run_dir) / CONFIG_FILE, text + "\n")


def _format_column(values: np.ndarray) -> list[str]:
    """Format a 1-D column as the shortest strings that round-trip at the column's precision.

    Integers and booleans are written as integers. Floats are written with NumPy's shortest
    round-trip representation at their own precision (float32 stays float32-short, float64
    is repr-exact), which is at least as precise as ``%.9g`` for float32.
    """
    if values.dtype == np.bool_ or np.issubdtype(values.dtype, np.integer):
        return [str(int(v)) for v in values]
    if not np.issubdtype(values.dtype, np.floating) or values.dtype.itemsize > 8:
        values = values.astype(np.float64)
    elif values.dtype.itemsize < 4:
        values = values.astype(np.float32)
    return [str(v) for v in values]


def write_metrics_csv(run_dir: str | os.PathLike[str], metrics: dict[str, np.ndarray]) -> None:
    """Write ``metrics.csv``: one row per seed per evaluation point.

    The header is ``seed,env_steps,eval_return,loss,q_mean,epsilon`` followed by any extra
    keys in sorted order. Rows are ordered by seed, then by evaluation point. Floats are
    written with the shortest representation that round-trips at their own dtype (see
    :func:`read_metrics_csv`).

    Args:
        run_dir: Run directory (created if missing).
        metrics: ``"env_steps"`` of shape ``[T]`` (shared by all seeds) or ``[S, T]``;
            ``"eval_return"``, ``"loss"``, ``"q_mean"``, ``"epsilon"`` and any extra keys of
            shape ``[S, T]`` (anything broadcastable to ``[S, T]`` is accepted). NumPy or
            JAX arrays.

    Raises:
        KeyError: If a required column is missing.
        ValueError: If the shapes do not agree.
    """
    required = METRICS_COLUMNS[1:]
    missing = [k for k in required if k not in metrics]
    if missing:
        raise KeyError(f"metrics is missing required columns: {missing}")
    if "seed" in metrics:
        raise ValueError("'seed' is generated from the row index and must not be in metrics")

    eval_return = np.asarray(metrics["eval_return"])
    if eval_return.ndim != 2:
        raise ValueError(f"eval_return must have shape [S, T], got {eval_return.shape}")
    n_seeds, n_points = eval_return.shape
    names = list(required) + sorted(k for k in metrics if k not in required)

    columns: dict[str, list[str]] = {
        "seed": [str(s) for s in np.repeat(np.arange(n_seeds), n_points)],
    }
    for name in names:
        array = np.asarray(metrics[name])
        try:
            array = np.broadcast_to(array, (n_seeds, n_points))
        except ValueError:
            raise ValueError(
                f"metrics[{name!r}] has shape {array.shape}, expected [S, T] = "
                f"[{n_seeds}, {n_points}]" + (" or [T]" if name == "env_steps" else "")
            ) from None
        columns[name] = _format_column(array.reshape(-1))

    header = ["seed", *names]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(zip(*(columns[h] for h in header), strict=True))
    atomic_write_text(Path(run_dir) / METRICS_FILE, buffer.getvalue())


def read_metrics_csv(run_dir: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Read ``metrics.csv`` back into ``[S, T]`` arrays.

    Args:
        run_dir: Run directory.

    Returns:
        A dict with one float64 array of shape ``[S, T]`` per column, except ``"seed"`` and
        ``"env_steps"``, which are int64. Casting a float column back to the dtype it was
        written from recovers the original values exactly.
    """
    with open(Path(run_dir) / METRICS_FILE, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = list(reader)
    seeds = np.array([int(r[0]) for r in rows], dtype=np.int64)
    n_seeds = int(seeds.max()) + 1 if rows else 0
    n_points = len(rows) // n_seeds if n_seeds else 0
    out: dict[str, np.ndarray] = {}
    for j, name in enumerate(header):
        dtype = np.int64 if name in ("seed", "env_steps") else np.float64
        column = np.array([float(r[j]) for r in rows], dtype=np.float64).astype(dtype)
        out[name] = column.reshape(n_seeds, n_points)
    return out


def write_summary(run_dir: str | os.PathLike[str], summary: dict) -> None:
    """Write ``summary.json`` (keys sorted, indented, strict JSON: non-finite floats -> null).

    Args:
        run_dir: Run directory (created if missing).
        summary: Output of :func:`purejaxdqn.rundir.summary.summarize` (or any
            JSON-convertible dict).
    """
    text = json.dumps(jsonable(summary, finite_only=True), sort_keys=True, indent=2)
    atomic_write_text(Path(run_dir) / SUMMARY_FILE, text + "\n")


# --------------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------------


def _to_numpy_tree(tree: Any) -> Any:
    """Nested dicts (or FrozenDicts) / lists / tuples of arrays -> nested dicts of np arrays."""
    from flax import serialization

    state = serialization.to_state_dict(tree)
    return _map_leaves(np.asarray, state)


def _map_leaves(fn: Callable[[Any], Any], tree: Any) -> Any:
    if isinstance(tree, Mapping):
        return {k: _map_leaves(fn, v) for k, v in tree.items()}
    return fn(tree)


def save_params(run_dir: str | os.PathLike[str], params: Any) -> Path:
    """Save the parameters of all seeds to ``params.msgpack``.

    Args:
        run_dir: Run directory (created if missing).
        params: Pytree of nested dicts of arrays (as flax linen produces; JAX or NumPy), each
            leaf with a leading seed axis ``[S, ...]``.

    Returns:
        Path of the written file.

    Raises:
        ValueError: If a leaf has no leading axis or the leaves disagree on ``S``.
    """
    from flax import serialization

    tree = _to_numpy_tree(params)
    leading: set[int] = set()

    def check(leaf: np.ndarray) -> np.ndarray:
        if leaf.ndim == 0:
            raise ValueError("every params leaf needs a leading seed axis [S, ...]")
        leading.add(leaf.shape[0])
        return leaf

    _map_leaves(check, tree)
    if len(leading) > 1:
        raise ValueError(f"params leaves disagree on the seed axis size: {sorted(leading)}")
    path = Path(run_dir) / PARAMS_FILE
    atomic_write_bytes(path, serialization.msgpack_serialize(tree))
    return path


def load_params(run_dir: str | os.PathLike[str], seed: int | None = None) -> Any:
    """Load the parameters written by :func:`save_params`.

    Args:
        run_dir: Run directory.
        seed: If given, return only this seed's slice (leading axis removed, negative
            indices allowed).

    Returns:
        Nested dict of NumPy arrays: leaves ``[S, ...]``, or ``[...]`` when ``seed`` is given.

    Raises:
        IndexError: If ``seed`` is out of range.
    """
    from flax import serialization

    data = (Path(run_dir) / PARAMS_FILE).read_bytes()
    tree = _map_leaves(np.asarray, serialization.msgpack_restore(data))
    if seed is None:
        return tree
    index = int(seed)
    return _map_leaves(lambda leaf: np.array(leaf[index]), tree)


# --------------------------------------------------------------------------------------------
# Run state and location
# --------------------------------------------------------------------------------------------


def mark_incomplete(run_dir: str | os.PathLike[str]) -> None:
    """Create the ``RUNNING`` marker (and the run directory) at the start of a run.

    The marker records the process id and start time, and stays until
    :func:`mark_complete`, so a directory whose run was interrupted says it is incomplete.

    Args:
        run_dir: Run directory.
    """
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    atomic_write_text(Path(run_dir) / RUNNING_FILE, f"pid {os.getpid()}\nstarted {started}\n")


def mark_complete(run_dir: str | os.PathLike[str]) -> None:
    """Remove the ``RUNNING`` marker at the end of a run (no error if it is absent).

    Args:
        run_dir: Run directory.
    """
    (Path(run_dir) / RUNNING_FILE).unlink(missing_ok=True)
    fsync_dir(Path(run_dir))


def remove_partial_writes(run_dir: str | os.PathLike[str]) -> None:
    """Remove leftovers of atomic writes cut short by a kill (``.NAME.*.tmp``).

    The files they were for are intact (old or new).

    Args:
        run_dir: Run (or sweep) directory; missing is fine.
    """
    for leftover in Path(run_dir).rglob(".*.tmp"):
        if leftover.is_file():
            leftover.unlink(missing_ok=True)


def is_complete(run_dir: str | os.PathLike[str]) -> bool:
    """Whether ``run_dir`` exists and has no ``RUNNING`` marker.

    Args:
        run_dir: Run directory.

    Returns:
        ``True`` for a directory whose run finished, ``False`` for a missing directory or
        one whose run is in progress or was interrupted.
    """
    run_dir = Path(run_dir)
    return run_dir.is_dir() and not (run_dir / RUNNING_FILE).exists()


def default_run_dir(env: str, prefix: str = "") -> Path:
    """The default run directory ``runs/<prefix><env>-<time>``.

    Args:
        env: Environment name; ``:`` and ``/`` become ``_`` so it is one path component.
        prefix: Put before the env name (e.g. ``"sweep-"``).

    Returns:
        A relative path; nothing is created.
    """
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{prefix}{env.replace(':', '_').replace('/', '_')}-{stamp}"


RUN_ENTRIES = ("seeds", "seed", "checkpoint_every", "max_memory_gb")


def read_config_file(path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Reads a ``config.json``: ``(config fields, run entries such as seeds and seed)``.

    Raises:
      ConfigError: if the file cannot be read or is not a JSON object.
    """
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"{path}: cannot read a JSON config ({e})") from e
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a JSON object")
    run = {k: raw.pop(k) for k in RUN_ENTRIES if k in raw}
    for name in ("hidden", "conv"):
        if isinstance(raw.get(name), list):
            raw[name] = tuple(raw[name])
    return raw, run


def run_entries(
    seeds: int, seed: int, checkpoint_every: int | None, max_memory_gb: float | None = None
) -> dict[str, Any]:
    """The entries of ``config.json`` beside the config fields.

    Args:
        seeds: Number of seeds.
        seed: The first seed.
        checkpoint_every: Env steps per seed between checkpoints, or ``None`` (then the
            entry is left out).
        max_memory_gb: The memory limit per device the run was planned with, or ``None``
            (left out).

    Returns:
        ``{"seeds": ..., "seed": ...}`` plus the optional entries that are given.
    """
    entries: dict[str, Any] = {"seeds": seeds, "seed": seed}
    if checkpoint_every is not None:
        entries["checkpoint_every"] = checkpoint_every
    if max_memory_gb is not None:
        entries["max_memory_gb"] = max_memory_gb
    return entries


def check_run_dir(path: str | os.PathLike[str], expected: Mapping[str, Any]) -> None:
    """Refuse a path that is not a directory, or a directory holding a different run.

    A missing path, or a directory without ``config.json``, is accepted.

    Args:
        path: The run directory (``--out``).
        expected: The ``config.json`` contents this run would write: ``config.to_dict()``
            merged with :func:`run_entries`.

    Raises:
        ConfigError: With a one-line message, if ``path`` exists and is not a directory, or
            its ``config.json`` is unreadable or differs from ``expected``.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"--out {path}: exists and is not a directory")
    existing = path / CONFIG_FILE
    if existing.exists():
        try:
            old = json.loads(existing.read_text(encoding="utf-8"))
        except (OSError, ValueError):  # unreadable, not UTF-8, not JSON: not this run's
            old = None
        if old != dict(expected):
            raise ConfigError(f"--out {path}: already holds a different run (its config.json)")
