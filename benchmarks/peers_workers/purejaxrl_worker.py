"""Peer worker for ``benchmarks/peers.py``: purejaxrl's single-file ``dqn.py``, seeds vmapped.

purejaxrl is not a package: its ``purejaxrl/dqn.py`` (github.com/luchris429/purejaxrl) is
loaded from ``--src`` (or ``$PUREJAXRL_DQN``), unmodified, with a stub ``wandb`` module (it
imports wandb at the top; logging is off) and ``jax.tree_map`` aliased to ``jax.tree.map``
(removed from jax since that file was written). Its ``make_train(config)`` is vmapped over
the seeds' keys, compiled ahead of time (timed apart) and run once (timed). It has no greedy
evaluation: ``final_return`` is the mean return of the episodes finished in the last 1% of
training (its ``LogWrapper``'s ``returned_episode_returns``).

purejaxrl's network is fixed at (120, 84), its loss the squared TD error, no gradient
clipping, no time-limit bootstrapping: the worker refuses configs that differ.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
import types


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--env", required=True)
    ap.add_argument("--seeds", required=True, help="comma-separated seed numbers")
    ap.add_argument("--config", required=True, help="the matched config as JSON")
    ap.add_argument("--eval-episodes", type=int, default=8, help="unused (no evaluation)")
    ap.add_argument("--src", default=os.environ.get("PUREJAXRL_DQN"), help="path of dqn.py")
    args = ap.parse_args()
    c = json.loads(args.config)
    if not args.src:
        raise SystemExit("give --src or PUREJAXRL_DQN: the path of purejaxrl's dqn.py")
    if list(c["hidden"]) != [120, 84] or c.get("loss") != "l2":
        raise SystemExit("purejaxrl's DQN is fixed at hidden (120, 84) and the squared loss")
    if c["max_grad_norm"] != float("inf") or c["gradient_steps"] != 1:
        raise SystemExit("purejaxrl's DQN has no gradient clipping and 1 gradient step")

    t_import = time.perf_counter()
    import jax
    import jax.numpy as jnp

    sys.modules.setdefault("wandb", types.ModuleType("wandb"))
    if not hasattr(jax, "tree_map"):
        jax.tree_map = jax.tree.map  # type: ignore[attr-defined]
    spec = importlib.util.spec_from_file_location("purejaxrl_dqn", args.src)
    assert spec is not None and spec.loader is not None
    dqn = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(dqn)
    import_seconds = time.perf_counter() - t_import

    total = c["total_steps"]
    config = {
        "NUM_ENVS": c["num_envs"],
        "BUFFER_SIZE": c["capacity"],
        "BUFFER_BATCH_SIZE": c["batch_size"],
        "TOTAL_TIMESTEPS": total,
        "EPSILON_START": c["eps_start"],
        "EPSILON_FINISH": c["eps_end"],
        "EPSILON_ANNEAL_TIME": c["exploration_steps"],
        "TARGET_UPDATE_INTERVAL": c["target_period"],
        "LR": c["lr"],
        "LEARNING_STARTS": c["learning_starts"],
        "TRAINING_INTERVAL": c["train_every"],
        "LR_LINEAR_DECAY": False,
        "GAMMA": c["gamma"],
        "TAU": 1.0,
        "ENV_NAME": args.env,
        "WANDB_MODE": "disabled",
    }
    seeds = [int(s) for s in args.seeds.split(",")]
    keys = jnp.stack([jax.random.PRNGKey(s) for s in seeds])
    train = jax.jit(jax.vmap(dqn.make_train(config)))
    t0 = time.perf_counter()
    compiled = train.lower(keys).compile()
    compile_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = jax.block_until_ready(compiled(keys))
    train_seconds = time.perf_counter() - t0
    returns = out["metrics"]["returns"]  # [seeds, iterations]
    tail = max(returns.shape[1] // 100, 1)
    final = [float(x) for x in jnp.mean(returns[:, -tail:], axis=-1)]
    print(f"purejaxrl: compile {compile_seconds:.1f}s, train {train_seconds:.1f}s", file=sys.stderr)
    print(
        json.dumps(
            {
                "tool": "purejaxrl",
                "version": "dqn.py @ 31756b1",
                "backend": f"jax {jax.__version__} on {jax.devices()[0].platform}",
                "import_seconds": import_seconds,
                "compile_seconds": compile_seconds,
                "train_seconds": train_seconds,
                "steps_per_seed": total,
                "per_seed": [
                    {"seed": s, "final_return": r} for s, r in zip(seeds, final, strict=True)
                ],
            }
        )
    )


if __name__ == "__main__":
    main()
