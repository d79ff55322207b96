"""One XLA device per CPU core, so that a CPU run keeps every core busy.

XLA:CPU runs a device's program on little more than one core at the sizes of these runs
(a large matmul alone may be threaded, but the many small ops of a training step run one after
another: 1.35-1.66 cores of 2 for the baseline's runs). The command lines therefore split the
host into one CPU device per core (``jax_num_cpu_devices``) before JAX's backends start,
and the engine shards the run axis over them. On the project's 2-core CPU this doubles the
env-steps/s of a 64-seed run (``benchmarks/results/speed/``).

The choice, from ``--cpu-devices`` or else ``$PUREJAXDQN_CPU_DEVICES``:

- ``auto`` (the command lines' default): one device per core this process may run on; on
  ``--resume``, the device count the checkpoint was written with, so the resumed run plans
  the same layout (a different count changes the per-device batch, hence the float
  rounding, and the engine refuses it).
- ``N``: ``N`` devices (``1`` is JAX's own default).

Nothing is changed when ``XLA_FLAGS`` already sets
``--xla_force_host_platform_device_count`` or ``jax_num_cpu_devices`` is already set. On a
machine with an accelerator the setting only shapes the host's CPU client, which the runs
do not use.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from purejaxdqn import threefry_cpu
from purejaxdqn.config import ConfigError

ENV_VAR = "PUREJAXDQN_CPU_DEVICES"
_XLA_FLAG = "xla_force_host_platform_device_count"


def add_flag(p: argparse.ArgumentParser) -> None:
    """``--cpu-devices auto|N``."""
    p.add_argument(
        "--cpu-devices",
        type=str,
        default=None,
        metavar="auto|N",
        help="XLA CPU devices to shard the runs over: 'auto' is one per core (on --resume: "
        "the checkpoint's count), 1 is what JAX does by itself (default: "
        "$PUREJAXDQN_CPU_DEVICES, else auto)",
    )


def available_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def parse(text: str) -> int | None:
    """``'auto'`` -> ``None``; ``'N'`` -> ``N`` (>= 1).

    Raises:
      ConfigError: anything else.
    """
    if text.strip().lower() == "auto":
        return None
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise ConfigError(f"--cpu-devices must be 'auto' or an integer >= 1, got {text!r}")
    return n


def checkpoint_devices(run_dir: str | Path) -> int | None:
    """The device count the latest checkpoint under ``run_dir`` was planned with, if any."""
    from purejaxdqn.rundir.checkpoint import CHECKPOINT_DIR, Checkpointer

    if not (Path(run_dir) / CHECKPOINT_DIR).is_dir():
        return None
    latest = Checkpointer(run_dir).latest()
    if latest is None:
        return None
    try:
        devices = Checkpointer.read_meta(latest).get("layout", {}).get("devices")
    except (OSError, ValueError, AttributeError):
        return None  # the resume itself will say what is wrong with it
    return int(devices) if isinstance(devices, int) and devices >= 1 else None


def configure_from_args(args: argparse.Namespace, default: str | None) -> int | None:
    """:func:`configure` from parsed flags.

    Also switches threefry to its unrolled CPU lowering (:mod:`purejaxdqn.threefry_cpu`).
    The request is ``--cpu-devices``, else ``$PUREJAXDQN_CPU_DEVICES``, else ``default``
    (``None``: leave JAX alone); ``--resume``'s run directory is followed.
    """
    threefry_cpu.use_unrolled()  # the same bits, faster on CPU
    requested = args.cpu_devices
    if requested is None:
        requested = os.environ.get(ENV_VAR, default)
    if requested is None:
        return None
    return configure(requested, getattr(args, "resume", None))


def configure(requested: str, resume_dir: str | Path | None = None) -> int | None:
    """Sets ``jax_num_cpu_devices`` for this process before JAX's backends start.

    Args:
      requested: ``'auto'`` or ``'N'`` (the flag's text).
      resume_dir: the run directory being resumed, if any (``auto`` follows its checkpoint).

    Returns:
      The device count set, or ``None`` if JAX's setting was left alone.

    Raises:
      ConfigError: a bad value, or an explicit count once JAX's backends have started.
    """
    count = parse(requested)
    explicit = count is not None
    import jax
    from jax._src import xla_bridge

    if _XLA_FLAG in os.environ.get("XLA_FLAGS", "") or jax.config.jax_num_cpu_devices != -1:  # type: ignore[attr-defined]
        return None  # the user's own setting wins
    if count is None:
        found = checkpoint_devices(resume_dir) if resume_dir is not None else None
        count = found if found is not None else available_cores()
    if xla_bridge.backends_are_initialized():
        if explicit and len(jax.devices("cpu")) != count:
            raise ConfigError(
                f"--cpu-devices {count}: JAX has already started with "
                f"{len(jax.devices('cpu'))} CPU device(s) in this process"
            )
        return None
    jax.config.update("jax_num_cpu_devices", count)
    return count
