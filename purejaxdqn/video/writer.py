"""Writing frames to MP4 (H.264 through imageio-ffmpeg's bundled ffmpeg) and GIF (Pillow)."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

#: The formats :func:`write_video` writes.
FORMATS = ("mp4", "gif")


def write_video(
    paths: Path | Sequence[Path], frames: Iterable[np.ndarray], fps: float
) -> list[Path]:
    """Streams ``frames`` (each ``[H, W, 3]`` uint8) into one file per path.

    The suffix picks the format. MP4: H.264, ``yuv420p`` (plays in browsers and common
    players), frame size kept as is (``H`` and ``W`` best multiples of 16). GIF: looping,
    each frame shown ``1 / fps`` s (GIF counts in 10 ms ticks). Frames are consumed one at a
    time, so a long episode is never held in memory whole. Each file is written under a
    temporary name and renamed into place once complete.

    Args:
      paths: ``*.mp4`` and/or ``*.gif`` paths.
      frames: the frames, e.g. a generator that renders them.
      fps: frames per second.

    Returns:
      The paths written.

    Raises:
      ValueError: for another suffix.
    """
    paths = [paths] if isinstance(paths, Path) else list(paths)
    fmts = [p.suffix.lstrip(".").lower() for p in paths]
    bad = [p.name for p, f in zip(paths, fmts, strict=True) if f not in FORMATS]
    if bad:
        raise ValueError(f"video format must be one of {', '.join(FORMATS)}, got {bad}")
    tmps = [p.with_name(f".{p.stem}.tmp.{f}") for p, f in zip(paths, fmts, strict=True)]
    with warnings.catch_warnings(), contextlib.ExitStack() as stack:
        # imageio-ffmpeg starts ffmpeg as a subprocess; the child execs at once and runs no
        # JAX, so JAX's warning about forking a multithreaded process does not apply.
        warnings.filterwarnings("ignore", r"os\.fork\(\) was called", RuntimeWarning)
        writers = [stack.enter_context(_writer(t, f, fps)) for t, f in zip(tmps, fmts, strict=True)]
        for frame in frames:
            frame = np.asarray(frame, np.uint8)
            for writer in writers:
                writer.append_data(frame)
    for tmp, path in zip(tmps, paths, strict=True):
        tmp.replace(path)
    return paths


def _writer(tmp: Path, fmt: str, fps: float) -> Any:
    import imageio.v2 as imageio

    if fmt == "mp4":
        return imageio.get_writer(
            tmp,
            format="FFMPEG",
            fps=fps,
            codec="libx264",
            pixelformat="yuv420p",
            macro_block_size=1,
            ffmpeg_log_level="error",
        )
    return imageio.get_writer(tmp, format="GIF", mode="I", duration=1000.0 / fps, loop=0)
