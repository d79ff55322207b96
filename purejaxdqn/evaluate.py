"""``python -m purejaxdqn.evaluate RUN_DIR``: roll saved greedy policies out in gymnasium.

The policies were trained on this project's JAX port of the env; here they act in
gymnasium's own env of the same name (for InvertedPendulum, C MuJoCo), which shows that what
was learned is the real task. All seeds act in lockstep: one batched Q-network call per step.

With ``--video`` it films greedy episodes instead (:mod:`purejaxdqn.video`): rolled out in
the JAX env the policy was trained on, rendered on the host, written to ``videos/``.
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
from purejaxdqn.cli.flags import OneLineArgumentParser, UsageError
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

    from purejaxdqn.dqn import make_dqn
    from purejaxdqn.envs.discrete import make_env

    config, _ = load_config(run_dir)
    env, env_params = make_env(config)
    network = make_dqn(config, env, env_params).network
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


def _int_list(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, got {text!r}") from None
    if width < 16 or height < 16 or width % 2 or height % 2:
        raise argparse.ArgumentTypeError(
            f"frames must be at least 16x16 with even sides (H.264), got {text!r}"
        )
    return width, height


def _parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(
        prog="python -m purejaxdqn.evaluate",
        description="Roll a run's saved greedy policies out in gymnasium's own env, or "
        "(--video) film greedy episodes in the JAX env the run trained on.",
    )
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--episodes", type=int, default=10, help="episodes per seed")
    parser.add_argument("--env", type=str, default=None, help="gymnasium env id (default: run's)")
    video = parser.add_argument_group("videos (written to RUN_DIR/videos/)")
    video.add_argument("--video", action="store_true", help="render videos instead")
    video.add_argument("--video-seeds", type=_int_list, default=[0], help="e.g. 0,3 (default 0)")
    video.add_argument("--video-episodes", type=int, default=1, help="episodes per video")
    video.add_argument("--video-format", default="mp4", help="mp4, gif or mp4,gif")
    video.add_argument("--video-fps", type=float, default=None, help="default: real time")
    video.add_argument("--video-size", type=_size, default=None, help="WIDTHxHEIGHT")
    video.add_argument("--video-key", type=int, default=0, help="PRNG seed of the episodes")
    return parser


def _main_video(args: argparse.Namespace) -> int:
    from purejaxdqn.video.record import VIDEO_DIR, VIDEO_REPORT, record_videos

    if args.env is not None:
        raise ConfigError("--env names a gymnasium env; --video films the run's own env")
    if args.video_fps is not None and not args.video_fps > 0:
        raise ConfigError(f"--video-fps must be > 0, got {args.video_fps}")
    formats = [f.strip().lower() for f in args.video_format.split(",") if f.strip()]
    report = record_videos(
        args.run_dir, args.video_seeds, args.video_episodes, formats, args.video_fps,
        args.video_size, args.video_key,
    )  # fmt: skip
    print(f"{report['env']}: greedy episodes in the JAX env, {report['fps']:g} fps")
    rows = []
    for entry in report["seeds"]:
        eps = entry["episodes"]
        returns = ", ".join(f"{fmt_float(ep['return'])} ({ep['length']} steps)" for ep in eps)
        rows.append((f"seed {entry['seed']}", f"{returns} -> {', '.join(entry['files'])}"))
    rows.append(("written", str(args.run_dir / VIDEO_DIR / VIDEO_REPORT)))
    print(format_table(rows))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit code (2 and one line on stderr for bad input)."""
    try:
        args = _parser().parse_args(argv)
        if args.episodes < 1:
            raise ConfigError(f"--episodes must be >= 1, got {args.episodes}")
        if not (args.run_dir / "params.msgpack").exists():
            raise ConfigError(f"{args.run_dir}: no params.msgpack (not a finished run directory)")
        if args.video:
            return _main_video(args)
        report = rollout_gymnasium(args.run_dir, args.episodes, args.env)
    except (ConfigError, UsageError) as e:
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
