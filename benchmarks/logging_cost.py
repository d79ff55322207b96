"""What ``--log tensorboard`` / ``--log wandb`` cost in wall time on the default run shape.

Runs ``python -m purejaxdqn.run --env CartPole-v1 --seeds 4 --total-steps 20000`` without
``--log``, with ``--log tensorboard`` and with ``--log wandb`` (offline), alternated
(A B C A B C ...), each in its own process; records the command's wall time (process start
to exit) and the run's own ``train_seconds`` from ``summary.json``. Measured, never asserted.

    python benchmarks/logging_cost.py --repeats 3 --out benchmarks/results/logging_cost

``--sink-only RUN_DIR`` instead times the backends alone, in this process: the run's
``metrics.csv`` rows are fed to a tracker per backend (one call per eval point, as a run
chunked one eval period per segment would), then closed; compile time is not in it.
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

RUN = ["-m", "purejaxdqn.run", "--env", "CartPole-v1", "--seeds", "4", "--total-steps", "20000"]
VARIANTS = {"none": [], "tensorboard": ["--log", "tensorboard"], "wandb": ["--log", "wandb"]}


def one(variant: str, scratch: Path, i: int) -> dict:
    out = scratch / f"{variant}-{i}"
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, *RUN, *VARIANTS[variant], "--quiet", "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    summary = json.loads((out / "summary.json").read_text())
    return {
        "variant": variant,
        "repeat": i,
        "process_seconds": wall,
        "train_seconds": summary["train_seconds"],
        "compile_seconds": summary["compile_seconds"],
        "load": os.getloadavg()[0],
    }


def sink_only(run_dir: Path, repeats: int) -> None:
    import numpy as np

    from purejaxdqn import tracking
    from purejaxdqn.rundir.files import read_metrics_csv

    rows = read_metrics_csv(run_dir)
    config = json.loads((run_dir / "config.json").read_text())
    seeds, points = rows["eval_return"].shape
    os.environ.setdefault("WANDB_MODE", "offline")
    for i in range(repeats):
        for backend in ("tensorboard", "wandb"):
            with tempfile.TemporaryDirectory() as scratch:
                t0 = time.perf_counter()
                tracker = tracking.make_tracker(
                    (backend,),
                    seeds=seeds,
                    eval_every=config["eval_every"],
                    run_dir=lambda _, scratch=scratch: Path(scratch),
                    config=lambda _: config,
                    group="bench",
                )
                assert tracker is not None
                for t in range(points):
                    tracker(np.arange(seeds), {k: v[:, t : t + 1] for k, v in rows.items()})
                tracker.close()
                seconds = time.perf_counter() - t0
            print(json.dumps({"backend": backend, "repeat": i, "seeds": seeds,
                              "eval_points": points, "seconds": seconds,
                              "load": os.getloadavg()[0]}), flush=True)  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/logging_cost"))
    p.add_argument("--sink-only", type=Path, metavar="RUN_DIR", default=None)
    args = p.parse_args()
    if args.sink_only is not None:
        sink_only(args.sink_only, args.repeats)
        return
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for i in range(args.repeats):
            for variant in VARIANTS:
                rows.append(one(variant, Path(scratch), i))
                print(json.dumps(rows[-1]), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    lines = ["| variant | process s (min..max) | train s (min..max) | load |", "|---|---|---|---|"]
    for variant in VARIANTS:
        mine = [r for r in rows if r["variant"] == variant]
        span = lambda k, mine=mine: f"{min(r[k] for r in mine):.1f}..{max(r[k] for r in mine):.1f}"
        loads = f"{min(r['load'] for r in mine):.1f}..{max(r['load'] for r in mine):.1f}"
        lines.append(
            f"| {variant} | {span('process_seconds')} | {span('train_seconds')} | {loads} |"
        )
    command = "python benchmarks/logging_cost.py " + " ".join(sys.argv[1:])
    text = "\n".join([f"`{command}`", "", *lines, ""])
    (args.out / "logging_cost.md").write_text(text)
    (args.out / "logging_cost.json").write_text(json.dumps(rows, indent=1) + "\n")
    print(text)


if __name__ == "__main__":
    main()
