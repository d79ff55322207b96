"""The engine on 4 (virtual CPU) devices, run in a subprocess by the tests.

``XLA_FLAGS=--xla_force_host_platform_device_count=4`` must be set before jax is imported,
so this runs as its own process. Two modes:

- ``sweep NPZ`` (``tests/test_sweep.py``): trains the test's sweep through the engine sharded
  over the 4 devices and saves the results to ``NPZ``.
- ``run ARGS...`` (``tests/test_cli.py``): ``purejaxdqn.run.main(ARGS)``, the command line
  in this process.

Either prints one JSON line (``RESULT {...}``) describing how the engine's outputs were
sharded: every device array the engine copies to the host is recorded on its way.
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

from purejaxdqn.engine import engine as engine_lib  # noqa: E402
from purejaxdqn.engine import loop as loop_lib  # noqa: E402

_SEEN: list[jax.Array] = []
_tree_to_host = loop_lib.tree_to_host


def _recording_tree_to_host(tree):
    _SEEN.extend(x for x in jax.tree.leaves(tree) if isinstance(x, jax.Array))
    return _tree_to_host(tree)


loop_lib.tree_to_host = _recording_tree_to_host  # the engine's outputs pass through here


def sharding_info() -> dict:
    """How the arrays the engine brought to the host were laid out."""
    return {
        "devices": len(jax.devices()),
        "arrays": len(_SEEN),
        "device_sets": sorted({len(x.sharding.device_set) for x in _SEEN}),
        "shard_rows": sorted({s.data.shape[0] for x in _SEEN for s in x.addressable_shards}),
        "global_rows": sorted({x.shape[0] for x in _SEEN}),
        "fully_replicated": any(x.sharding.is_fully_replicated for x in _SEEN),
    }


def sweep(path: str) -> dict:
    from chain_env import Chain
    from test_sweep import GRID, SEEDS, chain_config

    from purejaxdqn import report, search_space
    from purejaxdqn.dqn import make_dqn
    from purejaxdqn.engine.layout import RunAxis

    config = chain_config()
    points = search_space.grid_points(search_space.parse_grid(GRID))
    axis = RunAxis(tuple(search_space.point_configs(config, points)), SEEDS, 0)
    result = engine_lib.execute(lambda progress: make_dqn(config, Chain(), None, progress), axis)
    by_point = report.points_of(result, axis)
    per_point = [jax.tree.leaves(p.params) for p in by_point]
    np.savez(
        path,
        eval_return=np.stack([p.rows["eval_return"] for p in by_point]),
        **{f"param{i}": np.stack(x) for i, x in enumerate(zip(*per_point, strict=True))},
    )
    return {
        "layout_devices": result.layout.devices,
        "padded_runs": result.layout.padded_runs,
        "groups": result.layout.groups,
    }


def run(argv: list[str]) -> dict:
    from purejaxdqn import run as run_lib

    return {"rc": run_lib.main(argv)}


if __name__ == "__main__":
    mode, rest = sys.argv[1], sys.argv[2:]
    info = sweep(rest[0]) if mode == "sweep" else run(rest)
    print("RESULT " + json.dumps({**info, **sharding_info()}), flush=True)
