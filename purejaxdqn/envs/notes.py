"""Third-party notes kept off the command line's output.

MuJoCo's MJX prints ``Failed to import warp: ...`` on stdout when the optional ``warp``
package is missing, and Brax warns on every model it loads that it is no longer maintained.
Neither is actionable for a purejaxdqn user, and stdout carries the end table: inside
:func:`quiet_third_party` both are dropped and anything else printed goes to stderr.
"""

from __future__ import annotations

import contextlib
import io
import re
import sys
import warnings
from collections.abc import Iterator

__all__ = ["quiet_third_party"]

#: Printed lines dropped (MJX's notes about its optional warp backend).
DROPPED_LINES = re.compile(r"^Failed to import (mujoco_)?warp\b")
#: Warnings dropped (Brax's notice that it is not maintained).
DROPPED_WARNINGS = r"Brax System, piplines and environments are not actively being"


@contextlib.contextmanager
def quiet_third_party() -> Iterator[None]:
    """Drops the known notes; forwards whatever else is printed on stdout to stderr."""
    captured = io.StringIO()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=DROPPED_WARNINGS, category=UserWarning)
            with contextlib.redirect_stdout(captured):
                yield
    finally:
        kept = [line for line in captured.getvalue().splitlines() if not DROPPED_LINES.match(line)]
        if kept:
            print("\n".join(kept), file=sys.stderr)
