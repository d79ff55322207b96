"""The one report path: an engine result written into run directories and end tables.

A run directory gets ``metrics.csv``, ``params.msgpack``, ``learning_curve.png`` and
``summary.json`` from :func:`write_point`. A run is one point; a sweep writes every point's
run directory under ``points/<p>/`` and then its own files (:func:`write_sweep`). The end
tables never fail on a non-finite return.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np

from purejaxdqn import metrics, stats
from purejaxdqn.cli.table import fmt_ci, fmt_float
from purejaxdqn.config import Config
from purejaxdqn.engine.engine import EngineResult
from purejaxdqn.engine.layout import SAFETY_FACTOR, RunAxis
from purejaxdqn.presets import REWARD_THRESHOLDS
from purejaxdqn.rundir import files, plots
from purejaxdqn.rundir.atomic import atomic_write_text, jsonable
from purejaxdqn.rundir.summary import summarize

POINTS_DIR = "points"
SWEEP_CSV_FILE = "sweep.csv"
SWEEP_SUMMARY_FILE = "sweep_summary.json"
SWEEP_PLOT_FILE = "sweep.png"
BEST_CONFIG_FILE = "best_config.json"


@dataclasses.dataclass(frozen=True)
class PointResult:
    """One point's seeds, on the host.

    Attributes:
      config: the point's config.
      seed: its first seed (seed ``i`` used ``key(seed + i)``).
      rows: metrics rows ``[S, T, ...]``.
      params: final parameters, leaves ``[S, ...]``.
      diverged_step: ``[S]``, ``-1`` where the NaN guard never fired.
    """

    config: Config
    seed: int
    rows: dict[str, np.ndarray]
    params: Any
    diverged_step: np.ndarray

    @property
    def final_return(self) -> np.ndarray:
        """``[S]``: the last evaluation's mean greedy return."""
        return self.rows["eval_return"][:, -1]

    @property
    def auc(self) -> np.ndarray:
        """``[S]``: time-averaged greedy return (:func:`purejaxdqn.stats.learning_curve_auc`)."""
        return stats.learning_curve_auc(self.rows["env_steps"][0], self.rows["eval_return"])


def points_of(result: EngineResult, axis: RunAxis) -> list[PointResult]:
    """The engine's flat run axis cut back into points."""
    out = []
    for p, config in enumerate(axis.configs):
        part = slice(p * axis.seeds, (p + 1) * axis.seeds)
        out.append(
            PointResult(
                config=config,
                seed=axis.seed,
                rows={k: v[part] for k, v in result.rows.items()},
                params=jax.tree.map(lambda x, part=part: x[part], result.params),
                diverged_step=result.diverged_step[part],
            )
        )
    return out


def _timing(result: EngineResult) -> dict[str, Any]:
    return {
        "compile_seconds": result.compile_seconds,
        "train_seconds": result.train_seconds,
        "env_steps_total": result.trained_env_steps,
    }


def write_point(
    out: Path, point: PointResult, result: EngineResult, extra: dict[str, Any]
) -> dict[str, Any]:
    """Writes a run directory's result files; returns its summary.

    The summary is returned as written, before ``wall_seconds``, which the caller adds.
    """
    config, rows = point.config, point.rows
    returns = rows["eval_return"]
    env_steps = rows["env_steps"][0]
    threshold = REWARD_THRESHOLDS.get(config.env)
    diverged = [
        {"seed": point.seed + int(i), "env_step": int(point.diverged_step[i])}
        for i in np.flatnonzero(point.diverged_step >= 0)
    ]
    summary = summarize(
        env=config.env,
        final_returns=returns[:, -1],
        reward_threshold=threshold,
        total_steps=config.total_steps,
        **_timing(result),
        extra={
            "seed": point.seed,
            "diverged_count": len(diverged),
            "diverged_seeds": diverged,
            "resumed": result.resumed,
            "devices": result.layout.devices,
            "groups": result.layout.groups,
            **extra,
        },
    )
    files.write_metrics_csv(out, {k: rows[k] for k in metrics.CSV_KEYS})
    files.save_params(out, point.params)
    plots.plot_learning_curve(out, env_steps, returns, title=config.env, reward_threshold=threshold)
    return summary


def run_table(summary: dict[str, Any], out: Path) -> list[tuple[str, str]]:
    """The end table of a run (one point)."""
    seeds = summary["seeds"]
    diverged = summary["diverged_seeds"]
    first = ", ".join(f"seed {d['seed']} at step {d['env_step']}" for d in diverged[:3])
    solved = summary["solved_seeds"]
    iqm = fmt_float(summary["final_return_iqm"])
    return [
        ("env", summary["env"]),
        ("final return IQM", f"{iqm}  ({fmt_ci(summary['final_return_ci95'])})"),
        ("solved seeds", f"{solved}/{seeds}" if solved is not None else "n/a"),
        ("diverged seeds", f"{len(diverged)}/{seeds}" + (f" ({first})" if diverged else "")),
        ("wall time", f"{fmt_float(summary.get('wall_seconds'))}s (start to end of this command)"),
        ("compile time", f"{fmt_float(summary['compile_seconds'])}s"),
        ("env-steps/s", f"{fmt_float(summary['env_steps_per_second'], ',.0f')} (all seeds)"),
        ("run directory", str(out)),
    ]


def write_sweep(
    out: Path,
    points: Sequence[PointResult],
    values: Sequence[dict[str, float]],
    dims: Sequence[Any],
    result: EngineResult,
    extra: dict[str, Any],
) -> dict[str, Any]:
    """Writes ``sweep.csv``, ``sweep_summary.json``, ``best_config.json`` and ``sweep.png``.

    Args:
      out: the sweep directory.
      points: every point's results.
      values: each point's swept values.
      dims: the swept dimensions (``.name``, ``.kind``, ``.values``, ``.log_scale``).
      result: the engine's result (timings, layout).
      extra: more summary entries.

    Returns:
      The sweep summary, as written.
    """
    names = [d.name for d in dims]
    final = np.stack([p.final_return for p in points])
    auc = np.stack([p.auc for p in points])
    seeds, seed = final.shape[1], points[0].seed
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["point", "seed", *names, "final_return", "auc"])
    for p, point_values in enumerate(values):
        for i in range(seeds):
            cells = [repr(float(point_values[n])) for n in names]
            writer.writerow([p, seed + i, *cells, repr(float(final[p, i])), repr(float(auc[p, i]))])
    atomic_write_text(out / SWEEP_CSV_FILE, text.getvalue())

    ranking = stats.rank_points(final)
    for r in ranking:
        p = r["point"]
        r["values"] = dict(values[p])
        r["auc_iqm"] = stats.iqm(auc[p])
        r["final_return_per_seed"] = final[p].tolist()
        r["run_dir"] = f"{POINTS_DIR}/{p:03d}"
    best = ranking[0]["point"]
    best_config = {**points[best].config.to_dict(), "seeds": seeds, "seed": seed}
    layout = result.layout
    summary = {
        "env": points[0].config.env,
        "points": len(points),
        "seeds": seeds,
        "seed": seed,
        "runs": layout.runs,
        "total_steps": points[0].config.total_steps,
        "swept": {d.name: {"kind": d.kind, "values": list(d.values)} for d in dims},
        "ranking": ranking,
        "best": {"point": best, "values": dict(values[best]), "config": best_config},
        "compile_seconds": result.compile_seconds,
        "train_seconds": result.train_seconds,
        "env_steps_per_second": (
            result.trained_env_steps / result.train_seconds if result.train_seconds > 0 else None
        ),
        "devices": layout.devices,
        "groups": layout.groups,
        "runs_per_group": layout.runs_per_group,
        "resumed": result.resumed,
        "memory": {
            "bytes_per_run": layout.bytes_per_run,
            "safety_factor": SAFETY_FACTOR,
            "estimate_bytes_per_device": layout.estimate_bytes_per_device,
            "limit_bytes_per_device": layout.limit_bytes,
            "limit_source": layout.limit_source,
        },
        **extra,
    }
    summary = jsonable(summary, finite_only=True)
    atomic_write_text(out / SWEEP_SUMMARY_FILE, json.dumps(summary, indent=2, sort_keys=True))
    atomic_write_text(
        out / BEST_CONFIG_FILE,
        json.dumps(jsonable(best_config, finite_only=False), indent=2, sort_keys=True) + "\n",
    )
    plots.plot_sweep(out / SWEEP_PLOT_FILE, dims, values, final, title=summary["env"])
    return summary


def sweep_table(summary: dict[str, Any], out: Path) -> list[tuple[str, str]]:
    """The end table of a sweep: the five best points, then timings."""
    rows = []
    for rank, r in enumerate(summary["ranking"][:5], start=1):
        values = " ".join(f"{k}={v:.4g}" for k, v in r["values"].items())
        iqm = fmt_float(r["final_return_iqm"])
        rows.append(
            (
                f"#{rank} point {r['point']}",
                f"{values}  IQM {iqm} ({fmt_ci(r['final_return_ci95'])})",
            )
        )
    rows += [
        ("runs", f"{summary['points']} points x {summary['seeds']} seeds on "
                 f"{summary['devices']} device(s), {summary['groups']} group(s)"),
        ("compile time", f"{fmt_float(summary['compile_seconds'])}s"),
        ("train time", f"{fmt_float(summary['train_seconds'])}s"),
        ("env-steps/s", f"{fmt_float(summary['env_steps_per_second'], ',.0f')} (all runs)"),
        ("run directory", str(out)),
    ]  # fmt: skip
    return rows
