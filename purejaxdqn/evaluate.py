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

from purejaxdqn import stats
from purejaxdqn.cli.table import fmt_ci, fmt_float, format_table
from purejaxdqn.config import Config, ConfigError
from purejaxdqn.presets import REWARD_THRESHOLDS
from purejaxdqn.rundir import files
from purejaxdqn.rundir.atomic import atomic_write_text

EVALUATE_FILE = "evaluate.json"


def load_config(run_dir: Path) -> tuple[Config, dict[str, Any]]:
    """The run's :class:`Config` and the run-level entries (``seeds``, ``seed``)."""
    fields, run = files.read_config_file(run_dir / "config.json")
    return Config.from_dict(fields), run


def rollout_gymnasium(
    run_dir: Path, episodes: int = 10, env_id: str | None = None, seed: int = 10_000
) -> dict[str, Any]:
    """Greedy returns of every saved seed's policy in gymnasium's env.

    The in-graph greedy evaluation during training is
    :func:`purejaxdqn.acting.greedy_episode_returns`.

    Args:
      run_dir: a run directory written by ``purejaxdqn.run`` (or a sweep's ``points/<p>``).
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

    from purejaxdqn.algorithms import make_trainer
    from purejaxdqn.envs.discrete import make_env

    config, _ = load_config(run_dir)
    env, env_params = make_env(config)
    network = make_trainer(config, env, env_params).network
    params = files.load_params(run_dir)
    num_seeds = len(jax.tree.leaves(params)[0])
    grid = np.asarray(env.actions) if hasattr(env, "actions") else None
    env_id = env_id or config.env
    try:
        gym_envs = [gym.make(env_id) for _ in range(num_seeds)]
    except gym.error.Error as err:
        raise ConfigError(f"gymnasium has no env {env_id!r} to evaluate in ({err})") from err

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
    final = stats.final_return_stats(per_seed)
    return {
        "env": env_id,
        "backend": "gymnasium",
        "episodes_per_seed": episodes,
        "returns": returns.tolist(),
        "mean_per_seed": per_seed.tolist(),
        "iqm": final.iqm if final.finite else None,
        "ci95": list(final.ci95) if final.ci95 is not None else [None, None],
        "reward_threshold": threshold,
        "solved_fraction": None if threshold is None else float(np.mean(per_seed >= threshold)),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit code (2 and one line on stderr for bad input)."""
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
    atomic_write_text(args.run_dir / EVALUATE_FILE, json.dumps(report, indent=2) + "\n")
    print(f"{report['env']} in gymnasium, {args.episodes} episodes per seed:")
    for s, m in enumerate(report["mean_per_seed"]):
        print(f"  seed {s:3d}: {m:9.2f}")
    rows = [("return IQM", f"{fmt_float(report['iqm'])}  ({fmt_ci(report['ci95'])})")]
    if report["solved_fraction"] is not None:
        rows.append(("solved fraction", f"{report['solved_fraction']:.2f}"))
    rows.append(("written", str(args.run_dir / EVALUATE_FILE)))
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
