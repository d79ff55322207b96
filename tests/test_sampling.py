"""``purejaxdqn.replay.sampling`` and the uniform replay's sample, against NumPy.

* ``mulhi_u32`` equals the high word of NumPy's exact uint64 product for random words and
  multipliers from 0 to ``2**32 - 1``.
* ``uniform_index`` is ``floor(bits * n / 2**32)`` of ``jax.random.bits`` (NumPy, uint64),
  stays in ``[0, n)``, gives 0 for ``n = 0``, works for a traced ``n`` under ``vmap``, and
  its frequencies over 200k draws are within 5 standard errors of ``1/n``.
* The uniform replay samples only stored transitions: before the ring is full, only the
  first ``current_index`` slots; after, all of them with frequencies within 5 standard errors.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from purejaxdqn.replay import Transition, uniform_replay
from purejaxdqn.replay.sampling import mulhi_u32, uniform_index


def _hi_ref(u: np.ndarray, v: np.ndarray | int) -> np.ndarray:
    return ((u.astype(np.uint64) * np.uint64(v)) >> np.uint64(32)).astype(np.uint32)


def test_mulhi_matches_numpy_uint64() -> None:
    rng = np.random.default_rng(0)
    u = rng.integers(0, 2**32, size=4096, dtype=np.uint64).astype(np.uint32)
    for v in [0, 1, 2, 3, 0xFFFF, 0x10000, 0x10001, 10_000, 1_000_003, 2**31 - 1, 2**32 - 1]:
        got = np.asarray(mulhi_u32(jnp.asarray(u), jnp.uint32(v)))
        np.testing.assert_array_equal(got, _hi_ref(u, v))
    vs = rng.integers(0, 2**32, size=4096, dtype=np.uint64).astype(np.uint32)
    got = np.asarray(mulhi_u32(jnp.asarray(u), jnp.asarray(vs)))
    np.testing.assert_array_equal(got, ((u.astype(np.uint64) * vs) >> 32).astype(np.uint32))


def test_uniform_index_is_multiply_shift_of_the_key_bits() -> None:
    key = jax.random.key(7)
    bits = np.asarray(jax.random.bits(key, (1000,), jnp.uint32))
    for n in [1, 2, 10, 9_999, 1_000_000]:
        got = np.asarray(uniform_index(key, (1000,), n))
        assert got.dtype == np.int32
        np.testing.assert_array_equal(got, _hi_ref(bits, n).astype(np.int32))
        assert got.min() >= 0 and got.max() < n
    np.testing.assert_array_equal(uniform_index(key, (5,), 0), np.zeros(5, np.int32))
    traced = jax.jit(jax.vmap(lambda n: uniform_index(key, (3,), n)))(jnp.array([1, 4, 0]))
    assert traced.shape == (3, 3) and int(traced[0].max()) == 0 and int(traced[2].max()) == 0


def test_uniform_index_frequencies() -> None:
    n, draws = 10, 200_000
    idx = np.asarray(uniform_index(jax.random.key(1), (draws,), n))
    freq = np.bincount(idx, minlength=n) / draws
    se = np.sqrt((1 / n) * (1 - 1 / n) / draws)
    assert np.all(np.abs(freq - 1 / n) < 5 * se)


def _stored(capacity: int, adds: int, envs: int = 4) -> tuple[object, object]:
    buf = uniform_replay(capacity, batch_size=16)
    ex = Transition(jnp.zeros(()), jnp.int32(0), jnp.float32(0), jnp.zeros(()), jnp.bool_(False))
    state = buf.init(ex)
    for t in range(adds):  # item value = order of addition
        v = jnp.arange(envs, dtype=jnp.float32) + t * envs
        state = buf.add(state, Transition(v, v.astype(jnp.int32), v, v, v > 0))
    return buf, state


def test_uniform_replay_samples_only_stored_items() -> None:
    buf, state = _stored(capacity=40, adds=3)  # 12 of 40 slots written
    keys = jax.random.split(jax.random.key(2), 300)
    obs = np.asarray(jax.jit(jax.vmap(lambda k: buf.sample(state, k).experience.obs))(keys))
    assert set(np.unique(obs)) == set(np.arange(12.0))
    s = buf.sample(state, jax.random.key(3)).experience
    np.testing.assert_array_equal(s.action, np.asarray(s.obs).astype(np.int32))


def test_uniform_replay_full_ring_is_uniform() -> None:
    buf, state = _stored(capacity=20, adds=13)  # 52 items through 20 slots: the last 20 kept
    keys = jax.random.split(jax.random.key(4), 2000)
    obs = np.asarray(jax.jit(jax.vmap(lambda k: buf.sample(state, k).experience.obs))(keys))
    values, counts = np.unique(obs, return_counts=True)
    np.testing.assert_array_equal(values, np.arange(32.0, 52.0))
    p, total = 1 / 20, obs.size
    assert np.all(np.abs(counts / total - p) < 5 * np.sqrt(p * (1 - p) / total))
