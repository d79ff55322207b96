"""Your own environment: a corridor, registered by name and trained like any built-in env.

    python examples/custom_env.py                             # 4 seeds x 20k env steps
    PUREJAXDQN_EXAMPLE_TINY=1 python examples/custom_env.py   # 2 seeds x 400 steps (CI)

The agent starts at cell 0 of a corridor of ``length`` cells and moves left or right; reaching
the last cell ends the episode (terminated, reward 1), every other step costs 0.01, and the
time limit truncates it after ``max_steps`` steps. The protocol (``purejaxdqn.envs.protocol``)
asks for pure JAX ``reset``/``step`` with automatic reset and ``info["final_obs"]``; see
docs/custom_env.md for the rules.
"""

import os

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from purejaxdqn import Config, envs, make_train

TINY = os.environ.get("PUREJAXDQN_EXAMPLE_TINY") == "1"


@struct.dataclass
class CorridorParams:
    """Static sizes (not pytree leaves: they fix shapes and the time limit)."""

    length: int = struct.field(pytree_node=False, default=8)
    max_steps: int = struct.field(pytree_node=False, default=50)


@struct.dataclass
class CorridorState:
    """The agent's cell ``[]`` int32 and the steps taken in the episode ``[]`` int32."""

    pos: jax.Array
    t: jax.Array


class Corridor:
    """A 1-D corridor; the observation is the one-hot cell ``[length]`` float32."""

    name = "Corridor"

    def __init__(self, length: int = 8, max_steps: int = 50):
        self.default_params = CorridorParams(length=length, max_steps=max_steps)

    def max_episode_steps(self, params: CorridorParams) -> int:
        return params.max_steps

    def action_space(self, params: CorridorParams) -> envs.Discrete:
        return envs.Discrete(2)  # 0: left, 1: right

    def observation_space(self, params: CorridorParams) -> envs.Box:
        return envs.Box(0.0, 1.0, (params.length,))

    def reset(self, key: jax.Array, params: CorridorParams):
        state = CorridorState(pos=jnp.zeros((), jnp.int32), t=jnp.zeros((), jnp.int32))
        return jax.nn.one_hot(state.pos, params.length), state

    def step(self, key: jax.Array, state: CorridorState, action: jax.Array, params):
        pos = jnp.clip(state.pos + 2 * action - 1, 0, params.length - 1)
        t = state.t + 1
        terminated = pos == params.length - 1
        truncated = t >= params.max_steps
        reward = jnp.where(terminated, 1.0, -0.01)
        final_obs = jax.nn.one_hot(pos, params.length)
        reset_obs, reset_state = self.reset(key, params)
        done = terminated | truncated
        obs = jnp.where(done, reset_obs, final_obs)
        state = jax.tree.map(
            lambda r, s: jnp.where(done, r, s), reset_state, CorridorState(pos=pos, t=t)
        )
        return obs, state, reward, terminated, truncated, {"final_obs": final_obs}


# The factory receives the config's env_kwargs (--env-kwargs '{"length": 12}' on the CLI).
envs.register("Corridor-v0", lambda **kwargs: Corridor(**kwargs))


def main() -> None:
    """Trains on the registered corridor and prints the greedy return per seed."""
    seeds = 2 if TINY else 4
    config = Config(
        env="Corridor-v0",
        env_kwargs={"length": 8},
        total_steps=400 if TINY else 20_000,
        eval_every=200 if TINY else 5_000,
        eval_episodes=1 if TINY else 4,
        capacity=400 if TINY else 10_000,
        batch_size=32,
        learning_starts=100 if TINY else 1_000,
        exploration_steps=200 if TINY else 5_000,
        hidden=(16,) if TINY else (32,),
        target_period=100,
        gamma=0.95,
        huber_delta=1.0,
    )
    train = jax.jit(jax.vmap(make_train(config)))
    out = train(jax.vmap(jax.random.key)(jnp.arange(seeds)))
    final = np.asarray(out.metrics["eval_return"][:, -1])
    best = 1.0 - 0.01 * (8 - 2)  # 7 steps right: six cost 0.01, the last earns 1
    per_seed = [round(float(r), 3) for r in final]
    print(f"Corridor-v0: final greedy return per seed {per_seed} (best {best:.2f})")


if __name__ == "__main__":
    main()
