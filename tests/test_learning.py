"""Learning runs of the presets. The full runs are ``slow``; CI runs a short form."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purejaxdqn import make_train, preset
from purejaxdqn.stats import iqm


def _train(config, seeds: int) -> np.ndarray:
    train = make_train(config)
    keys = jax.vmap(jax.random.key)(jnp.arange(seeds))
    out = jax.jit(jax.vmap(train))(keys)
    return np.asarray(out.metrics["eval_return"])  # [S, T]


def test_pendulum_short_run_improves():
    """A third of the default budget on 4 seeds: well past the untrained policy (~5)."""
    config = preset("InvertedPendulum-v5", total_steps=20_000, eval_every=10_000)
    returns = _train(config, seeds=4)
    assert iqm(returns[:, 0]) < 20
    assert iqm(returns[:, -1]) > 30


@pytest.mark.slow
def test_pendulum_preset_solves():
    returns = _train(preset("InvertedPendulum-v5"), seeds=16)
    assert iqm(returns[:, -1]) >= 950
    assert np.mean(returns[:, -1] >= 950) >= 0.8


@pytest.mark.slow
def test_cartpole_preset_solves():
    returns = _train(preset("CartPole-v1"), seeds=16)
    assert iqm(returns[:, -1]) >= 475
