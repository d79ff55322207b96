"""How close the fused training program is to the sum of its parts.

For each workload (the default InvertedPendulum-v5 run and the CartPole-v1 preset), timed in
this process with the same shapes, all seeds vmapped in one program:

- ``env only``: the env stepped with uniformly random actions, the same vmapped batch
  (seeds x num_envs) and the same number of steps, auto-resets included;
- ``updates only``: the run's gradient steps (same count, same batch, the trainer's own
  learning phase, ``DQN.learn_phase``) on a full replay buffer (filled beforehand, untimed);
- ``full``: the whole training run (acting, replay writes, learning, target updates and the
  greedy evaluations).

``fusion = full / (env only + updates only)``: 1.0 would mean that fusing everything into
one program costs nothing beyond its two big parts; acting, replay writes and evaluations
are what it adds. Then the full run's compile time and env-steps/s for 1, 4, 16, 64 and 256
seeds (``--scaling-steps`` env steps per seed). Measured, never asserted.

All three are hand-built ``jax.jit(jax.vmap(...))`` programs on purpose, not the engine: the
point is the cost of each program alone at the same shapes (``full`` is
``jit(vmap(make_train(config)))``, the whole run as one program, no host loop around it).

Usage::

    python benchmarks/limits.py                              # both workloads, 64 seeds
    python benchmarks/limits.py --workloads CartPole-v1 --seeds 16 --scaling-seeds 1,4
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from purejaxdqn import stats
from purejaxdqn.config import Config
from purejaxdqn.dqn import learning_cadence, make_dqn, make_train, num_updates
from purejaxdqn.envs.discrete import make_env
from purejaxdqn.presets import preset
from purejaxdqn.rundir.atomic import atomic_write_text


def timed(fn: Any, *args: Any) -> tuple[float, float, Any]:
    """``(compile_s, run_s, output)`` of ``jax.jit(fn)(*args)``."""
    t0 = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = jax.block_until_ready(compiled(*args))
    return compile_s, time.perf_counter() - t0, out


def env_only(config: Config, keys: jax.Array) -> tuple[float, float]:
    env, env_params = make_env(config)
    n, num_actions = config.num_envs, env.action_space(env_params).n
    v_reset = jax.vmap(env.reset, in_axes=(0, None))
    v_step = jax.vmap(env.step, in_axes=(0, 0, 0, None))

    def one_seed(key: jax.Array) -> jax.Array:
        _, state = v_reset(jax.random.split(jax.random.fold_in(key, 0), n), env_params)

        def body(state: Any, t: jax.Array) -> tuple[Any, jax.Array]:
            k = jax.random.fold_in(key, t + 1)
            action = jax.random.randint(k, (n,), 0, num_actions)
            obs, state, reward, *_ = v_step(jax.random.split(k, n), state, action, env_params)
            return state, jnp.sum(reward) + jnp.sum(obs)

        return jnp.sum(jax.lax.scan(body, state, jnp.arange(config.iterations))[1])

    compile_s, run_s, _ = timed(jax.vmap(one_seed), keys)
    return compile_s, run_s


def updates_only(config: Config, keys: jax.Array) -> tuple[float, float, int]:
    """Times ``num_updates(config)`` gradient steps per seed on a buffer filled by a run of
    the same shapes with learning off (untimed)."""
    hp = config.hyperparams()
    filler = make_dqn(config.replace(learning_starts=config.total_steps))
    state = jax.jit(jax.vmap(lambda k: filler.start(k, hp)[0]))(keys)
    state, _ = jax.jit(jax.vmap(filler.train_periods, in_axes=(0, None, None)))(
        state, hp, jnp.arange(config.num_evals)
    )
    dqn = make_dqn(config)
    per_phase = learning_cadence(config).gradient_steps
    phases = num_updates(config) // per_phase

    def updates(state: Any) -> jax.Array:
        def body(state: Any, j: jax.Array) -> tuple[Any, jax.Array]:
            state, loss_sum, _ = dqn.learn_phase(
                state, hp, jax.random.fold_in(state.key, j), config.total_steps
            )
            return state, loss_sum

        return jnp.sum(jax.lax.scan(body, state, jnp.arange(phases))[1])

    compile_s, run_s, _ = timed(jax.vmap(updates), state)
    return compile_s, run_s, phases * per_phase


def full(config: Config, keys: jax.Array) -> tuple[float, float, float]:
    compile_s, run_s, out = timed(jax.vmap(make_train(config)), keys)
    return compile_s, run_s, float(stats.iqm(np.asarray(out.metrics["eval_return"])[:, -1]))


def workload(name: str) -> Config:
    return preset(name)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workloads", default="InvertedPendulum-v5,CartPole-v1")
    ap.add_argument("--seeds", type=int, default=64)
    ap.add_argument("--total-steps", type=int, default=None, help="override the budgets")
    ap.add_argument("--scaling-seeds", default="1,4,16,64,256")
    ap.add_argument("--scaling-steps", type=int, default=20_000, help="steps/seed, scaling")
    ap.add_argument("--out", default=None, help="write limits.json and limits.md here")
    args = ap.parse_args(argv)
    device = f"{jax.devices()[0].platform} ({jax.devices()[0].device_kind}), jax {jax.__version__}"
    command = "python benchmarks/limits.py " + " ".join(sys.argv[1:] if argv is None else argv)
    lines = [f"# Limits\n\nCommand: `{command}`  \nDevice: {device}\n"]
    report: dict[str, Any] = {"command": command, "device": device, "workloads": []}
    for name in args.workloads.split(","):
        config = workload(name)
        if args.total_steps:
            config = config.replace(total_steps=args.total_steps, eval_every=args.total_steps // 4)
        keys = jax.vmap(jax.random.key)(jnp.arange(args.seeds))
        steps = config.total_steps * args.seeds
        print(f"{name}: {args.seeds} seeds x {config.total_steps:,} steps", flush=True)
        e_c, e_s = env_only(config, keys)
        u_c, u_s, n_updates = updates_only(config, keys)
        f_c, f_s, final_iqm = full(config, keys)
        fusion = f_s / (e_s + u_s)
        row = {
            "workload": name,
            "seeds": args.seeds,
            "steps_per_seed": config.total_steps,
            "updates_per_seed": n_updates,
            "env_only_s": e_s,
            "updates_only_s": u_s,
            "full_s": f_s,
            "fusion": fusion,
            "compile_s": {"env_only": e_c, "updates_only": u_c, "full": f_c},
            "full_env_steps_per_s": steps / f_s,
            "env_only_env_steps_per_s": steps / e_s,
            "final_return_iqm": final_iqm,
            "scaling": [],
        }
        lines += [
            f"## {name}: {args.seeds} seeds x {config.total_steps:,} env steps, "
            f"{n_updates:,} updates per seed\n",
            "| part | run s | compile s | env-steps/s |",
            "|---|---|---|---|",
            f"| env only | {e_s:.2f} | {e_c:.1f} | {steps / e_s:,.0f} |",
            f"| updates only | {u_s:.2f} | {u_c:.1f} | — |",
            f"| full run | {f_s:.2f} | {f_c:.1f} | {steps / f_s:,.0f} |",
            "",
            f"fusion = full / (env only + updates only) = {f_s:.2f} / "
            f"({e_s:.2f} + {u_s:.2f}) = **{fusion:.2f}** (final return IQM {final_iqm:.1f})\n",
        ]
        print("\n".join(lines[-9:]), flush=True)
        scaled = config.replace(total_steps=args.scaling_steps, eval_every=args.scaling_steps // 4)
        lines += ["| seeds | compile s | run s | env-steps/s |", "|---|---|---|---|"]
        for s in [int(x) for x in args.scaling_seeds.split(",")]:
            c, r, _ = full(scaled, jax.vmap(jax.random.key)(jnp.arange(s)))
            rate = scaled.total_steps * s / r
            row["scaling"].append({"seeds": s, "compile_s": c, "run_s": r, "env_steps_per_s": rate})
            lines.append(f"| {s} | {c:.1f} | {r:.2f} | {rate:,.0f} |")
            print(lines[-1], flush=True)
        lines.append(f"\n(scaling: full runs of {scaled.total_steps:,} env steps per seed)\n")
        report["workloads"].append(row)
        if args.out:
            out = Path(args.out)
            out.mkdir(parents=True, exist_ok=True)
            atomic_write_text(out / "limits.md", "\n".join(lines) + "\n")
            atomic_write_text(out / "limits.json", json.dumps(report, indent=1) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
