"""A sweep on 4 (virtual CPU) devices, run in a subprocess by ``tests/test_sweep.py``.

``XLA_FLAGS=--xla_force_host_platform_device_count=4`` must be set before jax is imported,
so this runs as its own process. It trains the test's sweep sharded over the 4 devices,
saves the results to the ``.npz`` file given as the argument and prints one JSON line
(``RESULT {...}``) describing how the outputs are sharded.
"""

from __future__ import annotations

import json
import os
import sys

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"
).strip()

import jax  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_sweep import GRID, SEEDS, chain_config  # noqa: E402

from purejaxdqn import sweep  # noqa: E402


def main(path: str) -> None:
    from chain_env import Chain

    points = sweep.grid_points(sweep.parse_grid(GRID))
    result = sweep.run_sweep(chain_config(), points, SEEDS, env=Chain())
    (output,) = result.outputs
    leaves = jax.tree.leaves(output)
    np.savez(
        path,
        eval_return=result.eval_return,
        **{f"param{i}": x for i, x in enumerate(jax.tree.leaves(result.params))},
    )
    info = {
        "devices": len(jax.devices()),
        "plan_devices": result.plan.devices,
        "padded_runs": result.plan.padded_runs,
        "device_sets": sorted({len(x.sharding.device_set) for x in leaves}),
        "shard_rows": sorted({s.data.shape[0] for x in leaves for s in x.addressable_shards}),
        "global_rows": sorted({x.shape[0] for x in leaves}),
        "fully_replicated": any(x.sharding.is_fully_replicated for x in leaves),
    }
    print("RESULT " + json.dumps(info), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
