"""Helpers of the end-to-end tests: the tiny InvertedPendulum command line (seconds to train),
the command-line subprocesses and strict JSON."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from purejaxdqn.rundir.checkpoint import FAULT_ENV

TESTS_DIR = Path(__file__).resolve().parent


def tiny_pendulum_args(total_steps: int = 400) -> list[str]:
    """``purejaxdqn.run`` flags for 2 seeds x ``total_steps`` env steps, evaluated every 200."""
    return [
        "--env", "InvertedPendulum-v5",
        "--seeds", "2",
        "--total-steps", str(total_steps),
        "--eval-every", "200",
        "--eval-episodes", "1",
        "--capacity", "400",
        "--batch-size", "32",
        "--learning-starts", "100",
        "--hidden", "16",
        "--target-period", "100",
        "--lr", "3e-4",
    ]  # fmt: skip


#: A tiny run on the chain MDP (tests/chain_env.py): 400 steps, 2 evaluations.
CHAIN_FLAGS = [
    "--total-steps", "400",
    "--num-envs", "4",
    "--capacity", "256",
    "--batch-size", "32",
    "--learning-starts", "100",
    "--train-every", "4",
    "--target-period", "40",
    "--eval-every", "200",
    "--eval-episodes", "2",
    "--hidden", "8",
    "--quiet",
]  # fmt: skip


def compilation_cache_env(cache_dir: str | os.PathLike[str]) -> dict[str, str]:
    """Environment variables that make subprocesses share JAX's persistent compilation cache
    in ``cache_dir`` (so a resumed run reuses the programs its first attempt compiled, as a
    user's can)."""
    return {
        "JAX_COMPILATION_CACHE_DIR": str(cache_dir),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "-1",
    }


def python(
    *args: str,
    fault: str | None = None,
    env: dict[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess:
    """``python ARGS`` in a subprocess (unbuffered, text output captured).

    Args:
      args: the interpreter's arguments, e.g. ``"-m", "purejaxdqn.run", ...``.
      fault: the fault injection (``"after:1"``, ...) of
        :data:`purejaxdqn.rundir.checkpoint.FAULT_ENV`; never inherited.
      env: more environment variables.
      cwd: the working directory.
      timeout: seconds.
    """
    full = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    full.pop(FAULT_ENV, None)
    if fault is not None:
        full[FAULT_ENV] = fault
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        env=full,
        cwd=cwd,
        timeout=timeout,
    )


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"not strict JSON: {name}")


def read_strict_json(path: str | os.PathLike[str]) -> Any:
    """The JSON file at ``path``; raises ``ValueError`` on ``NaN``/``Infinity`` (strict JSON)."""
    return json.loads(Path(path).read_text(encoding="utf-8"), parse_constant=_refuse_constant)


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def signal_when(
    args: list[str],
    when: str,
    signals: tuple[int, ...] = (signal.SIGINT,),
    env: dict[str, str] | None = None,
    timeout: float = 600,
) -> tuple[int, str, float]:
    """Runs ``python ARGS``, sends ``signals`` (0.3 s apart) once ``when`` appears on its
    stderr, and waits for it.

    Returns:
      ``(exit code, stderr, seconds from the signal to the exit)`` (``-1.0``: never sent).
    """
    full = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    full.pop(FAULT_ENV, None)
    proc = subprocess.Popen(
        [sys.executable, *args],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        env=full,
        preexec_fn=_default_sigint,  # a background shell's ignored SIGINT is inherited
    )
    assert proc.stderr is not None
    seen, sent = b"", -1.0
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            byte = proc.stderr.read(1)
            if not byte:
                break
            seen += byte
            if sent < 0 and when.encode() in seen:
                for i, s in enumerate(signals):
                    time.sleep(0.3 if i else 0)  # apart: a pending signal sent twice is one
                    proc.send_signal(s)
                sent = time.monotonic()
        code = proc.wait(timeout=max(deadline - time.monotonic(), 1))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return code, seen.decode(errors="replace"), (time.monotonic() - sent if sent >= 0 else -1.0)


def fabricate_run(run_dir: str | os.PathLike[str], config: Any, seeds: int = 2) -> None:
    """A finished run directory without training: ``config.json`` and initial params (every
    seed's the same), enough for ``purejaxdqn.evaluate`` to roll out."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from purejaxdqn.algorithms import make_trainer
    from purejaxdqn.envs.discrete import make_env
    from purejaxdqn.rundir import files

    env, env_params = make_env(config)
    network = make_trainer(config, env, env_params).network
    obs = jnp.zeros((1, *env.observation_space(env_params).shape))
    params = network.init(jax.random.key(0), obs)
    files.save_params(run_dir, jax.tree.map(lambda x: np.stack([x] * seeds), params))
    files.write_config(run_dir, {**config.to_dict(), **files.run_entries(seeds, 0, None)})
