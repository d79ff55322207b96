"""A one-line progress bar on stderr, fed by the training program's per-seed callbacks."""

from __future__ import annotations

import sys
import threading
import time

import numpy as np

from purejaxdqn.stats import iqm

__all__ = ["Progress"]


class Progress:
    """One progress line for a whole run, fed by per-seed callbacks from the program.

    An eval point is shown once all ``seeds`` callbacks for its env step have arrived; the
    line then gives the steps done, the throughput and the IQM of that evaluation.

    Args:
        total_steps: Env steps per seed the bar spans.
        seeds: Callbacks (seeds) per eval point.
        enabled: Draw the bar (``False``: collect silently).
        label: Shown before the bar, e.g. ``"group 2/3"`` when several sequential groups of
            runs share one line; empty for none.
    """

    def __init__(self, total_steps: int, seeds: int, enabled: bool = True, label: str = "") -> None:
        self.total_steps = total_steps
        self.seeds = seeds
        self.enabled = enabled
        self.label = label
        self._returns: dict[int, list[float]] = {}
        self._lock = threading.Lock()
        self.start = time.perf_counter()
        self.latest_iqm = float("nan")
        self.done_steps = 0
        self.resumed_steps = 0

    def __call__(self, env_steps: np.ndarray, eval_return: np.ndarray) -> None:
        """Record one seed's evaluation: ``env_steps`` and ``eval_return`` are scalars."""
        step = int(env_steps)
        with self._lock:
            bucket = self._returns.setdefault(step, [])
            bucket.append(float(eval_return))
            if len(bucket) < self.seeds:
                return
            self.latest_iqm = float(iqm(np.asarray(self._returns.pop(step))))
            self.done_steps = max(self.done_steps, step)
            self.render()

    def begin(self, label: str, reports: int, done_steps: int) -> None:
        """Start a group of runs.

        ``reports`` callbacks per eval point, ``done_steps`` env steps per seed already trained
        (a resumed group), ``label`` shown before the bar.
        """
        with self._lock:
            self.label = label
            self.seeds = reports
            self._returns.clear()
            self.done_steps = self.resumed_steps = done_steps
            self.latest_iqm = float("nan")
            self.start = time.perf_counter()

    def finish(self) -> None:
        """End the current group's line at 100%."""
        self.done_steps = self.total_steps
        self.render(final=True)

    def render(self, final: bool = False) -> None:
        """Redraw the line (and end it with a newline if ``final``)."""
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.start
        frac = self.done_steps / self.total_steps
        width = 30
        bar = "#" * int(width * frac) + "-" * (width - int(width * frac))
        rate = (self.done_steps - self.resumed_steps) * self.seeds / max(elapsed, 1e-9)
        prefix = f"{self.label} " if self.label else ""
        line = (
            f"\r{prefix}[{bar}] {self.done_steps:>{len(str(self.total_steps))}}/"
            f"{self.total_steps} steps/seed | {rate:,.0f} env-steps/s | eval IQM "
            f"{self.latest_iqm:8.2f} | {elapsed:6.1f}s"
        )
        sys.stderr.write(line + ("\n" if final else ""))
        sys.stderr.flush()
