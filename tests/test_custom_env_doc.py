"""Runs the complete example env in docs/custom_env.md, so the doc cannot rot."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import jax
import numpy as np
import pytest

from purejaxdqn import envs

DOC = Path(__file__).resolve().parents[1] / "docs" / "custom_env.md"


@pytest.fixture(scope="module")
def doc_env():
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) == 1, "docs/custom_env.md should hold exactly one ```python block"
    assert len(blocks[0].splitlines()) <= 90
    # Run it as a real module: dataclasses look their module up in sys.modules.
    module = types.ModuleType("custom_env_doc")
    sys.modules[module.__name__] = module
    try:
        exec(compile(blocks[0], str(DOC), "exec"), module.__dict__)
    finally:
        del sys.modules[module.__name__]
    return module.env, module.params


def test_doc_env_is_registered(doc_env):
    env, params = doc_env
    assert isinstance(env, envs.Environment)
    made, made_params = envs.make("PointWalk-v0")
    assert type(made) is type(env) and made_params == params
    assert isinstance(env.max_episode_steps(params), int)


def test_doc_env_jit_vmap_and_auto_reset(doc_env):
    env, params = doc_env
    n = 64
    limit = env.max_episode_steps(params)

    @jax.jit
    def run(key):
        obs, state = jax.vmap(env.reset, (0, None))(jax.random.split(key, n), params)

        def body(carry, key):
            obs, state = carry
            k_a, k_s = jax.random.split(key)
            acts = jax.random.randint(k_a, (n,), 0, 2)
            out = jax.vmap(env.step, (0, 0, 0, None))(jax.random.split(k_s, n), state, acts, params)
            return (out[0], out[1]), (out[0], out[2], out[3], out[4], out[5]["final_obs"])

        return jax.lax.scan(body, (obs, state), jax.random.split(key, 2 * limit + 5))[1]

    obs, reward, term, trunc, final = (np.asarray(x) for x in run(jax.random.key(0)))
    assert obs.shape == final.shape == (2 * limit + 5, n, 1)
    assert reward.dtype == np.float32 and term.dtype == trunc.dtype == np.bool_
    done = term | trunc
    assert term.any() and trunc.any()
    np.testing.assert_array_equal(obs[~done], final[~done])
    assert (np.abs(final[term]) > 1).all()
    assert (np.abs(obs[done]) <= 0.5).all()  # fresh episodes start in [-0.5, 0.5]
