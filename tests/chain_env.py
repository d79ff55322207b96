"""A tiny chain MDP with known Q*, written to the env protocol, for trainer tests.

States ``0 .. L-1``; the agent starts uniformly in ``0 .. L-2``; action 1 moves right,
action 0 left (clipped at 0). Reaching ``L-1`` terminates with reward 1; every other step
gives 0. Episodes are truncated after ``max_steps`` steps, so a learner that treated
truncation as termination would learn wrong values near the start states.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from purejaxdqn.config import Config
from purejaxdqn.envs.spaces import Box, Discrete


class Chain:
    """The chain; observations are one-hot, shape ``[L]``."""

    name = "chain"
    default_params = None

    def __init__(self, length: int = 5, max_steps: int = 8) -> None:
        self.length = length
        self.max_steps = max_steps

    def max_episode_steps(self, params: None) -> int:
        return self.max_steps

    def _obs(self, s: jax.Array) -> jax.Array:
        return jax.nn.one_hot(s, self.length, dtype=jnp.float32)

    def reset(self, key: jax.Array, params: None) -> tuple[jax.Array, tuple]:
        s = jax.random.randint(key, (), 0, self.length - 1)
        return self._obs(s), (s, jnp.int32(0))

    def step(self, key, state, action, params):
        s, t = state
        s_next = jnp.clip(s + 2 * action - 1, 0, self.length - 1)
        t_next = t + 1
        terminated = s_next == self.length - 1
        truncated = (t_next >= self.max_steps) & ~terminated
        reward = terminated.astype(jnp.float32)
        final_obs = self._obs(s_next)
        reset_obs, reset_state = self.reset(key, params)
        done = terminated | truncated
        obs = jnp.where(done, reset_obs, final_obs)
        new_state = jax.tree.map(lambda a, b: jnp.where(done, a, b), reset_state, (s_next, t_next))
        return obs, new_state, reward, terminated, truncated, {"final_obs": final_obs}

    def action_space(self, params: None) -> Discrete:
        return Discrete(2)

    def observation_space(self, params: None) -> Box:
        return Box(0.0, 1.0, (self.length,))

    def q_star(self, gamma: float) -> np.ndarray:
        """Optimal Q-values of the non-terminal states, ``[L-1, 2]`` (time-limit unaware)."""
        L = self.length
        v = np.array([gamma ** (L - 2 - s) for s in range(L - 1)])  # V*(s), s < L-1
        q = np.zeros((L - 1, 2))
        for s in range(L - 1):
            q[s, 0] = gamma * v[max(s - 1, 0)]
            q[s, 1] = 1.0 if s + 1 == L - 1 else gamma * v[s + 1]
        return q


class BoxChain(Chain):
    """The chain with a continuous action in ``[-1, 1]``: ``a > 0`` moves right, else left.

    Wrapped in ``Discretize(BoxChain(), bins=4)`` the grid is ``[-1, -1/3, 1/3, 1]``, so
    grid actions 0, 1 move left and 2, 3 move right: Q* is :meth:`q_star_grid`.
    """

    def step(self, key, state, action, params):
        return super().step(key, state, (action[0] > 0).astype(jnp.int32), params)

    def action_space(self, params: None) -> Box:
        return Box(-1.0, 1.0, (1,))

    def q_star_grid(self, gamma: float, grid: np.ndarray) -> np.ndarray:
        """Q* over a 1-D action grid ``[K, 1]``, shape ``[L-1, K]``."""
        return self.q_star(gamma)[:, (grid[:, 0] > 0).astype(int)]


class ImageChain(Chain):
    """The chain seen as an image ``[3, L + 2, 1]``: state ``s`` lights pixel ``(1, s + 1)``.

    One 3x3 ``VALID`` convolution maps it to ``[1, L, C]``, so a conv torso sees the state at
    one spatial position: the test that the conv path learns the same Q* as the MLP.
    """

    def _obs(self, s: jax.Array) -> jax.Array:
        image = jnp.zeros((3, self.length + 2, 1), jnp.float32)
        return image.at[1, s + 1, 0].set(1.0)

    def observations(self) -> jax.Array:
        """The observation of every state, ``[L, 3, L + 2, 1]``."""
        return jax.vmap(self._obs)(jnp.arange(self.length))

    def observation_space(self, params: None) -> Box:
        return Box(0.0, 1.0, (3, self.length + 2, 1))


GAMMA = 0.9
# The tabular-check config shared by test_train and test_family: uniform behaviour (ε = 1),
# a small MLP, the squared (l2) loss, a target copy every 40 steps.
CHAIN_CONFIG = Config(
    env="chain",
    total_steps=4000,
    num_envs=4,
    capacity=4000,
    batch_size=32,
    learning_starts=100,
    train_every=1,
    target_period=40,
    eval_every=1000,
    eval_episodes=2,
    hidden=(32,),
    loss="l2",
    lr=3e-3,
    gamma=GAMMA,
    eps_start=1.0,
    eps_end=1.0,
)
