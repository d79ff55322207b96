"""Fail-safe run directories: checkpoint manifests and fallback, the lock, leftovers of
interrupted writes, the size guard, and chunked training equal to one call (in process)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest
from chain_env import Chain
from tiny_run import tiny_pendulum_args

from purejaxdqn import envs, run
from purejaxdqn.config import Config, ConfigError
from purejaxdqn.dqn import make_dqn
from purejaxdqn.engine.engine import Snapshot, execute
from purejaxdqn.engine.layout import DoesNotFit, RunAxis, check_outputs_fit
from purejaxdqn.rundir import files, lock
from purejaxdqn.rundir.checkpoint import (
    MANIFEST_FILE,
    Checkpointer,
    CheckpointMismatch,
    verify,
)

LIKE = {"w": jax.ShapeDtypeStruct((2, 3), np.float32)}


def _snapshot(period: int) -> Snapshot:
    state = {"w": np.full((2, 3), period, np.float32)}
    return Snapshot(0, period, state, {"eval_return": np.zeros((2, period + 1))}, None)


@pytest.fixture(scope="module")
def two_checkpoints(tmp_path_factory):
    """A run directory with committed checkpoints at periods 1 and 2."""
    out = tmp_path_factory.mktemp("ckpt") / "run"
    store = Checkpointer(out)
    for period in (1, 2):
        store.save(_snapshot(period), {})
    return out


def _copy(src, tmp_path):
    dst = tmp_path / "run"
    shutil.copytree(src, dst)
    store_log: list[str] = []
    return dst, Checkpointer(dst, log=store_log.append), store_log


def _biggest(path):
    return max((p for p in (path / "arrays").rglob("*") if p.is_file()), key=os.path.getsize)


def _truncate(newest):
    data = _biggest(newest)
    data.write_bytes(data.read_bytes()[:-5])


def _zero(newest):
    data = _biggest(newest)
    data.write_bytes(bytes(len(data.read_bytes())))


def _no_arrays(newest):
    shutil.rmtree(newest / "arrays")


@pytest.mark.parametrize("damage", [_truncate, _zero, _no_arrays])
def test_damaged_newest_falls_back_to_the_intact_one(two_checkpoints, tmp_path, damage):
    out, store, said = _copy(two_checkpoints, tmp_path)
    newest = store.latest()
    assert newest is not None and newest.name == "g0000-p000002" and verify(newest) is None
    damage(newest)
    assert verify(newest) is not None
    snap = store.restore_latest(LIKE)
    assert snap is not None and snap.next_period == 1
    np.testing.assert_array_equal(snap.state["w"], np.full((2, 3), 1, np.float32))
    (line,) = said
    assert line.startswith(f"warning: skipping damaged checkpoint {newest} (")


def test_nothing_intact_starts_over_and_a_mismatch_is_refused(two_checkpoints, tmp_path):
    out, store, said = _copy(two_checkpoints, tmp_path)
    for path in store.committed():
        (path / MANIFEST_FILE).write_text("{")
    assert store.restore_latest(LIKE) is None
    assert len(said) == 3 and said[-1].endswith("training from the start")
    intact = Checkpointer(two_checkpoints)
    with pytest.raises(CheckpointMismatch, match="expected float32\\[2, 4\\]"):
        intact.restore_latest({"w": jax.ShapeDtypeStruct((2, 4), np.float32)})


@pytest.fixture
def live_pid():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc.pid
    proc.kill()
    proc.wait()


def _write_lock(run_dir, pid):
    run_dir.mkdir(parents=True, exist_ok=True)
    info = {"pid": pid, "host": socket.gethostname(), "started": "then"}
    (run_dir / lock.LOCK_FILE).write_text(json.dumps(info))


def test_lock_refuses_a_live_writer_and_takes_over_a_stale_one(tmp_path, live_pid):
    _write_lock(tmp_path / "live", live_pid)
    with pytest.raises(lock.RunDirLocked, match=f"in use by pid {live_pid}"):
        lock.acquire(tmp_path / "live")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], text=True,
                          capture_output=True, check=True)  # fmt: skip
    _write_lock(tmp_path / "stale", int(dead.stdout))
    said: list[str] = []
    lock.acquire(tmp_path / "stale", said.append)
    assert said == [f"{tmp_path / 'stale'}: taking over the stale lock of pid {dead.stdout.strip()}"
                    " (no longer running)"]  # fmt: skip
    assert json.loads((tmp_path / "stale" / lock.LOCK_FILE).read_text())["pid"] == os.getpid()
    lock.release(tmp_path / "stale")
    assert not (tmp_path / "stale" / lock.LOCK_FILE).exists()


def _main(argv):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = run.main(argv)
    return code, err.getvalue().strip().splitlines()


def test_a_second_writer_and_a_resume_of_a_live_run_are_refused(tmp_path, live_pid):
    out = tmp_path / "run"
    args = [*tiny_pendulum_args(), "--quiet"]
    config, seeds, seed, every = run.flags.config_from_args(run.build_parser().parse_args(args))
    files.write_config(out, run.expected_config(config, seeds, seed, every))
    _write_lock(out, live_pid)
    before = sorted(p.name for p in out.iterdir())
    for argv in ([*args, "--out", str(out)], ["--resume", str(out)]):
        code, lines = _main(argv)
        assert code == 2 and len(lines) == 1, lines
        assert lines[0].startswith(f"error: {out}: in use by pid {live_pid} on ")
    assert sorted(p.name for p in out.iterdir()) == before


def test_leftovers_of_interrupted_writes_are_removed(tmp_path):
    (tmp_path / "points" / "000").mkdir(parents=True)
    left = [tmp_path / ".params.msgpack.ab12.tmp", tmp_path / "points/000/.metrics.csv.x.tmp"]
    for p in left:
        p.write_bytes(b"partial")
    (tmp_path / "metrics.csv").write_text("kept")
    files.remove_partial_writes(tmp_path)
    assert not any(p.exists() for p in left) and (tmp_path / "metrics.csv").exists()


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--capacity", "1000000000"], ["does not fit in device memory", "the limit is"]),
        (["--seeds", "100000000"], ["does not fit in host memory", "the limit is"]),
        (["--learning-starts", "400"], ["learning_starts (400) must be < total_steps (400)"]),
    ],
)
def test_runs_that_cannot_fit_or_never_learn_are_refused(tmp_path, extra, words):
    out = tmp_path / "run"
    code, lines = _main([*tiny_pendulum_args(), *extra, "--out", str(out)])
    assert code == 2 and len(lines) == 1, lines
    assert all(w in lines[0] for w in words), lines
    assert "MiB" in lines[0] or "learning_starts" in lines[0]
    assert not out.exists()


def test_outputs_guard_states_estimate_and_limit():
    check_outputs_fit(10, 100, 2000)
    with pytest.raises(DoesNotFit, match="need about 0.0 MiB .* the limit is 0.0 MiB"):
        check_outputs_fit(11, 100, 2000)


CHAIN = Config(
    env="chain-chunks-test", total_steps=800, num_envs=4, capacity=256, batch_size=32,
    learning_starts=100, train_every=4, target_period=40, eval_every=200, eval_episodes=2,
    hidden=(8,),
)  # fmt: skip


def test_chunks_equal_one_call_for_the_whole_run():
    """The engine's default (one period per call, queued in chunks) against one call."""
    if CHAIN.env not in envs.known_names():
        envs.register(CHAIN.env, lambda: (Chain(), None))
    axis = RunAxis((CHAIN,), 3, 5)
    build = lambda progress: make_dqn(CHAIN, progress=progress)  # noqa: E731
    whole = execute(build, axis, segment_periods=CHAIN.num_evals, devices=jax.devices()[:1])
    chunked = execute(build, axis, devices=jax.devices()[:1])
    for k in whole.rows:
        np.testing.assert_array_equal(chunked.rows[k], whole.rows[k], err_msg=k)
    for a, b in zip(jax.tree.leaves(whole.params), jax.tree.leaves(chunked.params), strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ConfigError, match="do not divide 4"):
        execute(build, axis, segment_periods=3)
