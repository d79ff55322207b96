"""Cost of one learner update of the notebook's Q(s, a) network: whole grid vs taken action.

The TD target needs ``max_a Q(s_{t+1}, a)`` over the whole action grid (target network,
forward only), but ``Q(s_t, a_t)`` (forward *and* backward) needs only the taken grid
action. This times ``value_and_grad`` of the squared TD loss both ways, at the same shapes,
vmapped over seeds and scanned over updates, alternating A B A B in one process.

Usage::

    python benchmarks/state_action_update.py [--bins 1000] [--seeds 4] [--batch 128]
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from purejaxdqn.networks import StateActionQNetwork


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bins", type=int, default=1000)
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--hidden", type=int, nargs="+", default=[32, 32])
    ap.add_argument("--updates", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    grid = np.linspace(-3.0, 3.0, args.bins, dtype=np.float32)[:, None]
    net = StateActionQNetwork(action_grid=tuple(map(tuple, grid.tolist())), hidden=args.hidden)
    s, b = args.seeds, args.batch
    k = jax.random.split(jax.random.key(0), 4)
    obs = jax.random.normal(k[0], (s, b, 4))
    next_obs = jax.random.normal(k[1], (s, b, 4))
    action = jax.random.randint(k[2], (s, b), 0, args.bins)
    params = jax.vmap(lambda key: net.init(key, obs[0]))(jax.random.split(k[3], s))
    opt = optax.adam(1e-3)

    def make(taken_only: bool):
        def update(p, o, obs, next_obs, action):
            target = 0.97 * jnp.max(net.apply(p, next_obs), axis=-1)

            def loss(p):
                if taken_only:
                    q = net.apply(p, obs, action)
                else:
                    q = jnp.take_along_axis(net.apply(p, obs), action[:, None], -1)[:, 0]
                return jnp.mean((q - jax.lax.stop_gradient(target)) ** 2)

            g = jax.grad(loss)(p)
            u, o = opt.update(g, o, p)
            return optax.apply_updates(p, u), o

        def run(p, o):
            def body(c, _):
                return jax.vmap(update)(*c, obs, next_obs, action), None

            return jax.lax.scan(body, (p, o), None, length=args.updates)[0]

        return jax.jit(run)

    o = jax.vmap(opt.init)(params)
    fns = {"whole grid": make(False), "taken action": make(True)}
    for f in fns.values():
        jax.block_until_ready(f(params, o))
    times: dict[str, list[float]] = {n: [] for n in fns}
    for _ in range(args.repeats):
        for name, f in fns.items():
            t0 = time.perf_counter()
            jax.block_until_ready(f(params, o))
            times[name].append((time.perf_counter() - t0) / args.updates)
    device = jax.devices()[0].device_kind
    print(f"{device}: K={args.bins}, {s} seeds vmapped, batch {b}, hidden {args.hidden}")
    for name, t in times.items():
        print(f"  {name:13s} {1e3 * min(t):.2f} ms per vmapped update (best of {args.repeats})")
    ratio = min(times["whole grid"]) / min(times["taken action"])
    print(f"  taken action is {ratio:.2f}x faster")


if __name__ == "__main__":
    main()
