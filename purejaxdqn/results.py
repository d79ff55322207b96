"""The run directory: summary statistics, files, plots.

Everything here runs on the host with NumPy. A run directory holds:

- ``config.json``: the configuration the run was started with.
- ``metrics.csv``: one row per seed per evaluation point.
- ``summary.json``: final-return statistics, timing and throughput.
- ``learning_curve.png``: the IQM learning curve with a bootstrap confidence band.
- ``params.msgpack``: the trained parameters of every seed (leading seed axis).
- ``RUNNING``: a marker that exists while the run is in progress.

Every file is written atomically (temporary file in the same directory, ``fsync``,
``os.replace``), so an interrupted run never leaves a half-written file behind.

Statistics follow the recommendations of Agarwal et al. (2021), "Deep Reinforcement Learning
at the Edge of the Statistical Precipice": the interquartile mean (IQM) across seeds as the
point estimate, with a percentile bootstrap confidence interval over seeds.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

__all__ = [
    "CONFIG_FILE",
    "METRICS_FILE",
    "METRICS_COLUMNS",
    "SUMMARY_FILE",
    "PLOT_FILE",
    "PARAMS_FILE",
    "RUNNING_FILE",
    "iqm",
    "bootstrap_ci",
    "curve_stats",
    "atomic_write_text",
    "to_json",
    "atomic_write_bytes",
    "write_config",
    "write_metrics_csv",
    "read_metrics_csv",
    "summarize",
    "write_summary",
    "plot_learning_curve",
    "save_params",
    "load_params",
    "format_table",
    "mark_incomplete",
    "mark_complete",
    "is_complete",
]

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.csv"
SUMMARY_FILE = "summary.json"
PLOT_FILE = "learning_curve.png"
PARAMS_FILE = "params.msgpack"
RUNNING_FILE = "RUNNING"

#: Columns that every ``metrics.csv`` starts with, in order.
METRICS_COLUMNS = ("seed", "env_steps", "eval_return", "loss", "q_mean", "epsilon")

# Upper bound on the number of float64 elements in one batch of bootstrap resamples
# (2**22 elements = 32 MiB), so curve_stats stays within a modest amount of memory.
_MAX_RESAMPLE_ELEMENTS = 1 << 22


# --------------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------------


def iqm(x: ArrayLike, axis: int = -1) -> np.ndarray | float:
    """Interquartile mean: the mean of the middle 50% of the values along ``axis``.

    This is ``scipy.stats.trim_mean(x, 0.25, axis=axis)``: with ``n`` values along ``axis``,
    ``floor(0.25 * n)`` of the smallest and as many of the largest are dropped and the rest
    averaged. For ``n`` divisible by 4 this is exactly the middle half; otherwise slightly
    more than half is kept (e.g. ``n = 5`` keeps the middle 3 values, ``n = 3`` keeps all 3).

    Args:
        x: Values, any shape ``[..., n, ...]``.
        axis: Axis to reduce over.

    Returns:
        The IQM with ``axis`` removed: a Python float when the result is a scalar, otherwise
        an array of shape ``x.shape`` without ``axis``.
    """
    result = stats.trim_mean(np.asarray(x, dtype=np.float64), 0.25, axis=axis)
    if np.ndim(result) == 0:
        return float(result)
    return np.asarray(result)


def bootstrap_ci(
    x: ArrayLike,
    statistic: Callable[..., Any] = iqm,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of ``statistic`` over seeds.

    Seeds are resampled with replacement (``scipy.stats.bootstrap`` with
    ``method="percentile"``); this is the single-task case of the stratified bootstrap of
    Agarwal et al. (2021).

    Degenerate inputs (a single seed, or all seeds equal) have a zero-width interval, and
    ``(value, value)`` is returned directly without calling scipy (which would reject one
    observation or warn about a degenerate distribution).

    Args:
        x: Per-seed scores, shape ``[S]``.
        statistic: Statistic of a 1-D sample. If it accepts an ``axis`` keyword it is called
            vectorized over all resamples at once (as :func:`iqm` and ``np.mean`` are).
        confidence: Confidence level in ``(0, 1)``.
        n_resamples: Number of bootstrap resamples.
        seed: Seed of the ``np.random.Generator`` that draws the resamples; the same seed
            gives the same interval.

    Returns:
        ``(lower, upper)`` as Python floats.

    Raises:
        ValueError: If ``x`` is not 1-D, is empty, or ``confidence`` is outside ``(0, 1)``.
    """
    data = np.asarray(x, dtype=np.float64)
    if data.ndim != 1:
        raise ValueError(f"bootstrap_ci expects per-seed scores of shape [S], got {data.shape}")
    if data.size == 0:
        raise ValueError("bootstrap_ci needs at least one score")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if data.size == 1 or np.all(data == data[0]):
        value = float(statistic(data))
        return value, value
    result = stats.bootstrap(
        (data,),
        statistic,
        n_resamples=n_resamples,
        confidence_level=confidence,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    low, high = result.confidence_interval
    return float(low), float(high)


def curve_stats(
    returns: np.ndarray,
    confidence: float = 0.95,
    n_resamples: int = 1000,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """IQM and percentile bootstrap confidence band of a learning curve across seeds.

    All eval points are bootstrapped in one vectorized ``scipy.stats.bootstrap`` call. scipy
    draws one matrix of seed indices per batch of resamples and applies it to every eval
    point, so column ``t`` of the band is the interval that
    ``bootstrap_ci(returns[:, t], confidence=confidence, n_resamples=n_resamples, seed=seed)``
    gives (the same resampled seeds, in the same order).

    Args:
        returns: Evaluation returns, shape ``[S, T]`` (seeds x eval points).
        confidence: Confidence level in ``(0, 1)``.
        n_resamples: Number of bootstrap resamples.
        seed: Seed of the resampling generator.

    Returns:
        ``(iqm, lower, upper)``, each float64 of shape ``[T]``. With a single seed the band
        collapses onto the IQM (which is that seed's curve).

    Raises:
        ValueError: If ``returns`` is not 2-D with at least one seed, or ``confidence`` is
            outside ``(0, 1)``.
    """
    data = np.asarray(returns, dtype=np.float64)
    if data.ndim != 2 or data.shape[0] == 0:
        raise ValueError(f"curve_stats expects returns of shape [S, T], got {data.shape}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    n_seeds, n_points = data.shape
    center = np.atleast_1d(iqm(data, axis=0)).astype(np.float64)
    if n_seeds == 1 or n_points == 0:
        return center, center.copy(), center.copy()
    batch = max(1, _MAX_RESAMPLE_ELEMENTS // (n_seeds * n_points))
    result = stats.bootstrap(
        (data,),
        iqm,
        n_resamples=n_resamples,
        batch=batch if batch < n_resamples else None,
        confidence_level=confidence,
        method="percentile",
        axis=0,
        rng=np.random.default_rng(seed),
    )
    low = np.asarray(result.confidence_interval.low, dtype=np.float64).reshape(n_points)
    high = np.asarray(result.confidence_interval.high, dtype=np.float64).reshape(n_points)
    # Columns where every seed has the same value: the band is exactly that value.
    constant = np.all(data == data[:1], axis=0)
    low[constant] = center[constant]
    high[constant] = center[constant]
    return center, low, high


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically.

    The bytes go to a temporary file in the same directory, which is flushed, ``fsync``-ed
    and then renamed over ``path`` with ``os.replace``. Readers see either the old file or
    the complete new one; on error the temporary file is removed. The parent directory is
    created if needed.

    Args:
        path: Destination file.
        data: Contents.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp_name, 0o644)  # mkstemp creates 0600; use ordinary file permissions
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(path.parent)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically; see :func:`atomic_write_bytes`.

    Args:
        path: Destination file.
        text: Contents.
    """
    atomic_write_bytes(path, text.encode("utf-8"))


def _fsync_dir(directory: Path) -> None:
    """Best-effort ``fsync`` of a directory so that a rename in it is durable."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def to_json(value: Any, *, finite_only: bool) -> Any:
    """Convert NumPy/JAX scalars and arrays, tuples and paths into plain JSON types.

    With ``finite_only``, NaN and infinite floats become ``None`` so the output is strict
    JSON.
    """
    if isinstance(value, Mapping):
        return {str(k): to_json(v, finite_only=finite_only) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v, finite_only=finite_only) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if finite_only and not math.isfinite(value):
            return None
        return value
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if hasattr(value, "__array__"):  # np.ndarray, jax.Array
        return to_json(np.asarray(value).tolist(), finite_only=finite_only)
    raise TypeError(f"cannot convert {type(value).__name__} to JSON: {value!r}")


def write_config(run_dir: str | os.PathLike[str], config: dict) -> None:
    """Write ``config.json``: keys sorted, indented by 2.

    NumPy/JAX scalars and arrays become numbers and lists, tuples become lists, paths become
    strings. Non-finite floats are kept (written as ``NaN``/``Infinity``, which Python's
    ``json`` reads back) so that the configuration round-trips exactly.

    Args:
        run_dir: Run directory (created if missing).
        config: The run's configuration.
    """
    text = json.dumps(to_json(config, finite_only=False), sort_keys=True, indent=2)
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


def summarize(
    env: str,
    final_returns: np.ndarray,
    reward_threshold: float | None,
    total_steps: int,
    compile_seconds: float,
    train_seconds: float,
    env_steps_total: int,
    extra: dict | None = None,
) -> dict:
    """Summary statistics of a run, as plain JSON types.

    Args:
        env: Environment name.
        final_returns: Final evaluation return of each seed, shape ``[S]``.
        reward_threshold: Return at which the environment counts as solved, or ``None``.
        total_steps: Configured number of environment steps per seed.
        compile_seconds: Time spent compiling.
        train_seconds: Time spent training (after compilation).
        env_steps_total: Environment steps taken across all seeds (and parallel envs).
        extra: More entries merged in last (they override the keys above); converted to
            plain JSON types.

    Returns:
        A dict with ``env``, ``seeds``, ``total_steps``, ``final_return_iqm``,
        ``final_return_ci95`` (``[lo, hi]``, 95% percentile bootstrap over seeds),
        ``final_return_mean``, ``final_return_std`` (population std, ``ddof=0``, so one seed
        gives 0 rather than NaN), ``final_return_per_seed``, ``reward_threshold``,
        ``solved_fraction`` (share of seeds with final return ``>= reward_threshold``,
        ``None`` without a threshold), ``solved_seeds`` (count, ``None`` without a
        threshold), ``compile_seconds``, ``train_seconds``, ``env_steps_per_second``
        (``env_steps_total / train_seconds``; ``None`` if ``train_seconds <= 0``) and the
        ``extra`` entries. Non-finite floats are stored as ``None`` so the dict is strict
        JSON.

    Raises:
        ValueError: If ``final_returns`` is not a non-empty 1-D array.
    """
    returns = np.asarray(final_returns, dtype=np.float64)
    if returns.ndim != 1 or returns.size == 0:
        raise ValueError(f"final_returns must have shape [S] with S >= 1, got {returns.shape}")
    if reward_threshold is None:
        solved_seeds = None
        solved_fraction = None
    else:
        solved = returns >= float(reward_threshold)
        solved_seeds = int(solved.sum())
        solved_fraction = solved_seeds / returns.size
    finite = returns[np.isfinite(returns)]
    if finite.size == returns.size:
        ci = list(bootstrap_ci(returns, iqm, confidence=0.95))
    else:  # a diverged seed (NaN return): report no interval rather than a NaN one
        ci = [None, None]
    summary = {
        "env": str(env),
        "seeds": int(returns.size),
        "total_steps": int(total_steps),
        "final_return_iqm": iqm(returns),
        "final_return_ci95": ci,
        "final_return_mean": float(np.mean(returns)),
        "final_return_std": float(np.std(returns)),
        "final_return_per_seed": returns.tolist(),
        "reward_threshold": None if reward_threshold is None else float(reward_threshold),
        "solved_fraction": solved_fraction,
        "solved_seeds": solved_seeds,
        "compile_seconds": float(compile_seconds),
        "train_seconds": float(train_seconds),
        "env_steps_per_second": (
            float(env_steps_total) / float(train_seconds) if train_seconds > 0 else None
        ),
    }
    if extra:
        summary.update(extra)
    return to_json(summary, finite_only=True)


def write_summary(run_dir: str | os.PathLike[str], summary: dict) -> None:
    """Write ``summary.json`` (keys sorted, indented, strict JSON: non-finite floats -> null).

    Args:
        run_dir: Run directory (created if missing).
        summary: Output of :func:`summarize` (or any JSON-convertible dict).
    """
    text = json.dumps(to_json(summary, finite_only=True), sort_keys=True, indent=2)
    atomic_write_text(Path(run_dir) / SUMMARY_FILE, text + "\n")


# --------------------------------------------------------------------------------------------
# Plot
# --------------------------------------------------------------------------------------------


def plot_learning_curve(
    run_dir: str | os.PathLike[str],
    env_steps: np.ndarray,
    returns: np.ndarray,
    title: str,
    reward_threshold: float | None = None,
) -> Path:
    """Plot evaluation return against environment steps to ``learning_curve.png``.

    Draws each seed as a faint line, the IQM across seeds as a solid line with its 95%
    percentile bootstrap band (:func:`curve_stats`), and the solve threshold as a dashed
    line if given. Rendering uses matplotlib's Agg canvas directly (no pyplot, no display)
    and the PNG is written atomically.

    Args:
        run_dir: Run directory (created if missing).
        env_steps: Environment steps at each evaluation point, shape ``[T]``.
        returns: Evaluation returns, shape ``[S, T]``.
        title: Figure title.
        reward_threshold: Solve threshold, or ``None``.

    Returns:
        Path of the written PNG.

    Raises:
        ValueError: If the shapes do not agree.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    steps = np.asarray(env_steps, dtype=np.float64).reshape(-1)
    data = np.asarray(returns, dtype=np.float64)
    if data.ndim != 2 or data.shape[1] != steps.size:
        raise ValueError(f"returns must have shape [S, T] = [S, {steps.size}], got {data.shape}")
    n_seeds = data.shape[0]
    center, low, high = curve_stats(data)

    fig = Figure(figsize=(7.0, 4.5), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    seed_alpha = 0.25 if n_seeds <= 8 else max(0.05, 2.0 / n_seeds)
    for s in range(n_seeds):
        ax.plot(
            steps,
            data[s],
            color="tab:blue",
            alpha=seed_alpha,
            linewidth=0.8,
            label="individual seeds" if s == 0 else None,
        )
    if n_seeds > 1:
        ax.fill_between(
            steps, low, high, color="tab:blue", alpha=0.25, linewidth=0, label="95% bootstrap CI"
        )
    ax.plot(steps, center, color="tab:blue", linewidth=2.0, label=f"IQM ({n_seeds} seeds)")
    if reward_threshold is not None:
        ax.axhline(
            float(reward_threshold),
            color="black",
            linestyle="--",
            linewidth=1.0,
            label=f"threshold ({reward_threshold:g})",
        )
    ax.set_xlabel("environment steps")
    ax.set_ylabel("evaluation return")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    fig.tight_layout()

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    path = Path(run_dir) / PLOT_FILE
    atomic_write_bytes(path, buffer.getvalue())
    return path


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
# Printout and run state
# --------------------------------------------------------------------------------------------


def format_table(rows: list[tuple[str, str]]) -> str:
    """Format ``(name, value)`` pairs as a two-column, left-aligned text table.

    Example::

        >>> print(format_table([("env", "CartPole-v1"), ("final IQM", "500.0")]))
        env        CartPole-v1
        final IQM  500.0

    Args:
        rows: Pairs of strings (other values are converted with ``str``).

    Returns:
        The table, one line per row, without a trailing newline ("" for no rows).
    """
    if not rows:
        return ""
    width = max(len(str(name)) for name, _ in rows)
    return "\n".join(f"{str(name):<{width}}  {value}".rstrip() for name, value in rows)


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
    _fsync_dir(Path(run_dir))


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
