"""Wall time of a sweep as one program vs the same points as separate ``purejaxdqn.run`` calls.

For each ``P`` in ``--points``, a grid of ``P`` learning rates (log-spaced over
``1e-4 .. 1e-2``) x ``--seeds`` seeds is trained

- by one ``python -m purejaxdqn.sweep`` process (one compiled program), and
- by ``P`` separate ``python -m purejaxdqn.run`` processes, one per learning rate, each with
  the same seeds and config, one after another.

Both are timed as whole processes (start-up, import, compile, train, writing files), so the
ratio is what a user waiting for the results sees; compile and train seconds come from the
written summaries. With ``--sequential-max K`` at most ``K`` of the ``P`` separate calls are
run and the sequential time is extrapolated linearly from their mean (said in the table).

Usage::

    python benchmarks/sweep_scaling.py                          # CartPole-v1, 1/4/16/64 points
    python benchmarks/sweep_scaling.py --points 1,4 --total-steps 1000 --sequential-max 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def config_flags(env: str, total_steps: int) -> list[str]:
    """The env's preset shortened to ``total_steps`` env steps per seed (2 evaluations)."""
    return [
        "--env", env,
        "--total-steps", str(total_steps),
        "--eval-every", str(total_steps // 2),
        "--capacity", str(total_steps),
        "--learning-starts", "256",
        "--eval-episodes", "4",
        "--quiet",
    ]  # fmt: skip


def timed(argv: list[str]) -> float:
    """Wall seconds of ``python argv``; raises with its stderr if it fails."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, *argv], capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{proc.stderr[-2000:]}")
    return seconds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--env", default="CartPole-v1")
    p.add_argument("--total-steps", type=int, default=2000, help="env steps per seed")
    p.add_argument("--seeds", type=int, default=4)
    p.add_argument("--points", default="1,4,16,64", help="comma-separated point counts")
    p.add_argument(
        "--sequential-max", type=int, default=None, help="separate calls measured per P at most"
    )
    args = p.parse_args()
    flags = config_flags(args.env, args.total_steps)
    seeds = ["--seeds", str(args.seeds)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for num in (int(x) for x in args.points.split(",")):
            lrs = [1e-3] if num == 1 else list(np.geomspace(1e-4, 1e-2, num))
            grid = "lr=" + ",".join(repr(float(lr)) for lr in lrs)
            out = Path(tmp) / f"sweep{num}"
            wall = timed(
                ["-m", "purejaxdqn.sweep", *flags, *seeds, "--grid", grid, "--out", str(out)]
            )
            s = json.loads((out / "sweep_summary.json").read_text())
            runs = num * args.seeds
            steps = runs * args.total_steps

            measured = lrs[: args.sequential_max] if args.sequential_max else lrs
            walls, compiles, trains = [], [], []
            for k, lr in enumerate(measured):
                run_out = Path(tmp) / f"run{num}-{k}"
                walls.append(
                    timed(["-m", "purejaxdqn.run", *flags, *seeds, "--lr", repr(float(lr)),
                           "--out", str(run_out)])
                )  # fmt: skip
                r = json.loads((run_out / "summary.json").read_text())
                compiles.append(r["compile_seconds"])
                trains.append(r["train_seconds"])
            scale = num / len(measured)
            seq_wall = float(np.sum(walls)) * scale
            note = "measured" if scale == 1 else f"extrapolated from {len(measured)} calls"
            rows.append(
                {
                    "points": num,
                    "runs": runs,
                    "sweep_wall": wall,
                    "sweep_compile": s["compile_seconds"],
                    "sweep_train": s["train_seconds"],
                    "sweep_rate": steps / s["train_seconds"],
                    "seq_wall": seq_wall,
                    "seq_compile": float(np.sum(compiles)) * scale,
                    "seq_train": float(np.sum(trains)) * scale,
                    "seq_rate": steps / (float(np.sum(trains)) * scale),
                    "note": note,
                }
            )
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)

    print(
        f"\n{args.env}, {args.total_steps:,} env steps per seed, {args.seeds} seeds per point; "
        "wall = whole processes (start-up, compile, train, files); env-steps/s = training only\n"
    )
    print(
        "| points x seeds | sweep: wall (compile + train) | sweep env-steps/s "
        "| sequential runs: wall (compile + train) | sequential env-steps/s "
        "| wall ratio seq/sweep | sequential |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['points']} x {args.seeds} "
            f"| {r['sweep_wall']:.1f} s ({r['sweep_compile']:.1f} + {r['sweep_train']:.1f}) "
            f"| {r['sweep_rate']:,.0f} "
            f"| {r['seq_wall']:.1f} s ({r['seq_compile']:.1f} + {r['seq_train']:.1f}) "
            f"| {r['seq_rate']:,.0f} "
            f"| {r['seq_wall'] / r['sweep_wall']:.1f}x | {r['note']} |"
        )


if __name__ == "__main__":
    main()
