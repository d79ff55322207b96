"""XLA options the engine compiles its training programs with, per platform.

On CPU: ``xla_cpu_copy_insertion_use_region_analysis``. A training step carries the
optimizer's state through a ``while`` loop in place; XLA:CPU's default copy insertion
copies Adam's two ``[num_params]`` moment vectors before every update because the update
and the new moments read the old ones in separate fusions. The region analysis proves the
copies unneeded and drops them (141 -> 105 copies in the compiled program of the test's
small learner). Copies never change a value: the outputs are byte-identical
(``tests/test_compile_options.py``). On a quiet 2-core CPU (Zen 4) the learner of CleanRL's
CartPole config gained 2.4% in median over 12 rounds in one process; whole 64-seed runs of
that config stayed within the machine's noise (87.7k-103.2k with, 87.0k-97.6k env-steps/s
without, 3 runs each; ``benchmarks/README.md``).

An option that the user's ``XLA_FLAGS`` names is left to the user. If this jaxlib rejects an
option, the program is compiled without the options.
``PUREJAXDQN_XLA_OPTIONS=0`` compiles without any of them.
"""

from __future__ import annotations

import os
from typing import Any

import jax

ENV_VAR = "PUREJAXDQN_XLA_OPTIONS"

#: Platform -> compile options (``DebugOptions`` field names) the engine adds.
OPTIONS: dict[str, dict[str, bool]] = {
    "cpu": {"xla_cpu_copy_insertion_use_region_analysis": True},
}


def options_for(platform: str) -> dict[str, bool]:
    """The options for ``platform``, less those ``$XLA_FLAGS`` names (none if turned off)."""
    if os.environ.get(ENV_VAR, "1").strip() == "0":
        return {}
    flags = os.environ.get("XLA_FLAGS", "")
    return {k: v for k, v in OPTIONS.get(platform, {}).items() if k not in flags}


def compile_lowered(lowered: Any, platform: str) -> Any:
    """``lowered.compile()`` with :func:`options_for` ``platform``.

    Args:
      lowered: a ``jax.stages.Lowered``.
      platform: the devices' platform (``'cpu'``, ``'gpu'``, ``'tpu'``).

    Returns:
      The ``jax.stages.Compiled`` program. If this jaxlib rejects an option, it is compiled
      without the options.
    """
    options = options_for(platform)
    if options:
        try:
            return lowered.compile(compiler_options=options)
        except jax.errors.JaxRuntimeError as e:
            if "compile option" not in str(e):
                raise
    return lowered.compile()
