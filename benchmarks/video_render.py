"""Wall and CPU time of filming a 1000-step InvertedPendulum episode (evaluate --video).

Renders 1001 frames (a 1000-step episode plus its first frame) of a swinging pendulum with
purejaxdqn.video's MuJoCo renderer (OSMesa when headless), then writes them to MP4 and GIF.
Prints one JSON line per frame size. Measured, never asserted.

    python benchmarks/video_render.py [--sizes 480x320,240x160]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

import purejaxdqn  # noqa: F401  (MUJOCO_GL default before mujoco is imported)
from purejaxdqn.video.render import PendulumRenderer
from purejaxdqn.video.writer import write_video


def timed(fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="480x320,240x160")
    parser.add_argument("--frames", type=int, default=1001)
    args = parser.parse_args()
    t = np.arange(args.frames) * 0.04
    states = np.stack([0.5 * np.sin(t), 0.15 * np.sin(3 * t), 0 * t, 0 * t], 1)
    for size in args.sizes.split(","):
        width, height = (int(v) for v in size.split("x"))
        renderer = PendulumRenderer(width, height)
        try:
            frames, render_wall, render_cpu = timed(lambda: [renderer(s) for s in states])  # noqa: B023
        finally:
            renderer.close()
        row = {"size": size, "frames": len(frames), "MUJOCO_GL": os.environ.get("MUJOCO_GL"),
               "render_wall_s": render_wall, "render_cpu_s": render_cpu}  # fmt: skip
        with tempfile.TemporaryDirectory() as tmp:
            for fmt in ("mp4", "gif"):
                path = Path(tmp) / f"v.{fmt}"
                _, wall, cpu = timed(lambda: write_video(path, frames, 25.0))  # noqa: B023
                size_bytes = path.stat().st_size
                row |= {f"{fmt}_wall_s": wall, f"{fmt}_cpu_s": cpu, f"{fmt}_bytes": size_bytes}
        print(json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in row.items()}))


if __name__ == "__main__":
    main()
