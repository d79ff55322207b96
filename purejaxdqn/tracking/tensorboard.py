"""TensorBoard event files, written with ``tensorboardX`` (numpy + protobuf, no TensorFlow).

Layout, under each run directory (a sweep point's is ``points/<p>/``)::

    tb/seed_<k>/   one TensorBoard run per seed: eval_return, train_return, loss, q_mean,
                   epsilon (the metrics.csv columns), the config as hyperparameters
    tb/iqm/        the seeds' IQM of eval_return (same tag, so it overlays the seeds),
                   train_return, loss, q_mean; eval_return_ci95_low/_high and a margin chart
                   (Custom Scalars tab) drawing the band; env_steps_per_second

One run per seed because TensorBoard overlays runs that share a tag: the ``eval_return``
chart shows every seed's curve with the IQM on top, and the HParams tab lists each seed.
The x axis is env steps per seed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from purejaxdqn.tracking.base import IQM_KEYS, SEED_KEYS, hparams

TB_DIR = "tb"
IQM_RUN = "iqm"


def seed_run(seed: int) -> str:
    """The TensorBoard run name of seed index ``seed``."""
    return f"seed_{seed}"


class TensorBoardSink:
    """A :class:`~purejaxdqn.tracking.base.MetricSink` writing ``tb/`` under each run dir.

    Args:
      run_dir: ``run_dir(point) -> Path``, the point's run directory.
      config: ``config(point) -> dict``, the point's hyperparameters.
    """

    def __init__(
        self, run_dir: Callable[[int], Path], config: Callable[[int], Mapping[str, Any]]
    ) -> None:
        from tensorboardX import SummaryWriter

        # NaN is a faithful value here (no update yet, no episode ended): no warning per row.
        logging.getLogger("tensorboardX.x2num").setLevel(logging.ERROR)
        self._summary_writer = SummaryWriter
        self.run_dir, self.config = run_dir, config
        self._writers: dict[tuple[int, str], Any] = {}

    def _writer(self, point: int, name: str) -> Any:
        key = (point, name)
        if key not in self._writers:
            logdir = self.run_dir(point) / TB_DIR / name
            w = self._summary_writer(logdir=str(logdir), max_queue=1000, flush_secs=30)
            self._writers[key] = w
            if name == IQM_RUN:
                self._layout(w)
            else:
                self._hparams(w, point, name)
        return self._writers[key]

    def _hparams(self, writer: Any, point: int, name: str) -> None:
        from tensorboardX.summary import hparams as hparams_summary

        values = {**hparams(self.config(point)), "seed_index": int(name.split("_")[1])}
        exp, ssi, _ = hparams_summary(values, {"eval_return": float("nan")})
        for summary in (exp, ssi):
            writer.file_writer.add_summary(summary)
        writer.add_text("config", "```\n" + json.dumps(values, indent=1, sort_keys=True) + "\n```")

    @staticmethod
    def _layout(writer: Any) -> None:
        band = ["eval_return", "eval_return_ci95_low", "eval_return_ci95_high"]
        writer.add_custom_scalars_marginchart(band, category="purejaxdqn", title="eval_return IQM")

    def write_rows(
        self, points: np.ndarray, seeds: np.ndarray, rows: Mapping[str, np.ndarray]
    ) -> None:
        """Writes each seed's new eval points into ``tb/seed_<k>/`` (float32 scalars)."""
        touched = []
        for i, (p, s) in enumerate(zip(points.tolist(), seeds.tolist(), strict=True)):
            w = self._writer(p, seed_run(s))
            for t, step in enumerate(rows["env_steps"][i].tolist()):
                for key in SEED_KEYS:
                    w.add_scalar(key, float(rows[key][i, t]), global_step=int(step))
            touched.append(w)
        for w in touched:
            w.flush()  # a long run can be watched live

    def write_aggregate(self, point: int, rows: Mapping[str, np.ndarray]) -> None:
        """Writes the point's IQM, band and throughput into ``tb/iqm/``."""
        w = self._writer(point, IQM_RUN)
        names = {f"{k}_iqm": k for k in IQM_KEYS}
        names.update({k: k for k in ("eval_return_ci95_low", "eval_return_ci95_high")})
        names["env_steps_per_second"] = "env_steps_per_second"
        for t, step in enumerate(rows["env_steps"].tolist()):
            for src, tag in names.items():
                value = float(rows[src][t])
                if src != "env_steps_per_second" or np.isfinite(value):
                    w.add_scalar(tag, value, global_step=int(step))
        w.flush()

    def close(self) -> None:
        """Ends every seed's hyperparameter session and closes the event files."""
        from tensorboardX.summary import hparams as hparams_summary

        for (_point, name), w in self._writers.items():
            if name != IQM_RUN:
                _, _, sei = hparams_summary({"seed_index": 0}, {"eval_return": float("nan")})
                w.file_writer.add_summary(sei)
            w.close()
        self._writers.clear()
