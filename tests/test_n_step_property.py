"""Property tests of ``losses.n_step_return`` against a plain-Python loop.

The reference sums ``gamma^k r[k]`` for ``k = 0, 1, ...`` up to and including the first
``done`` (or to ``n - 1``), and bootstraps with ``gamma^m (1 - terminated[last])`` where
``m = last + 1`` transitions were summed. Sequences have random length ``n`` in 1..8 and
random terminations and truncations (``terminated`` implies ``done``); ``gamma`` is in
``[0, 1]``. The function is jitted once (one compile per length ``n``), in float32; the
reference is computed in Python floats from the same float32 inputs.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from purejaxdqn import losses

n_step_return = jax.jit(losses.n_step_return)

SETTINGS = settings(max_examples=100, deadline=None)

# float32 gamma**m is exp(m log gamma): relative error ~ m |log gamma| ulp, so absolute error
# at most gamma^m m |log gamma| ulp <= ulp / e.
DISCOUNT_ATOL = 1e-7

f32 = lambda x: float(np.float32(x))
rewards = st.floats(-10.0, 10.0, allow_nan=False, width=32)
gammas = st.floats(0.0, 1.0, allow_nan=False, width=32)


@st.composite
def sequences(draw, min_n: int = 1, max_n: int = 8, dones: bool = True):
    """``(r, terminated, done, gamma)``; ``terminated`` is a subset of ``done``."""
    n = draw(st.integers(min_n, max_n))
    r = draw(st.lists(rewards, min_size=n, max_size=n))
    if dones:
        # Mostly sparse episode ends, so that every position of the first one is drawn.
        done = draw(st.lists(st.booleans() | st.just(False), min_size=n, max_size=n))
        is_termination = draw(st.lists(st.booleans(), min_size=n, max_size=n))
        terminated = [d and t for d, t in zip(done, is_termination, strict=True)]
    else:
        done = terminated = [False] * n
    return r, terminated, done, draw(gammas)


def reference(r, terminated, done, gamma):
    g, last = 0.0, len(r) - 1
    for k in range(len(r)):
        g += gamma**k * r[k]
        if done[k]:
            last = k
            break
    return g, gamma ** (last + 1) * (1.0 - float(terminated[last])), last


def run(r, terminated, done, gamma):
    g, discount, last = n_step_return(
        jnp.asarray(r, jnp.float32),
        jnp.asarray(terminated, bool),
        jnp.asarray(done, bool),
        jnp.float32(gamma),
    )
    return float(g), float(discount), int(last)


def assert_return_close(g, expected, r):
    # float32 sums of at most 8 terms: a few ulps of the sum of magnitudes.
    tol = 1e-6 + 1e-6 * sum(abs(x) for x in r)
    assert abs(g - expected) <= tol, (g, expected)


@SETTINGS
@given(sequences())
def test_matches_python_loop(seq):
    r, terminated, done, gamma = seq
    g, discount, last = run(*seq)
    g_ref, discount_ref, last_ref = reference(r, terminated, done, f32(gamma))
    assert last == last_ref
    assert_return_close(g, g_ref, r)
    assert math.isclose(discount, discount_ref, rel_tol=1e-6, abs_tol=DISCOUNT_ATOL), (
        discount,
        discount_ref,
    )
    assert 0.0 <= discount <= 1.0


@SETTINGS
@given(sequences(dones=False))
def test_no_episode_end_sums_all_and_bootstraps_with_gamma_n(seq):
    r, _, _, gamma = seq
    n = len(r)
    g, discount, last = run(*seq)
    assert last == n - 1
    assert math.isclose(discount, f32(gamma) ** n, rel_tol=1e-6, abs_tol=DISCOUNT_ATOL)
    assert_return_close(g, sum(f32(gamma) ** k * x for k, x in enumerate(r)), r)


@SETTINGS
@given(sequences(), st.data())
def test_termination_at_k_sums_k_plus_one_rewards_and_does_not_bootstrap(seq, data):
    r, _, _, gamma = seq
    n = len(r)
    k = data.draw(st.integers(0, n - 1), label="k")
    done = [False] * k + [True] + [data.draw(st.booleans()) for _ in range(n - k - 1)]
    terminated = [False] * k + [True] + [d and data.draw(st.booleans()) for d in done[k + 1 :]]
    g, discount, last = run(r, terminated, done, gamma)
    assert last == k
    assert discount == 0.0
    assert_return_close(g, sum(f32(gamma) ** j * r[j] for j in range(k + 1)), r)


@SETTINGS
@given(sequences(), st.data())
def test_truncation_at_k_bootstraps_with_gamma_k_plus_one(seq, data):
    r, _, _, gamma = seq
    n = len(r)
    k = data.draw(st.integers(0, n - 1), label="k")
    done = [False] * k + [True] + [data.draw(st.booleans()) for _ in range(n - k - 1)]
    terminated = [False] * (k + 1) + [d and data.draw(st.booleans()) for d in done[k + 1 :]]
    g, discount, last = run(r, terminated, done, gamma)
    assert last == k
    assert math.isclose(discount, f32(gamma) ** (k + 1), rel_tol=1e-6, abs_tol=DISCOUNT_ATOL)
    assert_return_close(g, sum(f32(gamma) ** j * r[j] for j in range(k + 1)), r)


@SETTINGS
@given(sequences(), st.data())
def test_rewards_after_the_episode_end_do_not_count(seq, data):
    r, terminated, done, gamma = seq
    if not any(done):
        return
    last = done.index(True)
    other = [x if j <= last else data.draw(rewards) for j, x in enumerate(r)]
    assert run(r, terminated, done, gamma) == run(other, terminated, done, gamma)
