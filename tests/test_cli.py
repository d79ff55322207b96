"""End to end: ``python -m purejaxdqn.run`` on a tiny config, then ``purejaxdqn.evaluate``."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from tiny_run import tiny_pendulum_args

from purejaxdqn import load_params

TINY = tiny_pendulum_args(400)


def _run(*args: str, cwd=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=600
    )


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "tiny"
    proc = _run("-m", "purejaxdqn.run", *TINY, "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    return out, proc


def test_run_writes_every_file(run_dir):
    out, proc = run_dir
    for name in ("config.json", "metrics.csv", "summary.json", "learning_curve.png"):
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
    assert len(summary["final_return_per_seed"]) == 2
    final = [float(r["eval_return"]) for r in rows if int(r["env_steps"]) == 400]
    np.testing.assert_allclose(summary["final_return_per_seed"], final, rtol=1e-6)

    params = load_params(out)
    leaves = [np.asarray(x) for x in __import__("jax").tree.leaves(params)]
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
    from purejaxdqn.run import build_parser, config_from_args

    out, _ = run_dir
    saved = json.loads((out / "config.json").read_text())
    config, seeds, seed = config_from_args(
        build_parser().parse_args(["--config", str(out / "config.json")])
    )
    assert {**config.to_dict(), "seeds": seeds, "seed": seed} == saved
    # Explicit flags still win over the file.
    config, seeds, _ = config_from_args(
        build_parser().parse_args(["--config", str(out / "config.json"), "--seeds", "3"])
    )
    assert seeds == 3 and config.lr == 3e-4
