"""``purejaxdqn.nan_guard`` and the optimizer check it relies on, against NumPy.

``step_is_finite(loss, grads)`` must be ``isfinite(loss) and isfinite(||grads||)`` with the
norm summed in float32, so that a gradient whose squares overflow (|g| > ~1.8e19) counts as
non-finite: the optimizers' second moments would overflow on it. The NumPy reference sums
the squares in float64 and compares with float32's largest value, independently of how XLA
orders the sum.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purejaxdqn import nan_guard
from purejaxdqn.config import Config
from purejaxdqn.optimizers import inputs_are_finite

F32_MAX = float(np.finfo(np.float32).max)


def _grads(scale: float, poison: float | None = None) -> dict:
    rng = np.random.default_rng(0)
    grads = {
        "dense": {"kernel": rng.normal(size=(4, 3)), "bias": rng.normal(size=(3,))},
        "out": {"kernel": rng.normal(size=(3, 2))},
    }
    grads = jax.tree.map(lambda x: (x * scale).astype(np.float32), grads)
    if poison is not None:
        grads["out"]["kernel"][1, 0] = poison
    return grads


def _reference(loss: float, grads: dict) -> bool:
    leaves = [np.asarray(x, np.float64) for x in jax.tree.leaves(grads)]
    if not all(np.all(np.isfinite(x)) for x in leaves):
        return False
    return bool(np.isfinite(loss)) and sum(float(np.sum(x**2)) for x in leaves) <= F32_MAX


@pytest.mark.parametrize(
    "loss, scale, poison",
    [
        (0.5, 1.0, None),  # an ordinary step
        (0.5, 1e18, None),  # large, but the squares still fit in float32
        (0.5, 1e20, None),  # the squares overflow
        (0.5, 1.0, np.nan),
        (0.5, 1.0, np.inf),
        (0.5, 1.0, -np.inf),
        (np.nan, 1.0, None),
        (np.inf, 1.0, None),
    ],
)
def test_step_is_finite_matches_numpy(loss, scale, poison):
    grads = _grads(scale, poison)
    got = jax.jit(nan_guard.step_is_finite)(jnp.float32(loss), grads)
    assert bool(got) == _reference(loss, grads)


def test_step_is_finite_sees_every_leaf():
    grads = _grads(1.0)
    for path, _ in jax.tree_util.tree_leaves_with_path(grads):
        bad = jax.tree_util.tree_map_with_path(
            lambda p, x, path=path: jnp.asarray(x).at[0].set(jnp.nan) if p == path else x,
            grads,
        )
        assert not bool(nan_guard.step_is_finite(jnp.float32(0.0), bad)), path


@pytest.mark.parametrize(
    "field, value, ok",
    [
        (None, None, True),
        ("max_grad_norm", float("inf"), True),  # no clipping
        ("max_grad_norm", float("nan"), False),
        ("lr", float("nan"), False),
        ("lr", float("inf"), False),
        ("lr_end_fraction", float("nan"), False),
        ("adam_eps", float("inf"), False),
        ("rms_decay", float("nan"), False),
        ("rms_eps", float("nan"), False),
        ("rms_momentum", float("inf"), False),
    ],
)
def test_inputs_are_finite(field, value, ok):
    hp = Config().hyperparams()
    if field is not None:
        hp = hp.replace(**{field: jnp.float32(value)})
    assert bool(jax.jit(inputs_are_finite)(hp)) is ok
