"""Frames from observations: MuJoCo for InvertedPendulum, colour grids for MinAtar.

A renderer is a callable ``render(obs) -> uint8 [H, W, 3]`` with a ``close()``. Both kinds
render from the observation alone, which for these envs is the whole visible state: the
pendulum's observation is ``(qpos, qvel)`` and a MinAtar observation is the game's grid.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from purejaxdqn.envs.gymnax_env import GymnaxEnv
from purejaxdqn.envs.pendulum import InvertedPendulum, model_path

__all__ = [
    "GridRenderer",
    "PendulumRenderer",
    "Renderer",
    "cannot_render_reason",
    "make_renderer",
    "unwrap",
]

#: Default frame size ``(width, height)`` of pendulum videos (multiples of 16 for H.264).
PENDULUM_SIZE = (480, 320)
#: Pixels per MinAtar grid cell.
GRID_CELL_PIXELS = 16


class Renderer(Protocol):
    """``render(obs) -> uint8 [H, W, 3]``; ``fps`` is the env's real-time frame rate."""

    fps: float
    size: tuple[int, int]  # (W, H)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """The frame of one observation."""
        ...

    def close(self) -> None:
        """Frees the renderer's resources."""
        ...


def unwrap(env: Any) -> Any:
    """The innermost env under wrappers that keep it as ``.env`` (e.g. ``Discretize``)."""
    while "env" in getattr(env, "__dict__", {}):
        env = env.__dict__["env"]
    return env


class PendulumRenderer:
    """InvertedPendulum frames from MuJoCo's offscreen renderer (``mujoco.Renderer``).

    The model is the package's ``inverted_pendulum.xml`` plus a light gradient sky (a
    texture, nothing physical). The camera looks along ``+y``, level, at the rail's middle:
    the image is a scaled copy of the ``x``-``z`` plane, ``+x`` to the right, so a pole at
    angle ``theta`` (``qpos[1]``, positive towards ``+x``) is drawn at ``theta`` from the
    vertical, leaning right for ``theta > 0``.

    Args:
      width: frame width in pixels.
      height: frame height in pixels.
      fps: frames per second of real time (the env's 0.04 s step: 25).
    """

    def __init__(
        self, width: int = PENDULUM_SIZE[0], height: int = PENDULUM_SIZE[1], fps: float = 25.0
    ) -> None:
        import mujoco

        spec = mujoco.MjSpec.from_file(model_path())
        spec.add_texture(
            name="sky",
            type=mujoco.mjtTexture.mjTEXTURE_SKYBOX,
            builtin=mujoco.mjtBuiltin.mjBUILTIN_GRADIENT,
            rgb1=[0.95, 0.95, 0.97],
            rgb2=[0.75, 0.8, 0.88],
            width=64,
            height=64,
        )
        spec.visual.global_.offwidth = max(width, 640)
        spec.visual.global_.offheight = max(height, 480)
        self._mujoco = mujoco
        self.model = spec.compile()
        self.data = mujoco.MjData(self.model)
        self.camera = mujoco.MjvCamera()
        self.camera.type = mujoco.mjtCamera.mjCAMERA_FREE
        self.camera.lookat[:] = (0.0, 0.0, 0.2)
        self.camera.distance = 2.6
        self.camera.azimuth = 90.0
        self.camera.elevation = 0.0
        self.fps = fps
        self.size = (width, height)
        self._renderer = mujoco.Renderer(self.model, height=height, width=width)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """The frame of ``obs = (x, theta, x_dot, theta_dot)``: ``uint8 [H, W, 3]``."""
        obs = np.asarray(obs, np.float64)
        nq = self.model.nq
        self.data.qpos[:] = obs[:nq]
        self.data.qvel[:] = obs[nq : nq + self.model.nv]
        self._mujoco.mj_forward(self.model, self.data)
        self._renderer.update_scene(self.data, self.camera)
        return self._renderer.render().copy()

    def close(self) -> None:
        """Frees the OpenGL context (also done at garbage collection)."""
        self._renderer.close()


def grid_palette(channels: int) -> np.ndarray:
    """``[channels + 1, 3]`` uint8: black (empty cell), then a cubehelix colour per channel.

    The cubehelix palette is that of MinAtar's own display (and gymnax's).
    """
    from matplotlib import colormaps

    points = np.linspace(0.3, 0.9, channels) if channels > 1 else np.array([0.6])
    colours = colormaps["cubehelix"](points)[:, :3]
    table = np.concatenate([np.zeros((1, 3)), colours]) * 255
    return table.round().astype(np.uint8)


class GridRenderer:
    """Frames of image observations ``[H, W, C]`` (MinAtar's channel grids).

    Each cell takes the colour of its highest active channel (black when none is), as in
    MinAtar's display, and becomes a ``cell x cell`` block of pixels.

    Args:
      shape: the observation shape ``(H, W, C)``.
      cell: pixels per cell.
      fps: frames per second.
    """

    def __init__(
        self, shape: tuple[int, int, int], cell: int = GRID_CELL_PIXELS, fps: float = 10.0
    ) -> None:
        height, width, channels = shape
        self.palette = grid_palette(channels)
        self.cell = cell
        self.fps = fps
        self.size = (width * cell, height * cell)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """The frame of one observation ``[H, W, C]``: ``uint8 [H * cell, W * cell, 3]``."""
        obs = np.asarray(obs)
        active = obs > 0.5
        index = np.where(active.any(-1), active.shape[-1] - np.argmax(active[..., ::-1], -1), 0)
        image = self.palette[index]
        return np.repeat(np.repeat(image, self.cell, axis=0), self.cell, axis=1)

    def close(self) -> None:
        """Nothing to free."""


def cannot_render_reason(env: Any, env_params: Any) -> str | None:
    """Why ``env`` cannot be rendered (one line), or ``None`` when it can."""
    inner = unwrap(env)
    if isinstance(inner, InvertedPendulum):
        return None
    shape = tuple(env.observation_space(env_params).shape)
    if isinstance(inner, GymnaxEnv) and len(shape) == 3:
        return None
    return (
        f"cannot render {getattr(env, 'name', type(env).__name__)}: videos cover "
        "InvertedPendulum (MuJoCo) and image-observation envs such as MinAtar"
    )


def make_renderer(
    env: Any, env_params: Any, size: tuple[int, int] | None = None, fps: float | None = None
) -> Renderer:
    """The renderer of ``env`` (see :func:`cannot_render_reason` for which envs).

    Args:
      env: the env (wrappers such as ``Discretize`` allowed).
      env_params: its parameters.
      size: ``(width, height)`` of pendulum frames (default :data:`PENDULUM_SIZE`); for
        grids the width in pixels, the cell size following from it.
      fps: frames per second (default: real time for the pendulum, 10 for grids).

    Raises:
      ValueError: for an env that cannot be rendered.
    """
    reason = cannot_render_reason(env, env_params)
    if reason is not None:
        raise ValueError(reason)
    inner = unwrap(env)
    if isinstance(inner, InvertedPendulum):
        width, height = size or PENDULUM_SIZE
        return PendulumRenderer(width, height, fps=fps or 1.0 / inner.dt)
    h, w, c = tuple(env.observation_space(env_params).shape)
    cell = max(1, (size[0] // w) if size else GRID_CELL_PIXELS)
    return GridRenderer((h, w, c), cell=cell, fps=fps or 10.0)
