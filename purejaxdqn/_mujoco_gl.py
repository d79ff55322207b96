"""Which OpenGL backend MuJoCo's offscreen renderer uses (``MUJOCO_GL``).

MuJoCo reads ``MUJOCO_GL`` once, when ``mujoco`` is first imported. Without a display GLFW
cannot open a context and EGL needs a GPU driver, so on a headless Linux machine the
default here is OSMesa (software rendering, Debian package ``libosmesa6``), when its library
is installed: with ``MUJOCO_GL=osmesa`` and no OSMesa, ``import mujoco`` itself fails. An
explicit ``MUJOCO_GL`` (``egl`` on a GPU machine, ``glfw`` with a display) is always kept.

Imported first by ``purejaxdqn/__init__.py``, so the default is in place before any of the
package's modules imports ``mujoco``.
"""

from __future__ import annotations

import ctypes.util
import os
import sys


def default_mujoco_gl() -> str | None:
    """Sets ``MUJOCO_GL=osmesa`` on headless Linux with OSMesa, unless set or too late.

    Too late: ``mujoco`` is imported already (it has read the variable).

    Returns:
      The value in force (``None``: unset, so MuJoCo picks GLFW).
    """
    headless = not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    if (
        "MUJOCO_GL" not in os.environ
        and sys.platform.startswith("linux")
        and headless
        and "mujoco" not in sys.modules
        and ctypes.util.find_library("OSMesa") is not None
    ):
        os.environ["MUJOCO_GL"] = "osmesa"
    return os.environ.get("MUJOCO_GL")


default_mujoco_gl()
