"""Atomic file writes and conversion to plain JSON types.

A file is written to a temporary file in the same directory, ``fsync``-ed and renamed over
the destination with ``os.replace``, so an interrupted run never leaves a half-written file.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["atomic_write_bytes", "atomic_write_text", "fsync_dir", "jsonable"]


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically.

    The bytes go to a temporary file in the same directory, which is flushed, ``fsync``-ed
    and then renamed over ``path`` with ``os.replace``. Readers see either the old file or
    the complete new one; on error the temporary file is removed. The parent directory is
    created if needed.

    Args:
        path: Destination file.
        data: Contents.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp_name, 0o644)  # mkstemp creates 0600; use ordinary file permissions
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(path.parent)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically; see :func:`atomic_write_bytes`.

    Args:
        path: Destination file.
        text: Contents.
    """
    atomic_write_bytes(path, text.encode("utf-8"))


def fsync_dir(directory: str | os.PathLike[str]) -> None:
    """Best-effort ``fsync`` of a directory so that a rename in it is durable.

    Args:
        directory: The directory; errors (missing, unsupported) are ignored.
    """
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def jsonable(value: Any, *, finite_only: bool) -> Any:
    """Convert NumPy/JAX scalars and arrays, tuples and paths into plain JSON types.

    Mappings become dicts with string keys, lists and tuples become lists, arrays become
    (nested) lists, paths become strings.

    Args:
        value: The value to convert.
        finite_only: Turn NaN and infinite floats into ``None``, so the output is strict
            JSON.

    Returns:
        The converted value (objects for ``json.dumps``, not a string).

    Raises:
        TypeError: For a value of any other type.
    """
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, finite_only=finite_only) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, finite_only=finite_only) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if finite_only and not math.isfinite(value):
            return None
        return value
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if hasattr(value, "__array__"):  # np.ndarray, jax.Array
        return jsonable(np.asarray(value).tolist(), finite_only=finite_only)
    raise TypeError(f"cannot convert {type(value).__name__} to JSON: {value!r}")
