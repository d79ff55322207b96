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

from purejaxdqn.config import MINATAR_GAMES, Config, ConfigError, preset
from purejaxdqn.networks import Conv3x3, Torso
from purejaxdqn.train import make_dqn, make_optimizer, make_train


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


def _np_rmsprop(grads, lr, decay, eps, momentum, torch_form):
    """Centered RMSProp on one parameter vector from zero state: PyTorch's ``RMSprop(centered=
    True, momentum=m)`` (eps outside the sqrt) or the Nature DQN form (eps inside)."""
    theta = np.zeros_like(grads[0])
    sq = np.zeros_like(theta)
    mean = np.zeros_like(theta)
    buf = np.zeros_like(theta)
    for g in grads:
        sq = decay * sq + (1 - decay) * g * g
        mean = decay * mean + (1 - decay) * g
        var = sq - mean * mean
        scaled = g / (np.sqrt(var) + eps) if torch_form else g / np.sqrt(var + eps)
        buf = momentum * buf + scaled
        theta = theta - lr * buf
    return theta


@pytest.mark.parametrize(
    "optimizer, momentum", [("rmsprop_torch", 0.95), ("rmsprop", 0.0), ("rmsprop", 0.5)]
)
def test_rmsprop_matches_reference(optimizer, momentum):
    cfg = Config(
        optimizer=optimizer,
        lr=2.5e-4,
        lr_end_fraction=1.0,
        rms_decay=0.95,
        rms_eps=0.01,
        rms_momentum=momentum,
        max_grad_norm=float("inf"),
    )
    grads = np.asarray(jax.random.normal(jax.random.key(0), (6, 5)), np.float64) * 0.05
    opt = make_optimizer(cfg, cfg.hyperparams())
    theta = jnp.zeros(5)
    state = opt.init(theta)
    for g in grads:
        updates, state = opt.update(jnp.asarray(g, jnp.float32), state, theta)
        theta = theta + updates
    expected = _np_rmsprop(
        grads, 2.5e-4, 0.95, 0.01, momentum, torch_form=optimizer == "rmsprop_torch"
    )
    np.testing.assert_allclose(theta, expected, rtol=2e-5, atol=1e-10)


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
    # The two seeds are independent: different data, different parameters.
    kernel = np.asarray(params["torso"]["Conv3x3_0"]["kernel"])
    assert not np.allclose(kernel[0], kernel[1])
    ret = np.asarray(out.metrics["eval_return"])
    assert ret.shape == (2, cfg.num_evals + 1)
    assert np.all(np.isfinite(ret)) and np.all(ret >= 0)
