"""``python -m purejaxdqn.evaluate RUN_DIR``: roll saved greedy policies out in gymnasium.

The policies were trained on this project's JAX port of the env; here they act in
gymnasium's own env of the same name (for InvertedPendulum, C MuJoCo), which shows that what
was learned is the real task. All seeds act in lockstep: one batched Q-network call per step.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from purejaxdqn.config import REWARD_THRESHOLDS, Config, ConfigError, read_config_file

EVALUATE_FILE = "evaluate.json"


def load_config(run_dir: Path) -> tuple[Config, dict[str, Any]]:
    """The run's :class:`Config` and the run-level entries (``seeds``, ``seed``)."""
    fields, run = read_config_file(run_dir / "config.json")
    return Config.from_dict(fields), run


def rollout_gymnasium(
    run_dir: Path, episodes: int = 10, env_id: str | None = None, seed: int = 10_000
) -> dict[str, Any]:
    """Greedy returns of every saved seed's policy in gymnasium's env.

    Args:
      run_dir: a run directory written by ``purejaxdqn.run``.
      episodes: episodes per seed.
      env_id: gymnasium env id (default: the run's env name).
      seed: gymnasium reset seed of the first episode; episode ``e`` of policy ``s`` resets
        with ``seed + s * episodes + e``.

    Returns:
      A JSON-able dict: ``returns`` ``[S][episodes]``, ``mean_per_seed``, IQM with 95% CI,
      ``solved_fraction``.
    """
    import gymnasium as gym
    import jax
    import jax.numpy as jnp

    from purejaxdqn import results
    from purejaxdqn.train import make_dqn, make_env

    config, _ = load_config(run_dir)
    env, env_params = make_env(config)
    network = make_dqn(config, env, env_params).network
    params = results.load_params(run_dir)
    num_seeds = len(jax.tree.leaves(params)[0])
    grid = np.asarray(env.actions) if hasattr(env, "actions") else None
    env_id = env_id or config.env
    try:
        gym_envs = [gym.make(env_id) for _ in range(num_seeds)]
    except gym.error.Error as e:
        raise ConfigError(f"gymnasium has no env {env_id!r} to evaluate in ({e})") from e

    q_fn = jax.jit(jax.vmap(network.apply))
    returns = np.zeros((num_seeds, episodes))
    for ep in range(episodes):
        obs = np.stack([e.reset(seed=seed + s * episodes + ep)[0] for s, e in enumerate(gym_envs)])
        done = np.zeros(num_seeds, bool)
        while not done.all():
            q = np.asarray(q_fn(params, jnp.asarray(obs, jnp.float32)[:, None]))[:, 0]
            actions = q.argmax(-1)
            for s, e in enumerate(gym_envs):
                if done[s]:
                    continue
                a = grid[actions[s]] if grid is not None else int(actions[s])
                o, r, term, trunc, _ = e.step(a)
                obs[s] = o
                returns[s, ep] += r
                done[s] = term or trunc
    per_seed = returns.mean(axis=1)
    threshold = REWARD_THRESHOLDS.get(config.env)
    lo, hi = results.bootstrap_ci(per_seed)
    return {
        "env": env_id,
        "backend": "gymnasium",
        "episodes_per_seed": episodes,
        "returns": returns.tolist(),
        "mean_per_seed": per_seed.tolist(),
        "iqm": float(results.iqm(per_seed)),
        "ci95": [lo, hi],
        "reward_threshold": threshold,
        "solved_fraction": None if threshold is None else float(np.mean(per_seed >= threshold)),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m purejaxdqn.evaluate",
        description="Roll a run's saved greedy policies out in gymnasium's own env.",
    )
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--episodes", type=int, default=10, help="episodes per seed")
    parser.add_argument("--env", type=str, default=None, help="gymnasium env id (default: run's)")
    args = parser.parse_args(argv)
    try:
        if args.episodes < 1:
            raise ConfigError(f"--episodes must be >= 1, got {args.episodes}")
        if not (args.run_dir / "params.msgpack").exists():
            raise ConfigError(f"{args.run_dir}: no params.msgpack (not a finished run directory)")
        report = rollout_gymnasium(args.run_dir, args.episodes, args.env)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    from purejaxdqn import results

    results.atomic_write_text(args.run_dir / EVALUATE_FILE, json.dumps(report, indent=2) + "\n")
    print(f"{report['env']} in gymnasium, {args.episodes} episodes per seed:")
    for s, m in enumerate(report["mean_per_seed"]):
        print(f"  seed {s:3d}: {m:9.2f}")
    lo, hi = report["ci95"]
    rows = [("return IQM", f"{report['iqm']:.1f}  (95% CI {lo:.1f} .. {hi:.1f})")]
    if report["solved_fraction"] is not None:
        rows.append(("solved fraction", f"{report['solved_fraction']:.2f}"))
    rows.append(("written", str(args.run_dir / EVALUATE_FILE)))
    print(results.format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
