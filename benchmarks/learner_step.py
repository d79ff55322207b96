"""One gradient step of DQN's learner, this checkout against a baseline commit, A B A B.

Workload (a)'s learner (CleanRL's CartPole settings: a 128 x (4 -> 120 -> 84 -> 2) MLP,
Adam, one update per learning phase) timed as ``learn_phase`` in a ``lax.scan`` of
``--updates`` phases on a full replay, on one CPU device: unbatched (1 seed, what workload
(a) at 1 seed runs) and vmapped over ``--seeds`` (one of the engine's blocks of runs). Each
side runs in its own process, the baseline from a git worktree put first on
``PYTHONPATH``, alternated ``--repeats`` times; a process reports the minimum and median
over ``--rounds`` timed calls. The learner is :func:`speed.cleanrl_learner`, the one
``speed.py --learner`` times; the baseline needs its ``make_dqn(config).learn_phase`` API.

    python benchmarks/learner_step.py --baseline 824f140~1 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import speed  # beside this file: the learner's setup and the baseline worktree

ROOT = speed.ROOT


def worker(updates: int, seeds: int, rounds: int) -> dict[str, float]:
    """µs per update (per seed-update when batched) of this interpreter's purejaxdqn."""
    import jax

    _, start, phases = speed.cleanrl_learner(updates)
    keys = jax.random.split(jax.random.key(0), max(seeds, 1))
    if seeds:
        state, run = jax.jit(jax.vmap(start))(keys), jax.jit(jax.vmap(phases))
    else:
        state, run = jax.jit(start)(keys[0]), jax.jit(phases)
    compiled = run.lower(state).compile()
    jax.block_until_ready(compiled(state))
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        jax.block_until_ready(compiled(state))
        times.append(time.perf_counter() - t0)
    times.sort()
    per = updates * max(seeds, 1) / 1e6
    return {"min_us": times[0] / per, "median_us": times[len(times) // 2] / per}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--baseline", default="824f140~1", help="baseline commit")
    p.add_argument("--repeats", type=int, default=3, help="A B pairs")
    p.add_argument("--updates", type=int, default=2000, help="phases per timed call")
    p.add_argument("--rounds", type=int, default=8, help="timed calls per process")
    p.add_argument("--batched-seeds", type=int, default=8, help="seeds of the vmapped case")
    p.add_argument("--worker", type=int, metavar="SEEDS", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker is not None:
        print(json.dumps(worker(args.updates, args.worker, args.rounds)))
        return
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}  # one CPU device

    def one(tree: Path, seeds: int) -> dict[str, float]:
        cmd = [sys.executable, __file__, "--worker", str(seeds), "--updates", str(args.updates)]
        cmd += ["--rounds", str(args.rounds)]
        run_env = {**env, "PYTHONPATH": str(tree)}
        out = subprocess.run(cmd, env=run_env, capture_output=True, text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])

    with speed.baseline_worktree(args.baseline) as base:
        print(f"baseline {args.baseline} vs this checkout; load {os.getloadavg()[0]:.2f}")
        for seeds in (0, args.batched_seeds):
            label = "1 seed" if seeds == 0 else f"{seeds} seeds (vmap)"
            for r in range(args.repeats):
                a, b = one(base, seeds), one(ROOT, seeds)
                print(
                    f"{label:16s} pair {r + 1}: baseline {a['min_us']:6.1f} "
                    f"(median {a['median_us']:6.1f})  this {b['min_us']:6.1f} "
                    f"(median {b['median_us']:6.1f}) us/update  "
                    f"ratio {a['median_us'] / b['median_us']:.2f}x"
                )
        print(f"load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
