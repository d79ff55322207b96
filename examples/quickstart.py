"""Quickstart: 16 seeds of DQN on CartPole-v1 as one compiled program, from Python.

    python examples/quickstart.py                             # 16 seeds x 50k env steps
    PUREJAXDQN_EXAMPLE_TINY=1 python examples/quickstart.py   # 2 seeds x 400 steps (CI)

``make_train(config)`` returns a pure function ``train(key) -> TrainOutput`` holding the
whole run (env, replay, epsilon-greedy, updates, target net, greedy evaluation) in one
``lax.scan``; ``jit(vmap(train))`` trains every seed at once.
"""

import os

import jax
import jax.numpy as jnp
import numpy as np

from purejaxdqn import make_train, preset

TINY = os.environ.get("PUREJAXDQN_EXAMPLE_TINY") == "1"
#: A budget of seconds for CI; the full one takes a minute or two on a 2-core CPU.
TINY_FIELDS = dict(total_steps=400, eval_every=200, eval_episodes=1, capacity=400,
                   batch_size=32, learning_starts=100, hidden=(16,), target_period=100)  # fmt: skip


def main() -> None:
    """Trains the seeds and prints the greedy return of every evaluation."""
    seeds = 2 if TINY else 16
    fields = TINY_FIELDS if TINY else dict(total_steps=50_000, eval_every=10_000)
    config = preset("CartPole-v1", **fields)  # the CartPole preset with a shorter budget
    train = jax.jit(jax.vmap(make_train(config)))
    keys = jax.vmap(jax.random.key)(jnp.arange(seeds))  # seed i is key(i), as in the CLI
    out = train(keys)

    steps = np.asarray(out.metrics["env_steps"][0])  # [evals + 1]
    returns = np.asarray(out.metrics["eval_return"])  # [seeds, evals + 1]
    print(f"CartPole-v1, {seeds} seeds: greedy return over seeds")
    for step, r in zip(steps, returns.T, strict=True):
        stats = f"mean {r.mean():6.1f}, min {r.min():6.1f}, max {r.max():6.1f}"
        print(f"  {int(step):>7d} env steps: {stats}")
    print("diverged seeds:", int((np.asarray(out.diverged_step) >= 0).sum()))


if __name__ == "__main__":
    main()
