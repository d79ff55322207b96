"""Checkpoints of the engine's position: Orbax for the arrays, an atomic commit for the step.

A checkpoint is a :class:`~purejaxdqn.engine.engine.Snapshot`: the group of runs being
trained, its next eval period, its whole state (parameters, optimizer state, replay, env
states, PRNG keys, NaN-guard steps), its metrics rows so far, and the outputs of the groups
already finished; ``meta.json`` beside the arrays holds the run's facts. Layout::

    checkpoints/
      g0000-p000004/      a committed checkpoint: arrays/ (Orbax), meta.json, manifest.json
      tmp-g0000-p000006/  a write in progress (ignored, removed by the next save)

A save writes into ``tmp-*``, fsyncs, renames it (atomic on POSIX) and only then removes
older checkpoints, so a process killed at any point leaves the previous one intact.
``manifest.json`` lists the size and SHA-256 of every other file; a restore verifies the
newest checkpoint against it and falls back to the newest intact one (one warning line)
when a file is truncated, overwritten or missing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from purejaxdqn.engine.engine import Snapshot
from purejaxdqn.rundir.atomic import fsync_dir

CHECKPOINT_DIR = "checkpoints"
META_FILE = "meta.json"
MANIFEST_FILE = "manifest.json"
# Bumped whenever the saved layout changes (3: engine snapshots with groups of runs;
# 4: manifest.json with checksums; 5: optimizer state as flat [num_params] vectors).
FORMAT_VERSION = 5
_KEEP = 2

# Fault injection for the crash tests: "<when>:<n>" makes the process SIGKILL itself at the
# n-th save (1-based), "during" = after the data is written but before the commit, "after" =
# right after the commit. Never set in normal use.
FAULT_ENV = "PUREJAXDQN_FAULT_INJECTION"


def _is_key(x: Any) -> bool:
    return hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jax.dtypes.prng_key)


def _leaves(tree: Any) -> dict[str, np.ndarray]:
    """Leaves of ``tree`` by position, typed PRNG keys as their raw ``uint32`` data."""
    return {
        str(i): np.asarray(jax.random.key_data(x) if _is_key(x) else x)
        for i, x in enumerate(jax.tree.leaves(tree))
    }


def _fault(when: str, save_number: int) -> None:
    if os.environ.get(FAULT_ENV, "") == f"{when}:{save_number}":
        os.kill(os.getpid(), signal.SIGKILL)


class CheckpointMismatch(ValueError):
    """An intact checkpoint that belongs to another config, layout or format version."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(directory: Path) -> None:
    """Writes ``manifest.json``: size and SHA-256 of every other file under ``directory``."""
    entries = {
        str(p.relative_to(directory)): {"bytes": p.stat().st_size, "sha256": _sha256(p)}
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.name != MANIFEST_FILE
    }
    text = json.dumps({"files": entries}, indent=1, sort_keys=True) + "\n"
    with open(directory / MANIFEST_FILE, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def verify(directory: Path) -> str | None:
    """What is wrong with checkpoint ``directory`` by its manifest (``None``: intact)."""
    try:
        entries = json.loads((directory / MANIFEST_FILE).read_text())["files"]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
        return f"no readable {MANIFEST_FILE}"
    if not any(name.startswith("arrays") for name in entries):
        return "the manifest lists no arrays"
    for name, entry in sorted(entries.items()):
        path = directory / name
        if not path.is_file():
            return f"{name} is missing"
        if path.stat().st_size != entry.get("bytes"):
            return f"{name} has {path.stat().st_size} bytes, {entry.get('bytes')} were written"
        if _sha256(path) != entry.get("sha256"):
            return f"{name} does not match its checksum"
    return None


def _unflatten(saved: dict[str, Any], like: Any, where: Path, batch: bool = False) -> Any:
    """Rebuilds a pytree shaped like ``like`` from leaves saved by :func:`_leaves`.

    With ``batch`` the saved leaves may have any leading size (finished groups' outputs).
    """
    like_leaves, treedef = jax.tree.flatten(like)
    if len(saved) != len(like_leaves):
        raise CheckpointMismatch(
            f"checkpoint {where} holds {len(saved)} arrays, this run needs {len(like_leaves)}: "
            "it was written by a different config or version"
        )
    leaves = []
    for i, ref in enumerate(like_leaves):
        arr = np.asarray(saved[str(i)])
        if _is_key(ref):
            # the default implementation, as saved (NumPy data: wrap_key_data's annotation
            # says jax.Array but it takes any uint32 array)
            key = jax.random.wrap_key_data(arr)  # type: ignore[arg-type]
            if key.shape != tuple(ref.shape):
                raise CheckpointMismatch(f"checkpoint {where}: PRNG key array {i} does not match")
            leaves.append(key)
            continue
        shape_ok = arr.shape[1:] == tuple(ref.shape[1:]) if batch else arr.shape == ref.shape
        if not shape_ok or arr.dtype != ref.dtype:
            raise CheckpointMismatch(
                f"checkpoint {where}: array {i} is {arr.dtype}{list(arr.shape)}, expected "
                f"{ref.dtype}{list(ref.shape)}: written by a different config or version"
            )
        leaves.append(arr)
    return jax.tree.unflatten(treedef, leaves)


class Checkpointer:
    """Saves and restores engine snapshots under ``run_dir/checkpoints``.

    Args:
      run_dir: the run directory.
      meta: facts about the run saved with every checkpoint (config, seeds, ...).
      writer: whether this process writes (on several hosts only process 0 does).
      log: where a damaged checkpoint skipped by :meth:`restore_latest` is reported.
    """

    def __init__(
        self,
        run_dir: str | os.PathLike[str],
        meta: dict[str, Any] | None = None,
        writer: bool = True,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.root = Path(run_dir).resolve() / CHECKPOINT_DIR
        self.meta = dict(meta or {})
        self.writer = writer
        self.log = log or (lambda _: None)
        self.saves = 0

    def committed(self) -> list[Path]:
        """Committed checkpoints, oldest first."""
        if not self.root.is_dir():
            return []
        return sorted(
            p for p in self.root.glob("g*-p*") if p.is_dir() and (p / META_FILE).is_file()
        )

    def latest(self) -> Path | None:
        """The newest committed checkpoint, or ``None`` if there is none."""
        done = self.committed()
        return done[-1] if done else None

    def save(self, snapshot: Snapshot, meta: dict[str, Any]) -> Path:
        """Commits ``snapshot`` (host arrays) with ``meta`` added to the run's facts."""
        import orbax.checkpoint as ocp

        self.saves += 1
        name = f"g{snapshot.group:04d}-p{snapshot.next_period:06d}"
        final = self.root / name
        if not self.writer:
            return final
        self.root.mkdir(parents=True, exist_ok=True)
        for stale in self.root.glob("tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)
        tmp = self.root / f"tmp-{name}"
        tree: dict[str, Any] = {}
        if snapshot.state is not None:
            tree["state"] = _leaves(snapshot.state)
            tree["rows"] = {k: np.asarray(v) for k, v in snapshot.rows.items()}
        if snapshot.done is not None:
            tree["done_rows"] = {k: np.asarray(v) for k, v in snapshot.done["rows"].items()}
            tree["done_params"] = _leaves(snapshot.done["params"])
            tree["done_diverged"] = np.asarray(snapshot.done["diverged_step"])
        with ocp.StandardCheckpointer() as checkpointer:  # closed: no asyncio noise at exit
            checkpointer.save(tmp / "arrays", tree)
            checkpointer.wait_until_finished()
        full = {
            **self.meta,
            **meta,
            "group": snapshot.group,
            "next_period": snapshot.next_period,
            "has_state": snapshot.state is not None,
            "has_done": snapshot.done is not None,
            "format_version": FORMAT_VERSION,
        }
        (tmp / META_FILE).write_text(json.dumps(full, indent=2, sort_keys=True) + "\n")
        with open(tmp / META_FILE) as f:
            os.fsync(f.fileno())
        write_manifest(tmp)
        fsync_dir(tmp)
        _fault("during", self.saves)
        if final.exists():
            shutil.rmtree(final)
        os.rename(tmp, final)
        fsync_dir(self.root)
        _fault("after", self.saves)
        older = [p for p in self.committed() if p != final]
        for old in older[: max(len(older) - (_KEEP - 1), 0)]:
            shutil.rmtree(old, ignore_errors=True)
        return final

    @staticmethod
    def read_meta(path: Path) -> dict[str, Any]:
        """The ``meta.json`` of checkpoint ``path``."""
        return json.loads((path / META_FILE).read_text())

    @staticmethod
    def restore(path: Path, like: Any) -> Snapshot:
        """Reads checkpoint ``path`` back.

        Args:
          path: a committed checkpoint directory.
          like: a pytree with the structure, shapes and dtypes of one group's state (e.g.
            ``jax.eval_shape`` of the start program); keys in it are rebuilt from their data.

        Raises:
          CheckpointMismatch: another format version, or arrays that do not match ``like``.
          Exception: whatever Orbax raises on files it cannot read.
        """
        import orbax.checkpoint as ocp

        meta = Checkpointer.read_meta(path)
        if meta.get("format_version") != FORMAT_VERSION:
            raise CheckpointMismatch(
                f"checkpoint {path} has format version {meta.get('format_version')}; this "
                f"version of purejaxdqn reads version {FORMAT_VERSION}: restart the run"
            )
        with ocp.StandardCheckpointer() as checkpointer:
            tree = checkpointer.restore(path / "arrays")
        state = rows = done = None
        if meta["has_state"]:
            state = _unflatten(tree["state"], like, path)
            rows = {k: np.asarray(v) for k, v in tree["rows"].items()}
        if meta["has_done"]:
            done = {
                "rows": {k: np.asarray(v) for k, v in tree["done_rows"].items()},
                "params": _unflatten(tree["done_params"], like.params, path, batch=True),
                "diverged_step": np.asarray(tree["done_diverged"]),
            }
        return Snapshot(
            meta["group"],
            meta["next_period"],
            state,
            rows or {},
            done,
            str(path),
            meta.get("layout"),
        )

    def restore_latest(self, like: Any) -> Snapshot | None:
        """The newest intact checkpoint, or ``None`` if there is none.

        Each is verified against its manifest, newest first; a damaged one is skipped with a
        warning on ``log`` (and, if none is intact, training starts over: the same result).

        Raises:
          CheckpointMismatch: if an intact one does not match ``like`` (another config).
        """
        found = self.committed()
        for path in reversed(found):
            problem = verify(path)
            if problem is None:
                try:
                    return self.restore(path, like)
                except CheckpointMismatch:
                    raise
                except Exception as e:  # damaged beyond what the manifest covers
                    problem = f"unreadable: {str(e).splitlines()[0] if str(e) else repr(e)}"
            self.log(f"warning: skipping damaged checkpoint {path} ({problem})")
        if found:
            self.log("warning: no intact checkpoint is left; training from the start")
        return None
