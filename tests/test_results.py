"""Tests for purejaxdqn.results: statistics against hand computations, files, plots."""

from __future__ import annotations

import csv
import json
import math
import os
import warnings

import numpy as np
import pytest

from purejaxdqn import results

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------------------------
# iqm
# --------------------------------------------------------------------------------------------


def test_iqm_n_divisible_by_4_is_mean_of_middle_half():
    x = [10.0, 0.0, 3.0, 100.0, 4.0, 1.0, 5.0, -50.0]
    # sorted: -50 0 | 1 3 4 5 | 10 100 -> middle half 1, 3, 4, 5
    assert results.iqm(x) == pytest.approx((1 + 3 + 4 + 5) / 4)
    assert isinstance(results.iqm(x), float)


def test_iqm_n_not_divisible_by_4_follows_trim_mean():
    # trim_mean cuts floor(0.25 * n) from each end.
    # n = 6: cut 1 each end. sorted -3 | 2 4 7 9 | 100
    assert results.iqm([9.0, -3.0, 2.0, 7.0, 4.0, 100.0]) == pytest.approx((2 + 4 + 7 + 9) / 4)
    # n = 5: cut 1 each end. sorted 1 | 2 3 4 | 50
    assert results.iqm([50.0, 1.0, 4.0, 2.0, 3.0]) == pytest.approx(3.0)
    # n = 3: floor(0.75) = 0, nothing is cut -> plain mean.
    assert results.iqm([0.0, 1.0, 8.0]) == pytest.approx(3.0)


def test_iqm_axis():
    x = np.array([[1.0, 2.0, 3.0, 100.0], [4.0, 4.0, 4.0, 4.0]])
    np.testing.assert_allclose(results.iqm(x, axis=1), [2.5, 4.0])
    np.testing.assert_allclose(results.iqm(x.T, axis=0), [2.5, 4.0])


# --------------------------------------------------------------------------------------------
# bootstrap_ci
# --------------------------------------------------------------------------------------------


def test_bootstrap_ci_two_points_hand_computed():
    # With x = [0, 1] the IQM of a resample is its mean: 0, 0.5 or 1 with probabilities
    # 1/4, 1/2, 1/4. The 2.5% and 97.5% percentiles are therefore 0 and 1.
    lo, hi = results.bootstrap_ci([0.0, 1.0])
    assert (lo, hi) == (0.0, 1.0)


def test_bootstrap_ci_brackets_iqm_and_matches_independent_bootstrap():
    x = np.random.default_rng(3).normal(10.0, 2.0, size=16)
    lo, hi = results.bootstrap_ci(x, n_resamples=20000)
    value = results.iqm(x)
    assert lo < value < hi
    # Independent percentile bootstrap written with NumPy and a different generator.
    idx = np.random.default_rng(12345).integers(0, x.size, size=(20000, x.size))
    boot = np.sort(x[idx], axis=1)[:, 4:12].mean(axis=1)  # IQM of 16 values: middle 8
    ref_lo, ref_hi = np.percentile(boot, [2.5, 97.5])
    tol = 0.05 * (ref_hi - ref_lo)  # Monte Carlo error of the percentiles
    assert lo == pytest.approx(ref_lo, abs=tol)
    assert hi == pytest.approx(ref_hi, abs=tol)


def test_bootstrap_ci_shrinks_with_more_seeds():
    rng = np.random.default_rng(0)
    few = rng.normal(size=8)
    many = rng.normal(size=256)
    lo_few, hi_few = results.bootstrap_ci(few)
    lo_many, hi_many = results.bootstrap_ci(many)
    assert hi_many - lo_many < 0.5 * (hi_few - lo_few)


def test_bootstrap_ci_reproducible_with_seed():
    x = np.random.default_rng(1).normal(size=10)
    assert results.bootstrap_ci(x, seed=7) == results.bootstrap_ci(x, seed=7)
    assert results.bootstrap_ci(x, seed=7) != results.bootstrap_ci(x, seed=8)


def test_bootstrap_ci_other_statistic_and_confidence():
    x = np.random.default_rng(2).normal(size=32)
    lo95, hi95 = results.bootstrap_ci(x, statistic=np.mean)
    lo50, hi50 = results.bootstrap_ci(x, statistic=np.mean, confidence=0.5)
    assert lo95 < lo50 < np.mean(x) < hi50 < hi95


@pytest.mark.parametrize("x", [[3.5], [2.0, 2.0, 2.0, 2.0], np.full(64, -1.25)])
def test_bootstrap_ci_degenerate(x):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lo, hi = results.bootstrap_ci(x)
    assert lo == hi == float(np.asarray(x)[0])
    assert not math.isnan(lo)


def test_bootstrap_ci_rejects_bad_input():
    with pytest.raises(ValueError):
        results.bootstrap_ci(np.zeros((2, 3)))
    with pytest.raises(ValueError):
        results.bootstrap_ci([])


# --------------------------------------------------------------------------------------------
# curve_stats
# --------------------------------------------------------------------------------------------


def test_curve_stats_matches_per_column_bootstrap_ci():
    # scipy draws one index matrix per resample batch and applies it to every column, so each
    # column sees the same resamples as a 1-D bootstrap with the same seed. Only floating
    # point summation order can differ, hence the tight tolerance instead of equality.
    returns = np.random.default_rng(4).normal(size=(64, 50)).cumsum(axis=1)
    center, lo, hi = results.curve_stats(returns, seed=3)
    assert center.shape == lo.shape == hi.shape == (50,)
    for t in range(0, 50, 7):
        ref = results.bootstrap_ci(returns[:, t], n_resamples=1000, seed=3)
        np.testing.assert_allclose((lo[t], hi[t]), ref, rtol=1e-12, atol=1e-12)
        assert center[t] == pytest.approx(results.iqm(returns[:, t]))
    assert np.all(lo <= center) and np.all(center <= hi)


def test_curve_stats_single_seed_and_constant_columns():
    curve = np.array([[1.0, 2.0, 3.0]])
    center, lo, hi = results.curve_stats(curve)
    np.testing.assert_array_equal(center, curve[0])
    np.testing.assert_array_equal(lo, curve[0])
    np.testing.assert_array_equal(hi, curve[0])

    returns = np.stack([np.array([5.0, 1.0, 7.0]), np.array([5.0, 2.0, 7.0])] * 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        center, lo, hi = results.curve_stats(returns)
    np.testing.assert_array_equal(lo[[0, 2]], [5.0, 7.0])
    np.testing.assert_array_equal(hi[[0, 2]], [5.0, 7.0])
    assert lo[1] < hi[1]


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def test_atomic_write_overwrites_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "sub" / "file.txt"
    results.atomic_write_text(path, "first")
    results.atomic_write_text(path, "second ✓")
    assert path.read_text(encoding="utf-8") == "second ✓"
    results.atomic_write_bytes(path, b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    assert os.listdir(path.parent) == ["file.txt"]


def test_atomic_write_failure_keeps_old_file(tmp_path, monkeypatch):
    path = tmp_path / "file.txt"
    results.atomic_write_text(path, "old")

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        results.atomic_write_text(path, "new")
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
    results.write_config(tmp_path, config)
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
    results.write_metrics_csv(tmp_path, metrics)

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

    read = results.read_metrics_csv(tmp_path)
    np.testing.assert_array_equal(read["env_steps"], steps)
    np.testing.assert_array_equal(read["eval_return"].astype(np.float32), metrics["eval_return"])
    np.testing.assert_array_equal(read["q_mean"], metrics["q_mean"])


def test_metrics_csv_validation(tmp_path):
    metrics = _metrics(2, 3)
    del metrics["loss"]
    with pytest.raises(KeyError, match="loss"):
        results.write_metrics_csv(tmp_path, metrics)
    metrics = _metrics(2, 3)
    metrics["q_mean"] = np.zeros((3, 2))
    with pytest.raises(ValueError, match="q_mean"):
        results.write_metrics_csv(tmp_path, metrics)
    assert not (tmp_path / "metrics.csv").exists()


def test_summarize_hand_example(tmp_path):
    final = np.array([500.0, 480.0, 500.0, 200.0, 495.0], dtype=np.float32)
    summary = results.summarize(
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
    results.write_summary(tmp_path, summary)
    assert json.loads((tmp_path / "summary.json").read_text()) == summary


def test_summarize_without_threshold_and_single_seed():
    summary = results.summarize("Pendulum", np.array([-150.0]), None, 100, 1.0, 0.0, 100)
    assert summary["solved_fraction"] is None
    assert summary["solved_seeds"] is None
    assert summary["reward_threshold"] is None
    assert summary["final_return_ci95"] == [-150.0, -150.0]
    assert summary["final_return_std"] == 0.0
    assert summary["env_steps_per_second"] is None  # train_seconds == 0
    json.dumps(summary, allow_nan=False)


def test_summarize_nan_seed_is_strict_json():
    summary = results.summarize("X", np.array([1.0, np.nan, 3.0]), 2.0, 10, 1.0, 1.0, 10)
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
    path = results.plot_learning_curve(tmp_path, steps, returns, "CartPole-v1", threshold)
    assert path == tmp_path / "learning_curve.png"
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 5000
    assert os.listdir(tmp_path) == ["learning_curve.png"]  # no temp files left


def test_plot_learning_curve_shape_mismatch(tmp_path):
    with pytest.raises(ValueError):
        results.plot_learning_curve(tmp_path, np.arange(5), np.zeros((2, 4)), "x")


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
    path = results.save_params(tmp_path, params)
    assert path == tmp_path / "params.msgpack"
    assert os.listdir(tmp_path) == ["params.msgpack"]

    _assert_tree_equal(results.load_params(tmp_path), params)
    for seed in (0, 2, -1):
        expected = {
            "params": {
                layer: {k: v[seed] for k, v in leaves.items()}
                for layer, leaves in params["params"].items()
            },
            "step": params["step"][seed],
        }
        loaded = results.load_params(tmp_path, seed=seed)
        assert loaded["params"]["Dense_0"]["kernel"].shape == (4, 8)
        _assert_tree_equal(loaded, expected)
    with pytest.raises(IndexError):
        results.load_params(tmp_path, seed=3)


def test_save_params_accepts_jax_arrays(tmp_path):
    jnp = pytest.importorskip("jax.numpy")
    params = {"Dense_0": {"kernel": jnp.ones((2, 3, 4)), "bias": jnp.zeros((2, 4), jnp.int32)}}
    results.save_params(tmp_path, params)
    loaded = results.load_params(tmp_path, seed=1)
    np.testing.assert_array_equal(loaded["Dense_0"]["kernel"], np.ones((3, 4), np.float32))
    assert loaded["Dense_0"]["bias"].dtype == np.int32


def test_save_params_rejects_inconsistent_seed_axis(tmp_path):
    with pytest.raises(ValueError):
        results.save_params(tmp_path, {"a": np.zeros((2, 3)), "b": np.zeros((3, 3))})
    with pytest.raises(ValueError):
        results.save_params(tmp_path, {"a": np.float32(1.0)})


# --------------------------------------------------------------------------------------------
# Printout and run state
# --------------------------------------------------------------------------------------------


def test_format_table():
    table = results.format_table([("env", "CartPole-v1"), ("final IQM", "500.0"), ("x", "")])
    assert table.splitlines() == ["env        CartPole-v1", "final IQM  500.0", "x"]
    assert results.format_table([]) == ""


def test_run_markers(tmp_path):
    run_dir = tmp_path / "run"
    assert not results.is_complete(run_dir)
    results.mark_incomplete(run_dir)
    assert (run_dir / "RUNNING").exists()
    assert not results.is_complete(run_dir)
    results.mark_complete(run_dir)
    assert results.is_complete(run_dir)
    assert os.listdir(run_dir) == []
    results.mark_complete(run_dir)  # idempotent
    assert results.is_complete(run_dir)
