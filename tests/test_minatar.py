"""The conv torso, PyTorch's centered RMSprop, and the MinAtar presets (the MinAtar paper's DQN).

References are independent of the code under test: ``lax.conv_general_dilated`` for the
patch-matmul convolution, NumPy transcriptions of PyTorch's and the Nature DQN's centered
RMSProp update rules for the optimizers.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purejaxdqn.config import Config, ConfigError
from purejaxdqn.dqn import make_dqn, make_optimizer, make_train, num_updates
from purejaxdqn.networks import Conv3x3, Torso
from purejaxdqn.presets import MINATAR_GAMES, preset


def test_conv3x3_matches_lax_convolution():
    x = jax.random.normal(jax.random.key(0), (6, 10, 10, 4))
    conv = Conv3x3(16)
    params = conv.init(jax.random.key(1), x)
    kernel, bias = params["params"]["kernel"], params["params"]["bias"]
    bias = bias + jax.random.normal(jax.random.key(2), bias.shape)  # a non-zero bias too
    params = {"params": {"kernel": kernel, "bias": bias}}
    expected = jax.lax.conv_general_dilated(
        x, kernel, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")
    )
    expected = expected + bias
    got = conv.apply(params, x)
    assert got.shape == (6, 8, 8, 16)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_torso_keeps_leading_axes():
    torso = Torso(obs_ndim=3, conv=(8, 4))
    x = jax.random.normal(jax.random.key(0), (2, 3, 7, 9, 5))
    params = torso.init(jax.random.key(1), x)
    out = torso.apply(params, x)
    assert out.shape == (2, 3, 3 * 5 * 4)  # two VALID 3x3 layers: 7x9 -> 3x5, 4 channels
    one = torso.apply(params, x[1, 2])
    np.testing.assert_allclose(out[1, 2], one, rtol=1e-5, atol=1e-6)
    # Without conv layers the torso is a flatten with no parameters.
    assert Torso(obs_ndim=3).init(jax.random.key(0), x) == {}


def test_conv_config_is_validated():
    assert Config(conv=16).conv == (16,)
    assert Config.from_dict({"conv": [16, 8]}).conv == (16, 8)
    with pytest.raises(ConfigError, match="conv must be a list of positive"):
        Config(conv=(16, 0))
    with pytest.raises(ConfigError, match="conv must be a list"):
        Config(conv="16")
    # Shape checks need the env: raised by make_dqn, before anything is traced.
    with pytest.raises(ConfigError, match=r"image observations \[H, W, C\]"):
        make_dqn(preset("CartPole-v1", conv=(16,)))
    with pytest.raises(ConfigError, match="leave no pixels"):
        make_dqn(preset("Breakout-MinAtar", conv=(4, 4, 4, 4, 4)))


def _np_rmsprop(grads, lrs, decay, eps, momentum, torch_form):
    """Centered RMSProp on one parameter vector from zero state, in float64: PyTorch's
    ``RMSprop(centered=True, momentum=m)`` (eps outside the sqrt; the current learning rate
    ``lrs[k]`` multiplies the whole momentum buffer) or the Nature DQN form (eps inside)."""
    theta = np.zeros_like(grads[0])
    sq = np.zeros_like(theta)
    mean = np.zeros_like(theta)
    buf = np.zeros_like(theta)
    for g, lr in zip(grads, lrs, strict=True):
        sq = decay * sq + (1 - decay) * g * g
        mean = decay * mean + (1 - decay) * g
        var = np.maximum(sq - mean * mean, 0.0)
        scaled = g / (np.sqrt(var) + eps) if torch_form else g / np.sqrt(var + eps)
        buf = momentum * buf + scaled
        theta = theta - lr * buf
    return theta


@pytest.mark.parametrize(
    "optimizer, momentum, lr_end_fraction, constant",
    [
        ("rmsprop_torch", 0.95, 1.0, False),
        ("rmsprop_torch", 0.95, 0.1, False),  # a decaying rate scales the momentum buffer
        ("rmsprop_torch", 0.95, 1.0, True),  # constant gradient: variance ~0, no NaN
        ("rmsprop", 0.0, 1.0, False),
        ("rmsprop", 0.5, 0.1, False),
    ],
)
def test_rmsprop_matches_reference(optimizer, momentum, lr_end_fraction, constant):
    # 5 gradient steps in the run, so the linear learning-rate decay spans the test.
    cfg = Config(
        total_steps=64,
        num_envs=1,
        eval_every=64,
        capacity=64,
        batch_size=32,
        learning_starts=32,
        train_every=8,
        optimizer=optimizer,
        lr=2.5e-4,
        lr_end_fraction=lr_end_fraction,
        rms_decay=0.95,
        rms_eps=0.01,
        rms_momentum=momentum,
        max_grad_norm=float("inf"),
    )
    assert num_updates(cfg) == 5
    if constant:
        grads = np.full((40, 5), 0.3)
    else:
        grads = np.asarray(jax.random.normal(jax.random.key(0), (8, 5)), np.float64) * 0.05
    frac = np.minimum(np.arange(len(grads)) / 5, 1.0)
    lrs = 2.5e-4 * (1 + (lr_end_fraction - 1) * frac)
    opt = make_optimizer(cfg, cfg.hyperparams())
    theta = jnp.zeros(5)
    state = opt.init(theta)
    for g in grads:
        updates, state = opt.update(jnp.asarray(g, jnp.float32), state, theta)
        theta = theta + updates
    torch_form = optimizer == "rmsprop_torch"
    expected = _np_rmsprop(grads, lrs, 0.95, 0.01, momentum, torch_form)
    assert np.all(np.isfinite(theta))
    np.testing.assert_allclose(theta, expected, rtol=2e-4 if constant else 2e-5, atol=1e-9)


@pytest.mark.parametrize("game", MINATAR_GAMES)
def test_minatar_presets_are_the_paper_dqn(game):
    cfg = preset(f"{game}-MinAtar")
    assert (cfg.conv, cfg.hidden, cfg.capacity, cfg.batch_size) == ((16,), (128,), 100_000, 32)
    assert (cfg.num_envs, cfg.train_every, cfg.target_period, cfg.total_steps) == (
        1,
        1,
        1_000,
        5_000_000,
    )
    assert (cfg.optimizer, cfg.rms_momentum, cfg.loss, cfg.huber_delta) == (
        "rmsprop_torch",
        0.95,
        "huber",
        1.0,
    )


def test_minatar_observations_are_exact_in_the_presets_replay_dtype():
    # The presets store observations as uint8; exact only if every plane holds 0 or 1.
    from purejaxdqn.envs.discrete import make_env

    for game in MINATAR_GAMES:
        cfg = preset(f"{game}-MinAtar")
        assert cfg.replay_obs_dtype == "uint8"
        env, params = make_env(cfg)
        actions = env.action_space(params).n

        def rollout(key, env=env, params=params, actions=actions):
            obs, state = env.reset(key, params)

            def step(carry, k):
                k_act, k_step = jax.random.split(k)
                action = jax.random.randint(k_act, (), 0, actions)
                obs, state, *_ = env.step(k_step, carry, action, params)
                return state, obs

            seen = jax.lax.scan(step, state, jax.random.split(key, 300))[1]
            return jnp.concatenate([obs[None], seen])

        obs = np.asarray(jax.jit(jax.vmap(rollout))(jax.random.split(jax.random.key(0), 4)))
        assert set(np.unique(obs)) <= {0.0, 1.0} and obs.max() == 1.0, game


@pytest.fixture(scope="module")
def breakout_run():
    cfg = preset(
        "Breakout-MinAtar",
        total_steps=1_500,
        capacity=1_500,
        learning_starts=500,
        eval_every=500,
        eval_episodes=2,
        exploration_steps=1_000,
    )
    keys = jax.vmap(jax.random.key)(jnp.arange(2))
    return cfg, jax.jit(jax.vmap(make_train(cfg)))(keys)


def test_minatar_run_trains_the_conv_network(breakout_run):
    cfg, out = breakout_run
    params = out.params["params"]
    assert params["torso"]["Conv3x3_0"]["kernel"].shape == (2, 3, 3, 4, 16)
    assert params["Dense_0"]["kernel"].shape == (2, 8 * 8 * 16, 128)
    assert params["Dense_1"]["kernel"].shape == (2, 128, 3)  # gymnax's minimal action set
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(out.params))
    np.testing.assert_array_equal(np.asarray(out.diverged_step), -1)
    # Updates ran after learning_starts (the loss is NaN in periods without updates).
    loss = np.asarray(out.metrics["loss"])
    assert np.all(np.isnan(loss[:, 0])) and np.all(np.isfinite(loss[:, -1]))
    assert np.all(loss[:, -1] > 0)
    ret = np.asarray(out.metrics["eval_return"])
    assert ret.shape == (2, cfg.num_evals + 1)
    assert np.all(np.isfinite(ret)) and np.all(ret >= 0)


def test_compact_replay_observations_train_identically():
    # The chain's one-hot observations are exact in uint8: the same run, bit for bit, with a
    # quarter of the replay memory for observations.
    dtype = "uint8"
    from chain_env import CHAIN_CONFIG, Chain

    base = CHAIN_CONFIG.replace(total_steps=1_000, eval_every=500, capacity=1_000)
    keys = jax.vmap(jax.random.key)(jnp.arange(2))
    outs = {}
    for d in ("float32", dtype):
        cfg = base.replace(replay_obs_dtype=d)
        outs[d] = jax.jit(jax.vmap(make_train(cfg, Chain())))(keys)
        state = jax.eval_shape(make_dqn(cfg, Chain()).start, jax.random.key(0), cfg.hyperparams())
        obs_leaves = [x for x in jax.tree.leaves(state[0].buffer_state) if x.shape[-1:] == (5,)]
        assert obs_leaves and all(x.dtype == jnp.dtype(d) for x in obs_leaves)
    for a, b in zip(jax.tree.leaves(outs["float32"]), jax.tree.leaves(outs[dtype]), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_replay_obs_dtype_is_validated():
    with pytest.raises(ConfigError, match="replay_obs_dtype"):
        Config(replay_obs_dtype="int4")
