"""Env-steps per second of the JAX InvertedPendulum port vs gymnasium's C MuJoCo env.

The port is run as the trainer runs it: ``jit(scan(vmap(step)))`` with uniformly random
actions in [-3, 3] and automatic resets. Gymnasium's ``InvertedPendulum-v5`` is stepped in a
plain Python loop (one env, resetting at episode ends). Both are measured in this process.

Usage::

    python benchmarks/env_throughput.py                     # defaults, about 1-2 minutes
    python benchmarks/env_throughput.py --steps 2000 --batch-sizes 64,4096 --backend mjx
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np

from purejaxdqn.envs.pendulum import InvertedPendulum


def bench_port(env: InvertedPendulum, batch: int, steps: int, repeats: int):
    """Returns ``(compile_seconds, env_steps_per_second)`` for one batch size."""
    params = env.default_params

    def run(key):
        k_reset, k_run = jax.random.split(key)
        _, state = jax.vmap(env.reset, (0, None))(jax.random.split(k_reset, batch), params)

        def body(state, key):
            k_act, k_step = jax.random.split(key)
            act = jax.random.uniform(k_act, (batch, 1), minval=-3.0, maxval=3.0)
            keys = jax.random.split(k_step, batch)
            obs, state, reward, term, trunc, _ = jax.vmap(env.step, (0, 0, 0, None))(
                keys, state, act, params
            )
            return state, reward.sum() + obs.sum()

        state, out = jax.lax.scan(body, state, jax.random.split(k_run, steps))
        return out.sum()

    fn = jax.jit(run)
    t0 = time.perf_counter()
    compiled = fn.lower(jax.random.key(0)).compile()
    compile_s = time.perf_counter() - t0
    jax.block_until_ready(compiled(jax.random.key(1)))
    best = np.inf
    for r in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(compiled(jax.random.key(2 + r)))
        best = min(best, time.perf_counter() - t0)
    return compile_s, batch * steps / best


def bench_gymnasium(steps: int) -> float:
    """Env-steps per second of gymnasium's InvertedPendulum-v5 in a Python loop."""
    import gymnasium

    env = gymnasium.make("InvertedPendulum-v5")
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    acts = rng.uniform(-3, 3, (steps, 1))
    t0 = time.perf_counter()
    for i in range(steps):
        _, _, term, trunc, _ = env.step(acts[i])
        if term or trunc:
            env.reset()
    return steps / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1000, help="scan length per measurement")
    ap.add_argument("--batch-sizes", default="1,16,64,256,1024")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs (best is kept)")
    ap.add_argument("--gym-steps", type=int, default=20000, help="gymnasium loop length")
    ap.add_argument("--backend", default="analytic", choices=["analytic", "mjx"])
    ap.add_argument("--unroll", action="store_true", help="unroll the frame-skip loop")
    args = ap.parse_args()

    env = InvertedPendulum(version=5, backend=args.backend, unroll=args.unroll)
    gym_sps = bench_gymnasium(args.gym_steps)
    print(f"jax {jax.__version__} on {jax.devices()[0].device_kind}, x64={jax.config.x64_enabled}")
    print(f"port backend={args.backend} unroll={args.unroll}, scan length {args.steps}")
    print(f"gymnasium InvertedPendulum-v5 (C MuJoCo, Python loop): {gym_sps:,.0f} env-steps/s")
    print()
    print(f"{'batch':>6} {'compile s':>10} {'env-steps/s':>14} {'x gymnasium':>12}")
    for b in (int(s) for s in args.batch_sizes.split(",")):
        compile_s, sps = bench_port(env, b, args.steps, args.repeats)
        print(f"{b:>6} {compile_s:>10.2f} {sps:>14,.0f} {sps / gym_sps:>12.1f}")


if __name__ == "__main__":
    main()
