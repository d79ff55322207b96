"""Weights & Biases runs: one per point x seed, grouped by the run (or sweep) name.

W&B draws a group's mean and spread in one chart and lets every seed be shown alone, so a
seed is a W&B run (as CleanRL logs them), ``group`` is the run directory's name, ``job_type``
is ``"seed"``. Each point also gets one ``job_type="iqm"`` run holding the seeds' IQM, the
95% bootstrap band of ``eval_return`` and the throughput (filter on ``job_type`` to keep it
out of the group's mean). The step is env steps per seed.

Without a login (no ``WANDB_API_KEY``, no saved key) and no ``WANDB_MODE``, runs are
written offline under ``<run dir>/wandb/``; ``wandb sync`` uploads them later.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np

from purejaxdqn.tracking.base import IQM_KEYS, SEED_KEYS, hparams

PROJECT = "purejaxdqn"


def wandb_mode() -> Literal["offline"] | None:
    """``"offline"`` when W&B has no credentials and no ``WANDB_MODE``, else ``None`` (W&B's)."""
    if os.environ.get("WANDB_MODE") or os.environ.get("WANDB_API_KEY"):
        return None
    try:
        import wandb
        from wandb.sdk.lib import wbauth

        if wbauth.read_netrc_auth(host=wandb.Settings().base_url):
            return None
    except Exception:  # noqa: BLE001 - any doubt: offline, never a prompt or a network wait
        pass
    return "offline"


class WandbSink:
    """A :class:`~purejaxdqn.tracking.base.MetricSink` writing W&B runs.

    Args:
      run_dir: ``run_dir(point) -> Path``, where the point's ``wandb/`` folder goes.
      config: ``config(point) -> dict``, the point's hyperparameters.
      group: the W&B group (the run or sweep directory's name).
      label: ``label(point) -> str``, the point's name prefix (``""`` for a plain run).
    """

    def __init__(
        self,
        run_dir: Callable[[int], Path],
        config: Callable[[int], Mapping[str, Any]],
        group: str,
        label: Callable[[int], str],
    ) -> None:
        import wandb

        self._wandb = wandb
        self.run_dir, self.config, self.group, self.label = run_dir, config, group, label
        self.mode = wandb_mode()
        self._runs: dict[tuple[int, str], Any] = {}

    def _run(self, point: int, name: str) -> Any:
        key = (point, name)
        if key not in self._runs:
            directory = self.run_dir(point)
            directory.mkdir(parents=True, exist_ok=True)
            job = "iqm" if name == "iqm" else "seed"
            config = hparams(self.config(point))
            if job == "seed":
                config["seed_index"] = int(name.split("_")[1])
            self._runs[key] = self._wandb.init(
                project=os.environ.get("WANDB_PROJECT", PROJECT),
                group=self.group,
                job_type=job,
                name=f"{self.group}/{self.label(point)}{name}",
                config=config,
                dir=str(directory),
                mode=self.mode,
                reinit="create_new",
                settings=self._wandb.Settings(console="off", silent=True, x_disable_stats=True),
            )
        return self._runs[key]

    def write_rows(
        self, points: np.ndarray, seeds: np.ndarray, rows: Mapping[str, np.ndarray]
    ) -> None:
        """Logs each seed's new eval points to its run (step: env steps per seed)."""
        for i, (p, s) in enumerate(zip(points.tolist(), seeds.tolist(), strict=True)):
            run = self._run(p, f"seed_{s}")
            for t, step in enumerate(rows["env_steps"][i].tolist()):
                run.log({k: float(rows[k][i, t]) for k in SEED_KEYS}, step=int(step))

    def write_aggregate(self, point: int, rows: Mapping[str, np.ndarray]) -> None:
        """Logs the point's IQM, band and throughput to its ``iqm`` run."""
        run = self._run(point, "iqm")
        keys = [f"{k}_iqm" for k in IQM_KEYS]
        keys += ["eval_return_ci95_low", "eval_return_ci95_high", "env_steps_per_second"]
        for t, step in enumerate(rows["env_steps"].tolist()):
            values = {k: float(rows[k][t]) for k in keys}
            if not np.isfinite(values["env_steps_per_second"]):
                del values["env_steps_per_second"]
            run.log(values, step=int(step))

    def close(self) -> None:
        """Finishes every run; offline, prints how to upload them."""
        offline = [key for key, run in self._runs.items() if run.offline]
        for run in self._runs.values():
            run.finish()
        if offline:
            dirs = sorted({self.run_dir(p) for p, _ in offline})
            shown = str(dirs[0]) if len(dirs) == 1 else str(dirs[0].parent / "*")
            print(
                f"wandb: offline runs saved; upload with: wandb sync {shown}/wandb/offline-run-*",
                file=sys.stderr,
            )
        self._runs.clear()
