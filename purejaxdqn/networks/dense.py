"""A dense layer whose backward pass picks a fast form for thin weight gradients.

:class:`Dense` has the parameters, initialization and forward pass of ``flax.linen.Dense``
(``kernel [in, out]``, lecun-normal; ``bias [out]``, zeros; ``y = x @ kernel + bias``), so
parameter trees, initial values and forward outputs are the same bits. Only its weight
gradient differs, and only in how it is computed:

* XLA:CPU hands ``x^T g`` (``x [N, in]``, ``g [N, out]``, contracting the batch) to an Eigen
  dot with a transposed operand. When ``out`` is small that dot is several times slower than
  the same sum written as ``out`` matrix-vector products: 65 vs 11 us for CleanRL CartPole's
  84 -> 2 head over a block of 8 runs of 128 samples, 407 vs 39 us for 256 -> 3, on one Zen 4
  core (``benchmarks/README.md``).
* When ``in`` is small (a 4-dimensional observation) the transposed ``x^T`` is materialized
  first (an optimization barrier keeps XLA from folding it back into the dot): 22 vs 15 us
  for 4 -> 120.

The sums run in another order than autodiff's dot, so gradients agree with it to float32
rounding, not bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax.linen.dtypes import promote_dtype

#: Weight gradients with at most this many output columns run as matrix-vector products.
THIN_OUT = 8
#: Weight gradients with at most this many input rows use a materialized ``x^T``.
THIN_IN = 16


def weight_grad(x: jax.Array, g: jax.Array) -> jax.Array:
    """``x^T g``, the weight gradient of ``x @ kernel``, in the form fastest for its shape.

    Args:
      x: layer inputs ``[N, in]``.
      g: output cotangents ``[N, out]``.

    Returns:
      ``[in, out]``.
    """
    n_in, n_out = x.shape[1], g.shape[1]
    if n_out <= THIN_OUT:
        return jnp.stack([jnp.einsum("nk,n->k", x, g[:, j]) for j in range(n_out)], axis=-1)
    if n_in <= THIN_IN:
        return jax.lax.optimization_barrier(x.T) @ g
    return x.T @ g


@jax.custom_vjp
def matmul(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """``x [..., in] @ kernel [in, out]`` -> ``[..., out]``, as ``flax.linen.Dense`` computes it.

    Its VJP takes the weight gradient from :func:`weight_grad`.
    """
    return jax.lax.dot_general(x, kernel, (((x.ndim - 1,), (0,)), ((), ())))


def _matmul_fwd(x: jax.Array, kernel: jax.Array) -> tuple[jax.Array, tuple]:
    return matmul(x, kernel), (x, kernel)


def _matmul_bwd(res: tuple, g: jax.Array) -> tuple[jax.Array, jax.Array]:
    x, kernel = res
    dx = jax.lax.dot_general(g, kernel, (((g.ndim - 1,), (1,)), ((), ())))
    return dx, weight_grad(x.reshape(-1, x.shape[-1]), g.reshape(-1, g.shape[-1]))


matmul.defvjp(_matmul_fwd, _matmul_bwd)


class Dense(nn.Module):
    """``flax.linen.Dense``'s parameters and forward pass, with :func:`matmul`'s backward.

    Attributes:
      features: output width.
      use_bias: whether to add a bias.
      kernel_init: the kernel's initializer (``flax.linen.Dense``'s default).
      bias_init: the bias's initializer (zeros).
      param_dtype: the parameters' dtype (float32, as ``flax.linen.Dense``).
    """

    features: int
    use_bias: bool = True
    kernel_init: Callable[..., Any] = nn.initializers.lecun_normal()
    bias_init: Callable[..., Any] = nn.initializers.zeros_init()
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        """``x [..., in]`` -> ``[..., features]``."""
        kernel = self.param(
            "kernel", self.kernel_init, (jnp.shape(x)[-1], self.features), self.param_dtype
        )
        if not self.use_bias:
            x, kernel = promote_dtype(x, kernel)
            return matmul(x, kernel)
        bias = self.param("bias", self.bias_init, (self.features,), self.param_dtype)
        x, kernel, bias = promote_dtype(x, kernel, bias)
        y = matmul(x, kernel)
        return y + jnp.reshape(bias, (1,) * (y.ndim - 1) + (-1,))
