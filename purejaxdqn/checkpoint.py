"""Checkpoints of a whole training run: Orbax for the arrays, an atomic commit for the step.

A checkpoint holds everything a run carries between chunks of its compiled program — the
vmapped :class:`~purejaxdqn.train.TrainState` (online and target parameters, optimizer
state, replay contents and indices, env states, observations, PRNG keys, NaN-guard flags)
and the metrics rows written so far — plus ``meta.json`` (the config, seeds, the next eval
period). Layout inside the run directory::

    checkpoints/
      period-000004/      a committed checkpoint: Orbax's files + meta.json
      tmp-000006/         a write in progress (ignored, removed by the next save)

A save writes the Orbax tree and ``meta.json`` into ``tmp-*``, fsyncs, then renames it to
``period-*`` (atomic on POSIX) and only then removes older checkpoints. A process killed at
any point leaves the previous committed checkpoint intact, and :func:`latest` never returns
a partial one.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

CHECKPOINT_DIR = "checkpoints"
META_FILE = "meta.json"
# Bumped whenever the saved state's layout changes (2: the RMSProp optimizer state became
# centered averages + a momentum trace).
FORMAT_VERSION = 2
_KEEP = 2

# Fault injection for the crash tests (tests/test_resume.py): "<when>:<n>" makes the
# process SIGKILL itself at the n-th save (1-based), "during" = after the data is written
# but before the commit, "after" = right after the commit. Never set in normal use.
FAULT_ENV = "PUREJAXDQN_FAULT_INJECTION"


def _is_key(x: Any) -> bool:
    return hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jax.dtypes.prng_key)


def _to_host(tree: Any) -> list[np.ndarray]:
    """Leaves of ``tree`` as NumPy arrays, typed PRNG keys as their raw ``uint32`` data."""
    return [np.asarray(jax.random.key_data(x) if _is_key(x) else x) for x in jax.tree.leaves(tree)]


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fault(when: str, save_number: int) -> None:
    spec = os.environ.get(FAULT_ENV, "")
    if spec == f"{when}:{save_number}":
        os.kill(os.getpid(), signal.SIGKILL)


class Checkpointer:
    """Saves and restores a run's checkpoints under ``run_dir/checkpoints``.

    Args:
      run_dir: the run directory.
    """

    def __init__(self, run_dir: str | os.PathLike[str]) -> None:
        self.root = Path(run_dir).resolve() / CHECKPOINT_DIR
        self.saves = 0

    def latest(self) -> Path | None:
        """The newest committed checkpoint, or ``None`` if there is none."""
        if not self.root.is_dir():
            return None
        done = sorted(
            p for p in self.root.glob("period-*") if p.is_dir() and (p / META_FILE).is_file()
        )
        return done[-1] if done else None

    def save(
        self, state: Any, metrics: dict[str, np.ndarray], next_period: int, meta: dict
    ) -> Path:
        """Commits a checkpoint taken before eval period ``next_period``.

        Args:
          state: the vmapped train state (any pytree of arrays; typed keys allowed).
          metrics: the metrics rows so far, each ``[S, T_so_far, ...]``.
          next_period: the index of the next eval period to train.
          meta: JSON-serializable facts about the run (config, seeds, ...).

        Returns:
          The committed checkpoint's directory.
        """
        import orbax.checkpoint as ocp

        self.saves += 1
        self.root.mkdir(parents=True, exist_ok=True)
        for stale in self.root.glob("tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)
        name = f"{next_period:06d}"
        tmp = self.root / f"tmp-{name}"
        final = self.root / f"period-{name}"
        tree = {
            "state": {str(i): leaf for i, leaf in enumerate(_to_host(state))},
            "metrics": {k: np.asarray(v) for k, v in metrics.items()},
        }
        checkpointer = ocp.StandardCheckpointer()
        checkpointer.save(tmp / "arrays", tree)
        checkpointer.wait_until_finished()
        meta = {**meta, "next_period": next_period, "format_version": FORMAT_VERSION}
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        with open(tmp / META_FILE) as f:
            os.fsync(f.fileno())
        _fsync_dir(tmp)
        _fault("during", self.saves)
        if final.exists():
            shutil.rmtree(final)
        os.rename(tmp, final)
        _fsync_dir(self.root)
        _fault("after", self.saves)
        committed = sorted(p for p in self.root.glob("period-*") if p != final)
        for old in committed[: max(len(committed) - (_KEEP - 1), 0)]:
            shutil.rmtree(old, ignore_errors=True)
        return final

    @staticmethod
    def read_meta(path: Path) -> dict:
        """The ``meta.json`` of checkpoint ``path``."""
        return json.loads((path / META_FILE).read_text())

    @staticmethod
    def restore(path: Path, like: Any) -> tuple[Any, dict[str, np.ndarray], int]:
        """Reads checkpoint ``path`` back.

        Args:
          path: a committed checkpoint directory (from :meth:`latest`).
          like: a pytree with the structure, shapes and dtypes of the saved state (e.g.
            ``jax.eval_shape`` of the run's start function); typed PRNG keys in it are
            rebuilt from their saved data.

        Returns:
          ``(state, metrics, next_period)``.

        Raises:
          ValueError: if the checkpoint has another format version or does not match
            ``like``.
        """
        import orbax.checkpoint as ocp

        meta = Checkpointer.read_meta(path)
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"checkpoint {path} has format version {meta.get('format_version')}; this "
                f"version of purejaxdqn reads version {FORMAT_VERSION}: restart the run"
            )
        tree = ocp.StandardCheckpointer().restore(path / "arrays")
        like_leaves, treedef = jax.tree.flatten(like)
        saved = tree["state"]
        if len(saved) != len(like_leaves):
            raise ValueError(
                f"checkpoint {path} holds {len(saved)} arrays, this config needs "
                f"{len(like_leaves)}: it was written by a different config or version"
            )
        leaves = []
        for i, ref in enumerate(like_leaves):
            arr = np.asarray(saved[str(i)])
            if _is_key(ref):
                key = jax.random.wrap_key_data(arr)  # the default implementation, as saved
                if key.shape != tuple(ref.shape) or key.dtype != ref.dtype:
                    raise ValueError(f"checkpoint {path}: PRNG key array {i} does not match")
                leaves.append(key)
                continue
            if arr.shape != tuple(ref.shape) or arr.dtype != ref.dtype:
                raise ValueError(
                    f"checkpoint {path}: array {i} is {arr.dtype}{list(arr.shape)}, expected "
                    f"{ref.dtype}{list(ref.shape)}: written by a different config or version"
                )
            leaves.append(arr)
        metrics = {k: np.asarray(v) for k, v in tree["metrics"].items()}
        return jax.tree.unflatten(treedef, leaves), metrics, int(meta["next_period"])
