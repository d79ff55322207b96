"""Byte-for-byte comparison of run outputs between this checkout and a baseline commit.

For each workload, ``python -m purejaxdqn.run`` runs once with the baseline's code (a git
worktree, put first on ``PYTHONPATH``) and once with this checkout's, in separate
processes, and the ``metrics.csv`` and ``params.msgpack`` files are compared byte for byte.

    python benchmarks/bit_identity.py                       # baseline 97aec68
    python benchmarks/bit_identity.py --baseline HEAD~3 --only cartpole pendulum
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FILES = ("metrics.csv", "params.msgpack")

# Short runs that between them go through every learner path: uniform and prioritized
# n-step replay, Double DQN, the l2 loss, C51 with a dueling head and centered RMSProp, the
# Q(s, a) network, the conv torso, and checkpoint segments.
WORKLOADS: dict[str, list[str]] = {
    "cartpole": [
        "--env", "CartPole-v1", "--seeds", "4", "--total-steps", "20000", "--eval-every", "5000",
    ],
    "cartpole_segments": [
        "--env", "CartPole-v1", "--seeds", "4", "--total-steps", "20000", "--eval-every", "5000",
        "--checkpoint-every", "10000",
    ],
    "pendulum": ["--seeds", "3", "--total-steps", "10000", "--eval-every", "5000"],
    "per_nstep_double_l2": [
        "--env", "CartPole-v1", "--seeds", "3", "--total-steps", "10000", "--eval-every", "5000",
        "--prioritized", "true", "--n-step", "3", "--double-q", "true", "--loss", "mse",
    ],
    "c51_dueling_rmsprop": [
        "--env", "CartPole-v1", "--seeds", "3", "--total-steps", "10000", "--eval-every", "5000",
        "--distributional", "true", "--dueling", "true", "--optimizer", "rmsprop",
    ],
    "state_action": [
        "--seeds", "2", "--total-steps", "5000", "--eval-every", "2500",
        "--q-network", "state_action", "--bins", "50", "--num-envs", "2",
    ],
    "breakout_conv": [
        "--env", "Breakout-MinAtar", "--seeds", "2", "--total-steps", "8000",
        "--eval-every", "4000", "--learning-starts", "1000",
    ],
}  # fmt: skip


def run(code: Path, args: list[str], out: Path) -> float:
    """Runs the command with ``code`` first on the path; returns its wall seconds."""
    env = {**os.environ, "PYTHONPATH": str(code), "JAX_PLATFORMS": "cpu"}
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "purejaxdqn.run", *args, "--quiet", "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        cwd=out.parent,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{code}: {' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    return time.perf_counter() - t0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--baseline", default="97aec68", help="baseline commit (default 97aec68)")
    p.add_argument("--only", nargs="+", choices=sorted(WORKLOADS), help="workloads to run")
    p.add_argument("--out", type=Path, default=None, help="write the table here (markdown)")
    args = p.parse_args()
    names = args.only or list(WORKLOADS)
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "baseline"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(base), args.baseline],
            check=True,
            capture_output=True,
        )
        try:
            lines = [
                f"baseline {args.baseline} vs {head} (+ uncommitted changes), "
                f"load average {os.getloadavg()[0]:.1f}",
                "",
                "| workload | metrics.csv | params.msgpack | baseline s | this s |",
                "|---|---|---|---|---|",
            ]
            for name in names:
                outs = {}
                seconds = {}
                for label, code in (("baseline", base), ("this", ROOT)):
                    outs[label] = Path(tmp) / f"{name}-{label}"
                    seconds[label] = run(code, WORKLOADS[name], outs[label])
                same = [
                    (outs["baseline"] / f).read_bytes() == (outs["this"] / f).read_bytes()
                    for f in FILES
                ]
                cells = ["identical" if s else "DIFFERENT" for s in same]
                times = f"{seconds['baseline']:.1f} | {seconds['this']:.1f}"
                row = f"| {name} | {cells[0]} | {cells[1]} | {times} |"
                lines.append(row)
                print(row, flush=True)
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)],
                capture_output=True,
            )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(
            f"`python benchmarks/bit_identity.py --out {args.out}`\n\n" + text, encoding="utf-8"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
