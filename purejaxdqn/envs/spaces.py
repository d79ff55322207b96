"""Action and observation spaces: static descriptions, never traced."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


@dataclasses.dataclass(frozen=True)
class Discrete:
    """The actions ``0, 1, ..., n - 1``.

    Attributes:
      n: number of actions.
    """

    n: int

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one action: ``()``."""
        return ()

    @property
    def dtype(self) -> Any:
        """Action dtype: ``int32``."""
        return jnp.int32

    def sample(self, key: jax.Array) -> jax.Array:
        """A uniformly random action, shape ``[]``."""
        return jax.random.randint(key, (), 0, self.n, dtype=jnp.int32)

    def contains(self, x: jax.Array) -> jax.Array:
        """Whether ``x`` is an action: a whole number in ``[0, n)``, a bool array."""
        x = jnp.asarray(x)
        return jnp.logical_and(x >= 0, x < self.n) & (jnp.floor(x) == x)


@dataclasses.dataclass(frozen=True, eq=False)
class Box:
    """A box ``low <= x <= high`` of a fixed shape.

    Attributes:
      low: lower bound, a scalar or a NumPy array of ``shape``.
      high: upper bound, a scalar or a NumPy array of ``shape``.
      shape: shape of one element.
      dtype: element dtype.
    """

    low: Any
    high: Any
    shape: tuple[int, ...]
    dtype: Any = jnp.float32

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))
        low = np.broadcast_to(np.asarray(self.low, dtype=np.float64), self.shape)
        high = np.broadcast_to(np.asarray(self.high, dtype=np.float64), self.shape)
        if np.any(low > high):
            raise ValueError(f"Box: low must be <= high, got low={low}, high={high}")
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)

    @property
    def bounded(self) -> bool:
        """Whether every dimension has finite bounds on both sides."""
        return bool(np.all(np.isfinite(self.low)) and np.all(np.isfinite(self.high)))

    def sample(self, key: jax.Array) -> jax.Array:
        """A uniform sample of shape ``shape`` (bounded boxes only)."""
        if not self.bounded:
            raise ValueError("Box.sample needs finite bounds")
        return jax.random.uniform(
            key, self.shape, self.dtype, jnp.asarray(self.low), jnp.asarray(self.high)
        )

    def contains(self, x: jax.Array) -> jax.Array:
        """Whether every element of ``x`` lies within the bounds, a bool ``[]`` array."""
        x = jnp.asarray(x)
        return jnp.all((x >= self.low) & (x <= self.high))

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Box)
            and self.shape == other.shape
            and np.array_equal(self.low, other.low)
            and np.array_equal(self.high, other.high)
            and jnp.dtype(self.dtype) == jnp.dtype(other.dtype)
        )

    def __hash__(self) -> int:
        return hash((self.shape, self.low.tobytes(), self.high.tobytes()))


Space = Discrete | Box
