"""Dashboard logging (``--log tensorboard,wandb``): host rows streamed to tracking backends.

``metrics.csv`` and the JSON files are always written; these backends are extra views of
the same rows, fed on the host by the engine after every segment it trains
(:class:`~purejaxdqn.tracking.base.Tracker` is its ``on_rows`` hook). Each backend is an
optional dependency (``pip install purejaxdqn[logging]``) and is imported only when asked.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from purejaxdqn.config import ConfigError
from purejaxdqn.tracking.base import MetricSink, Tracker

__all__ = ["BACKENDS", "MetricSink", "Tracker", "make_tracker", "parse_log"]

#: Backend name -> the module it needs.
BACKENDS = {"tensorboard": "tensorboardX", "wandb": "wandb"}


def parse_log(text: str | None) -> tuple[str, ...]:
    """``"tensorboard,wandb"`` -> ``("tensorboard", "wandb")`` (checked, nothing imported).

    Raises:
      ConfigError: an unknown backend, or one whose package is not installed (one line).
    """
    if not text:
        return ()
    names = tuple(dict.fromkeys(n.strip().lower() for n in text.split(",") if n.strip()))
    for name in names:
        if name not in BACKENDS:
            known = ", ".join(BACKENDS)
            raise ConfigError(f"--log {name}: unknown backend (known: {known}; csv/json always)")
        try:
            found = importlib.util.find_spec(BACKENDS[name]) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            raise ConfigError(
                f"--log {name}: needs the '{BACKENDS[name]}' package "
                "(pip install 'purejaxdqn[logging]')"
            )
    return names


def make_tracker(
    backends: tuple[str, ...],
    *,
    seeds: int,
    eval_every: int,
    run_dir: Callable[[int], Path],
    config: Callable[[int], Mapping[str, Any]],
    group: str,
    label: Callable[[int], str] = lambda _: "",
) -> Tracker | None:
    """A tracker over the chosen backends (``None`` for none).

    Args:
      backends: from :func:`parse_log`.
      seeds: seeds per point.
      eval_every: env steps per seed between eval points.
      run_dir: ``run_dir(point)``, the point's run directory.
      config: ``config(point)``, the point's hyperparameters (a flat dict).
      group: the run's (or sweep's) name, W&B's group.
      label: ``label(point)``, a prefix naming the point in W&B (``"p003/"`` in a sweep).
    """
    sinks: list[MetricSink] = []
    for name in backends:
        if name == "tensorboard":
            from purejaxdqn.tracking.tensorboard import TensorBoardSink

            sinks.append(TensorBoardSink(run_dir, config))
        elif name == "wandb":
            from purejaxdqn.tracking.wandb import WandbSink

            sinks.append(WandbSink(run_dir, config, group, label))
    return Tracker(sinks, seeds, eval_every) if sinks else None
