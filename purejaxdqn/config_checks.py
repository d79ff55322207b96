"""Checks and derived defaults of the command line's inputs, beside :mod:`purejaxdqn.config`.

* :func:`derived_eval_every`: the ``eval_every`` a run gets when the user sets
  ``total_steps`` but not ``eval_every`` (so ``--total-steps`` alone works for every preset).
* :func:`check_out_path`, :func:`check_path_text`, :func:`read_size_ok`: a path the
  command line will write under or read, refused in one line before anything is compiled.
* :func:`check_seed_range`, :func:`check_memory_gb`: the run entries beside the config.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from purejaxdqn.config import ConfigError, is_int

__all__ = [
    "MAX_CONFIG_BYTES",
    "check_memory_gb",
    "check_out_path",
    "check_path_text",
    "check_seed_range",
    "derived_eval_every",
    "read_size_ok",
]

#: Largest ``--config`` file read (a config.json is a few kB).
MAX_CONFIG_BYTES = 1 << 20
#: Folders of virtual file systems a run directory cannot live under.
_VIRTUAL = ("/proc", "/sys", "/dev")
#: Seeds are int32 inside the program: ``seed + seeds - 1`` must fit.
MAX_SEED = 2**31 - 1


def derived_eval_every(total_steps: Any, num_envs: Any, ref_total: int, ref_every: int) -> Any:
    """The ``eval_every`` for ``total_steps`` when the user did not choose one.

    The rule: the reference's (the preset's, else the default config's) ``ref_every`` if it
    divides ``total_steps``; else the ``eval_every`` that divides ``total_steps``, is a
    multiple of ``num_envs`` and gives the number of evaluations closest (in ratio) to the
    reference's ``ref_total // ref_every``, the fewer evaluations on a tie. With values that
    validation will refuse anyway (not positive integers, ``total_steps`` not a multiple of
    ``num_envs``) it returns ``ref_every`` unchanged, so the error names the user's input.

    Example: CartPole-v1's preset evaluates 10 times in 200k steps every 20k, so
    ``total_steps=30_000`` gives ``eval_every=3_000``; the pendulum's every 5k divides 30k
    and stays.
    """
    if not (is_int(total_steps) and is_int(num_envs) and total_steps > 0 and num_envs > 0):
        return ref_every
    if total_steps % ref_every == 0 or total_steps % num_envs:
        return ref_every
    target = max(1, ref_total // ref_every)
    best, best_key = ref_every, (math.inf, 0)
    for k in range(1, min(total_steps // num_envs, 1000 * target) + 1):  # k evaluations
        if total_steps % k or (total_steps // k) % num_envs:
            continue
        key = (abs(math.log(k / target)), k)
        if key < best_key:
            best, best_key = total_steps // k, key
    return best


def check_path_text(flag: str, text: str) -> None:
    """Refuses an empty path or one holding a NUL byte (which no file system takes)."""
    if not text.strip():
        raise ConfigError(f"{flag} must not be empty")
    if "\x00" in text:
        raise ConfigError(f"{flag} {text!r}: a path cannot hold a NUL byte")


def check_out_path(flag: str, out: Path) -> None:
    """Refuses a run directory that cannot be created or written.

    Refused: a path under ``/proc``, ``/sys`` or ``/dev``, under an existing file, or whose
    nearest existing folder is not writable. Nothing is created.

    Raises:
      ConfigError: one line naming the flag and the reason.
    """
    check_path_text(flag, str(out))
    try:
        real = Path(os.path.realpath(out))
        for root in _VIRTUAL:
            if real == Path(root) or Path(root) in real.parents:
                raise ConfigError(
                    f"{flag} {out}: under {root}, a virtual file system; choose a folder on disk"
                )
        ancestor = real
        while not ancestor.exists():
            ancestor = ancestor.parent
    except OSError as e:  # a name too long, a loop of links, ...
        raise ConfigError(f"{flag} {out}: not a usable path ({e.strerror or e})") from None
    if ancestor != real and not ancestor.is_dir():
        raise ConfigError(f"{flag} {out}: {ancestor} is a file, not a folder")
    if ancestor.is_dir() and not os.access(ancestor, os.W_OK | os.X_OK):
        raise ConfigError(f"{flag} {out}: {ancestor} is not writable")


def read_size_ok(flag: str, path: str) -> None:
    """Refuses a file to read that is not a regular file or is larger than a config can be.

    A missing file is left to the reader (whose error names it).
    """
    check_path_text(flag, path)
    try:
        st = os.stat(path)
    except OSError:
        return
    if os.path.isdir(path):
        raise ConfigError(f"{flag} {path}: is a folder, not a JSON file")
    if not os.path.isfile(path):
        raise ConfigError(f"{flag} {path}: not a regular file")
    if st.st_size > MAX_CONFIG_BYTES:
        raise ConfigError(f"{flag} {path}: {st.st_size:,} bytes is too large for a config file")


def check_seed_range(seeds: Any, seed: Any, points: int = 1) -> None:
    """Refuses ``seeds``/``seed`` that are not integers, or keys past the int32 range."""
    if not is_int(seeds) or seeds < 1:
        raise ConfigError(f"seeds must be an integer >= 1, got {seeds!r}")
    if not is_int(seed) or seed < 0:
        raise ConfigError(f"seed must be an integer >= 0, got {seed!r}")
    if seed + seeds - 1 > MAX_SEED:
        raise ConfigError(
            f"seed + seeds - 1 ({seed + seeds - 1}) must be <= {MAX_SEED} (seeds are int32)"
        )
    if points * seeds > MAX_SEED:
        raise ConfigError(f"points x seeds ({points * seeds}) must be <= {MAX_SEED}")


def check_memory_gb(value: Any, flag: str = "--max-memory-gb") -> float | None:
    """``value`` if it is ``None`` or a finite number > 0, else a one-line ConfigError."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{flag} must be a number of GiB, got {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{flag} must be > 0 and finite, got {value!r}")
    return float(value)
