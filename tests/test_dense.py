"""``purejaxdqn.networks.dense`` against ``flax.linen.Dense``, JAX autodiff and NumPy.

* :class:`Dense` has ``flax.linen.Dense``'s parameters: the same tree, shapes and initial
  bits from the same key, and its forward pass gives the same bits.
* Its gradients (inputs, kernel, bias) match JAX's autodiff of ``flax.linen.Dense`` to float32
  rounding, for every branch of :func:`weight_grad` (thin output, thin input, neither), with
  and without bias, with extra leading axes and under ``vmap``.
* :func:`weight_grad` matches NumPy's ``x.T @ g`` in float64.
* A ``QNetwork`` keeps its parameter names (``Dense_0``, ...), so checkpoints of flax's layer
  load unchanged.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purejaxdqn.networks import QNetwork
from purejaxdqn.networks.dense import THIN_IN, THIN_OUT, Dense, weight_grad

# (input shape, features): thin output, thin input, neither; extra leading axes; a vector.
CASES = [
    ((128, 84), 2),
    ((128, 4), 120),
    ((64, 120), 84),
    ((8, 16, 84), 5),
    ((3, 5, 6), 32),
    ((32,), 1),
]


def _rel_err(a: jax.Array, b: jax.Array) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("shape,features", CASES)
def test_dense_matches_flax(shape: tuple[int, ...], features: int, use_bias: bool) -> None:
    x = jax.random.normal(jax.random.key(1), shape)
    ours, ref = Dense(features, use_bias=use_bias), nn.Dense(features, use_bias=use_bias)
    p, p_ref = ours.init(jax.random.key(0), x), ref.init(jax.random.key(0), x)
    assert jax.tree.structure(p) == jax.tree.structure(p_ref)
    for a, b in zip(jax.tree.leaves(p), jax.tree.leaves(p_ref), strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ours.apply(p, x), ref.apply(p_ref, x))

    def loss(module: nn.Module) -> object:
        return lambda params, x: jnp.sum(jnp.sin(module.apply(params, x)) * jnp.arange(features))

    g = jax.grad(loss(ours), argnums=(0, 1))(p, x)
    g_ref = jax.grad(loss(ref), argnums=(0, 1))(p_ref, x)
    for a, b in zip(jax.tree.leaves(g), jax.tree.leaves(g_ref), strict=True):
        assert a.shape == b.shape
        assert _rel_err(a, b) < 1e-5


def test_dense_under_vmap_matches_flax() -> None:
    """Per-run parameters and batches (as the engine's blocks train them)."""
    x = jax.random.normal(jax.random.key(2), (8, 128, 84))
    keys = jax.random.split(jax.random.key(3), 8)
    ours, ref = Dense(2), nn.Dense(2)
    p = jax.vmap(lambda k, xi: ours.init(k, xi))(keys, x)

    def grads(module: nn.Module) -> object:
        f = lambda params, xi: jnp.sum(module.apply(params, xi) ** 2)  # noqa: E731
        return jax.vmap(jax.grad(f))(p, x)

    for a, b in zip(jax.tree.leaves(grads(ours)), jax.tree.leaves(grads(ref)), strict=True):
        assert _rel_err(a, b) < 1e-5


@pytest.mark.parametrize(
    "n_in,n_out", [(84, 2), (THIN_IN, 64), (120, THIN_OUT), (120, THIN_OUT + 1), (THIN_IN + 1, 9)]
)
def test_weight_grad_matches_numpy(n_in: int, n_out: int) -> None:
    with jax.enable_x64(True):
        rng = np.random.default_rng(n_in * 100 + n_out)
        x, g = rng.normal(size=(96, n_in)), rng.normal(size=(96, n_out))
        got = np.asarray(weight_grad(jnp.asarray(x), jnp.asarray(g)))
    assert got.shape == (n_in, n_out)
    np.testing.assert_allclose(got, x.T @ g, rtol=1e-12, atol=1e-12)


def test_qnetwork_keeps_flax_parameter_names() -> None:
    net = QNetwork(num_actions=3, hidden=(16, 8))
    params = net.init(jax.random.key(0), jnp.zeros((4,)))
    assert sorted(params["params"]) == ["Dense_0", "Dense_1", "Dense_2"]
    assert params["params"]["Dense_2"]["kernel"].shape == (8, 3)
