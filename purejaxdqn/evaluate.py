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
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from purejaxdqn import config_checks, stats
from purejaxdqn.cli import flags
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
    import jax
    import jax.numpy as jnp

    from purejaxdqn.algorithms import make_trainer
    from purejaxdqn.envs.discrete import make_env

    config, _ = load_config(run_dir)
    env, env_params = make_env(config)
    network = make_trainer(config, env, env_params).network
    params, num_seeds = _load_params(run_dir, network, env.observation_space(env_params).shape)
    grid = np.asarray(env.actions) if hasattr(env, "actions") else None
    if env_id is None and ":" in config.env:
        raise ConfigError(
            f"the run's env {config.env!r} is not a gymnasium id: give --env the gymnasium "
            "env to evaluate in"
        )
    env_id = env_id or config.env
    gym_envs = _gym_envs(env_id, num_seeds)
    _check_spaces(env_id, gym_envs[0], config.env, env, env_params, grid)

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


def _load_params(run_dir: Path, network: Any, obs_shape: tuple[int, ...]) -> tuple[Any, int]:
    """Every seed's params from ``params.msgpack``, checked against the run's network.

    Raises:
      ConfigError: a damaged file, or params that do not fit the network the run's
        ``config.json`` builds.
    """
    import jax
    import jax.numpy as jnp

    path = run_dir / files.PARAMS_FILE
    try:
        params = files.load_params(run_dir)
        leaves = jax.tree.leaves(params)
        num_seeds = len(leaves[0])
        if not all(len(leaf) == num_seeds for leaf in leaves):
            raise ValueError("the leaves disagree on the number of seeds")
    except Exception as e:  # msgpack's and flax's errors: any failure to read the file
        raise ConfigError(f"{path}: damaged or not a params file ({_first_line(e)})") from None
    expected = jax.eval_shape(network.init, jax.random.key(0), jnp.zeros((1, *obs_shape)))
    got = jax.tree.map(lambda leaf: leaf.shape[1:], params)
    want = jax.tree.map(lambda s: tuple(s.shape), expected)
    same_tree = jax.tree.structure(got) == jax.tree.structure(want)  # type: ignore[operator]
    if not same_tree or got != want:
        raise ConfigError(
            f"{path}: the params do not fit the network of the run's config.json (another "
            "run's params, or a config.json edited after training)"
        )
    return params, num_seeds


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0]}" if text else type(e).__name__


def _gym_envs(env_id: str, num: int) -> list[Any]:
    """``num`` gymnasium envs ``env_id`` (a ConfigError if gymnasium cannot make one)."""
    import gymnasium as gym

    from purejaxdqn.envs.notes import quiet_third_party

    try:
        with quiet_third_party():
            return [gym.make(env_id) for _ in range(num)]
    except Exception as err:  # gymnasium's NameNotFound, a missing extra, a bad id
        raise ConfigError(
            f"gymnasium cannot make {env_id!r} to evaluate in ({_first_line(err)})"
        ) from None


def _check_spaces(
    env_id: str, gym_env: Any, trained_on: str, env: Any, env_params: Any, grid: Any
) -> None:
    """Refuses a gymnasium env whose observations or actions differ from the run's env."""
    import gymnasium as gym

    obs_shape = tuple(env.observation_space(env_params).shape)
    gym_obs = tuple(getattr(gym_env.observation_space, "shape", None) or ())
    if gym_obs != obs_shape:
        raise ConfigError(
            f"--env {env_id}: its observations {list(gym_obs)} do not match the "
            f"{list(obs_shape)} of {trained_on}, the env the run was trained on"
        )
    space = gym_env.action_space
    if grid is not None:
        ok = isinstance(space, gym.spaces.Box) and tuple(space.shape) == tuple(grid.shape[1:])
        want = f"Box actions of shape {list(grid.shape[1:])}"
    else:
        n = env.action_space(env_params).n
        ok = isinstance(space, gym.spaces.Discrete) and int(space.n) == int(n)
        want = f"Discrete({n}) actions"
    if not ok:
        raise ConfigError(
            f"--env {env_id}: its action space {space} does not match the {want} of "
            f"{trained_on}, the env the run was trained on"
        )


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


def build_parser() -> flags.OneLineArgumentParser:
    """The evaluate command's flags."""
    parser = flags.OneLineArgumentParser(
        prog="python -m purejaxdqn.evaluate",
        description="Roll a run's saved greedy policies out in gymnasium's own env, or "
        "(--video) film greedy episodes in the JAX env the run trained on.",
    )
    parser.add_argument("run_dir", type=str, help="a run directory (or a sweep's points/<p>)")
    parser.add_argument("--episodes", type=int, default=10, help="episodes per seed (default 10)")
    parser.add_argument(
        "--env", type=str, default=None, help="gymnasium env id (default: the run's env)"
    )
    video = parser.add_argument_group("videos (written to RUN_DIR/videos/)")
    video.add_argument("--video", action="store_true", help="render videos instead (default: off)")
    video.add_argument("--video-seeds", type=_int_list, default=[0], help="e.g. 0,3 (default 0)")
    video.add_argument(
        "--video-episodes", type=int, default=1, help="episodes per video (default 1)"
    )
    video.add_argument("--video-format", default="mp4", help="mp4, gif or mp4,gif (default mp4)")
    video.add_argument(
        "--video-fps", type=float, default=None, help="frames per second (default: real time)"
    )
    video.add_argument(
        "--video-size",
        type=_size,
        default=None,
        help="WIDTHxHEIGHT (default: 480x320 for the pendulum, 16 px per MinAtar cell)",
    )
    video.add_argument(
        "--video-key", type=int, default=0, help="PRNG seed of the episodes (default 0)"
    )
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
        args = build_parser().parse_args(argv)
        config_checks.check_path_text("run_dir", args.run_dir)
        run_dir = Path(args.run_dir)
        if args.episodes < 1:
            raise ConfigError(f"--episodes must be >= 1, got {args.episodes}")
        if args.env is not None and not args.env.strip():
            raise ConfigError("--env must not be empty")
        if not os.path.isfile(run_dir / files.PARAMS_FILE):  # False for unusable paths
            raise ConfigError(f"{run_dir}: no params.msgpack (not a finished run directory)")
        config_checks.read_size_ok("run_dir", str(run_dir / files.CONFIG_FILE))
        if not os.access(run_dir, os.W_OK | os.X_OK):
            raise ConfigError(f"{run_dir}: not writable (evaluate writes {EVALUATE_FILE} there)")
        if args.video:
            args.run_dir = run_dir
            return _main_video(args)
        report = rollout_gymnasium(run_dir, args.episodes, args.env)
    except (ConfigError, flags.UsageError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    args.run_dir = run_dir
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
