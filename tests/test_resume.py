"""Runs that survive: SIGKILL and resume, a kill during a checkpoint write, the NaN guard."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from chain_env import Chain
from tiny_run import (
    compilation_cache_env,
    python,
    read_strict_json,
    signal_when,
    tiny_pendulum_args,
)

from purejaxdqn import envs, load_params, report, run
from purejaxdqn.cli.cpu_devices import available_cores
from purejaxdqn.config import Config
from purejaxdqn.dqn import make_dqn, make_train
from purejaxdqn.engine.engine import execute
from purejaxdqn.engine.layout import RunAxis
from purejaxdqn.engine.loop import PAUSE_ENV
from purejaxdqn.rundir import files
from purejaxdqn.rundir.checkpoint import FORMAT_VERSION, Checkpointer
from purejaxdqn.rundir.lock import LOCK_FILE

TINY = [*tiny_pendulum_args(600), "--quiet"]


_CACHE: dict[str, str] = {}


@pytest.fixture(scope="module", autouse=True)
def shared_compilation_cache(tmp_path_factory):
    """The subprocesses share JAX's persistent compilation cache, so a resumed run reuses
    the program its first attempt compiled (as a user's can, with the same variables)."""
    _CACHE.update(compilation_cache_env(tmp_path_factory.mktemp("jax-cache")))
    yield
    _CACHE.clear()


def _run(*args: str, fault: str | None = None):
    return python("-m", "purejaxdqn.run", *args, fault=fault, env=_CACHE)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    """The reference: the same config in one piece, no checkpoints (one segment of 3
    periods)."""
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
    assert sorted(p.name for p in ckpts.iterdir()) == ["g0000-p000001"]
    assert not files.is_complete(out) and not (out / "metrics.csv").exists()
    meta = Checkpointer.read_meta(ckpts / "g0000-p000001")
    assert meta["format_version"] == FORMAT_VERSION and meta["has_state"]
    assert (meta["group"], meta["next_period"], meta["seeds"]) == (0, 1, 2)
    # The command line's one CPU device per core (purejaxdqn.cli.cpu_devices); the resumes
    # below follow the checkpoint's count.
    devices = min(2, available_cores())
    assert meta["layout"] == {"groups": 1, "runs_per_group": 2, "devices": devices}

    # 2. Resume, and SIGKILL in the middle of writing the next checkpoint (data written,
    #    not yet committed): the committed one must stay usable.
    killed = _run("--resume", str(out), "--quiet", fault="during:1")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert "resumed from" in killed.stderr
    assert sorted(p.name for p in ckpts.iterdir()) == ["g0000-p000001", "tmp-g0000-p000002"]

    # 3. Resume again: it starts from period 1 again and finishes.
    done = _run("--resume", str(out), "--quiet")
    assert done.returncode == 0, done.stderr
    first = (ckpts / "g0000-p000001").resolve()
    assert f"resumed from {first} (env step 200)" in done.stderr.splitlines()
    assert files.is_complete(out) and not ckpts.exists()

    # Identical to the uninterrupted run, although it ran in 1-period segments and was
    # killed.
    for name in ("metrics.csv", "params.msgpack"):
        assert (out / name).read_bytes() == (uninterrupted / name).read_bytes(), name
    ref, got = load_params(uninterrupted), load_params(out)
    for a, b in zip(jax.tree.leaves(ref), jax.tree.leaves(got), strict=True):
        np.testing.assert_array_equal(a, b)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["resumed"] is True and summary["diverged_count"] == 0
    assert json.loads((uninterrupted / "summary.json").read_text())["resumed"] is False

    # Resuming a finished run does nothing and says so.
    again = _run("--resume", str(out), "--quiet")
    assert again.returncode == 0 and "already complete" in again.stderr


def _same_files(out: Path, reference: Path) -> None:
    for name in ("metrics.csv", "params.msgpack"):
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name


def _signalled(args: list[str], sig: int = signal.SIGINT, times: int = 1):
    """The run, sent ``sig`` once it starts training; chunks of one eval period, each
    followed by a 1 s pause, so that the signal lands while it trains."""
    argv = ["-m", "purejaxdqn.run", *args]
    return signal_when(argv, "; training", (sig,) * times, env={**_CACHE, PAUSE_ENV: "1"})


def test_sigint_then_two_sigterms_then_resume_is_byte_identical(uninterrupted, tmp_path):
    out = tmp_path / "run"
    resume = f"resume with: python -m purejaxdqn.run --resume {out}"
    code, err, _ = _signalled([*TINY, "--out", str(out)])
    assert code == 130, err
    assert err.strip().splitlines()[-1] == (
        "SIGINT: stopped at env step 200 of 600 (checkpoint saved, metrics so far written); "
        + resume
    )
    # The metrics so far (the first chunk: evaluations at steps 0 and 200), a summary that
    # says so, the checkpoint of that chunk, no lock, and the run still marked incomplete.
    rows, ref = files.read_metrics_csv(out), files.read_metrics_csv(uninterrupted)
    assert rows["env_steps"].tolist() == [[0, 200], [0, 200]]
    np.testing.assert_array_equal(rows["eval_return"], ref["eval_return"][:, :2])
    summary = read_strict_json(out / "summary.json")
    assert summary["interrupted"] is True and summary["env_steps_done"] == 200
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["g0000-p000001"]
    assert not (out / LOCK_FILE).exists() and not files.is_complete(out)

    # A second signal exits at once (143 for SIGTERM), before the next checkpoint.
    code, err, _ = _signalled(["--resume", str(out), "--quiet"], signal.SIGTERM, times=2)
    assert code == 143, err
    assert err.strip().splitlines()[-1] == f"SIGTERM again: stopped at once; {resume}"
    assert not (out / LOCK_FILE).exists()
    done = _run("--resume", str(out), "--quiet")
    assert done.returncode == 0, done.stderr
    assert f"resumed from {(out / 'checkpoints' / 'g0000-p000001').resolve()} (env step 200)" in (
        done.stderr.splitlines()
    )
    _same_files(out, uninterrupted)
    assert files.is_complete(out) and not (out / LOCK_FILE).exists()


def test_sigint_while_compiling_leaves_nothing(tmp_path):
    out = tmp_path / "run"
    argv = ["-m", "purejaxdqn.run", *TINY, "--hidden", "12", "--out", str(out)]  # not cached
    code, err, _ = signal_when(argv, "compiling ", env=_CACHE)
    assert code == 130, err
    assert err.strip().splitlines()[-1] == (
        f"SIGINT while compiling: stopped before training; removed {out}"
    )
    assert not out.exists()


def test_damaged_newest_checkpoint_falls_back_and_leftovers_go(uninterrupted, tmp_path):
    out = tmp_path / "run"
    killed = _run(*TINY, "--checkpoint-every", "200", "--out", str(out), fault="after:2")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    ckpts = out / "checkpoints"
    assert sorted(p.name for p in ckpts.iterdir()) == ["g0000-p000001", "g0000-p000002"]
    data = max((p for p in (ckpts / "g0000-p000002").rglob("*") if p.is_file()), key=_size)
    data.write_bytes(data.read_bytes()[: _size(data) // 2])  # truncated
    leftover = out / ".params.msgpack.x1y2.tmp"  # as a SIGKILL during a final write leaves
    leftover.write_bytes(b"partial")
    done = _run("--resume", str(out), "--quiet")
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    (warning,) = [ln for ln in lines if ln.startswith("warning:")]
    assert warning.startswith(
        f"warning: skipping damaged checkpoint {ckpts.resolve()}/g0000-p000002"
    )
    assert f"resumed from {(ckpts / 'g0000-p000001').resolve()} (env step 200)" in lines
    assert "Traceback" not in done.stderr and "Event loop is closed" not in done.stderr
    assert "taking over the stale lock" in done.stderr  # the SIGKILLed run's lock
    _same_files(out, uninterrupted)
    assert not leftover.exists()


def _size(path: Path) -> int:
    return path.stat().st_size


def test_resume_errors_are_one_line(tmp_path):
    missing = _run("--resume", str(tmp_path / "nope"))
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines() == [
        f"error: --resume {tmp_path / 'nope'}: not a run directory (no config.json)"
    ]
    mixed = _run("--resume", str(tmp_path), "--lr", "0.1")
    assert mixed.returncode == 2 and len(mixed.stderr.strip().splitlines()) == 1
    assert "drop --lr" in mixed.stderr


def test_resume_refuses_checkpoint_every_by_name(tmp_path, capsys):
    assert run.main(["--resume", str(tmp_path), "--checkpoint-every", "400"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "drop --checkpoint-every" in line


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
    loss="l2",
)
POISONED = 3
SEEDS = 8


def _hp_with_nan_lr(seeds: list[int]):
    hp = NAN_CONFIG.hyperparams()
    lr = jnp.array([jnp.nan if s == POISONED else NAN_CONFIG.lr for s in seeds], jnp.float32)
    return jax.tree.map(lambda x: jnp.full((len(seeds),), x), hp).replace(lr=lr)


def _poisoned(dqn):
    """``dqn`` whose seed ``POISONED`` (recognised by its key) trains with ``lr = NaN``."""
    bad = jax.random.key_data(jax.random.key(POISONED))

    def poison(key, hp):
        is_bad = jnp.all(jax.random.key_data(key) == bad)
        return hp.replace(lr=jnp.where(is_bad, jnp.float32(jnp.nan), hp.lr))

    return dqn._replace(
        start=lambda key, hp: dqn.start(key, poison(key, hp)),
        train_periods=lambda state, hp, periods: dqn.train_periods(
            state, poison(state.key, hp), periods
        ),
    )


@pytest.fixture(scope="module")
def poisoned_run(tmp_path_factory):
    """Seeds 0..7 through the engine and the report path, seed 3 with a NaN learning rate."""
    if NAN_ENV not in envs.known_names():
        envs.register(NAN_ENV, lambda: (Chain(), None))
    out = tmp_path_factory.mktemp("nan") / "run"
    axis = RunAxis((NAN_CONFIG,), SEEDS, 0)
    result = execute(
        lambda progress: _poisoned(make_dqn(NAN_CONFIG, progress=progress)),
        axis,
        devices=jax.devices()[:1],
    )
    (point,) = report.points_of(result, axis)
    files.write_summary(out, report.write_point(out, point, result, {}))
    return out


def test_nan_seed_is_flagged_and_reported(poisoned_run):
    summary = json.loads((poisoned_run / "summary.json").read_text())
    # The first learning phase is at env step 100 (learning_starts, a multiple of 4).
    assert summary["diverged_count"] == 1
    assert summary["diverged_seeds"] == [{"seed": POISONED, "env_step": 100}]
    # The guard never applied the poisoned seed's first update (NaN rate): its parameters
    # are still those it was initialized with.
    dqn = make_dqn(NAN_CONFIG)
    initial = jax.jit(dqn.init)(jax.random.key(POISONED), NAN_CONFIG.hyperparams()).params
    params = load_params(poisoned_run)
    for a, b in zip(jax.tree.leaves(initial), jax.tree.leaves(params), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b)[POISONED])


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
    rows = files.read_metrics_csv(poisoned_run)
    returns = rows["eval_return"].astype(np.float32)
    np.testing.assert_array_equal(np.asarray(alone.metrics["eval_return"]), returns[healthy])
