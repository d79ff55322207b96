"""Threefry on XLA:CPU without its rolled loop: the same bits, fewer loop iterations.

JAX lowers ``threefry2x32`` (behind every ``jax.random`` call with the default key
implementation) on CPU as a ``while`` loop over its 5 rounds, to keep compile times down;
on GPU and TPU it emits the rounds unrolled. In these runs the random calls are small and
frequent (sampling a batch, ε-greedy, env resets: several per env step), so on CPU each
one costs 5 loop iterations of thunk dispatch. :func:`use_unrolled` registers JAX's own
unrolled lowering for CPU as well. The arithmetic is the same, so every random bit, and
hence every run, is unchanged (``tests/test_threefry_cpu.py``); a 1-seed CleanRL CartPole
run gains 12-21% env-steps/s on the project's CPU, its compile time unchanged
(``benchmarks/README.md``).

This uses JAX internals (``jax._src``): if they move, :func:`use_unrolled` returns ``False``
and JAX's lowering stays. The command lines call it; ``PUREJAXDQN_ROLLED_THREEFRY=1`` keeps
JAX's rolled loop.
"""

from __future__ import annotations

import os

ENV_VAR = "PUREJAXDQN_ROLLED_THREEFRY"

_done = False


def use_unrolled() -> bool:
    """Registers the unrolled threefry lowering for CPU (once); whether it is in use.

    Programs compiled before the call keep the lowering they were compiled with.
    """
    global _done
    if _done:
        return True
    if os.environ.get(ENV_VAR, "") not in ("", "0"):
        return False
    try:
        from jax._src.interpreters import mlir
        from jax._src.random import threefry2x32 as threefry

        rule = threefry._threefry2x32_lowering_rule
        mlir.register_lowering(threefry.threefry2x32_p, rule, platform="cpu", inline=False)
    except (ImportError, AttributeError, TypeError):
        return False
    _done = True
    return True
