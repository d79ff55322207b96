"""DQN's family (issue 5): each switch against an independent NumPy reference, and every
variant's Q-values on the chain MDP against the known Q*."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from chain_env import Chain

from purejaxdqn.config import Config, ConfigError
from purejaxdqn.networks import QNetwork
from purejaxdqn.train import make_dqn, make_train

GAMMA = 0.9
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
    loss="mse",
    lr=3e-3,
    gamma=GAMMA,
    eps_start=1.0,
    eps_end=1.0,
)
CHAIN_SEEDS = 4
# Every variant's Q on the non-terminal chain states must be within this of Q*.
CHAIN_ATOL = 0.03

VARIANTS = {
    "double": {"double_q": True},
    "dueling": {"dueling": True},
    "double_dueling": {"double_q": True, "dueling": True},
}


def _relu(x):
    return np.maximum(x, 0.0)


def _dense(p, x):
    return x @ np.asarray(p["kernel"]) + np.asarray(p["bias"])


# ---------------------------------------------------------------------------------------
# Dueling.


def test_dueling_head_matches_numpy():
    net = QNetwork(num_actions=3, hidden=(8, 6), dueling=True)
    obs = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    params = net.init(jax.random.key(0), obs)["params"]
    h = _relu(_dense(params["Dense_1"], _relu(_dense(params["Dense_0"], obs))))
    value = _dense(params["value"], h)  # [5, 1]
    adv = _dense(params["advantage"], h)  # [5, 3]
    expected = value + adv - adv.mean(axis=1, keepdims=True)
    q = np.asarray(net.apply({"params": params}, obs))
    np.testing.assert_allclose(q, expected, rtol=1e-5, atol=1e-5)
    # The advantage is identifiable: mean_a Q = V.
    np.testing.assert_allclose(q.mean(1), value[:, 0], rtol=1e-5, atol=1e-5)


def test_bad_switch_names_the_field():
    with pytest.raises(ConfigError, match="dueling"):
        Config(dueling=1)


# ---------------------------------------------------------------------------------------
# Every variant on the chain MDP: one compiled program per variant, 4 seeds vmapped.


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def chain_variant(request):
    cfg = CHAIN_CONFIG.replace(**VARIANTS[request.param])
    env = Chain()
    keys = jax.vmap(jax.random.key)(jnp.arange(CHAIN_SEEDS))
    out = jax.jit(jax.vmap(make_train(cfg, env)))(keys)
    return request.param, cfg, env, out


def test_variant_learns_chain_q_star(chain_variant):
    name, cfg, env, out = chain_variant
    network = make_dqn(cfg, env).network
    q_star = env.q_star(GAMMA)
    for seed in range(CHAIN_SEEDS):
        params = jax.tree.map(lambda x, s=seed: x[s], out.params)
        q = np.asarray(network.apply(params, jnp.eye(env.length)))[: env.length - 1]
        np.testing.assert_allclose(q, q_star, atol=CHAIN_ATOL, err_msg=f"{name} seed {seed}")
    np.testing.assert_array_equal(np.asarray(out.metrics["eval_return"])[:, -1], 1.0)
