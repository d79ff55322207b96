"""``vmap_in_chunks``: the runs computed a block at a time equal each run computed alone."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purejaxdqn.engine.programs import vmap_in_chunks


def step(state, hp, periods):
    """A toy trainer step: a key, an int counter and float math; state in, state out."""
    key, sub = jax.random.split(state["key"])
    noise = jax.random.normal(sub, (3,))
    x = state["x"] * hp + noise * jnp.sum(periods)
    new = {"key": key, "x": x, "count": state["count"] + periods.shape[0]}
    return new, {"mean": jnp.mean(x), "count": new["count"]}


def states(runs):
    return {
        "key": jax.vmap(jax.random.key)(jnp.arange(runs)),
        "x": jnp.arange(runs * 3, dtype=jnp.float32).reshape(runs, 3),
        "count": jnp.arange(runs, dtype=jnp.int32),
    }


@pytest.mark.parametrize("chunk", [1, 4, 5, 11, None])
@pytest.mark.parametrize("batched_hp", [True, False])
def test_equals_each_run_alone(chunk, batched_hp):
    runs = 11  # chunk 4: two blocks and a remainder of 3
    periods = jnp.arange(2, dtype=jnp.int32)
    hp = jnp.linspace(0.5, 1.5, runs) if batched_hp else jnp.float32(0.9)
    fn = vmap_in_chunks(step, (0, 0 if batched_hp else None, None), chunk)
    got_state, got_rows = jax.jit(fn)(states(runs), hp, periods)
    # The reference: a Python loop, one run at a time.
    s0 = states(runs)
    for r in range(runs):
        one = jax.tree.map(lambda a, r=r: a[r], s0)
        want_state, want_rows = step(one, hp[r] if batched_hp else hp, periods)
        np.testing.assert_array_equal(
            jax.random.key_data(got_state["key"][r]), jax.random.key_data(want_state["key"])
        )
        np.testing.assert_allclose(got_state["x"][r], want_state["x"], rtol=1e-6)
        assert int(got_state["count"][r]) == int(want_state["count"]) == r + 2
        np.testing.assert_allclose(got_rows["mean"][r], want_rows["mean"], rtol=1e-6)


def test_blocks_are_chunk_sized():
    """The program really is a loop over blocks of 4 runs (plus one of 3), not one vmap."""
    fn = vmap_in_chunks(step, (0, None, None), 4)
    text = jax.jit(fn).lower(states(11), jnp.float32(1.0), jnp.arange(2)).as_text()
    assert "tensor<4x3xf32>" in text and "tensor<3x3xf32>" in text
    plain = jax.jit(vmap_in_chunks(step, (0, None, None), None))
    text = plain.lower(states(11), jnp.float32(1.0), jnp.arange(2)).as_text()
    assert "tensor<4x3xf32>" not in text and "tensor<11x3xf32>" in text
