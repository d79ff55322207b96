"""Plots of a run directory and of a sweep, rendered with matplotlib's Agg canvas."""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from purejaxdqn.rundir.atomic import atomic_write_bytes
from purejaxdqn.rundir.files import PLOT_FILE
from purejaxdqn.stats import bootstrap_ci, curve_stats, iqm

__all__ = ["plot_learning_curve", "plot_sweep"]


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


def plot_sweep(
    path: str | os.PathLike[str],
    dims: Sequence[Any],
    points: Sequence[Mapping[str, float]],
    final_return: np.ndarray,
    title: str = "",
) -> None:
    """Plot a sweep's final return against each swept field, one panel per field.

    A panel shows, for each value of the field, the IQM of the final return over all runs
    with that value (non-finite returns dropped) and its 95% percentile bootstrap CI. Grid
    and choice fields draw a line with a band, sampled fields points with error bars. The
    PNG is written atomically.

    Args:
        path: Destination PNG.
        dims: The swept fields, each with ``.name`` (a key of every point), ``.kind``
            (``"grid"``, ``"choice"``, ``"uniform"`` or ``"loguniform"``) and ``.log_scale``
            (whether the x axis is logarithmic).
        points: The ``P`` points' swept values.
        final_return: Final returns, shape ``[P, S]``.
        title: Figure title.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    final = np.asarray(final_return, np.float64)
    fig = Figure(figsize=(4.2 * len(dims), 3.6), dpi=110)
    FigureCanvasAgg(fig)
    for k, d in enumerate(dims):
        ax = fig.add_subplot(1, len(dims), k + 1)
        column = np.asarray([p[d.name] for p in points])
        xs = np.unique(column)
        band = np.full((3, xs.size), np.nan)  # IQM, CI low, CI high per value
        for j, x in enumerate(xs):
            runs = final[column == x].reshape(-1)
            runs = runs[np.isfinite(runs)]
            if runs.size:
                band[:, j] = (iqm(runs), *bootstrap_ci(runs))
        center, low, high = band
        if d.kind in ("grid", "choice"):
            ax.fill_between(
                xs, low, high, color="tab:blue", alpha=0.25, linewidth=0, label="95% CI"
            )
            ax.plot(xs, center, "o-", color="tab:blue", label="IQM")
        else:
            err = np.stack([center - low, high - center])
            ax.errorbar(xs, center, yerr=err, fmt="o", color="tab:blue", ms=3, label="IQM, 95% CI")
        if d.log_scale:
            ax.set_xscale("log")
        ax.set_xlabel(d.name)
        ax.set_ylabel("final return" if k == 0 else "")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best", fontsize="small")
    fig.suptitle(title)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    atomic_write_bytes(path, buffer.getvalue())
