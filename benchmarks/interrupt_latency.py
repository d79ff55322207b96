"""Seconds from SIGINT to exit on the default ``--seeds 64`` run (issue 14), at random moments.

    python benchmarks/interrupt_latency.py --trials 3 --out benchmarks/results/interrupt_latency

Each trial starts ``python -m purejaxdqn.run --seeds 64`` (the default InvertedPendulum-v5
preset) in a fresh directory, waits until it says it is training plus a random delay, sends
SIGINT and times the exit. It records the exit code, whether ``metrics.csv`` and an
``interrupted`` summary were written, and the load. Measured, never asserted.
"""

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def trial(delay: float, extra: list[str]) -> dict:
    out = Path(tempfile.mkdtemp(prefix="sigint64-")) / "run"
    cmd = [sys.executable, "-m", "purejaxdqn.run", "--seeds", "64", "--out", str(out), *extra]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        cmd,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        env=env,
        preexec_fn=_default_sigint,  # a background shell's ignored SIGINT is inherited (and kept)
    )
    assert proc.stderr is not None
    seen = b""
    while b"training" not in seen:
        byte = proc.stderr.read(1)
        if not byte:
            break
        seen += byte
    t_train = time.monotonic()
    time.sleep(delay)
    load = os.getloadavg()[0]
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    rest = proc.stderr.read()
    code = proc.wait()
    latency = time.monotonic() - sent
    summary = out / "summary.json"
    info = json.loads(summary.read_text()) if summary.exists() else {}
    return {
        "delay_after_training_s": round(delay, 2),
        "seconds_signal_to_exit": round(latency, 2),
        "exit_code": code,
        "metrics_csv": (out / "metrics.csv").exists(),
        "interrupted_summary": bool(info.get("interrupted")),
        "env_steps_done": info.get("env_steps_done"),
        "load_1min": round(load, 2),
        "trained_seconds_before_signal": round(sent - t_train, 2),
        "last_line": (seen + rest).decode(errors="replace").strip().splitlines()[-1][:200],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=3)
    p.add_argument("--max-delay", type=float, default=40.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    rng = random.Random(args.seed)
    rows = [trial(rng.uniform(0.5, args.max_delay), []) for _ in range(args.trials)]
    for r in rows:
        print(json.dumps(r))
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        command = " ".join(["python benchmarks/interrupt_latency.py", *sys.argv[1:]])
        head = "| delay after 'training' s | signal → exit s | exit | metrics.csv | interrupted"
        head += " summary | env steps done | load |"
        lines = ["# SIGINT on the default `--seeds 64` run", "", "```", command, "```", "", head]
        lines.append("|---:|---:|---:|---|---|---:|---:|")
        keys = ("delay_after_training_s", "seconds_signal_to_exit", "exit_code", "metrics_csv",
                "interrupted_summary", "env_steps_done", "load_1min")  # fmt: skip
        for r in rows:
            lines.append("| " + " | ".join(str(r[k]) for k in keys) + " |")
        (args.out / "README.md").write_text("\n".join(lines) + "\n")
        (args.out / "trials.json").write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
