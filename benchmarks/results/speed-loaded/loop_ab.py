"""In-process A B of the blocked loop vs the per-step ``lax.cond`` loop, in CPU seconds.

PYTHONPATH=. python benchmarks/results/speed-loaded/loop_ab.py 16 20000      # CartPole
AB_ENV=pendulum PYTHONPATH=. python benchmarks/results/speed-loaded/loop_ab.py 16 20000
"""

import json
import os
import sys
import time

import jax
import jax.numpy as jnp

from purejaxdqn.config import Config
from purejaxdqn.dqn import loop, make_dqn

S, T = int(sys.argv[1]), int(sys.argv[2])
if os.environ.get("AB_ENV") == "pendulum":
    cfg = Config(total_steps=T)
else:  # CleanRL's CartPole settings, 10 envs
    cfg = Config(
        env="CartPole-v1", num_envs=10, capacity=10_000, batch_size=128,
        learning_starts=10_000, train_every=10, hidden=(120, 84), loss="l2", optimizer="adam",
        target_period=500, lr=2.5e-4, lr_end_fraction=1.0, max_grad_norm=float("inf"),
        total_steps=T, eval_every=5_000, eval_episodes=10,
    )  # fmt: skip
hp = cfg.hyperparams()
keys = jax.vmap(jax.random.key)(jnp.arange(S))
periods = jnp.arange(cfg.num_evals)
real = loop.block_plan
progs = {}
for name in ("blocked", "stepwise"):
    loop.block_plan = real if name == "blocked" else (lambda c: None)
    dqn = make_dqn(cfg)
    init = jax.jit(jax.vmap(lambda k, d=dqn: d.init(k, hp)))
    run = jax.jit(jax.vmap(dqn.train_periods, in_axes=(0, None, None)))
    c0, t0 = time.process_time(), time.perf_counter()
    progs[name] = (init, run.lower(init(keys), hp, periods).compile())
    cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    print(name, f"compile cpu {cpu:.1f} s, wall {wall:.1f} s", flush=True)
res: dict[str, list] = {n: [] for n in progs}
for rep in range(2):
    for name, (init, comp) in progs.items():
        s0 = jax.block_until_ready(init(keys))
        load = os.getloadavg()[0]
        c0, t0 = time.process_time(), time.perf_counter()
        jax.block_until_ready(comp(s0, hp, periods))
        cpu, wall = time.process_time() - c0, time.perf_counter() - t0
        res[name].append({"cpu_s": cpu, "wall_s": wall, "load": load})
        print(name, rep, json.dumps(res[name][-1]), flush=True)
print(json.dumps(res))
