"""``evaluate RUN_DIR --video``: greedy episodes of chosen seeds to ``videos/seed_<s>.mp4``.

The rollout is this project's JAX env (the one the policy was trained and evaluated on
during training), stepped by :func:`purejaxdqn.video.rollout.greedy_episodes`; the
returns, lengths and actions in ``videos/videos.json`` are those of the very episodes the
frames show. A seed's video holds its episodes one after another, each as ``length + 1``
frames: the first observation and the one every step reached (the last one the state that
ended the episode, before the automatic reset).
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from purejaxdqn.config import Config, ConfigError
from purejaxdqn.rundir import files
from purejaxdqn.rundir.atomic import atomic_write_text
from purejaxdqn.video.writer import FORMATS, write_video

#: The folder of a run directory that videos go to.
VIDEO_DIR = "videos"
#: The report written beside the videos.
VIDEO_REPORT = "videos.json"


def episode_keys(key_seed: int, seeds: Sequence[int], episodes: int) -> Any:
    """``[len(seeds), episodes]`` keys: ``fold_in(fold_in(key(key_seed), s), e)``."""
    import jax

    base = jax.random.key(key_seed)
    per_seed = [jax.random.fold_in(base, s) for s in seeds]
    return jax.numpy.stack(
        [jax.numpy.stack([jax.random.fold_in(k, e) for e in range(episodes)]) for k in per_seed]
    )


def check_request(seeds: Sequence[int], episodes: int, formats: Sequence[str], num_seeds: int):
    """Raises :class:`ConfigError` (one line) for seeds out of range or unknown formats."""
    if not seeds:
        raise ConfigError("--video-seeds: give at least one seed")
    bad = [s for s in seeds if not 0 <= s < num_seeds]
    if bad:
        raise ConfigError(
            f"--video-seeds {','.join(map(str, bad))}: the run has seeds 0..{num_seeds - 1}"
        )
    if episodes < 1:
        raise ConfigError(f"--video-episodes must be >= 1, got {episodes}")
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ConfigError(
            f"--video-format: choose from {','.join(FORMATS)}, got {','.join(formats) or '(none)'}"
        )


def record_videos(
    run_dir: Path,
    seeds: Sequence[int] = (0,),
    episodes: int = 1,
    formats: Sequence[str] = ("mp4",),
    fps: float | None = None,
    size: tuple[int, int] | None = None,
    key_seed: int = 0,
) -> dict[str, Any]:
    """Renders greedy episodes of ``seeds`` into ``run_dir/videos/``.

    Args:
      run_dir: a finished run directory (``params.msgpack``).
      seeds: the run's seed indices to film.
      episodes: episodes per seed, one after another in the seed's video.
      formats: ``"mp4"`` and/or ``"gif"``.
      fps: frames per second (default: the env's real time, e.g. 25 for the pendulum).
      size: ``(width, height)`` of pendulum frames; for grids the width (see
        :func:`purejaxdqn.video.render.make_renderer`).
      key_seed: episode ``e`` of seed ``s`` starts from
        ``fold_in(fold_in(key(key_seed), s), e)``.

    Returns:
      The report written to ``videos/videos.json``: per seed its files and, per episode,
      ``return``, ``length``, ``frames`` (``length + 1``), ``first_frame`` (its index in the
      video), ``initial_observation`` and ``actions``.

    Raises:
      ConfigError: an env that cannot be rendered, seeds out of range, bad formats.
    """
    import jax

    from purejaxdqn.envs.discrete import make_env
    from purejaxdqn.video.render import cannot_render_reason, make_renderer
    from purejaxdqn.video.rollout import MAX_VIDEO_STEPS

    fields, _ = files.read_config_file(run_dir / "config.json")
    config = Config.from_dict(fields)
    env, env_params = make_env(config)
    reason = cannot_render_reason(env, env_params)
    if reason is not None:
        raise ConfigError(reason)
    if env.max_episode_steps(env_params) > MAX_VIDEO_STEPS:
        raise ConfigError(f"cannot film {config.env}: episodes longer than {MAX_VIDEO_STEPS} steps")
    params = files.load_params(run_dir)
    check_request(seeds, episodes, formats, len(jax.tree.leaves(params)[0]))
    try:
        with warnings.catch_warnings():  # GLFW's own warnings, when it has no display
            warnings.simplefilter("ignore")
            renderer = make_renderer(env, env_params, size=size, fps=fps)
    except Exception as e:  # no OpenGL context: a missing library, no display
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ConfigError(
            f"cannot render {config.env}: MuJoCo has no OpenGL context ({first}); headless "
            "needs OSMesa (apt-get install libosmesa6) or MUJOCO_GL=egl with a GPU"
        ) from e
    try:
        return _film(run_dir, config, env, env_params, params, renderer, seeds, episodes,
                     formats, key_seed)  # fmt: skip
    finally:
        renderer.close()


def _film(
    run_dir: Path,
    config: Config,
    env: Any,
    env_params: Any,
    params: Any,
    renderer: Any,
    seeds: Sequence[int],
    episodes: int,
    formats: Sequence[str],
    key_seed: int,
) -> dict[str, Any]:
    """Rolls the chosen seeds' episodes out, films them, writes ``videos.json``."""
    import jax

    from purejaxdqn.algorithms import make_trainer
    from purejaxdqn.video.rollout import make_recorder

    chosen = jax.tree.map(lambda leaf: leaf[np.asarray(seeds)], params)
    network = make_trainer(config, env, env_params).network
    record = make_recorder(env, env_params, network.apply)  # type: ignore[arg-type]
    t0 = time.perf_counter()
    out = record(chosen, episode_keys(key_seed, seeds, episodes))
    observations, lengths = np.asarray(out.observations), np.asarray(out.length)
    rollout_s = time.perf_counter() - t0
    out_dir = run_dir / VIDEO_DIR
    out_dir.mkdir(exist_ok=True)
    report: dict[str, Any] = {
        "env": config.env,
        "rollout": "jax (the env trained on), greedy",
        "key_seed": key_seed,
        "fps": renderer.fps,
        "frames_per_episode": "length + 1 (first observation, then one per step)",
        "seeds": [],
    }
    render_s = 0.0

    def frames_of(i: int) -> Iterator[np.ndarray]:
        nonlocal render_s
        for e in range(episodes):
            for obs in observations[i, e, : int(lengths[i, e]) + 1]:
                t = time.perf_counter()
                frame = renderer(obs)
                render_s += time.perf_counter() - t
                yield frame

    t_films = time.perf_counter()
    for i, seed in enumerate(seeds):
        rows: list[dict[str, Any]] = []
        first = 0
        for e in range(episodes):
            rows.append(_episode_row(out, i, e, int(lengths[i, e]), first_frame=first))
            first += int(lengths[i, e]) + 1
        paths = [out_dir / f"seed_{seed}.{f}" for f in formats]
        written = write_video(paths, frames_of(i), renderer.fps)
        report["seeds"].append({"seed": seed, "files": [p.name for p in written], "episodes": rows})
    films_s = time.perf_counter() - t_films
    report["width"], report["height"] = renderer.size
    report["seconds"] = {"rollout": rollout_s, "render": render_s, "write": films_s - render_s}
    atomic_write_text(out_dir / VIDEO_REPORT, json.dumps(report, indent=2) + "\n")
    return report


def _episode_row(out: Any, i: int, e: int, n: int, first_frame: int) -> dict[str, Any]:
    return {
        "episode": e,
        "return": float(out.returns[i, e]),
        "length": n,
        "frames": n + 1,
        "first_frame": first_frame,
        "initial_observation": np.asarray(out.observations[i, e, 0]).tolist(),
        "actions": np.asarray(out.actions[i, e, :n]).tolist(),
    }
