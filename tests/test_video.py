"""Videos (``evaluate RUN --video``): frame counts, the rendered geometry, playable files.

References: gymnasium's C-MuJoCo InvertedPendulum-v5 replaying the recorded actions (episode
lengths and returns), the model's geometry (pole angle and cart position in the pixels),
imageio's ffmpeg reader (the MP4), gymnax's own MinAtar display mapping (grid colours).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import purejaxdqn  # noqa: F401  (sets MUJOCO_GL=osmesa on a headless machine first)
from tests.tiny_run import python, tiny_pendulum_args

imageio = pytest.importorskip("imageio.v2")
pytest.importorskip("imageio_ffmpeg")

# imageio-ffmpeg's reader starts ffmpeg from this (JAX-using) process; it execs at once.
pytestmark = pytest.mark.filterwarnings("ignore:os.fork:RuntimeWarning")

SIZE = (160, 96)  # small frames keep the test fast


@pytest.fixture(scope="module")
def pendulum_videos(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("video") / "pendulum"
    out = python("-m", "purejaxdqn.run", *tiny_pendulum_args(400), "--out", str(run_dir), "--quiet")
    assert out.returncode == 0, out.stderr
    out = python(
        "-m", "purejaxdqn.evaluate", str(run_dir), "--video", "--video-seeds", "0,1",
        "--video-episodes", "2", "--video-format", "mp4,gif", "--video-size", "160x96",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stderr == "", out.stderr
    report = json.loads((run_dir / "videos" / "videos.json").read_text())
    return run_dir, report


def _mp4_frames(path: Path) -> np.ndarray:
    with imageio.get_reader(path, format="FFMPEG") as reader:
        meta = reader.get_meta_data()
        frames = np.stack(list(reader.iter_data()))
    assert meta["codec"] == "h264" and tuple(meta["size"]) == SIZE
    return frames


def test_mp4_is_playable_and_has_one_frame_per_step_plus_the_first(pendulum_videos):
    run_dir, report = pendulum_videos
    assert [s["seed"] for s in report["seeds"]] == [0, 1]
    for entry in report["seeds"]:
        lengths = [ep["length"] for ep in entry["episodes"]]
        assert all(1 <= n <= 1000 for n in lengths)
        frames = _mp4_frames(run_dir / "videos" / f"seed_{entry['seed']}.mp4")
        assert frames.shape == (sum(n + 1 for n in lengths), SIZE[1], SIZE[0], 3)
        gif = np.asarray(imageio.mimread(run_dir / "videos" / f"seed_{entry['seed']}.gif"))
        assert gif.shape[:3] == frames.shape[:3]
        # Not blank: every frame has structure, and the pole moves within the episode.
        assert frames.reshape(len(frames), -1).std(axis=1).min() > 10
        ep = entry["episodes"][0]
        assert np.abs(frames[0].astype(int) - frames[ep["length"]].astype(int)).max() > 50


def test_episodes_match_c_mujoco_replaying_the_recorded_actions(pendulum_videos):
    gym = pytest.importorskip("gymnasium")
    run_dir, report = pendulum_videos
    bins = json.loads((run_dir / "config.json").read_text())["bins"]
    grid = np.linspace(-3.0, 3.0, bins)
    for entry in report["seeds"]:
        for ep in entry["episodes"]:
            env = gym.make("InvertedPendulum-v5")
            env.reset(seed=0)
            init = np.asarray(ep["initial_observation"], np.float64)
            env.unwrapped.set_state(init[:2], init[2:])
            total, steps, done = 0.0, 0, False
            for a in ep["actions"]:
                assert not done
                _, r, term, trunc, _ = env.step(np.array([grid[a]]))
                total, steps, done = total + r, steps + 1, term or trunc
            assert done and steps == ep["length"] and ep["frames"] == steps + 1
            assert total == pytest.approx(ep["return"])


def _pole_angle_and_cart(image: np.ndarray) -> tuple[float, float]:
    """The pole's angle from the vertical (positive leaning right) from its cyan pixels'
    principal axis, and the yellow cart's centre column."""
    img = image.astype(int)
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    pole = (g > r + 40) & (b > r + 40)
    cart = (r > b + 40) & (g > b + 40)
    ys, xs = np.nonzero(pole)
    pts = np.stack([xs, -ys], 1).astype(float)  # y up
    pts -= pts.mean(0)
    axis = np.linalg.eigh(pts.T @ pts)[1][:, -1]
    axis = axis if axis[1] > 0 else -axis
    return float(np.arctan2(axis[0], axis[1])), float(np.nonzero(cart)[1].mean())


def test_drawn_pole_angle_and_cart_position_follow_the_state():
    from purejaxdqn.video.render import PendulumRenderer

    renderer = PendulumRenderer(480, 320)
    try:
        for x in (-0.4, 0.4):
            for theta in (-0.8, -0.3, 0.0, 0.3, 0.8):
                frame = renderer(np.array([x, theta, 0.0, 0.0]))
                angle, cart_col = _pole_angle_and_cart(frame)
                assert angle == pytest.approx(theta, abs=0.04), (x, theta)
                # The cart moves to the right in the image for x > 0, by a fixed scale.
                assert (cart_col - 240) * np.sign(x) > 30
        left = _pole_angle_and_cart(renderer(np.array([-0.4, 0.0, 0.0, 0.0])))[1]
        right = _pole_angle_and_cart(renderer(np.array([0.4, 0.0, 0.0, 0.0])))[1]
        assert left + right == pytest.approx(480, abs=4)  # symmetric about the centre
    finally:
        renderer.close()


def test_grid_colours_follow_gymnax_minatar_display():
    from purejaxdqn.video.render import GridRenderer

    rng = np.random.default_rng(0)
    obs = rng.random((10, 10, 4)) < 0.3
    frame = GridRenderer((10, 10, 4), cell=3)(obs.astype(np.float32))
    assert frame.shape == (30, 30, 3) and frame.dtype == np.uint8
    # gymnax's vis_minatar: cell value = highest active channel + 1 (0 when empty).
    index = np.amax(obs * np.reshape(np.arange(4) + 1, (1, 1, -1)), 2)
    colours = {}
    for i in range(10):
        for j in range(10):
            block = frame[3 * i : 3 * i + 3, 3 * j : 3 * j + 3].reshape(-1, 3)
            assert (block == block[0]).all()
            colours.setdefault(int(index[i, j]), set()).add(tuple(block[0]))
    assert all(len(c) == 1 for c in colours.values())  # one colour per index
    assert len({next(iter(c)) for c in colours.values()}) == len(colours)  # distinct
    assert colours[0] == {(0, 0, 0)}


def test_minatar_video_of_an_untrained_policy(tmp_path, capsys):
    # A run directory as purejaxdqn.run writes it, with a freshly initialised conv network
    # (training it first would only add a compile; any greedy policy films the same way).
    import jax

    from purejaxdqn import evaluate, make_dqn, make_env, preset
    from purejaxdqn.rundir import files

    config = preset("Breakout-MinAtar", conv=(4,), hidden=(8,))
    run_dir = tmp_path / "breakout"
    run_dir.mkdir()
    files.write_config(run_dir, {**config.to_dict(), **files.run_entries(1, 0, None)})
    env, env_params = make_env(config)
    network = make_dqn(config, env, env_params).network
    obs, _ = env.reset(jax.random.key(0), env_params)
    params = network.init(jax.random.key(1), obs[None])
    files.save_params(run_dir, jax.tree.map(lambda x: x[None], params))
    assert evaluate.main([str(run_dir), "--video", "--video-episodes", "2"]) == 0
    assert "seed_0.mp4" in capsys.readouterr().out
    episodes = json.loads((run_dir / "videos" / "videos.json").read_text())["seeds"][0]["episodes"]
    with imageio.get_reader(run_dir / "videos" / "seed_0.mp4", format="FFMPEG") as reader:
        frames = np.stack(list(reader.iter_data()))
    assert frames.shape == (sum(ep["length"] + 1 for ep in episodes), 160, 160, 3)
    assert frames.reshape(len(frames), -1).std(axis=1).min() > 10
    # The first frame is the first observation's grid: each 16x16 cell one colour, black
    # exactly where no channel is active.
    first = np.asarray(episodes[0]["initial_observation"]) > 0.5
    cells = frames[0].reshape(10, 16, 10, 16, 3)[:, 8, :, 8]
    assert np.array_equal(cells.max(-1) < 30, ~first.any(-1))


def test_unrenderable_env_and_bad_requests_exit_2(pendulum_videos, tmp_path, capsys):
    from purejaxdqn import evaluate

    run_dir, _ = pendulum_videos
    for flags, message in [
        (["--video-seeds", "5"], "--video-seeds 5: the run has seeds 0..1"),
        (["--video-format", "avi"], "--video-format: choose from mp4,gif, got avi"),
        (["--video-episodes", "0"], "--video-episodes must be >= 1, got 0"),
        (["--video-fps", "0"], "--video-fps must be > 0, got 0.0"),
        (
            ["--video-size", "481x320"],
            "argument --video-size: frames must be at least 16x16 "
            "with even sides (H.264), got '481x320'",
        ),
        (
            ["--video-seeds", "0,a"],
            "argument --video-seeds: expected comma-separated integers, got '0,a'",
        ),
        (["--env", "CartPole-v1"], "--env names a gymnasium env; --video films the run's own env"),
    ]:
        assert evaluate.main([str(run_dir), "--video", *flags]) == 2
        assert capsys.readouterr().err == f"error: {message}\n"
    cartpole = tmp_path / "cartpole"
    shutil.copytree(run_dir, cartpole, ignore=shutil.ignore_patterns("videos"))
    config = json.loads((cartpole / "config.json").read_text())
    (cartpole / "config.json").write_text(json.dumps({**config, "env": "CartPole-v1"}))
    assert evaluate.main([str(cartpole), "--video"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot render CartPole-v1") and err.count("\n") == 1
    assert not (cartpole / "videos").exists()


NO_OSMESA = """
import ctypes, ctypes.util
_find = ctypes.util.find_library
ctypes.util.find_library = lambda name: None if "osmesa" in name.lower() else _find(name)
_init = ctypes.CDLL.__init__
def _cdll(self, name, *a, **k):
    if name and "osmesa" in str(name).lower():
        raise OSError(f"{name}: cannot open shared object file")
    return _init(self, name, *a, **k)
ctypes.CDLL.__init__ = _cdll
"""


def test_headless_without_osmesa_still_imports_and_refuses_videos_in_one_line(
    pendulum_videos, tmp_path
):
    # MUJOCO_GL=osmesa without the library breaks `import mujoco` itself, so the default is
    # set only where OSMesa is found; without it, --video exits 2 with one line.
    run_dir, _ = pendulum_videos
    (tmp_path / "sitecustomize.py").write_text(NO_OSMESA)
    env = {k: v for k, v in os.environ.items() if k not in ("MUJOCO_GL", "PYOPENGL_PLATFORM")}
    env |= {"PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path]), "DISPLAY": ""}
    code = (
        "import os, sys, purejaxdqn, mujoco; print(os.environ.get('MUJOCO_GL'));"
        f"from purejaxdqn import evaluate; sys.exit(evaluate.main([{str(run_dir)!r}, '--video']))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600
    )
    assert out.returncode == 2, out.stderr
    assert out.stdout == "None\n"
    assert out.stderr.startswith(
        "error: cannot render InvertedPendulum-v5: MuJoCo has no OpenGL context"
    )
    assert out.stderr.count("\n") == 1, out.stderr
