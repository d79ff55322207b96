"""Sweeps: one program over points x seeds, equal to the points trained alone, sharded over
devices, chunked under a memory limit, with its outputs and its one-line errors."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
from chain_env import Chain

from purejaxdqn import envs, sweep
from purejaxdqn.config import Config
from purejaxdqn.results import iqm
from purejaxdqn.run import build_parser, config_from_args
from purejaxdqn.train import make_dqn, make_train

ENV = "chain-sweep-test"
FLAGS = [
    "--env", ENV,
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
    "--loss", "mse",
    "--quiet",
]  # fmt: skip
GRID = ["lr=1e-3,3e-2", "gamma=0.9"]
SEEDS = 3  # 2 points x 3 seeds = 6 runs: padded to 8 on 4 devices


def chain_config() -> Config:
    """The base config of the CLI flags above (built the way the CLI builds it)."""
    return config_from_args(build_parser().parse_args(FLAGS))[0]


@pytest.fixture(scope="module", autouse=True)
def chain_registered():
    try:
        envs.register(ENV, Chain)
    except ValueError:  # registered by an earlier module in this process
        pass


@pytest.fixture(scope="module")
def swept():
    """The sweep on one device, in one call of one compiled program."""
    points = sweep.grid_points(sweep.parse_grid(GRID))
    result = sweep.run_sweep(chain_config(), points, SEEDS, env=Chain(), devices=jax.devices()[:1])
    assert result.plan.chunks == 1 and result.plan.devices == 1
    return result


def _cli(argv: list[str], capsys) -> tuple[int, str, str]:
    code = sweep.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# ---------------------------------------------------------------------------------------
# The spec.


def test_grid_is_the_cartesian_product():
    dims = sweep.parse_grid(["lr=1e-4,3e-4,1e-3", "gamma=0.99,0.995", "exploration-steps=500"])
    points = sweep.grid_points(dims)
    assert len(points) == 6
    assert points[0] == {"lr": 1e-4, "gamma": 0.99, "exploration_steps": 500.0}
    assert points[1] == {"lr": 1e-4, "gamma": 0.995, "exploration_steps": 500.0}
    assert {(p["lr"], p["gamma"]) for p in points} == {
        (lr, g) for lr in (1e-4, 3e-4, 1e-3) for g in (0.99, 0.995)
    }
    assert dims[0].log_scale and not dims[1].log_scale


def test_random_points_are_reproducible_and_in_range():
    dims = sweep.parse_space(
        ["lr=loguniform:1e-5:1e-2", "tau=uniform:0.001:0.1", "eps_end=choice:0.01,0.05"]
    )
    points = sweep.random_points(dims, 200, seed=3)
    assert points == sweep.random_points(dims, 200, seed=3)
    assert points != sweep.random_points(dims, 200, seed=4)
    lr = np.array([p["lr"] for p in points])
    tau = np.array([p["tau"] for p in points])
    assert np.all((lr >= 1e-5) & (lr <= 1e-2)) and np.all((tau >= 0.001) & (tau <= 0.1))
    assert {p["eps_end"] for p in points} == {0.01, 0.05}
    # Log-uniform: each decade of the three gets about a third of the draws.
    decades = np.histogram(np.log10(lr), bins=[-5, -4, -3, -2])[0]
    assert np.all(decades > 40), decades


def test_plan_chunks_by_hand():
    # 10 runs on 4 devices: 3 per device; 2 runs per device fit -> 2 chunks of 2 per device.
    plan = sweep.plan_chunks(10, 4, bytes_per_run=100, limit_bytes=450)
    assert (plan.chunks, plan.runs_per_call, plan.padded_runs) == (2, 8, 16)
    assert plan.estimate_bytes_per_device == 2 * 100 * 2
    assert sweep.plan_chunks(10, 4, 100, 10_000).chunks == 1
    assert sweep.plan_chunks(10, 4, 100, 10_000).runs_per_call == 12
    with pytest.raises(sweep.SweepError, match="does not fit"):
        sweep.plan_chunks(10, 4, 100, 199)


def test_memory_estimate_is_the_replay_buffer_plus_the_rest():
    cfg = chain_config()
    small = sweep.estimate_run_bytes(cfg, Chain())
    big = sweep.estimate_run_bytes(cfg.replace(capacity=512), Chain())
    # A transition: obs and next_obs (5 float32 each), action int32, reward f32, terminated
    # and truncated (bools).
    transition = 2 * 5 * 4 + 4 + 4 + 1 + 1
    assert big - small == 256 * transition
    # The rest against jax.eval_shape of init and of the whole trainer (its outputs).
    hp = cfg.hyperparams()
    key = jax.random.key(0)
    state = jax.eval_shape(make_dqn(cfg, Chain()).init, key, hp)
    output = jax.eval_shape(make_train(cfg, Chain()), key, hp)

    def nbytes(tree):
        leaves = jax.tree.leaves(tree.replace(key=jax.ShapeDtypeStruct((2,), np.uint32)))
        return sum(np.prod(x.shape, dtype=int) * np.dtype(x.dtype).itemsize for x in leaves)

    outputs = sum(np.prod(x.shape, dtype=int) * 4 for x in jax.tree.leaves(output))
    hp_bytes = sum(np.asarray(x).nbytes for x in jax.tree.leaves(hp))  # float32 scalars
    assert small == nbytes(state) + outputs + hp_bytes + 4  # + the int32 seed


def test_ranking_is_the_iqm_by_numpy():
    rng = np.random.default_rng(0)
    final = rng.normal(size=(5, 8)) * 10
    final[:, 0] = 1e6  # an outlier per point that the IQM drops
    final[3] = final[1]  # a tie keeps the point order
    by_hand = np.sort(final, axis=1)[:, 2:6].mean(axis=1)  # middle half of 8 seeds
    ranking = sweep.rank_points(final)
    assert [r["point"] for r in ranking] == list(np.argsort(-by_hand, kind="stable"))
    for r in ranking:
        np.testing.assert_allclose(r["final_return_iqm"], by_hand[r["point"]])
        lo, hi = r["final_return_ci95"]
        assert lo <= r["final_return_iqm"] <= hi


def test_plot_of_a_random_sweep(tmp_path):
    dims = sweep.parse_space(["lr=loguniform:1e-5:1e-2", "tau=uniform:0.01:1"])
    points = sweep.random_points(dims, 6)
    final = np.random.default_rng(1).normal(size=(6, 4))
    sweep.plot_sweep(tmp_path / "p.png", dims, points, final, title="t")
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------------------------------
# One program: a point in the sweep equals the point trained alone.


def test_point_in_sweep_equals_point_trained_alone(swept):
    p, i = 1, 2  # lr=3e-2, seed 2
    cfg = chain_config().replace(**swept.points[p])
    assert cfg == swept.configs[p] and cfg.lr == 3e-2
    alone = jax.jit(make_train(cfg, Chain()))(jax.random.key(i))
    in_sweep = jax.tree.map(lambda x: x[p, i], swept.params)
    for a, b in zip(jax.tree.leaves(alone.params), jax.tree.leaves(in_sweep), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(swept.eval_return[p, i], alone.metrics["eval_return"])
    # Not vacuous: the other point (another lr), same seed, ends elsewhere.
    other = jax.tree.leaves(jax.tree.map(lambda x: x[0, i], swept.params))[0]
    assert not np.allclose(other, jax.tree.leaves(in_sweep)[0], atol=1e-4)


def test_sweep_shapes_and_auc(swept):
    num_evals = chain_config().num_evals
    assert swept.eval_return.shape == (2, SEEDS, num_evals + 1)
    np.testing.assert_array_equal(swept.env_steps, [0, 200, 400])
    np.testing.assert_array_equal(swept.final_return, swept.eval_return[..., -1])
    # AUC by hand: trapezoid over [0, 200, 400] / 400 = (r0 + 2 r1 + r2) / 4.
    r = swept.eval_return.astype(np.float64)
    np.testing.assert_allclose(swept.auc, (r[..., 0] + 2 * r[..., 1] + r[..., 2]) / 4)


# ---------------------------------------------------------------------------------------
# Devices: 4 virtual CPU devices give the 1-device results, really sharded.


def test_four_devices_equal_one_device(swept, tmp_path):
    worker = Path(__file__).with_name("sweep_devices_worker.py")
    npz = tmp_path / "four.npz"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run(
        [sys.executable, str(worker), str(npz)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    info = json.loads(lines[-1][len("RESULT ") :])
    assert info["devices"] == 4 and info["plan_devices"] == 4 and info["padded_runs"] == 8
    assert info["device_sets"] == [4] and not info["fully_replicated"]
    assert info["global_rows"] == [8] and info["shard_rows"] == [2]  # 6 runs + 2 padding

    # Measured: eval returns bit-identical, params within 2e-7 (XLA batches the matmuls of
    # 2 runs per device differently from 6 runs on one device).
    four = np.load(npz)
    np.testing.assert_allclose(four["eval_return"], swept.eval_return, rtol=0, atol=1e-6)
    for k, leaf in enumerate(jax.tree.leaves(swept.params)):
        np.testing.assert_allclose(four[f"param{k}"], leaf, rtol=0, atol=1e-6)


# ---------------------------------------------------------------------------------------
# The command line: chunked under a memory limit, its outputs, its errors.


@pytest.fixture(scope="module")
def cli_chunked(tmp_path_factory, chain_registered):
    """``main`` with a limit that fits 2 runs per device: 3 chunks of one program."""
    out = tmp_path_factory.mktemp("sweeps") / "chunked"
    per_run = sweep.estimate_run_bytes(chain_config(), Chain())
    limit_gb = 2.5 * sweep.SAFETY_FACTOR * per_run / 2**30
    argv = [*FLAGS, "--seeds", str(SEEDS), "--grid", *GRID, "--out", str(out)]
    argv += ["--max-memory-gb", repr(limit_gb)]
    err, std = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(std):
        code = sweep.main(argv)
    assert code == 0, err.getvalue()
    return out, err.getvalue(), std.getvalue()


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path) as f:
        return list(csv.DictReader(f))


def test_chunked_sweep_equals_one_chunk(cli_chunked, swept):
    out, err, _ = cli_chunked
    assert "3 sequential chunks of 2 runs" in err
    summary = json.loads((out / sweep.SUMMARY_FILE).read_text())
    assert summary["chunks"] == 3 and summary["runs_per_call"] == 2
    rows = _read_csv(out / sweep.CSV_FILE)
    # Measured bit-identical on this machine's CPU; the tolerance allows other XLA builds.
    final = np.array([float(r["final_return"]) for r in rows]).reshape(2, SEEDS)
    auc = np.array([float(r["auc"]) for r in rows]).reshape(2, SEEDS)
    np.testing.assert_allclose(final, swept.final_return, rtol=0, atol=1e-6)
    np.testing.assert_allclose(auc, swept.auc, rtol=0, atol=1e-6)


def test_outputs(cli_chunked):
    out, _, stdout = cli_chunked
    for name in (sweep.CSV_FILE, sweep.SUMMARY_FILE, sweep.PLOT_FILE, sweep.BEST_CONFIG_FILE):
        assert (out / name).stat().st_size > 0, name
    assert not (out / "RUNNING").exists()
    assert "point" in stdout and "env-steps/s" in stdout

    rows = _read_csv(out / sweep.CSV_FILE)
    assert len(rows) == 2 * SEEDS
    assert list(rows[0]) == ["point", "seed", "lr", "gamma", "final_return", "auc"]
    assert [(int(r["point"]), int(r["seed"])) for r in rows] == [
        (p, s) for p in range(2) for s in range(SEEDS)
    ]
    assert [float(r["lr"]) for r in rows] == [1e-3] * SEEDS + [3e-2] * SEEDS

    # The ranking, recomputed with NumPy: IQM = mean of the middle half of the sorted seeds
    # (3 seeds: trim floor(0.75) = 0 from each end, i.e. the plain mean).
    final = np.array([float(r["final_return"]) for r in rows]).reshape(2, SEEDS)
    by_hand = np.sort(final, axis=1).mean(axis=1)
    np.testing.assert_allclose(by_hand, [iqm(f) for f in final])
    summary = json.loads((out / sweep.SUMMARY_FILE).read_text())
    ranking = summary["ranking"]
    assert [r["point"] for r in ranking] == sorted(range(2), key=lambda p: -by_hand[p])
    for r in ranking:
        np.testing.assert_allclose(r["final_return_iqm"], by_hand[r["point"]])
        lo, hi = r["final_return_ci95"]
        assert lo <= r["final_return_iqm"] <= hi
        assert r["values"]["lr"] == [1e-3, 3e-2][r["point"]]
    best = ranking[0]["point"]
    assert summary["best"]["point"] == best
    assert summary["points"] == 2 and summary["seeds"] == SEEDS and summary["runs"] == 6
    assert summary["env_steps_per_second"] > 0

    # best_config.json reruns the best point with purejaxdqn.run.
    saved = json.loads((out / sweep.BEST_CONFIG_FILE).read_text())
    config, seeds, seed = config_from_args(
        build_parser().parse_args(["--config", str(out / sweep.BEST_CONFIG_FILE)])
    )
    assert config == chain_config().replace(lr=[1e-3, 3e-2][best], gamma=0.9)
    assert (seeds, seed) == (SEEDS, 0)
    assert {**config.to_dict(), "seeds": seeds, "seed": seed} == saved


@pytest.mark.parametrize(
    "spec, message",
    [
        (["--grid", "nonsense=1,2"], "unknown field 'nonsense'"),
        (["--grid", "hidden=32,64"], "hidden is a static field"),
        (["--grid", "capacity=1000,2000"], "capacity is a static field"),
        (["--grid", "lr="], "lr: empty value"),
        (["--grid", "lr=1e-3,"], "lr: empty value"),
        (["--grid", "lr=abc"], "lr: 'abc' is not a number"),
        (["--grid", "lr"], "expected name=values"),
        (["--grid", "gamma=0.9,1.5"], "gamma must be in [0, 1]"),
        (["--grid", "lr=1e-3", "lr=1e-2"], "lr is given more than once"),
        (["--random", "4", "--space", "lr=normal:1:2"], "unknown distribution 'normal'"),
        (["--random", "4", "--space", "lr=uniform:1e-2:1e-3"], "lo < hi"),
        (["--random", "4", "--space", "lr=loguniform:0:1e-3"], "lo > 0"),
        (["--random", "4", "--space", "lr=uniform:1e-3"], "expected uniform:lo:hi"),
        (["--random", "0", "--space", "lr=uniform:0.1:0.2"], "--random must be >= 1"),
        (["--random", "4"], "--random needs --space"),
        (["--grid", "lr=1e-3", "--random", "4"], "not allowed with argument"),
        (["--grid", "lr=1e-3", "--seeds", "x"], "invalid int value"),
        ([], "give --grid"),
        (["--grid", "lr=1e-3", "--max-memory-gb", "1e-12"], "does not fit in device memory"),
    ],
)
def test_bad_spec_exits_2_with_one_line(spec, message, tmp_path, capsys):
    out = tmp_path / "out"
    code, stdout, err = _cli([*FLAGS, *spec, "--out", str(out)], capsys)
    assert code == 2
    assert err.startswith("error: ") and message in err, err
    assert len(err.strip().splitlines()) == 1 and stdout == ""
    assert not out.exists()


def test_refusal_gives_estimate_and_limit(capsys, tmp_path):
    per_run = sweep.estimate_run_bytes(chain_config(), Chain())
    out = tmp_path / "out"
    argv = [*FLAGS, "--grid", "lr=1e-3", "--max-memory-gb", "1e-6", "--out", str(out)]
    code, _, err = _cli(argv, capsys)
    assert code == 2
    need = f"{per_run * sweep.SAFETY_FACTOR / 2**20:,.1f} MiB"
    assert need in err and f"{2**30 * 1e-6 / 2**20:,.1f} MiB per device" in err, err
    assert not out.exists()


def test_static_field_error_in_a_real_process(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "purejaxdqn.sweep", "--grid", "num_envs=4,8", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    assert "num_envs is a static field" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not out.exists()
