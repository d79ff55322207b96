"""Sweeps: one program over points x seeds, equal to the points trained alone, sharded over
devices, cut into groups under a memory limit, killed and resumed, with its outputs and its
one-line errors.

The spec's own tests (grid product, random points, their errors) are in
``tests/test_search_space.py``, the ranking's in ``tests/test_stats.py``.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import signal
from pathlib import Path
from types import SimpleNamespace

import jax
import numpy as np
import pytest
from chain_env import Chain
from tiny_run import CHAIN_FLAGS, TESTS_DIR, compilation_cache_env, python, signal_when

from purejaxdqn import envs, load_params, report, search_space, sweep
from purejaxdqn.cli.flags import config_from_args
from purejaxdqn.config import Config
from purejaxdqn.dqn import make_dqn, make_train
from purejaxdqn.engine import layout as layout_lib
from purejaxdqn.engine.engine import execute
from purejaxdqn.engine.layout import RunAxis
from purejaxdqn.engine.loop import PAUSE_ENV
from purejaxdqn.rundir import files, plots
from purejaxdqn.stats import iqm

ENV = "chain-sweep-test"
FLAGS = ["--env", ENV, *CHAIN_FLAGS, "--loss", "l2"]
GRID = ["lr=1e-3,3e-2", "gamma=0.9"]
SEEDS = 3  # 2 points x 3 seeds = 6 runs: padded to 8 on 4 devices
POINT_FILES = ("config.json", "metrics.csv", "params.msgpack", "summary.json", "learning_curve.png")


def chain_config() -> Config:
    """The base config of the CLI flags above (built the way the CLI builds it)."""
    return config_from_args(sweep.build_parser().parse_args(FLAGS))[0]


def bytes_per_run() -> int:
    config = chain_config()
    return layout_lib.estimate_run_bytes(make_dqn(config, Chain()), config)


def limit_gb(runs_per_device: float) -> float:
    """A ``--max-memory-gb`` that fits ``floor(runs_per_device)`` runs per device."""
    return runs_per_device * layout_lib.SAFETY_FACTOR * bytes_per_run() / 2**30


@pytest.fixture(scope="module", autouse=True)
def chain_registered():
    try:
        envs.register(ENV, Chain)
    except ValueError:  # registered by an earlier module in this process
        pass


@pytest.fixture(scope="module")
def swept():
    """The sweep through the engine on one device, in one group of one compiled program."""
    config = chain_config()
    values = search_space.grid_points(search_space.parse_grid(GRID))
    axis = RunAxis(tuple(search_space.point_configs(config, values)), SEEDS, 0)
    result = execute(
        lambda progress: make_dqn(config, Chain(), None, progress),
        axis,
        devices=jax.devices()[:1],
    )
    assert result.layout.groups == 1 and result.layout.devices == 1
    points = report.points_of(result, axis)
    return SimpleNamespace(
        values=values,
        axis=axis,
        result=result,
        points=points,
        eval_return=np.stack([p.rows["eval_return"] for p in points]),  # [P, S, T]
        env_steps=points[0].rows["env_steps"][0],
        final_return=np.stack([p.final_return for p in points]),
        auc=np.stack([p.auc for p in points]),
    )


def _cli(argv: list[str], capsys) -> tuple[int, str, str]:
    code = sweep.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# ---------------------------------------------------------------------------------------
# The spec and the layout.


def test_plot_of_a_random_sweep(tmp_path):
    dims = search_space.parse_space(["lr=loguniform:1e-5:1e-2", "tau=uniform:0.01:1"])
    points = search_space.random_points(dims, 6)
    final = np.random.default_rng(1).normal(size=(6, 4))
    plots.plot_sweep(tmp_path / "p.png", dims, points, final, title="t")
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plan_layout_by_hand():
    # 10 runs on 4 devices: 3 per device; 2 runs per device fit -> 2 groups of 2 per device.
    plan = layout_lib.plan_layout(10, 4, bytes_per_run=100, limit_bytes=450)
    assert (plan.groups, plan.runs_per_group, plan.padded_runs) == (2, 8, 16)
    assert plan.estimate_bytes_per_device == 2 * 100 * 2
    # The last group is padded by repeating the last run.
    np.testing.assert_array_equal(plan.group_index(1), [8, 9, 9, 9, 9, 9, 9, 9])
    assert layout_lib.plan_layout(10, 4, 100, 10_000).groups == 1
    assert layout_lib.plan_layout(10, 4, 100, 10_000).runs_per_group == 12
    with pytest.raises(layout_lib.DoesNotFit, match="does not fit"):
        layout_lib.plan_layout(10, 4, 100, 199)


def test_run_axis_is_points_times_seeds():
    configs = search_space.point_configs(chain_config(), [{"lr": 1e-3}, {"lr": 3e-2}])
    axis = RunAxis(tuple(configs), seeds=3, seed=5)
    assert (axis.points, axis.runs) == (2, 6)
    np.testing.assert_array_equal(axis.seed_of(np.arange(6)), [5, 6, 7, 5, 6, 7])
    hp = axis.hyperparams(np.arange(6))
    np.testing.assert_array_equal(hp.lr, np.float32([1e-3] * 3 + [3e-2] * 3))
    assert float(hp.gamma[0]) == np.float32(configs[0].gamma)


def test_memory_estimate_is_the_replay_buffer_plus_the_rest():
    cfg = chain_config()
    small = layout_lib.estimate_run_bytes(make_dqn(cfg, Chain()), cfg)
    big_cfg = cfg.replace(capacity=512)
    big = layout_lib.estimate_run_bytes(make_dqn(big_cfg, Chain()), big_cfg)
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

    outputs = sum(
        np.prod(x.shape, dtype=int) * np.dtype(x.dtype).itemsize for x in jax.tree.leaves(output)
    )
    hp_bytes = sum(np.asarray(x).nbytes for x in jax.tree.leaves(hp))  # float32 scalars
    assert small == nbytes(state) + outputs + hp_bytes + 4  # + the int32 seed


# ---------------------------------------------------------------------------------------
# One program: a point in the sweep equals the point trained alone.


def test_point_in_sweep_equals_point_trained_alone(swept):
    p, i = 1, 2  # lr=3e-2, seed 2
    cfg = chain_config().replace(**swept.values[p])
    assert cfg == swept.axis.configs[p] and cfg.lr == 3e-2
    alone = jax.jit(make_train(cfg, Chain()))(jax.random.key(i))
    in_sweep = jax.tree.map(lambda x: x[i], swept.points[p].params)
    for a, b in zip(jax.tree.leaves(alone.params), jax.tree.leaves(in_sweep), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(swept.eval_return[p, i], alone.metrics["eval_return"])
    # Not vacuous: the other point (another lr), same seed, ends elsewhere.
    other = jax.tree.leaves(jax.tree.map(lambda x: x[i], swept.points[0].params))[0]
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
    worker = TESTS_DIR / "sweep_devices_worker.py"
    npz = tmp_path / "four.npz"
    proc = python(str(worker), "sweep", str(npz))
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    info = json.loads(lines[-1][len("RESULT ") :])
    assert info["devices"] == 4 and info["layout_devices"] == 4 and info["padded_runs"] == 8
    assert info["groups"] == 1 and info["arrays"] > 0
    assert info["device_sets"] == [4] and not info["fully_replicated"]
    assert info["global_rows"] == [8] and info["shard_rows"] == [2]  # 6 runs + 2 padding

    # Measured (jax 0.10.2, this CPU): eval returns bit-identical, params within 2.4e-7 (XLA
    # batches the matmuls of 2 runs per device differently from 6 runs on one device).
    four = np.load(npz)
    np.testing.assert_allclose(four["eval_return"], swept.eval_return, rtol=0, atol=1e-6)
    leaves = zip(*(jax.tree.leaves(p.params) for p in swept.points), strict=True)
    for k, leaf in enumerate(leaves):
        np.testing.assert_allclose(four[f"param{k}"], np.stack(leaf), rtol=0, atol=1e-6)


def test_runs_in_blocks_equal_one_vmap(swept):
    """A device's 6 runs trained 4 at a time (a block and a remainder of 2), as on CPU."""
    result = execute(
        lambda progress: make_dqn(chain_config(), Chain(), None, progress),
        swept.axis,
        devices=jax.devices()[:1],
        runs_per_block=4,
    )
    # As for the devices above: XLA may round a batch of 4 runs' matmuls differently.
    for k in result.rows:
        np.testing.assert_allclose(
            result.rows[k], swept.result.rows[k], rtol=0, atol=1e-5, equal_nan=True
        )
    for a, b in zip(
        jax.tree.leaves(result.params), jax.tree.leaves(swept.result.params), strict=True
    ):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


# ---------------------------------------------------------------------------------------
# The command line: grouped under a memory limit, its outputs, its errors.


@pytest.fixture(scope="module")
def cli_grouped(tmp_path_factory, chain_registered):
    """``main`` with a limit that fits 2 runs per device: 3 groups of one program."""
    out = tmp_path_factory.mktemp("sweeps") / "grouped"
    argv = [*FLAGS, "--seeds", str(SEEDS), "--grid", *GRID, "--out", str(out)]
    argv += ["--max-memory-gb", repr(limit_gb(2.5))]
    err, std = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(std):
        code = sweep.main(argv)
    assert code == 0, err.getvalue()
    return out, err.getvalue(), std.getvalue()


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path) as f:
        return list(csv.DictReader(f))


def test_grouped_sweep_equals_one_group(cli_grouped, swept):
    out, err, _ = cli_grouped
    assert "3 sequential groups of 2 runs" in err
    summary = json.loads((out / report.SWEEP_SUMMARY_FILE).read_text())
    assert summary["groups"] == 3 and summary["runs_per_group"] == 2
    assert summary["memory"]["bytes_per_run"] == bytes_per_run()
    assert summary["memory"]["limit_source"] == "--max-memory-gb"
    rows = _read_csv(out / report.SWEEP_CSV_FILE)
    # Measured bit-identical on this machine's CPU; the tolerance allows other XLA builds.
    final = np.array([float(r["final_return"]) for r in rows]).reshape(2, SEEDS)
    auc = np.array([float(r["auc"]) for r in rows]).reshape(2, SEEDS)
    np.testing.assert_allclose(final, swept.final_return, rtol=0, atol=1e-6)
    np.testing.assert_allclose(auc, swept.auc, rtol=0, atol=1e-6)


def test_outputs(cli_grouped):
    out, _, stdout = cli_grouped
    for name in (
        sweep.SPEC_FILE,
        report.SWEEP_CSV_FILE,
        report.SWEEP_SUMMARY_FILE,
        report.SWEEP_PLOT_FILE,
        report.BEST_CONFIG_FILE,
    ):
        assert (out / name).stat().st_size > 0, name
    assert not (out / "RUNNING").exists() and not (out / "checkpoints").exists()
    assert "point" in stdout and "env-steps/s" in stdout

    rows = _read_csv(out / report.SWEEP_CSV_FILE)
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
    summary = json.loads((out / report.SWEEP_SUMMARY_FILE).read_text())
    ranking = summary["ranking"]
    assert [r["point"] for r in ranking] == sorted(range(2), key=lambda p: -by_hand[p])
    for r in ranking:
        np.testing.assert_allclose(r["final_return_iqm"], by_hand[r["point"]])
        lo, hi = r["final_return_ci95"]
        assert lo <= r["final_return_iqm"] <= hi
        assert r["values"]["lr"] == [1e-3, 3e-2][r["point"]]
        assert r["run_dir"] == f"points/{r['point']:03d}"
    best = ranking[0]["point"]
    assert summary["best"]["point"] == best
    assert summary["points"] == 2 and summary["seeds"] == SEEDS and summary["runs"] == 6
    assert summary["env_steps_per_second"] > 0 and summary["resumed"] is False

    # best_config.json reruns the best point with purejaxdqn.run.
    saved = json.loads((out / report.BEST_CONFIG_FILE).read_text())
    config, seeds, seed, every = config_from_args(
        sweep.build_parser().parse_args(["--config", str(out / report.BEST_CONFIG_FILE)])
    )
    assert config == chain_config().replace(lr=[1e-3, 3e-2][best], gamma=0.9)
    assert (seeds, seed, every) == (SEEDS, 0, None)
    assert {**config.to_dict(), "seeds": seeds, "seed": seed} == saved

    # sweep.json is the spec --resume reads.
    spec = json.loads((out / sweep.SPEC_FILE).read_text())
    assert spec["points"] == [{"lr": 1e-3, "gamma": 0.9}, {"lr": 3e-2, "gamma": 0.9}]
    assert (spec["seeds"], spec["seed"], spec["max_memory_gb"]) == (SEEDS, 0, limit_gb(2.5))

    # Every point is a run directory, read like any run's.
    for p in range(2):
        run_dir = out / "points" / f"{p:03d}"
        for name in POINT_FILES:
            assert (run_dir / name).stat().st_size > 0, (p, name)
        point_config = json.loads((run_dir / "config.json").read_text())
        expected = chain_config().replace(lr=[1e-3, 3e-2][p], gamma=0.9)
        assert point_config == {**expected.to_dict(), "seeds": SEEDS, "seed": 0}
        metrics = files.read_metrics_csv(run_dir)
        assert metrics["eval_return"].shape == (SEEDS, 3)
        np.testing.assert_array_equal(metrics["eval_return"][:, -1], final[p])
        point_summary = json.loads((run_dir / "summary.json").read_text())
        assert point_summary["sweep_point"] == p and point_summary["values"] == spec["points"][p]
        assert point_summary["final_return_per_seed"] == final[p].tolist()
        assert all(leaf.shape[0] == SEEDS for leaf in jax.tree.leaves(load_params(run_dir)))


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
        (["--grid", "lr=1e-3", "--max-memory-gb", "0"], "--max-memory-gb must be > 0"),
        (["--grid", "lr=1e-3", "--checkpoint-every", "300"], "checkpoint_every (300)"),
    ],
)
def test_bad_spec_exits_2_with_one_line(spec, message, tmp_path, capsys):
    out = tmp_path / "out"
    code, stdout, err = _cli([*FLAGS, *spec, "--out", str(out)], capsys)
    assert code == 2
    assert err.startswith("error: ") and message in err, err
    assert len(err.strip().splitlines()) == 1 and stdout == ""
    assert not out.exists()


def test_error_line_is_the_message_unquoted(tmp_path, capsys):
    code, _, err = _cli([*FLAGS, "--grid", "lr=abc", "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and err == "error: lr: 'abc' is not a number\n"


def test_does_not_fit_is_one_line(tmp_path, capsys):
    out = tmp_path / "out"
    argv = [*FLAGS, "--grid", "lr=1e-3", "--max-memory-gb", "1e-12", "--out", str(out)]
    code, stdout, err = _cli(argv, capsys)
    assert code == 2 and stdout == "" and not out.exists()
    assert "does not fit in device memory" in err
    assert len(err.strip().splitlines()) == 1, err


def test_refusal_gives_estimate_and_limit(capsys, tmp_path):
    per_run = bytes_per_run()
    out = tmp_path / "out"
    argv = [*FLAGS, "--grid", "lr=1e-3", "--max-memory-gb", "1e-6", "--out", str(out)]
    code, _, err = _cli(argv, capsys)
    assert code == 2
    need = f"{per_run * layout_lib.SAFETY_FACTOR / 2**20:,.1f} MiB"
    assert need in err and f"{2**30 * 1e-6 / 2**20:,.1f} MiB per device" in err, err
    assert not out.exists()


def test_static_field_error_in_a_real_process(tmp_path):
    out = tmp_path / "out"
    proc = python(
        "-m", "purejaxdqn.sweep", "--grid", "num_envs=4,8", "--out", str(out), timeout=300
    )
    assert proc.returncode == 2
    assert "num_envs is a static field" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not out.exists()


# ---------------------------------------------------------------------------------------
# Killed and resumed: SIGKILL at a group boundary and mid-group, then --resume.

# The command line in a subprocess that knows the chain env (the registry is per process).
_CHAIN_SWEEP = (
    f"import sys; sys.path.insert(0, {str(TESTS_DIR)!r}); from chain_env import Chain; "
    f"from purejaxdqn import envs, sweep; envs.register({ENV!r}, Chain); "
    "sys.exit(sweep.main(sys.argv[1:]))"
)


@pytest.fixture(scope="module")
def sweep_cache(tmp_path_factory) -> dict[str, str]:
    """One compilation cache for the subprocess sweeps below (the same programs)."""
    return compilation_cache_env(tmp_path_factory.mktemp("jax-cache"))


@pytest.fixture(scope="module")
def resumed(tmp_path_factory, sweep_cache):
    """The grouped sweep with a checkpoint after every eval period (5 saves: g0000-p000001,
    g0001-p000000, g0001-p000001, g0002-p000000, g0002-p000001), killed after the 2nd save
    (a group boundary), resumed and killed after its 1st save (mid-group), resumed to the end.
    """
    out = tmp_path_factory.mktemp("resumed") / "sweep"
    cache = sweep_cache
    run = lambda *args, fault=None: python("-c", _CHAIN_SWEEP, *args, fault=fault, env=cache)
    argv = [*FLAGS, "--seeds", str(SEEDS), "--grid", *GRID, "--out", str(out)]
    argv += ["--max-memory-gb", repr(limit_gb(2.5)), "--checkpoint-every", "200"]
    ckpts = out / "checkpoints"
    steps = {}
    steps["boundary"] = run(*argv, fault="after:2")
    steps["boundary_ckpts"] = sorted(p.name for p in ckpts.iterdir())
    steps["boundary_files"] = sorted(p.name for p in out.iterdir())
    steps["mid"] = run("--resume", str(out), "--quiet", fault="after:1")
    steps["mid_ckpts"] = sorted(p.name for p in ckpts.iterdir())
    steps["done"] = run("--resume", str(out), "--quiet")
    steps["again"] = run("--resume", str(out), "--quiet")
    return out, steps


def test_sweep_killed_at_a_group_boundary_and_mid_group_resumes_identically(resumed, cli_grouped):
    out, steps = resumed
    reference, _, _ = cli_grouped
    ckpts = (out / "checkpoints").resolve()

    boundary = steps["boundary"]
    assert boundary.returncode == -signal.SIGKILL, boundary.stderr
    assert "3 sequential groups of 2 runs" in boundary.stderr
    assert steps["boundary_ckpts"] == ["g0000-p000001", "g0001-p000000"]
    # LOCK: the killed writer's, stale (taken over by the resume).
    assert steps["boundary_files"] == ["LOCK", "RUNNING", "checkpoints", sweep.SPEC_FILE]

    mid = steps["mid"]
    assert mid.returncode == -signal.SIGKILL, mid.stderr
    line = f"resumed from {ckpts / 'g0001-p000000'} (group 2/3, env step 0)"
    assert line in mid.stderr.splitlines(), mid.stderr
    assert steps["mid_ckpts"] == ["g0000-p000001", "g0001-p000000", "g0001-p000001"]

    done = steps["done"]
    assert done.returncode == 0, done.stderr
    line = f"resumed from {ckpts / 'g0001-p000001'} (group 2/3, env step 200)"
    assert line in done.stderr.splitlines(), done.stderr
    assert files.is_complete(out) and not ckpts.exists()
    summary = json.loads((out / report.SWEEP_SUMMARY_FILE).read_text())
    assert summary["resumed"] is True and summary["groups"] == 3

    # Byte for byte the uninterrupted sweep (which saved no checkpoint).
    assert (out / report.SWEEP_CSV_FILE).read_bytes() == (
        reference / report.SWEEP_CSV_FILE
    ).read_bytes()
    for p in range(2):
        for name in ("metrics.csv", "params.msgpack"):
            got = (out / "points" / f"{p:03d}" / name).read_bytes()
            assert got == (reference / "points" / f"{p:03d}" / name).read_bytes(), (p, name)
    ref_summary = json.loads((reference / report.SWEEP_SUMMARY_FILE).read_text())
    assert summary["ranking"] == ref_summary["ranking"] and summary["best"] == ref_summary["best"]

    again = steps["again"]
    assert again.returncode == 0 and "already complete" in again.stderr


def test_sweep_sigint_saves_what_it_reached_and_resumes_identically(
    cli_grouped, sweep_cache, tmp_path
):
    reference, _, _ = cli_grouped
    out = tmp_path / "sweep"
    env = {**sweep_cache, PAUSE_ENV: "1"}  # 1 s between chunks: the signal lands mid-run
    argv = [*FLAGS, "--seeds", str(SEEDS), "--grid", *GRID, "--out", str(out)]
    argv += ["--max-memory-gb", repr(limit_gb(2.5))]
    code, err, waited = signal_when(["-c", _CHAIN_SWEEP, *argv], "; training", env=env)
    assert code == 130, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("SIGINT: stopped at env step ") and last.endswith(
        f"resume with: python -m purejaxdqn.sweep --resume {out}"
    ), err
    assert 0 <= waited < 30
    summary = json.loads((out / report.SWEEP_SUMMARY_FILE).read_text())
    assert summary["interrupted"] is True and not files.is_complete(out)
    assert (out / "points" / "000" / "metrics.csv").is_file()  # the first group's rows so far
    done = python("-c", _CHAIN_SWEEP, "--resume", str(out), "--quiet", env=env)
    assert done.returncode == 0, done.stderr
    assert (out / report.SWEEP_CSV_FILE).read_bytes() == (
        reference / report.SWEEP_CSV_FILE
    ).read_bytes()
    for point in range(2):
        for name in ("metrics.csv", "params.msgpack"):
            got = (out / "points" / f"{point:03d}" / name).read_bytes()
            assert got == (reference / "points" / f"{point:03d}" / name).read_bytes(), name


@pytest.mark.parametrize(
    "flags, name",
    [
        (["--lr", "0.1"], "--lr"),
        (["--grid", "lr=1e-3"], "--grid"),
        (["--seeds", "2"], "--seeds"),
        (["--max-memory-gb", "1"], "--max-memory-gb"),
        (["--env-backend", "mjx"], "--env-backend"),
        (["--checkpoint-every", "400"], "--checkpoint-every"),
    ],
)
def test_resume_with_a_spec_flag_is_refused_in_one_line(resumed, flags, name, capsys):
    out, _ = resumed
    before = (out / sweep.SPEC_FILE).read_bytes()
    code, stdout, err = _cli(["--resume", str(out), *flags], capsys)
    assert code == 2 and stdout == ""
    (line,) = err.strip().splitlines()
    assert (
        line.startswith("error: ")
        and f"--resume continues a sweep as specified; drop {name}" in line
    )
    assert (out / sweep.SPEC_FILE).read_bytes() == before


def test_resume_of_a_directory_that_is_not_a_sweep(tmp_path, capsys):
    code, _, err = _cli(["--resume", str(tmp_path)], capsys)
    assert code == 2
    (line,) = err.strip().splitlines()
    assert line.startswith("error: ")
    assert f"--resume {tmp_path}: not a sweep directory (no {sweep.SPEC_FILE})" in line
