"""Videos of greedy policies: record episodes in JAX, render them on the host, write MP4/GIF.

``python -m purejaxdqn.evaluate RUN_DIR --video`` drives it (:func:`record_videos`). The
episodes are rolled out by :func:`rollout.greedy_episodes` (one jit-compiled ``lax.scan``
of the env the policy was trained on) and the same recorded episodes give both the frames
and the returns written beside the videos.
"""

from purejaxdqn._mujoco_gl import default_mujoco_gl
from purejaxdqn.video.record import VIDEO_DIR, record_videos
from purejaxdqn.video.render import cannot_render_reason, make_renderer
from purejaxdqn.video.rollout import Episodes, greedy_episodes
from purejaxdqn.video.writer import write_video

__all__ = [
    "VIDEO_DIR",
    "Episodes",
    "cannot_render_reason",
    "default_mujoco_gl",
    "greedy_episodes",
    "make_renderer",
    "record_videos",
    "write_video",
]
