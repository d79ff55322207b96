"""Named types for the pytrees that flow through a run.

JAX state is made of pytrees whose structure depends on the env, the network and the buffer;
these aliases name what a value *is* where its structure is open.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import jax

#: A PRNG key (a typed ``jax.random.key``), shape ``[]`` or with leading batch axes.
PRNGKey: TypeAlias = jax.Array
#: Network variables: a nested dict of arrays as Flax linen produces.
Params: TypeAlias = Any
#: An env's parameters pytree (``env.default_params``); static across a run.
EnvParams: TypeAlias = Any
#: An env's state pytree (one env; ``[N]`` leading axes inside a trainer).
EnvState: TypeAlias = Any
#: A replay buffer's state pytree (Flashbax's item or trajectory buffer state).
BufferState: TypeAlias = Any
#: A nested structure of arrays.
PyTree: TypeAlias = Any
