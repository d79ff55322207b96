"""Peer worker for ``benchmarks/peers.py``: rejax DQN on a gymnax env, all seeds vmapped.

Runs in rejax's own virtual environment (rejax 0.1.3 needs gymnax 0.0.9). The seeds are
trained in one program, ``jit(vmap(algo.train))``, compiled ahead of time (timed apart)
and then run once (timed). The greedy evaluation after training (``--eval-episodes``
episodes per seed, rejax's ``evaluate`` with its ``make_act``, epsilon 0.005) runs inside
the program as rejax's eval callback, so it is part of the training time, as purejaxdqn's
is. Prints one JSON line on stdout.

rejax has no ``train_freq``: each iteration steps ``num_envs`` envs and takes
``num_epochs`` gradient steps, so ``train_every`` env steps per gradient step is matched
with ``num_envs = train_every`` and ``num_epochs = gradient_steps``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--env", required=True)
    ap.add_argument("--seeds", required=True, help="comma-separated seed numbers")
    ap.add_argument("--config", required=True, help="the matched config as JSON")
    ap.add_argument("--eval-episodes", type=int, default=8)
    args = ap.parse_args()
    c = json.loads(args.config)

    t_import = time.perf_counter()
    import jax
    import jax.numpy as jnp
    import rejax
    from rejax import DQN
    from rejax.evaluate import evaluate

    import_seconds = time.perf_counter() - t_import
    if list(c["hidden"]) != [64, 64]:
        raise SystemExit(f"rejax's DQN network is fixed at (64, 64), not {c['hidden']}")
    if c["num_envs"] != 1:
        raise SystemExit("this worker matches update ratios for num_envs = 1 configs only")

    total = c["total_steps"]
    algo = DQN.create(
        env=args.env,
        total_timesteps=total,
        eval_freq=total,
        skip_initial_evaluation=True,
        num_envs=c["train_every"],
        num_epochs=c["gradient_steps"],
        buffer_size=c["capacity"],
        fill_buffer=c["learning_starts"],
        batch_size=c["batch_size"],
        learning_rate=c["lr"],
        gamma=c["gamma"],
        max_grad_norm=c["max_grad_norm"],
        eps_start=c["eps_start"],
        eps_end=c["eps_end"],
        exploration_fraction=c["exploration_steps"] / total,
        target_update_freq=c["target_period"],
        polyak=0.0,  # hard target copy
        ddqn=False,
        agent_kwargs={"activation": "relu"},
    )
    episodes = args.eval_episodes

    def eval_callback(algo, ts, rng):
        act = algo.make_act(ts)
        return evaluate(act, rng, algo.env, algo.env_params, episodes, 10_000)

    algo = algo.replace(eval_callback=eval_callback)
    seeds = [int(s) for s in args.seeds.split(",")]
    keys = jnp.stack([jax.random.PRNGKey(s) for s in seeds])

    t0 = time.perf_counter()
    compiled = jax.jit(jax.vmap(algo.train)).lower(keys).compile()
    compile_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    _, (lengths, returns) = jax.block_until_ready(compiled(keys))
    train_seconds = time.perf_counter() - t0
    # returns: [seeds, num_evals=1, episodes]
    final = [float(x) for x in jnp.mean(returns.reshape(len(seeds), -1), axis=-1)]
    print(f"rejax: compile {compile_seconds:.1f}s, train {train_seconds:.1f}s", file=sys.stderr)
    print(
        json.dumps(
            {
                "tool": "rejax",
                "version": getattr(rejax, "__version__", "0.1.3"),
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
