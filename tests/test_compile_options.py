"""The engine's XLA compile options: the same bytes out, fewer copies in the update loop."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import pytest

from purejaxdqn.config import Config
from purejaxdqn.dqn import make_dqn
from purejaxdqn.engine import compile_options
from purejaxdqn.engine.compile_options import compile_lowered, options_for
from purejaxdqn.rundir.checkpoint import _leaves

CPU_OPTION = "xla_cpu_copy_insertion_use_region_analysis"


def test_options_follow_the_platform_and_the_user(monkeypatch):
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    monkeypatch.delenv(compile_options.ENV_VAR, raising=False)
    assert options_for("cpu") == {CPU_OPTION: True}
    assert options_for("gpu") == {} and options_for("tpu") == {}
    monkeypatch.setenv(
        "XLA_FLAGS", f"--xla_force_host_platform_device_count=2 --{CPU_OPTION}=false"
    )
    assert options_for("cpu") == {}  # the user's own setting is left alone
    monkeypatch.delenv("XLA_FLAGS")
    monkeypatch.setenv(compile_options.ENV_VAR, "0")
    assert options_for("cpu") == {}


def test_an_option_this_jaxlib_lacks_is_skipped(monkeypatch):
    monkeypatch.setitem(compile_options.OPTIONS, "cpu", {"xla_cpu_no_such_option_here": True})
    lowered = jax.jit(lambda x: x * 2.0).lower(jnp.ones(3))
    assert jnp.array_equal(compile_lowered(lowered, "cpu")(jnp.ones(3)), jnp.full(3, 2.0))


def _learner_program():
    """20 learning phases of 2 seeds (Adam, CartPole's 2-layer MLP) on a random replay."""
    config = Config(
        env="CartPole-v1", num_envs=2, capacity=64, batch_size=16, learning_starts=32,
        train_every=2, hidden=(16, 16), optimizer="adam", total_steps=512, eval_every=256,
        target_period=32,
    )  # fmt: skip
    dqn, hp = make_dqn(config), config.hyperparams()

    def start(key):
        state = dqn.init(key, hp)
        exp = state.buffer_state.experience
        k = jax.random.split(jax.random.fold_in(key, 1), 4)
        exp = exp._replace(
            obs=jax.random.normal(k[0], exp.obs.shape),
            next_obs=jax.random.normal(k[1], exp.next_obs.shape),
            reward=jax.random.normal(k[2], exp.reward.shape),
            action=jax.random.randint(k[3], exp.action.shape, 0, 2),
        )
        buffer = state.buffer_state.replace(experience=exp, is_full=jnp.bool_(True))
        return state.replace(buffer_state=buffer)

    def phases(state):
        def body(s, i):
            s, loss, _ = dqn.learn_phase(s, hp, jax.random.fold_in(s.key, i), 100 + i)
            return s, loss

        return jax.lax.scan(body, state, jnp.arange(20))

    states = jax.jit(jax.vmap(start))(jax.vmap(jax.random.key)(jnp.arange(2)))
    return jax.jit(jax.vmap(phases)).lower(states), states


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="the CPU option")
def test_cpu_option_drops_copies_and_keeps_every_bit(monkeypatch):
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    monkeypatch.delenv(compile_options.ENV_VAR, raising=False)
    lowered, states = _learner_program()
    plain = lowered.compile()
    tuned = compile_lowered(lowered, "cpu")

    def copies(compiled):
        return len(re.findall(r"\bcopy\(", compiled.as_text()))

    # Adam's moments are no longer copied before each update.
    assert copies(tuned) < copies(plain), (copies(tuned), copies(plain))
    a, b = jax.device_get(plain(states)), jax.device_get(tuned(states))
    assert float(jnp.sum(jnp.abs(a[1]))) > 0  # real losses, not a zero replay
    leaves_a, leaves_b = _leaves(a), _leaves(b)  # typed keys as their raw data
    assert leaves_a.keys() == leaves_b.keys()
    for i, x in leaves_a.items():
        assert x.tobytes() == leaves_b[i].tobytes(), f"leaf {i} differs"
