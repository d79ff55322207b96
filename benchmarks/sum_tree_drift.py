"""Measures the float32 sum-tree drift of prioritized replay in a whole training run.

Flashbax keeps PER priorities in a float32 sum tree updated by adding ``new - old`` to each
ancestor of a changed leaf, so rounding accumulates in the inner nodes (its issue #52); a
root larger than the sum of the leaves lets a sample land on a zero-priority item. This runs
the trainer one eval period at a time and after each prints ``root - sum(leaves)`` (the
leaves summed in float64), once without and once with the periodic rebuild
(``per_rebuild_period``). Measured, never asserted.

One seed, driven period by period with the trainer's own ``DQN.train_periods`` (jitted
here), not through the engine: the measurement needs the replay state after every period,
and the engine returns only the final parameters and the metrics rows.

    python benchmarks/sum_tree_drift.py --env CartPole-v1 --total-steps 100000
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np

from purejaxdqn.dqn import make_dqn
from purejaxdqn.presets import preset


def drift_row(buffer_state) -> tuple[float, float, float]:
    """``(root, exact sum of leaves in float64, root - exact)``."""
    tree = buffer_state.sum_tree_state
    nodes = np.asarray(tree.nodes)
    leaves = nodes[2**tree.tree_depth - 1 :].astype(np.float64)
    exact = float(leaves.sum())
    return float(nodes[0]), exact, float(nodes[0]) - exact


def measure(env: str, total_steps: int, rebuild: int, seed: int) -> list[dict]:
    cfg = preset(env, prioritized=True, per_rebuild_period=rebuild, total_steps=total_steps)
    dqn = make_dqn(cfg)
    hp = cfg.hyperparams()
    state = dqn.init(jax.random.key(seed), hp)
    run = jax.jit(dqn.train_periods)
    rows = []
    for period in range(cfg.num_evals):
        state, metrics = run(state, hp, jnp.array([period]))
        root, exact, drift = drift_row(state.buffer_state)
        rows.append(
            {
                "env_steps": (period + 1) * cfg.eval_every,
                "root": root,
                "exact": exact,
                "drift": drift,
                "rel_drift": drift / exact,
                "eval_return": float(metrics["eval_return"][0]),
            }
        )
        print(json.dumps({"rebuild": rebuild, **rows[-1]}), flush=True)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--env", default="CartPole-v1")
    p.add_argument("--total-steps", type=int, default=None)
    p.add_argument("--rebuild", type=int, nargs="+", default=[0, 50_000])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="optional JSON file for the rows")
    a = p.parse_args()
    total = a.total_steps or preset(a.env).total_steps
    results = {}
    for rebuild in a.rebuild:
        t = time.time()
        results[str(rebuild)] = measure(a.env, total, rebuild, a.seed)
        print(f"rebuild={rebuild}: {time.time() - t:.0f} s", flush=True)
    if a.out:
        with open(a.out, "w") as f:
            json.dump(
                {
                    "env": a.env,
                    "total_steps": total,
                    "devices": str(jax.devices()),
                    "runs": results,
                },
                f,
                indent=1,
            )


if __name__ == "__main__":
    main()
