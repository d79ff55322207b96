"""Peer worker for ``benchmarks/pqn_peer.py``: purejaxql's PQN (``pqn_gymnax.py``), all seeds
vmapped, compile timed apart from training.

Runs in purejaxql's own virtual environment, with a checkout of purejaxql (github
mttga/purejaxql, measured at commit 47af6d7b35c89ddfe633aaf7341bdb8964cb7cce) on
``--src``. purejaxql is not on PyPI and pins jax <= 0.4.38; it was run here with the
versions that this project uses where they overlap (installed with pip into its own venv)::

    jax==0.10.2 jaxlib==0.10.2 flax==0.12.8 optax==0.2.8 chex==0.1.92 numpy==2.4.6
    gymnax==0.0.9 six==1.17.0 hydra-core==1.3.8 omegaconf==2.3.1 wandb==0.31.0
    safetensors==0.8.0

gymnax 0.0.9 (its pyproject names 0.0.6 for these envs): ``pqn_gymnax.py`` unpacks the
five-value ``step`` of gymnax 0.0.x (one ``done``), which gymnax 1.x (this project's, six
values) no longer returns; six is a missing dependency of gymnax 0.0.9's MNIST bandit.

The config is composed by Hydra exactly as ``python purejaxql/pqn_gymnax.py +alg=<alg>
NUM_SEEDS=<S> SAVE_PATH=null WANDB_MODE=disabled`` composes it, then the script's own
``single_run`` is reproduced step by step: ``jax.jit(jax.vmap(make_train(config)))`` over
``jax.random.split(PRNGKey(SEED), NUM_SEEDS)``, here lowered and compiled ahead of time
(timed: ``compile_seconds``) and then called once (timed with ``block_until_ready``:
``train_seconds``). Nothing is saved (``SAVE_PATH=null``), wandb is off, so no host
callback runs. The in-training greedy tests (128 envs x 500 steps every 5% of the updates)
are part of purejaxql's program and so of ``train_seconds``.

Final return: purejaxql's own greedy metric ``test/returned_episode_returns`` at the last
update, per seed: the mean return of the episodes that ended within its last test window
(128 envs, ``max_steps_in_episode`` steps, eps 0). The last test runs at the last update
that is a multiple of ``int(NUM_UPDATES * TEST_INTERVAL)`` (CartPole: update 240 of 244),
and the metric is held after it. Prints one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", required=True, help="a purejaxql checkout (has purejaxql/)")
    ap.add_argument("--alg", default="pqn_cartpole", help="purejaxql/config/alg/<alg>.yaml")
    ap.add_argument("--seeds", type=int, default=16, help="NUM_SEEDS")
    ap.add_argument("--override", action="append", default=[], help="more Hydra overrides")
    args = ap.parse_args()
    src = Path(args.src).resolve()
    if not (src / "purejaxql" / "pqn_gymnax.py").is_file():
        raise SystemExit(f"--src: {src} has no purejaxql/pqn_gymnax.py")
    sys.path.insert(0, str(src))

    t_import = time.perf_counter()
    import jax
    import numpy as np
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf
    from purejaxql.pqn_gymnax import make_train

    import_seconds = time.perf_counter() - t_import

    overrides = [
        f"+alg={args.alg}",
        f"NUM_SEEDS={args.seeds}",
        "SAVE_PATH=null",
        "WANDB_MODE=disabled",
        *args.override,
    ]
    with initialize_config_dir(config_dir=str(src / "purejaxql" / "config"), version_base=None):
        cfg = compose(config_name="config", overrides=overrides)
    config = OmegaConf.to_container(cfg)
    config = {**config, **config["alg"]}  # as single_run does

    t0 = time.perf_counter()
    rngs = jax.random.split(jax.random.PRNGKey(config["SEED"]), config["NUM_SEEDS"])
    train = make_train(config)  # adds NUM_UPDATES etc. to config
    compiled = jax.jit(jax.vmap(train)).lower(rngs).compile()
    compile_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    outs = jax.block_until_ready(compiled(rngs))
    train_seconds = time.perf_counter() - t0

    metrics = jax.tree_util.tree_map(np.asarray, outs["metrics"])  # leaves [S, NUM_UPDATES]
    num_updates = int(config["NUM_UPDATES"])
    per_update = int(config["NUM_STEPS"]) * int(config["NUM_ENVS"])
    test_every = int(num_updates * config["TEST_INTERVAL"])
    last_test_update = (num_updates // test_every) * test_every
    tests = 1 + num_updates // test_every  # the one before training included
    test_env_steps = tests * int(config["TEST_NUM_ENVS"]) * int(config["TEST_NUM_STEPS"])
    final = metrics["test/returned_episode_returns"][:, -1]
    train_ret = metrics["returned_episode_returns"][:, -1]
    curve = metrics["test/returned_episode_returns"][:, test_every - 1 :: test_every]
    print(
        f"purejaxql: compile {compile_seconds:.1f}s, train {train_seconds:.1f}s, "
        f"final test return mean {float(np.mean(final)):.1f}",
        file=sys.stderr,
    )
    print(
        json.dumps(
            {
                "tool": "purejaxql",
                "version": "47af6d7b (pqn_gymnax.py)",
                "backend": f"jax {jax.__version__} on {jax.devices()[0].platform}",
                "config": {k: v for k, v in config.items() if k != "alg"},
                "overrides": overrides,
                "import_seconds": import_seconds,
                "compile_seconds": compile_seconds,
                "train_seconds": train_seconds,
                "seeds": int(config["NUM_SEEDS"]),
                "steps_per_seed": num_updates * per_update,
                "test_env_steps_per_seed": test_env_steps,
                "last_test_at_env_steps": last_test_update * per_update,
                "test_curve_env_steps": [
                    u * per_update for u in range(test_every, num_updates + 1, test_every)
                ],
                "test_curve": curve.tolist(),
                "grad_steps_per_seed": int(metrics["grad_steps"][0, -1]),
                "per_seed": [
                    {"seed": i, "final_return": float(r), "train_return": float(t)}
                    for i, (r, t) in enumerate(zip(final, train_ret, strict=True))
                ],
            }
        )
    )


if __name__ == "__main__":
    main()
