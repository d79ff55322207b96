"""End to end: ``python -m purejaxdqn.run`` on a tiny config, then ``purejaxdqn.evaluate``;
the run sharded over 4 devices, non-finite returns, the MJX pendulum backend."""

from __future__ import annotations

import csv
import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from chain_env import Chain
from tiny_run import CHAIN_FLAGS as TINY_CHAIN_FLAGS
from tiny_run import TESTS_DIR, python, read_strict_json, tiny_pendulum_args

from purejaxdqn import envs, load_params, run
from purejaxdqn.cli.flags import config_from_args
from purejaxdqn.rundir import files

TINY = tiny_pendulum_args(400)
FILES = ("config.json", "metrics.csv", "summary.json", "learning_curve.png", "params.msgpack")


def _run(*args: str, cwd=None):
    return python(*args, cwd=cwd)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "tiny"
    # One device: the reference of the sharded run below (the command line's default is one
    # CPU device per core, tests/test_cpu_devices.py).
    proc = _run("-m", "purejaxdqn.run", *TINY, "--cpu-devices", "1", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    return out, proc


def test_run_writes_every_file(run_dir):
    out, proc = run_dir
    for name in FILES:
        assert (out / name).stat().st_size > 0, name
    assert not (out / "RUNNING").exists()
    assert "compiling" in proc.stderr
    assert "final return IQM" in proc.stdout

    config = json.loads((out / "config.json").read_text())
    assert config["env"] == "InvertedPendulum-v5" and config["seeds"] == 2
    assert config["total_steps"] == 400 and config["hidden"] == [16] and config["lr"] == 3e-4

    with open(out / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 * 3  # seeds x (initial + 2 evals)
    assert list(rows[0])[:6] == ["seed", "env_steps", "eval_return", "loss", "q_mean", "epsilon"]
    assert sorted({int(r["env_steps"]) for r in rows}) == [0, 200, 400]

    summary = json.loads((out / "summary.json").read_text())
    for key in (
        "env", "seeds", "total_steps", "final_return_iqm", "final_return_ci95",
        "final_return_per_seed", "solved_fraction", "compile_seconds", "train_seconds",
        "env_steps_per_second",
    ):  # fmt: skip
        assert key in summary, key
    assert summary["devices"] == 1 and summary["groups"] == 1 and summary["resumed"] is False
    assert len(summary["final_return_per_seed"]) == 2
    final = [float(r["eval_return"]) for r in rows if int(r["env_steps"]) == 400]
    np.testing.assert_allclose(summary["final_return_per_seed"], final, rtol=1e-6)

    params = load_params(out)
    leaves = [np.asarray(x) for x in jax.tree.leaves(params)]
    assert all(leaf.shape[0] == 2 for leaf in leaves)


def test_evaluate_reads_the_run_back_in_gymnasium(run_dir):
    out, _ = run_dir
    proc = _run("-m", "purejaxdqn.evaluate", str(out), "--episodes", "2")
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "evaluate.json").read_text())
    assert report["backend"] == "gymnasium" and report["env"] == "InvertedPendulum-v5"
    returns = np.asarray(report["returns"])
    assert returns.shape == (2, 2)
    assert np.all((returns >= 1) & (returns <= 1000))


def test_rerun_into_same_dir_with_other_config_is_refused(run_dir):
    out, _ = run_dir
    proc = _run("-m", "purejaxdqn.run", *TINY, "--lr", "1e-3", "--out", str(out))
    assert proc.returncode == 2
    assert "different run" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["--gamma", "1.5"], "gamma"),
        (["--env", "NoSuchEnv-v0"], "NoSuchEnv-v0"),
        (["--batch-size", "512", "--capacity", "100"], "batch_size"),
        (["--config", "/nonexistent/config.json"], "config"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, args, message):
    out = tmp_path / "out"
    proc = _run("-m", "purejaxdqn.run", *args, "--out", str(out))
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_config_file_of_a_run_reruns_it_exactly(run_dir):
    out, _ = run_dir
    saved = json.loads((out / "config.json").read_text())
    config, seeds, seed, every = config_from_args(
        run.build_parser().parse_args(["--config", str(out / "config.json")])
    )
    assert every is None
    assert {**config.to_dict(), "seeds": seeds, "seed": seed} == saved
    # Explicit flags still win over the file.
    config, seeds, _, _ = config_from_args(
        run.build_parser().parse_args(["--config", str(out / "config.json"), "--seeds", "3"])
    )
    assert seeds == 3 and config.lr == 3e-4


# ---------------------------------------------------------------------------------------
# Devices: the run's seeds sharded over virtual CPU devices give the 1-device run.


def test_run_shards_seeds_over_the_devices_it_needs(run_dir, tmp_path):
    one, _ = run_dir
    four = tmp_path / "four"
    worker = TESTS_DIR / "sweep_devices_worker.py"
    proc = _run(str(worker), "run", *TINY, "--quiet", "--out", str(four))
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    info = json.loads(lines[-1][len("RESULT ") :])
    assert info["rc"] == 0 and info["devices"] == 4 and info["arrays"] > 0
    # 2 seeds on 2 of the 4 devices (not padded to 4 runs), one per device; nothing
    # replicated. (Padding: the 4-device sweep test, 6 runs on 4 devices.)
    assert info["device_sets"] == [2] and not info["fully_replicated"]
    assert info["global_rows"] == [2] and info["shard_rows"] == [1]
    summary = json.loads((four / "summary.json").read_text())
    assert summary["devices"] == 2 and summary["groups"] == 1
    assert files.is_complete(four)
    assert json.loads((four / "config.json").read_text()) == json.loads(
        (one / "config.json").read_text()
    )

    # Measured on this machine's CPU (jax 0.10.2): eval_return, epsilon and train_return are
    # bit-identical to the 1-device run, params within 3e-8, loss within 3e-7 (relative
    # 1.5e-7), q_mean within 2e-8: XLA batches the matmuls of 1 run per device differently
    # from 2 runs on one device (as the 4-device sweep test measures).
    got, ref = files.read_metrics_csv(four), files.read_metrics_csv(one)
    assert sorted(got) == sorted(ref)
    np.testing.assert_array_equal(got["env_steps"], ref["env_steps"])
    np.testing.assert_allclose(got["eval_return"], ref["eval_return"], rtol=0, atol=1e-6)
    for name in ("loss", "q_mean"):
        np.testing.assert_allclose(got[name], ref[name], rtol=1e-5, atol=1e-6, err_msg=name)
    ref_params = jax.tree.leaves(load_params(one))
    for a, b in zip(jax.tree.leaves(load_params(four)), ref_params, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


# ---------------------------------------------------------------------------------------
# A run whose returns are not finite still finishes and says so.

NONFINITE_ENV = "chain-nonfinite-returns-test"


class NonFiniteChain(Chain):
    """The chain whose last step of every episode pays a non-finite reward: +inf when it
    reaches the goal, NaN when it is cut by the time limit (every return is not finite)."""

    def step(self, key, state, action, params):
        obs, state, reward, terminated, truncated, info = super().step(key, state, action, params)
        reward = jnp.where(terminated, jnp.inf, jnp.where(truncated, jnp.nan, reward))
        return obs, state, reward, terminated, truncated, info


CHAIN_FLAGS = [*TINY_CHAIN_FLAGS, "--seeds", "3"]


@pytest.fixture(scope="module")
def nonfinite_run(tmp_path_factory):
    """``run.main`` in this process (the env registry is per process)."""
    if NONFINITE_ENV not in envs.known_names():
        envs.register(NONFINITE_ENV, NonFiniteChain)
    out = tmp_path_factory.mktemp("nonfinite") / "run"
    return out, ["--env", NONFINITE_ENV, *CHAIN_FLAGS, "--out", str(out)]


def test_non_finite_returns_end_with_exit_0_and_a_complete_run(nonfinite_run, capsys):
    out, argv = nonfinite_run
    assert run.main(argv) == 0
    stdout = capsys.readouterr().out
    assert files.is_complete(out)
    for name in FILES:
        assert (out / name).stat().st_size > 0, name
    rows = files.read_metrics_csv(out)
    assert not np.isfinite(rows["eval_return"]).any()

    summary = read_strict_json(out / "summary.json")  # strict JSON: nulls, no NaN/Infinity
    assert summary["final_return_per_seed"] == [None, None, None]
    assert summary["final_return_iqm"] is None and summary["final_return_ci95"] == [None, None]
    assert summary["final_return_mean"] is None
    assert summary["seeds"] == 3 and summary["diverged_count"] == 3  # the TD targets too

    (iqm_line,) = [ln for ln in stdout.splitlines() if ln.startswith("final return IQM")]
    value = iqm_line.removeprefix("final return IQM").split()[0]
    assert value in ("nan", "inf", "n/a"), stdout
    assert iqm_line.endswith("(no CI: a final return is not finite)"), stdout
    (diverged,) = [ln for ln in stdout.splitlines() if ln.startswith("diverged seeds")]
    assert diverged.split()[2] == "3/3", stdout


# ---------------------------------------------------------------------------------------
# The pendulum's MJX backend from the command line.


@pytest.mark.slow  # compiling MJX's step into a training program: over a minute on 2 cores
def test_env_backend_mjx_runs_and_is_saved(tmp_path, capsys):
    out = tmp_path / "mjx"
    argv = [*tiny_pendulum_args(200), "--env-backend", "mjx", "--quiet", "--out", str(out)]
    assert run.main(argv) == 0
    assert "final return IQM" in capsys.readouterr().out
    config = json.loads((out / "config.json").read_text())
    assert config["env_kwargs"] == {"backend": "mjx"}
    assert files.is_complete(out)
    returns = files.read_metrics_csv(out)["eval_return"]
    assert returns.shape == (2, 2) and np.all((returns >= 1) & (returns <= 1000))
    # --config of the run's config.json reruns it on MJX (the backend is part of the config).
    config, *_ = config_from_args(
        run.build_parser().parse_args(["--config", str(out / "config.json")])
    )
    assert config.env_kwargs == {"backend": "mjx"}
    assert math.isfinite(json.loads((out / "summary.json").read_text())["final_return_iqm"])


def test_env_backend_mjx_is_part_of_the_config(tmp_path):
    """What the slow MJX run checks of the config, without compiling it."""
    args = run.build_parser().parse_args([*tiny_pendulum_args(200), "--env-backend", "mjx"])
    config, *_ = config_from_args(args)
    assert config.env_kwargs == {"backend": "mjx"}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config.to_dict()))
    again, *_ = config_from_args(run.build_parser().parse_args(["--config", str(path)]))
    assert again.env_kwargs == {"backend": "mjx"} and again == config
