"""A learning-rate sweep driven from Python: points x seeds in one compiled program.

    python examples/sweep_from_python.py                             # 4 lrs x 8 seeds, 50k steps
    PUREJAXDQN_EXAMPLE_TINY=1 python examples/sweep_from_python.py   # 2 lrs x 2 seeds, 400 steps

Traced config fields (``lr``, ``gamma``, ``tau``, ...) live in ``HyperParams``, a pytree of
scalars, so a sweep is a ``vmap`` over a stacked ``HyperParams`` (outer) and over seeds
(inner). Static fields (sizes, ``hidden``, ``loss``, ...) fix shapes: one program per value.
``python -m purejaxdqn.sweep`` does the same through the engine, with device sharding,
memory groups, checkpoints and a sweep directory of results.
"""

import dataclasses
import os

import jax
import jax.numpy as jnp
import numpy as np

from purejaxdqn import HyperParams, make_train, preset

TINY = os.environ.get("PUREJAXDQN_EXAMPLE_TINY") == "1"
TINY_FIELDS = dict(total_steps=400, eval_every=200, eval_episodes=1, capacity=400,
                   batch_size=32, learning_starts=100, hidden=(16,), target_period=100)  # fmt: skip


def stack(hps: list[HyperParams]) -> HyperParams:
    """One ``HyperParams`` whose leaves are ``[P]``: point ``p`` is ``hps[p]``."""
    return jax.tree.map(lambda *xs: jnp.stack(xs), *hps)


def main() -> None:
    """Trains every (lr, seed) pair at once and prints the final greedy return per lr."""
    lrs = [1e-4, 1e-3] if TINY else [1e-4, 3e-4, 1e-3, 3e-3]
    seeds = 2 if TINY else 8
    fields = TINY_FIELDS if TINY else dict(total_steps=50_000, eval_every=10_000)
    config = preset("CartPole-v1", **fields)
    hps = stack([dataclasses.replace(config, lr=lr).hyperparams() for lr in lrs])

    train = make_train(config)  # train(key, hp) -> TrainOutput
    over_seeds = jax.vmap(train, in_axes=(0, None))  # keys [S], one hp
    over_points = jax.vmap(over_seeds, in_axes=(None, 0))  # one set of keys, hps [P]
    keys = jax.vmap(jax.random.key)(jnp.arange(seeds))
    out = jax.jit(over_points)(keys, hps)

    final = np.asarray(out.metrics["eval_return"][..., -1])  # [P, S]
    print(f"CartPole-v1, {seeds} seeds per point: final greedy return")
    for lr, r in zip(lrs, final, strict=True):
        print(f"  lr={lr:g}: mean {r.mean():6.1f}  per seed {np.round(r, 1).tolist()}")
    print("best lr:", lrs[int(final.mean(axis=1).argmax())])


if __name__ == "__main__":
    main()
