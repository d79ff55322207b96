"""One process of the tests' sweeps on two processes (``tests/test_multihost.py``).

``python multihost_worker.py MODE SWEEP_ARGS...`` registers the chain MDP under
:data:`ENV` and runs ``purejaxdqn.sweep.main(SWEEP_ARGS)``. MODE ``multi``: one CPU device,
joined to the other process by the ``--coordinator`` flags in SWEEP_ARGS; ``single``: the
reference, one process with 2 virtual CPU devices (the same runs per device).
"""

from __future__ import annotations

import os
import sys

if sys.argv[1] == "single":  # before jax is imported
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"
    ).strip()

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from chain_env import Chain  # noqa: E402

from purejaxdqn import envs, sweep  # noqa: E402
from purejaxdqn.cli import distributed  # noqa: E402

ENV = "chain-multihost-test"

if __name__ == "__main__":
    # Join before registering: registering imports gymnax, whose import computes (and so
    # starts the XLA backend, after which jax.distributed.initialize refuses).
    args, _ = sweep.build_parser().parse_known_args(sys.argv[2:])
    distributed.initialize(args)
    envs.register(ENV, lambda: (Chain(), None))
    sys.exit(sweep.main(sys.argv[2:]))
