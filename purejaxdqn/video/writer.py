"""Writing frames to MP4 (H.264 through imageio-ffmpeg's bundled ffmpeg) and GIF (Pillow)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

#: The formats :func:`write_video` writes.
FORMATS = ("mp4", "gif")


def write_video(path: Path, frames: Sequence[np.ndarray] | np.ndarray, fps: float) -> Path:
    """Writes ``frames`` (``[N, H, W, 3]`` uint8) to ``path``; the suffix picks the format.

    MP4: H.264, ``yuv420p`` (plays in browsers and common players), frame size kept as is
    (``H`` and ``W`` should be multiples of 16). GIF: one image per frame, looping, each
    shown for ``1 / fps`` s (rounded to GIF's 10 ms ticks).

    Args:
      path: ``*.mp4`` or ``*.gif``; written to a temporary name, then renamed into place.
      frames: the frames.
      fps: frames per second.

    Returns:
      ``path``.

    Raises:
      ValueError: for another suffix.
    """
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise ValueError(f"video format must be one of {', '.join(FORMATS)}, got {path.name!r}")
    tmp = path.with_name(f".{path.stem}.tmp.{fmt}")
    with warnings.catch_warnings():
        # imageio-ffmpeg starts ffmpeg as a subprocess; the process runs no JAX after the
        # fork (exec follows at once), so JAX's warning about forking does not apply.
        warnings.filterwarnings(
            "ignore", message=r"os\.fork\(\) was called", category=RuntimeWarning
        )
        _write(tmp, fmt, frames, fps)
    tmp.replace(path)
    return path


def _write(tmp: Path, fmt: str, frames: Sequence[np.ndarray] | np.ndarray, fps: float) -> None:
    import imageio.v2 as imageio

    if fmt == "mp4":
        writer = imageio.get_writer(
            tmp,
            format="FFMPEG",
            fps=fps,
            codec="libx264",
            pixelformat="yuv420p",
            macro_block_size=1,
            ffmpeg_log_level="error",
        )
    else:
        writer = imageio.get_writer(tmp, format="GIF", mode="I", duration=1000.0 / fps, loop=0)
    with writer:
        for frame in frames:
            writer.append_data(np.asarray(frame, np.uint8))
