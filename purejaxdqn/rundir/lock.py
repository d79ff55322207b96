"""One writer per run directory: a lock file with the writer's pid, host and start time.

``LOCK`` is created with ``O_EXCL`` when a run starts writing and removed when it ends (or
is interrupted). A second run on the same directory, or a ``--resume`` of a run that is
still going, is refused with one line. A lock left by a process that died (same host, pid
no longer running, e.g. after SIGKILL) is stale and taken over with a note.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from purejaxdqn.config import ConfigError

LOCK_FILE = "LOCK"


class RunDirLocked(ConfigError):
    """Another live process writes this run directory."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def holder(run_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The live writer of ``run_dir`` (its lock's contents), or ``None``: none, or stale."""
    path = Path(run_dir) / LOCK_FILE
    if not path.exists():
        return None
    info = _read(path)
    if info is None:  # unreadable: written by a process killed mid-write
        return None
    if info.get("host") != socket.gethostname():
        return info  # cannot tell whether a process on another host lives: assume it does
    pid = info.get("pid")
    return info if isinstance(pid, int) and pid != os.getpid() and _pid_alive(pid) else None


def check(run_dir: str | os.PathLike[str]) -> None:
    """Refuses ``run_dir`` if a live process holds its lock (nothing written).

    Raises:
      RunDirLocked: one line naming the holder.
    """
    info = holder(run_dir)
    if info is not None:
        raise RunDirLocked(
            f"{run_dir}: in use by pid {info.get('pid')} on {info.get('host')} (since "
            f"{info.get('started')}); wait for it to end, or remove {Path(run_dir) / LOCK_FILE} "
            "if that process is gone"
        )


def acquire(run_dir: str | os.PathLike[str], log: Callable[[str], None] | None = None) -> None:
    """Takes the lock of ``run_dir`` (created if missing) for this process.

    A stale lock (its process is dead) is replaced, with a note on ``log``.

    Raises:
      RunDirLocked: if a live process holds it.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_FILE
    me = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    for _ in range(2):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            check(run_dir)
            old = _read(path)
            if log is not None and (old or {}).get("pid") != os.getpid():
                pid = (old or {}).get("pid", "?")
                log(f"{run_dir}: taking over the stale lock of pid {pid} (no longer running)")
            try:
                path.unlink()
            except FileNotFoundError:
                pass
            continue
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(me) + "\n")
            f.flush()
            os.fsync(f.fileno())
        return
    raise RunDirLocked(f"{run_dir}: another process took {LOCK_FILE} at the same time")


def release(run_dir: str | os.PathLike[str]) -> None:
    """Removes ``run_dir``'s lock if this process holds it."""
    path = Path(run_dir) / LOCK_FILE
    info = _read(path)
    if info is not None and info.get("pid") == os.getpid():
        try:
            path.unlink()
        except OSError as e:
            if e.errno != errno.ENOENT:
                raise
