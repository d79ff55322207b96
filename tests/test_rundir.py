"""Tests for purejaxdqn.rundir: atomic files, metrics, summary, plots, params, run state."""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.stats

from purejaxdqn import rundir
from purejaxdqn.config import ConfigError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def test_atomic_write_overwrites_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "sub" / "file.txt"
    rundir.atomic_write_text(path, "first")
    rundir.atomic_write_text(path, "second ✓")
    assert path.read_text(encoding="utf-8") == "second ✓"
    rundir.atomic_write_bytes(path, b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    assert os.listdir(path.parent) == ["file.txt"]


def test_atomic_write_failure_keeps_old_file(tmp_path, monkeypatch):
    path = tmp_path / "file.txt"
    rundir.atomic_write_text(path, "old")

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        rundir.atomic_write_text(path, "new")
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["file.txt"]


def test_write_config(tmp_path):
    config = {
        "lr": np.float32(2.5e-4),
        "env": "CartPole-v1",
        "seeds": np.int64(8),
        "layers": (64, 64),
        "nested": {"b": 1, "a": np.array([1.0, 2.0])},
    }
    rundir.write_config(tmp_path, config)
    text = (tmp_path / "config.json").read_text()
    loaded = json.loads(text)
    assert loaded == {
        "env": "CartPole-v1",
        "layers": [64, 64],
        "lr": float(np.float32(2.5e-4)),
        "nested": {"a": [1.0, 2.0], "b": 1},
        "seeds": 8,
    }
    assert list(loaded) == sorted(loaded)
    assert "\n  " in text  # indented


def _metrics(n_seeds, n_points, shared_steps=True):
    rng = np.random.default_rng(5)
    steps = np.arange(1, n_points + 1, dtype=np.int64) * 1000
    if not shared_steps:
        steps = np.tile(steps, (n_seeds, 1)) + np.arange(n_seeds)[:, None]
    metrics = {
        "env_steps": steps,
        "eval_return": rng.normal(100.0, 30.0, size=(n_seeds, n_points)).astype(np.float32),
        "loss": rng.exponential(size=(n_seeds, n_points)).astype(np.float32) / 3.0,
        "q_mean": rng.normal(size=(n_seeds, n_points)),  # float64
        "epsilon": np.full((n_seeds, n_points), 0.1, dtype=np.float32),
        "zeta": rng.normal(scale=1e-8, size=(n_seeds, n_points)).astype(np.float32),
        "alpha": rng.integers(0, 10, size=(n_seeds, n_points)).astype(np.int32),
    }
    return metrics


@pytest.mark.parametrize("shared_steps", [True, False])
def test_metrics_csv_round_trip(tmp_path, shared_steps):
    n_seeds, n_points = 3, 5
    metrics = _metrics(n_seeds, n_points, shared_steps)
    metrics["eval_return"][0, 0] = np.float32(1.0) / np.float32(3.0)  # needs 9 digits
    rundir.write_metrics_csv(tmp_path, metrics)

    with open(tmp_path / "metrics.csv", newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = list(reader)
    assert header == [
        "seed",
        "env_steps",
        "eval_return",
        "loss",
        "q_mean",
        "epsilon",
        "alpha",
        "zeta",
    ]
    assert len(rows) == n_seeds * n_points
    steps = np.broadcast_to(metrics["env_steps"], (n_seeds, n_points))
    for i, row in enumerate(rows):
        s, t = divmod(i, n_points)
        values = dict(zip(header, row, strict=True))
        assert int(values["seed"]) == s
        assert int(values["env_steps"]) == steps[s, t]
        assert int(values["alpha"]) == metrics["alpha"][s, t]
        for name in ("eval_return", "loss", "q_mean", "epsilon", "zeta"):
            original = metrics[name][s, t]
            # Parsing and casting back to the written dtype recovers the value exactly.
            assert original.dtype.type(float(values[name])) == original, name
    assert rows[0][header.index("epsilon")] == "0.1"  # float32 written short, not 0.10000000149

    read = rundir.read_metrics_csv(tmp_path)
    np.testing.assert_array_equal(read["env_steps"], steps)
    np.testing.assert_array_equal(read["eval_return"].astype(np.float32), metrics["eval_return"])
    np.testing.assert_array_equal(read["q_mean"], metrics["q_mean"])


def test_metrics_csv_validation(tmp_path):
    metrics = _metrics(2, 3)
    del metrics["loss"]
    with pytest.raises(KeyError, match="loss"):
        rundir.write_metrics_csv(tmp_path, metrics)
    metrics = _metrics(2, 3)
    metrics["q_mean"] = np.zeros((3, 2))
    with pytest.raises(ValueError, match="q_mean"):
        rundir.write_metrics_csv(tmp_path, metrics)
    assert not (tmp_path / "metrics.csv").exists()


def test_summarize_hand_example(tmp_path):
    final = np.array([500.0, 480.0, 500.0, 200.0, 495.0], dtype=np.float32)
    summary = rundir.summarize(
        "CartPole-v1",
        final,
        reward_threshold=475.0,
        total_steps=500_000,
        compile_seconds=12.5,
        train_seconds=4.0,
        env_steps_total=1_000_000,
        extra={"algo": "dqn", "lr": np.float32(0.5), "flags": np.array([1, 2])},
    )
    assert summary["env"] == "CartPole-v1"
    assert summary["seeds"] == 5
    assert summary["total_steps"] == 500_000
    # n = 5: trim one from each end; sorted 200 | 480 495 500 | 500
    assert summary["final_return_iqm"] == pytest.approx((480 + 495 + 500) / 3)
    assert summary["final_return_mean"] == pytest.approx(435.0)
    # deviations 65 45 65 -235 60; squares sum to 69300; population std
    assert summary["final_return_std"] == pytest.approx(math.sqrt(69300 / 5))
    assert summary["final_return_per_seed"] == [500.0, 480.0, 500.0, 200.0, 495.0]
    lo, hi = summary["final_return_ci95"]
    assert lo <= summary["final_return_iqm"] <= hi
    assert summary["reward_threshold"] == 475.0
    assert summary["solved_seeds"] == 4  # 500, 480, 500, 495
    assert summary["solved_fraction"] == pytest.approx(0.8)
    assert summary["compile_seconds"] == 12.5
    assert summary["train_seconds"] == 4.0
    assert summary["env_steps_per_second"] == pytest.approx(250_000.0)
    assert summary["algo"] == "dqn" and summary["lr"] == 0.5 and summary["flags"] == [1, 2]

    # Plain JSON types only: strict JSON round trip gives the same dict.
    assert json.loads(json.dumps(summary, allow_nan=False)) == summary
    rundir.write_summary(tmp_path, summary)
    assert json.loads((tmp_path / "summary.json").read_text()) == summary


def test_summarize_without_threshold_and_single_seed():
    summary = rundir.summarize("Pendulum", np.array([-150.0]), None, 100, 1.0, 0.0, 100)
    assert summary["solved_fraction"] is None
    assert summary["solved_seeds"] is None
    assert summary["reward_threshold"] is None
    assert summary["final_return_ci95"] == [-150.0, -150.0]
    assert summary["final_return_std"] == 0.0
    assert summary["env_steps_per_second"] is None  # train_seconds == 0
    json.dumps(summary, allow_nan=False)


def test_summarize_nan_seed_is_strict_json():
    summary = rundir.summarize("X", np.array([1.0, np.nan, 3.0]), 2.0, 10, 1.0, 1.0, 10)
    assert summary["final_return_per_seed"] == [1.0, None, 3.0]
    assert summary["final_return_ci95"] == [None, None]
    assert summary["solved_seeds"] == 1
    json.dumps(summary, allow_nan=False)


# --------------------------------------------------------------------------------------------
# Plot
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("n_seeds", "threshold"), [(8, 475.0), (1, None)])
def test_plot_learning_curve_writes_png(tmp_path, n_seeds, threshold):
    steps = np.linspace(0, 100_000, 20)
    returns = np.random.default_rng(6).normal(size=(n_seeds, 20)).cumsum(axis=1) * 10 + 200
    path = rundir.plot_learning_curve(tmp_path, steps, returns, "CartPole-v1", threshold)
    assert path == tmp_path / "learning_curve.png"
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 5000
    assert os.listdir(tmp_path) == ["learning_curve.png"]  # no temp files left


def test_plot_learning_curve_shape_mismatch(tmp_path):
    with pytest.raises(ValueError):
        rundir.plot_learning_curve(tmp_path, np.arange(5), np.zeros((2, 4)), "x")


# --------------------------------------------------------------------------------------------
# Params
# --------------------------------------------------------------------------------------------


def _params(n_seeds):
    rng = np.random.default_rng(7)
    return {
        "params": {
            "Dense_0": {
                "kernel": rng.normal(size=(n_seeds, 4, 8)).astype(np.float32),
                "bias": rng.normal(size=(n_seeds, 8)).astype(np.float32),
            },
            "Dense_1": {
                "kernel": rng.normal(size=(n_seeds, 8, 2)).astype(np.float32),
                "bias": np.zeros((n_seeds, 2), np.float32),
            },
        },
        "step": np.arange(n_seeds, dtype=np.int32) * 100,
    }


def _assert_tree_equal(actual, expected):
    assert isinstance(actual, dict)
    assert set(actual) == set(expected)
    for key, value in expected.items():
        if isinstance(value, dict):
            _assert_tree_equal(actual[key], value)
        else:
            assert isinstance(actual[key], np.ndarray)
            assert actual[key].dtype == value.dtype, key
            np.testing.assert_array_equal(actual[key], value)


def test_params_round_trip_and_seed_slicing(tmp_path):
    params = _params(3)
    path = rundir.save_params(tmp_path, params)
    assert path == tmp_path / "params.msgpack"
    assert os.listdir(tmp_path) == ["params.msgpack"]

    _assert_tree_equal(rundir.load_params(tmp_path), params)
    for seed in (0, 2, -1):
        expected = {
            "params": {
                layer: {k: v[seed] for k, v in leaves.items()}
                for layer, leaves in params["params"].items()
            },
            "step": params["step"][seed],
        }
        loaded = rundir.load_params(tmp_path, seed=seed)
        assert loaded["params"]["Dense_0"]["kernel"].shape == (4, 8)
        _assert_tree_equal(loaded, expected)
    with pytest.raises(IndexError):
        rundir.load_params(tmp_path, seed=3)


def test_save_params_accepts_jax_arrays(tmp_path):
    jnp = pytest.importorskip("jax.numpy")
    params = {"Dense_0": {"kernel": jnp.ones((2, 3, 4)), "bias": jnp.zeros((2, 4), jnp.int32)}}
    rundir.save_params(tmp_path, params)
    loaded = rundir.load_params(tmp_path, seed=1)
    np.testing.assert_array_equal(loaded["Dense_0"]["kernel"], np.ones((3, 4), np.float32))
    assert loaded["Dense_0"]["bias"].dtype == np.int32


def test_save_params_rejects_inconsistent_seed_axis(tmp_path):
    with pytest.raises(ValueError):
        rundir.save_params(tmp_path, {"a": np.zeros((2, 3)), "b": np.zeros((3, 3))})
    with pytest.raises(ValueError):
        rundir.save_params(tmp_path, {"a": np.float32(1.0)})


def test_summarize_statistics_against_scipy():
    final = np.random.default_rng(10).normal(50.0, 5.0, size=9)
    summary = rundir.summarize("X", final, None, 10, 1.0, 2.0, 90)
    assert summary["final_return_iqm"] == pytest.approx(scipy.stats.trim_mean(final, 0.25))
    reference = scipy.stats.bootstrap(
        (final,),
        lambda s, axis: scipy.stats.trim_mean(s, 0.25, axis=axis),
        n_resamples=2000,
        method="percentile",
        rng=np.random.default_rng(0),
    ).confidence_interval
    assert summary["final_return_ci95"] == pytest.approx([reference.low, reference.high])
    assert summary["env_steps_per_second"] == 45.0


# --------------------------------------------------------------------------------------------
# jsonable, fsync_dir
# --------------------------------------------------------------------------------------------


def test_jsonable_converts_to_plain_types():
    value = {
        1: (np.int32(3), np.bool_(True), Path("a/b")),
        "x": np.array([[1.5, np.nan]]),
        "inf": np.float32(np.inf),
        "none": None,
    }
    assert rundir.jsonable(value, finite_only=False) == {
        "1": [3, True, "a/b"],
        "x": [[1.5, pytest.approx(math.nan, nan_ok=True)]],
        "inf": math.inf,
        "none": None,
    }
    strict = rundir.jsonable(value, finite_only=True)
    assert strict["x"] == [[1.5, None]] and strict["inf"] is None
    assert type(strict["1"][0]) is int and type(strict["1"][1]) is bool
    with pytest.raises(TypeError):
        rundir.jsonable(object(), finite_only=True)


def test_fsync_dir_ignores_missing_directories(tmp_path):
    rundir.fsync_dir(tmp_path)
    rundir.fsync_dir(tmp_path / "missing")


# --------------------------------------------------------------------------------------------
# Run directory location and identity
# --------------------------------------------------------------------------------------------


def test_default_run_dir_and_run_entries():
    path = rundir.default_run_dir("ns:Env/v1", prefix="sweep-")
    assert path.parent == Path("runs")
    assert path.name.startswith("sweep-ns_Env_v1-") and "/" not in path.name
    assert rundir.run_entries(4, 2, None) == {"seeds": 4, "seed": 2}
    assert rundir.run_entries(4, 2, 100) == {"seeds": 4, "seed": 2, "checkpoint_every": 100}


def test_check_run_dir(tmp_path):
    expected = {"env": "X", "lr": 0.001, "hidden": [8], **rundir.run_entries(2, 0, None)}
    rundir.check_run_dir(tmp_path / "missing", expected)  # a new directory is fine
    rundir.check_run_dir(tmp_path, expected)  # so is one without config.json
    rundir.write_config(tmp_path, expected)
    rundir.check_run_dir(tmp_path, expected)  # the same run (resumed or rerun)
    with pytest.raises(ConfigError, match="already holds a different run"):
        rundir.check_run_dir(tmp_path, {**expected, "lr": 0.002})
    (tmp_path / "config.json").write_text("{broken")
    with pytest.raises(ConfigError, match="already holds a different run"):
        rundir.check_run_dir(tmp_path, expected)
    afile = tmp_path / "file"
    afile.write_text("")
    with pytest.raises(ConfigError, match="exists and is not a directory") as info:
        rundir.check_run_dir(afile, expected)
    assert "\n" not in str(info.value)


# --------------------------------------------------------------------------------------------
# Sweep plot
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["grid", "uniform"])
def test_plot_sweep_takes_any_dimension_objects(tmp_path, kind):
    dims = [
        SimpleNamespace(name="lr", kind=kind, log_scale=True),
        SimpleNamespace(name="gamma", kind="choice", log_scale=False),
    ]
    points = [{"lr": lr, "gamma": g} for lr in (1e-4, 1e-3, 1e-2) for g in (0.9, 0.99)]
    final = np.random.default_rng(11).normal(size=(6, 4))
    final[0, 0] = np.nan  # dropped from its value's statistics
    path = tmp_path / "sweep.png"
    rundir.plot_sweep(path, dims, points, final, title="t")
    assert path.read_bytes()[:8] == PNG_MAGIC
    assert os.listdir(tmp_path) == ["sweep.png"]


# --------------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------------


def test_checkpointer_round_trip(tmp_path):
    """A snapshot mid-group and one at a group boundary come back as saved; two are kept."""
    from typing import NamedTuple

    jax = pytest.importorskip("jax")
    from purejaxdqn.engine.engine import Snapshot

    class State(NamedTuple):
        params: dict
        key: object

    state = State({"w": np.arange(6, dtype=np.float32).reshape(2, 3)}, jax.random.key(3))
    rows = {"eval_return": np.ones((2, 4), np.float32)}
    done = {
        "rows": {"eval_return": np.full((2, 5), 7.0, np.float32)},
        "params": {"w": np.zeros((2, 3), np.float32)},
        "diverged_step": np.array([-1, 40], np.int32),
    }
    layout = {"groups": 2, "runs_per_group": 2, "devices": 1}
    ckpt = rundir.Checkpointer(tmp_path, meta={"seeds": 2})
    assert ckpt.latest() is None and ckpt.restore_latest(state) is None
    first = ckpt.save(Snapshot(0, 2, state, rows, None), {"layout": layout})
    ckpt.save(Snapshot(0, 3, state, rows, None), {"layout": layout})
    path = ckpt.save(Snapshot(1, 1, state, rows, done), {"layout": layout})
    assert ckpt.latest() == path and path.parent.name == rundir.CHECKPOINT_DIR
    assert [p.name for p in ckpt.committed()] == ["g0000-p000003", "g0001-p000001"]
    assert not first.exists()
    meta = rundir.Checkpointer.read_meta(path)
    assert meta["seeds"] == 2 and meta["group"] == 1 and meta["next_period"] == 1

    snap = ckpt.restore_latest(jax.eval_shape(lambda: state))
    assert (snap.group, snap.next_period, snap.layout) == (1, 1, layout)
    np.testing.assert_array_equal(snap.state.params["w"], state.params["w"])
    np.testing.assert_array_equal(
        jax.random.key_data(snap.state.key), jax.random.key_data(state.key)
    )
    np.testing.assert_array_equal(snap.rows["eval_return"], rows["eval_return"])
    np.testing.assert_array_equal(snap.done["rows"]["eval_return"], done["rows"]["eval_return"])
    np.testing.assert_array_equal(snap.done["params"]["w"], done["params"]["w"])
    np.testing.assert_array_equal(snap.done["diverged_step"], done["diverged_step"])

    boundary = ckpt.save(Snapshot(2, 0, None, {}, done), {"layout": layout})
    snap = rundir.Checkpointer.restore(boundary, jax.eval_shape(lambda: state))
    assert snap.state is None and snap.rows == {} and snap.group == 2
    np.testing.assert_array_equal(snap.done["diverged_step"], done["diverged_step"])


# --------------------------------------------------------------------------------------------
# Run state
# --------------------------------------------------------------------------------------------


def test_run_markers(tmp_path):
    run_dir = tmp_path / "run"
    assert not rundir.is_complete(run_dir)
    rundir.mark_incomplete(run_dir)
    assert (run_dir / "RUNNING").exists()
    assert not rundir.is_complete(run_dir)
    rundir.mark_complete(run_dir)
    assert rundir.is_complete(run_dir)
    assert os.listdir(run_dir) == []
    rundir.mark_complete(run_dir)  # idempotent
    assert rundir.is_complete(run_dir)
