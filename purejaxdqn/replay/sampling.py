"""Uniform replay indices from one 32-bit random word each, without integer division.

``jax.random.randint`` makes each index from two random words and three integer
remainders. x86 has no vector integer division, so for a learner's 128 indices per run
those remainders cost more than the random bits: Flashbax's uniform sample (two
``randint`` calls, one for the time axis and one for its single-row batch axis) took 36 us
per block of 8 CartPole runs on one Zen 4 core, :func:`uniform_index` 16 us
(``benchmarks/README.md``).

:func:`uniform_index` maps a word ``u`` to ``floor(u * n / 2**32)`` (Lemire's
multiply-shift): every index in ``[0, n)`` gets ``floor(2**32 / n)`` or ``ceil(2**32 / n)``
of the ``2**32`` words, so its probability is ``1/n`` within a relative ``n / 2**32``
(``2.3e-6`` for a 10k replay, ``2.3e-4`` for 1M).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def mulhi_u32(u: jax.Array, v: jax.Array) -> jax.Array:
    """The high 32 bits of the 64-bit product ``u * v`` of two uint32 arrays (broadcast).

    Computed on 16-bit halves in uint32 arithmetic (no intermediate overflows), so it needs
    neither 64-bit types nor ``jax_enable_x64``.
    """
    u0, u1 = u & 0xFFFF, u >> 16
    v0, v1 = v & 0xFFFF, v >> 16
    t = u1 * v0 + ((u0 * v0) >> 16)
    w1 = u0 * v1 + (t & 0xFFFF)
    return u1 * v1 + (t >> 16) + (w1 >> 16)


def uniform_index(key: jax.Array, shape: tuple[int, ...], n: jax.Array | int) -> jax.Array:
    """Indices drawn uniformly from ``[0, n)``, int32 of ``shape``; all 0 where ``n`` is 0.

    Args:
      key: a PRNG key (used once).
      shape: the output shape.
      n: the number of valid indices, ``[]`` int (traced or static), ``0 <= n < 2**31``.
    """
    bits = jax.random.bits(key, shape, jnp.uint32)
    return mulhi_u32(bits, jnp.asarray(n).astype(jnp.uint32)).astype(jnp.int32)
