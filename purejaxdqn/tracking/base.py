"""The sink interface and the tracker that feeds sinks from the engine's host rows.

The engine calls :meth:`Tracker.__call__` on the host after each segment (chunk) it trains
(:data:`purejaxdqn.engine.engine.RowsFn`); the tracker cuts the flat run axis back into
points and seeds, hands every seed's rows to each :class:`MetricSink`, and once all seeds
of a point have reached an eval step, their IQM with its 95% bootstrap band.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from purejaxdqn import stats
from purejaxdqn.metrics import CSV_KEYS

#: Per-seed scalars every sink receives, named as ``metrics.csv``'s columns.
SEED_KEYS = tuple(k for k in CSV_KEYS if k != "env_steps")
#: Keys whose IQM over seeds the aggregate holds (``eval_return`` also gets its band).
IQM_KEYS = ("eval_return", "train_return", "loss", "q_mean")


class MetricSink(Protocol):
    """A dashboard backend (TensorBoard, W&B): written from the host, never from the program."""

    def write_rows(
        self, points: np.ndarray, seeds: np.ndarray, rows: Mapping[str, np.ndarray]
    ) -> None:
        """Writes ``N`` seeds' new eval points.

        Args:
          points: ``[N]`` int, each run's point (0 for a plain run).
          seeds: ``[N]`` int, each run's seed index within its point (``metrics.csv``'s
            ``seed`` column).
          rows: ``env_steps`` and :data:`SEED_KEYS`, each ``[N, K]`` (K new eval points).
        """
        ...

    def write_aggregate(self, point: int, rows: Mapping[str, np.ndarray]) -> None:
        """Writes a point's statistics over all its seeds at ``K`` eval points.

        Args:
          point: the point.
          rows: ``env_steps [K]``, ``<key>_iqm [K]`` for :data:`IQM_KEYS`,
            ``eval_return_ci95_low``/``_high [K]`` and ``env_steps_per_second [K]`` (all
            runs of the call that completed these points; NaN where unknown).
        """
        ...

    def close(self) -> None:
        """Flushes and closes everything (the run finished or failed)."""
        ...


def hparams(config: Mapping[str, Any]) -> dict[str, float | int | str | bool]:
    """A config flattened to the scalar types dashboards take (tuples, dicts, None as text)."""
    out: dict[str, float | int | str | bool] = {}
    for k, v in config.items():
        out[k] = v if isinstance(v, bool | int | float | str) else str(v)
    return out


class Tracker:
    """The engine's ``on_rows`` hook: fans host rows out to sinks and aggregates seeds.

    Args:
      sinks: the backends.
      seeds: seeds per point ``S`` (run ``r`` is point ``r // S``, seed ``r % S``).
      eval_every: env steps per seed between eval points (for the throughput).
    """

    def __init__(self, sinks: Sequence[MetricSink], seeds: int, eval_every: int) -> None:
        self.sinks = list(sinks)
        self.seeds = seeds
        self.eval_every = eval_every
        # point -> env step -> seed -> eval_return and IQM_KEYS values
        self._pending: dict[int, dict[int, dict[int, np.ndarray]]] = {}
        self._clock = time.perf_counter()

    def __call__(self, runs: np.ndarray, rows: Mapping[str, np.ndarray]) -> None:
        """Writes ``rows`` (``[N, K, ...]``) of the runs ``runs [N]`` to every sink."""
        now = time.perf_counter()
        runs = np.asarray(runs)
        points, seeds = runs // self.seeds, runs % self.seeds
        env_steps = np.asarray(rows["env_steps"])
        k = env_steps.shape[1]
        rate = float("nan")
        if float(env_steps[0, 0]) > 0:  # a trained segment, not a group's start row
            rate = len(runs) * k * self.eval_every / max(now - self._clock, 1e-9)
        self._clock = now
        seed_rows = {"env_steps": env_steps, **{key: np.asarray(rows[key]) for key in SEED_KEYS}}
        for sink in self.sinks:
            sink.write_rows(points, seeds, seed_rows)
        stacked = np.stack([np.asarray(rows[key], np.float64) for key in IQM_KEYS], axis=-1)
        for i, (p, s) in enumerate(zip(points.tolist(), seeds.tolist(), strict=True)):
            by_step = self._pending.setdefault(p, {})
            for t in range(k):
                by_step.setdefault(int(env_steps[i, t]), {})[s] = stacked[i, t]
        for p in sorted(set(points.tolist())):
            self._flush(p, rate)

    def _flush(self, point: int, rate: float) -> None:
        """Aggregates the point's eval steps that all its seeds have reached."""
        by_step = self._pending[point]
        ready = sorted(step for step, got in by_step.items() if len(got) == self.seeds)
        if not ready:
            return
        # values [S, K, len(IQM_KEYS)]
        done = [by_step.pop(t) for t in ready]
        values = np.stack([np.stack([got[s] for got in done]) for s in range(self.seeds)])
        agg: dict[str, np.ndarray] = {"env_steps": np.asarray(ready, np.int64)}
        for j, key in enumerate(IQM_KEYS):
            agg[f"{key}_iqm"] = np.atleast_1d(stats.iqm(values[:, :, j], axis=0))
        _, low, high = stats.curve_stats(values[:, :, 0])
        agg["eval_return_ci95_low"], agg["eval_return_ci95_high"] = low, high
        agg["env_steps_per_second"] = np.full(len(ready), rate)
        for sink in self.sinks:
            sink.write_aggregate(point, agg)

    def close(self) -> None:
        """Closes every sink (each one even if another fails)."""
        errors = []
        for sink in self.sinks:
            try:
                sink.close()
            except Exception as e:  # noqa: BLE001 - a dashboard must not lose the run
                errors.append(e)
        if errors:
            raise errors[0]
