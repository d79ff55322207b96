"""Results as data: runs and sweeps as pandas tables; final scores for rliable, marl-eval.

::

    from purejaxdqn import load_run, load_sweep
    run = load_run("runs/cp")          # .metrics: one row per seed x eval step; .summary
    sweep = load_sweep("runs/s")       # the same over every point, with the swept values

    python -m purejaxdqn.results runs/cp runs/ac --rliable scores.npz --marl-eval scores.json

Only pandas and NumPy are imported (no JAX): the files are read as written by
:mod:`purejaxdqn.rundir.files` and :mod:`purejaxdqn.report`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Results", "export_scores", "final_scores", "load", "load_run", "load_sweep"]

# The names of purejaxdqn.rundir.files and purejaxdqn.report (not imported: they pull in JAX).
CONFIG_FILE, METRICS_FILE, SUMMARY_FILE = "config.json", "metrics.csv", "summary.json"
SWEEP_SPEC_FILE, SWEEP_SUMMARY_FILE, POINTS_DIR = "sweep.json", "sweep_summary.json", "points"
#: Scalar entries of ``summary.json`` that the summary table keeps (CI split in two columns).
SUMMARY_COLUMNS = (
    "env", "seeds", "seed", "total_steps", "final_return_iqm", "final_return_ci95_low",
    "final_return_ci95_high", "final_return_mean", "final_return_std", "solved_fraction",
    "diverged_count", "compile_seconds", "train_seconds", "env_steps_per_second",
)  # fmt: skip


class ResultsError(ValueError):
    """A path that is not a finished run or sweep directory (one-line message)."""


@dataclasses.dataclass(frozen=True)
class Results:
    """A run or a sweep as tables.

    Attributes:
      metrics: one row per point x seed x eval step: ``point``, the swept values (sweeps),
        then ``metrics.csv``'s columns (``seed``, ``env_steps``, ``eval_return``, ``loss``,
        ``q_mean``, ``epsilon``, ``train_return``).
      summary: one row per point: ``point``, the swept values, :data:`SUMMARY_COLUMNS`.
      info: ``summary.json`` of a run or ``sweep_summary.json`` of a sweep, as read.
      path: the directory.
      is_sweep: whether it is a sweep.
    """

    metrics: pd.DataFrame
    summary: pd.DataFrame
    info: dict[str, Any]
    path: Path
    is_sweep: bool


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ResultsError(f"{path}: cannot read ({e})") from None


def _summary_row(summary: dict[str, Any]) -> dict[str, Any]:
    low, high = summary.get("final_return_ci95") or (None, None)
    full = {**summary, "final_return_ci95_low": low, "final_return_ci95_high": high}
    return {k: (math.nan if full.get(k) is None else full[k]) for k in SUMMARY_COLUMNS}


def _point_tables(run_dir: Path, point: int, values: dict[str, float]) -> tuple[Any, dict]:
    import pandas as pd

    if not (run_dir / METRICS_FILE).is_file():
        raise ResultsError(f"{run_dir}: no {METRICS_FILE} (not a finished run directory)")
    metrics = pd.read_csv(run_dir / METRICS_FILE)
    front = {"point": point, **values}
    for i, (k, v) in enumerate(front.items()):
        metrics.insert(i, k, v)
    summary = _read_json(run_dir / SUMMARY_FILE) if (run_dir / SUMMARY_FILE).is_file() else {}
    return metrics, {**front, **_summary_row(summary)}


def load_run(run_dir: str | Path) -> Results:
    """A run directory as tables (see :class:`Results`; ``point`` is 0).

    Raises:
      ResultsError: if ``run_dir`` has no ``metrics.csv``.
    """
    import pandas as pd

    path = Path(run_dir)
    metrics, row = _point_tables(path, 0, {})
    info = _read_json(path / SUMMARY_FILE) if (path / SUMMARY_FILE).is_file() else {}
    return Results(metrics, pd.DataFrame([row]), info, path, is_sweep=False)


def load_sweep(sweep_dir: str | Path) -> Results:
    """A sweep directory as tables: every point's rows, with the point's swept values.

    Raises:
      ResultsError: if ``sweep_dir`` has no ``sweep.json`` or a point has no ``metrics.csv``.
    """
    import pandas as pd

    path = Path(sweep_dir)
    if not (path / SWEEP_SPEC_FILE).is_file():
        raise ResultsError(f"{path}: no {SWEEP_SPEC_FILE} (not a sweep directory)")
    points = _read_json(path / SWEEP_SPEC_FILE)["points"]
    tables, rows = [], []
    for p, values in enumerate(points):
        metrics, row = _point_tables(path / POINTS_DIR / f"{p:03d}", p, dict(values))
        tables.append(metrics)
        rows.append(row)
    info = _read_json(path / SWEEP_SUMMARY_FILE) if (path / SWEEP_SUMMARY_FILE).is_file() else {}
    return Results(pd.concat(tables, ignore_index=True), pd.DataFrame(rows), info, path, True)


def load(path: str | Path) -> Results:
    """:func:`load_sweep` for a sweep directory, else :func:`load_run`."""
    return load_sweep(path) if (Path(path) / SWEEP_SPEC_FILE).is_file() else load_run(path)


def _algorithms(results: Results, algorithm: str) -> list[tuple[str, Any]]:
    """``(algorithm label, that point's metrics rows)`` for each point."""
    frame = results.metrics
    if not results.is_sweep:
        return [(algorithm, frame)]
    return [(f"{algorithm}/p{p:03d}", rows) for p, rows in frame.groupby("point", sort=True)]


def final_scores(
    paths: Sequence[str | Path], algorithm: str = "purejaxdqn"
) -> tuple[dict[str, np.ndarray], list[str]]:
    """Final greedy returns in rliable's layout.

    Each run (or sweep point) is one algorithm on one task (its env); several runs of one
    algorithm label on different envs fill the task columns.

    Args:
      paths: run or sweep directories.
      algorithm: the label of a run (a sweep point's is ``<algorithm>/p<ppp>``).

    Returns:
      ``(scores, tasks)``: ``scores[algorithm]`` is float64 ``[num_runs, num_tasks]`` (the
      last evaluation's ``eval_return`` of every seed), tasks (env names) in column order.

    Raises:
      ResultsError: an algorithm with two runs on one env, or runs whose seed counts or
        task sets differ (rliable needs full matrices).
    """
    cells: dict[str, dict[str, np.ndarray]] = {}
    for path in paths:
        results = load(path)
        env = str(results.summary["env"].iloc[0]) if "env" in results.summary else str(path)
        for label, rows in _algorithms(results, algorithm):
            last = rows[rows["env_steps"] == rows["env_steps"].max()].sort_values("seed")
            if env in cells.setdefault(label, {}):
                raise ResultsError(f"{path}: a second run of {label!r} on {env}")
            cells[label][env] = last["eval_return"].to_numpy(np.float64)
    tasks = sorted({t for by_task in cells.values() for t in by_task})
    scores = {}
    for label, by_task in cells.items():
        if sorted(by_task) != tasks:
            raise ResultsError(f"{label!r} has tasks {sorted(by_task)}, others {tasks}")
        if len({len(v) for v in by_task.values()}) != 1:
            raise ResultsError(f"{label!r}: different seed counts per task")
        scores[label] = np.stack([by_task[t] for t in tasks], axis=1)
    return scores, tasks


def marl_eval_json(
    paths: Sequence[str | Path], algorithm: str = "purejaxdqn", environment: str = "purejaxdqn"
) -> dict[str, Any]:
    """marl-eval's raw-data layout of the runs' eval curves.

    ``{environment: {env: {algorithm: {"seed_<k>": {"step_<t>": {"step_count": env steps,
    "return": [eval_return]}, ..., "absolute_metrics": {"return": [final eval_return]}}}}}}``
    (one value per step: ``metrics.csv`` holds each evaluation's mean greedy return; the
    absolute metric is the final evaluation, not a 10x re-evaluation). Non-finite -> null.
    """
    out: dict[str, Any] = {environment: {}}
    for path in paths:
        results = load(path)
        env = str(results.summary["env"].iloc[0])
        for label, rows in _algorithms(results, algorithm):
            runs = {}
            for seed, seed_rows in rows.groupby("seed", sort=True):
                seed_rows = seed_rows.sort_values("env_steps")
                ret = [_finite(v) for v in seed_rows["eval_return"]]
                steps = seed_rows["env_steps"].astype(int).tolist()
                run = {
                    f"step_{t}": {"step_count": s, "return": [r]}
                    for t, (s, r) in enumerate(zip(steps, ret, strict=True))
                }
                run["absolute_metrics"] = {"return": [ret[-1]]}
                runs[f"seed_{seed}"] = run
            out[environment].setdefault(env, {})[label] = runs
    return out


def _finite(v: Any) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


def export_scores(
    paths: Sequence[str | Path],
    *,
    rliable: str | Path | None = None,
    marl_eval: str | Path | None = None,
    algorithm: str = "purejaxdqn",
    environment: str = "purejaxdqn",
) -> dict[str, np.ndarray]:
    """Writes the final scores for rliable (``.npz``) and/or marl-eval (``.json``).

    The ``.npz`` holds one ``[num_runs, num_tasks]`` array per algorithm and ``_tasks``
    (the column names): ``dict(np.load(f))`` minus ``_tasks`` is rliable's ``score_dict``.

    Returns:
      The rliable score dict (see :func:`final_scores`).
    """
    scores, tasks = final_scores(paths, algorithm)
    if rliable is not None:
        arrays = {"_tasks": np.asarray(tasks), **scores}
        np.savez(Path(rliable), **arrays)  # type: ignore[arg-type]  # names, not allow_pickle
    if marl_eval is not None:
        data = marl_eval_json(paths, algorithm, environment)
        Path(marl_eval).write_text(json.dumps(data, indent=1, allow_nan=False) + "\n")
    return scores


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m purejaxdqn.results PATH... [--rliable F.npz] [--marl-eval F.json]``."""
    p = argparse.ArgumentParser(
        prog="python -m purejaxdqn.results",
        description="Print runs' and sweeps' summary tables; export final scores.",
    )
    p.add_argument("paths", nargs="+", help="run or sweep directories")
    p.add_argument("--rliable", help="write rliable's score dict to this .npz")
    p.add_argument("--marl-eval", help="write marl-eval's raw-data JSON to this file")
    p.add_argument("--algorithm", default="purejaxdqn", help="algorithm label (purejaxdqn)")
    p.add_argument("--environment", default="purejaxdqn", help="marl-eval environment name")
    args = p.parse_args(argv)
    try:
        for path in args.paths:
            table = load(path).summary
            print(f"{path}:\n{table.to_string(index=False)}")
        if args.rliable or args.marl_eval:
            export_scores(
                args.paths,
                rliable=args.rliable,
                marl_eval=args.marl_eval,
                algorithm=args.algorithm,
                environment=args.environment,
            )
    except (ResultsError, OSError) as e:
        print(f"error: {str(e).splitlines()[0]}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
