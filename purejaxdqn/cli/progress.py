"""A one-line progress bar on stderr, fed by the training program's per-seed callbacks."""

from __future__ import annotations

import re
import sys
import threading
import time

import numpy as np

from purejaxdqn.stats import iqm

__all__ = ["Progress"]

#: The engine's label of a group when the runs train as several sequential groups.
_GROUP_LABEL = re.compile(r"group (\d+)/(\d+)")


class Progress:
    """One progress line for a whole command, fed by per-run callbacks from the program.

    An eval point is shown once all ``seeds`` callbacks for its env step have arrived; the
    line then gives the steps done, the throughput and the IQM of that evaluation. When the
    runs train as several sequential groups (the engine labels them ``"group g/G"``), the
    bar counts the whole command: group ``g`` of ``G`` at ``s`` steps per run is
    ``(g - 1 + s / total_steps) / G`` done, the throughput counts every group's runs since
    the first group began, and the line ends (newline) only after the last group.

    Args:
        total_steps: Env steps per run the bar spans.
        seeds: Callbacks (runs) per eval point; :meth:`begin` sets it per group.
        enabled: Draw the bar (``False``: collect silently).
        label: Shown before the bar, e.g. ``"group 2/3"``; empty for none.
    """

    def __init__(self, total_steps: int, seeds: int, enabled: bool = True, label: str = "") -> None:
        self.total_steps = total_steps
        self.seeds = seeds
        self.total_runs = seeds
        self.enabled = enabled
        self.label = label
        self._returns: dict[int, list[float]] = {}
        self._lock = threading.Lock()
        self.start = time.perf_counter()
        self.latest_iqm = float("nan")
        self.done_steps = 0
        self.resumed_steps = 0
        self.group, self.groups = self._group_of(label)
        self._first_start: float | None = None
        self._earlier_steps = 0  # env steps trained here by earlier groups (all their runs)

    @staticmethod
    def _group_of(label: str) -> tuple[int, int]:
        match = _GROUP_LABEL.fullmatch(label)
        return (int(match[1]) - 1, int(match[2])) if match else (0, 1)

    def __call__(self, env_steps: np.ndarray, eval_return: np.ndarray) -> None:
        """Record one run's evaluation: ``env_steps`` and ``eval_return`` are scalars."""
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

        ``reports`` callbacks per eval point, ``done_steps`` env steps per run already trained
        (a resumed group), ``label`` shown before the bar (``"group g/G"`` for one of
        several groups).
        """
        with self._lock:
            self.label = label
            self.seeds = reports
            self.group, self.groups = self._group_of(label)
            self._returns.clear()
            self.done_steps = self.resumed_steps = done_steps
            self.latest_iqm = float("nan")
            self.start = time.perf_counter()
            if self._first_start is None:
                self._first_start = self.start

    def finish(self) -> None:
        """End the current group at 100%; the line ends after the last group."""
        self.done_steps = self.total_steps
        self.render(final=self.group + 1 >= self.groups)
        self._earlier_steps += (self.total_steps - self.resumed_steps) * self.seeds

    def fraction(self) -> float:
        """The share of the whole command done, in [0, 1]."""
        return min(1.0, (self.group + self.done_steps / self.total_steps) / self.groups)

    def render(self, final: bool = False) -> None:
        """Redraw the line (and end it with a newline if ``final``)."""
        if not self.enabled:
            return
        now = time.perf_counter()
        elapsed = now - self.start
        width = 30
        filled = int(width * self.fraction())
        bar = "#" * filled + "-" * (width - filled)
        steps = f"{self.done_steps:>{len(str(self.total_steps))}}/{self.total_steps} steps/seed"
        if self.groups > 1:  # the whole command's rate and time, since the first group
            elapsed = now - (self._first_start or self.start)
            trained = self._earlier_steps + (self.done_steps - self.resumed_steps) * self.seeds
            rate = trained / max(elapsed, 1e-9)
            where = f"{100 * self.fraction():3.0f}% of {self.total_runs} runs | group {steps}"
        else:
            rate = (self.done_steps - self.resumed_steps) * self.seeds / max(elapsed, 1e-9)
            where = steps
        prefix = f"{self.label} " if self.label else ""
        line = (
            f"\r{prefix}[{bar}] {where} | {rate:,.0f} env-steps/s | eval IQM "
            f"{self.latest_iqm:8.2f} | {elapsed:6.1f}s"
        )
        sys.stderr.write(line + ("\n" if final else ""))
        sys.stderr.flush()
