"""``vmap_in_blocks``: the runs computed a block at a time equal each run computed alone."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purejaxdqn.engine.programs import vmap_in_blocks


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


@pytest.mark.parametrize("block", [1, 4, 5, 11, None])
@pytest.mark.parametrize("batched_hp", [True, False])
def test_equals_each_run_alone(block, batched_hp):
    runs = 11  # block 4: two blocks and a remainder of 3
    periods = jnp.arange(2, dtype=jnp.int32)
    hp = jnp.linspace(0.5, 1.5, runs) if batched_hp else jnp.float32(0.9)
    fn = vmap_in_blocks(step, (0, 0 if batched_hp else None, None), block)
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


def test_blocks_are_block_sized():
    """The program really is a loop over blocks of 4 runs (plus one of 3), not one vmap."""
    fn = vmap_in_blocks(step, (0, None, None), 4)
    text = jax.jit(fn).lower(states(11), jnp.float32(1.0), jnp.arange(2)).as_text()
    assert "tensor<4x3xf32>" in text and "tensor<3x3xf32>" in text
    plain = jax.jit(vmap_in_blocks(step, (0, None, None), None))
    text = plain.lower(states(11), jnp.float32(1.0), jnp.arange(2)).as_text()
    assert "tensor<4x3xf32>" not in text and "tensor<11x3xf32>" in text


def test_default_block_and_its_one_line_refusal(monkeypatch):
    from purejaxdqn.config import ConfigError
    from purejaxdqn.engine import engine

    cpu = jax.devices("cpu")
    monkeypatch.delenv(engine.RUNS_PER_BLOCK_ENV, raising=False)
    assert engine.default_runs_per_block(cpu) == engine.CPU_RUNS_PER_BLOCK == 8
    monkeypatch.setenv(engine.RUNS_PER_BLOCK_ENV, "0")
    assert engine.default_runs_per_block(cpu) is None
    monkeypatch.setenv(engine.RUNS_PER_BLOCK_ENV, "3")
    assert engine.default_runs_per_block(cpu) == 3
    for bad in ("-1", "two"):
        monkeypatch.setenv(engine.RUNS_PER_BLOCK_ENV, bad)
        with pytest.raises(ConfigError, match="whole number >= 0") as e:
            engine.default_runs_per_block(cpu)
        assert "\n" not in str(e.value)


def test_checkpoint_layout_names_the_block_only_where_it_cuts():
    from purejaxdqn.engine.layout import Layout
    from purejaxdqn.engine.loop import layout_meta

    layout = Layout(
        runs=64, devices=2, groups=1, runs_per_group=64, bytes_per_run=1,
        limit_bytes=1, limit_source="test",
    )  # fmt: skip
    assert layout_meta(layout, 8)["runs_per_block"] == 8  # 32 runs per device, in 4 blocks
    assert "runs_per_block" not in layout_meta(layout, 32)  # one block: the plain vmap
    assert "runs_per_block" not in layout_meta(layout, None)
