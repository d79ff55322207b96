"""Runs that survive: SIGKILL and resume, a kill during a checkpoint write, the NaN guard."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from chain_env import Chain
from tiny_run import tiny_pendulum_args

from purejaxdqn import envs, load_params, results
from purejaxdqn.checkpoint import FAULT_ENV
from purejaxdqn.config import Config
from purejaxdqn.run import train_and_report
from purejaxdqn.train import make_train

TINY = [*tiny_pendulum_args(600), "--quiet"]


_CACHE: dict[str, str] = {}


@pytest.fixture(scope="module", autouse=True)
def shared_compilation_cache(tmp_path_factory):
    """The subprocesses share JAX's persistent compilation cache, so a resumed run reuses
    the program its first attempt compiled (as a user's can, with the same variables)."""
    _CACHE.update(
        JAX_COMPILATION_CACHE_DIR=str(tmp_path_factory.mktemp("jax-cache")),
        JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
        JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="-1",
    )
    yield
    _CACHE.clear()


def _run(*args: str, fault: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **_CACHE}
    env.pop(FAULT_ENV, None)
    if fault is not None:
        env[FAULT_ENV] = fault
    return subprocess.run(
        [sys.executable, "-m", "purejaxdqn.run", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    """The reference: the same config in one piece, no checkpoints (one chunk of 3 periods)."""
    out = tmp_path_factory.mktemp("full") / "run"
    proc = _run(*TINY, "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    return out


def test_sigkill_mid_run_and_during_a_checkpoint_write_then_resume(uninterrupted, tmp_path):
    out = tmp_path / "run"
    # 1. SIGKILL right after the first checkpoint (env step 200 of 600) is committed.
    killed = _run(*TINY, "--checkpoint-every", "200", "--out", str(out), fault="after:1")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    ckpts = out / "checkpoints"
    assert sorted(p.name for p in ckpts.iterdir()) == ["period-000001"]
    assert not results.is_complete(out) and not (out / "metrics.csv").exists()

    # 2. Resume, and SIGKILL in the middle of writing the next checkpoint (data written,
    #    not yet committed): the committed one must stay usable.
    killed = _run("--resume", str(out), "--quiet", fault="during:1")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert "resumed from" in killed.stderr
    assert sorted(p.name for p in ckpts.iterdir()) == ["period-000001", "tmp-000002"]

    # 3. Resume again: it starts from period 1 again and finishes.
    done = _run("--resume", str(out), "--quiet")
    assert done.returncode == 0, done.stderr
    assert "period-000001 (env step 200)" in done.stderr
    assert results.is_complete(out) and not ckpts.exists()

    # Identical to the uninterrupted run, although it ran in 1-period chunks and was killed.
    for name in ("metrics.csv", "params.msgpack"):
        assert (out / name).read_bytes() == (uninterrupted / name).read_bytes(), name
    ref, got = load_params(uninterrupted), load_params(out)
    for a, b in zip(jax.tree.leaves(ref), jax.tree.leaves(got), strict=True):
        np.testing.assert_array_equal(a, b)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["resumed"] is True and summary["diverged_count"] == 0

    # Resuming a finished run does nothing and says so.
    again = _run("--resume", str(out), "--quiet")
    assert again.returncode == 0 and "already complete" in again.stderr


def test_resume_errors_are_one_line(tmp_path):
    missing = _run("--resume", str(tmp_path / "nope"))
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines() == [
        f"error: --resume {tmp_path / 'nope'}: not a run directory (no config.json)"
    ]
    mixed = _run("--resume", str(tmp_path), "--lr", "0.1")
    assert mixed.returncode == 2 and len(mixed.stderr.strip().splitlines()) == 1
    assert "drop --lr" in mixed.stderr


# --- NaN guard ------------------------------------------------------------------------
NAN_ENV = "chain-nan-guard-test"
NAN_CONFIG = Config(
    env=NAN_ENV,
    total_steps=800,
    num_envs=4,
    capacity=800,
    batch_size=16,
    learning_starts=100,
    train_every=4,
    target_period=40,
    eval_every=400,
    eval_episodes=2,
    hidden=(8,),
    loss="mse",
)
POISONED = 3
SEEDS = 8


def _hp_with_nan_lr(seeds: list[int]):
    hp = NAN_CONFIG.hyperparams()
    lr = jnp.array([jnp.nan if s == POISONED else NAN_CONFIG.lr for s in seeds], jnp.float32)
    return jax.tree.map(lambda x: jnp.full((len(seeds),), x), hp).replace(lr=lr)


@pytest.fixture(scope="module")
def poisoned_run(tmp_path_factory):
    if NAN_ENV not in envs.known_names():
        envs.register(NAN_ENV, lambda: (Chain(), None))
    out = tmp_path_factory.mktemp("nan") / "run"
    rc = train_and_report(
        NAN_CONFIG, SEEDS, 0, out, quiet=True, hp=_hp_with_nan_lr(list(range(SEEDS)))
    )
    assert rc == 0
    return out


def test_nan_seed_is_flagged_and_reported(poisoned_run, capsys):
    summary = json.loads((poisoned_run / "summary.json").read_text())
    # The first learning phase is at env step 100 (learning_starts, a multiple of 4).
    assert summary["diverged_count"] == 1
    assert summary["diverged_seeds"] == [{"seed": POISONED, "env_step": 100}]
    params = load_params(poisoned_run)
    for leaf in jax.tree.leaves(params):  # the guard kept the poisoned seed's params finite
        assert np.all(np.isfinite(leaf))


def test_nan_seed_does_not_touch_the_others(poisoned_run):
    """The seven healthy seeds equal a run of those seven alone, bit for bit."""
    healthy = [s for s in range(SEEDS) if s != POISONED]
    env, env_params = Chain(), None
    train = make_train(NAN_CONFIG, env, env_params)
    keys = jax.vmap(jax.random.key)(jnp.array(healthy))
    alone = jax.jit(jax.vmap(train))(keys, _hp_with_nan_lr(healthy))
    assert np.all(np.asarray(alone.diverged_step) == -1)
    got = load_params(poisoned_run)
    for a, b in zip(jax.tree.leaves(alone.params), jax.tree.leaves(got), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b)[healthy])
    rows = results.read_metrics_csv(poisoned_run)
    returns = rows["eval_return"].astype(np.float32)
    np.testing.assert_array_equal(np.asarray(alone.metrics["eval_return"]), returns[healthy])
