"""``purejaxdqn.results``: run and sweep directories as pandas tables and final scores in
rliable's and marl-eval's layouts, checked against the files read with the csv and json
modules. The directories are written with the project's own writers (no training)."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys

import numpy as np
import pytest

from purejaxdqn import Config, load_run, load_sweep, report, results
from purejaxdqn.rundir import files
from purejaxdqn.rundir.summary import summarize
from purejaxdqn.search_space import Dimension
from purejaxdqn.sweep import SPEC_FILE, SweepRequest

pd = pytest.importorskip("pandas")

T = 4  # eval points


def write_run(run_dir, env: str, seeds: int, rng, nan_seed: int | None = None) -> None:
    steps = np.arange(T) * 100
    ret = rng.normal(100, 20, (seeds, T)).astype(np.float32)
    if nan_seed is not None:
        ret[nan_seed, -1] = np.nan
    loss = rng.random((seeds, T)).astype(np.float32)
    loss[:, 0] = np.nan
    rows = {
        "env_steps": steps,
        "eval_return": ret,
        "loss": loss,
        "q_mean": rng.random((seeds, T)).astype(np.float32),
        "epsilon": np.broadcast_to(np.linspace(1, 0.1, T, dtype=np.float32), (seeds, T)),
        "train_return": rng.random((seeds, T)).astype(np.float32),
    }
    files.write_metrics_csv(run_dir, rows)
    files.write_config(run_dir, {"env": env, "seeds": seeds, "seed": 0})
    summary = summarize(env, ret[:, -1], None, 300, 1.0, 2.0, 300 * seeds, extra={"seed": 0})
    files.write_summary(run_dir, summary)


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    rng = np.random.default_rng(0)
    write_run(root / "cartpole", "CartPole-v1", 3, rng)
    write_run(root / "acrobot", "Acrobot-v1", 3, rng, nan_seed=1)
    sweep_dir = root / "sweep"
    points = ({"lr": 1e-3}, {"lr": 3e-2})
    request = SweepRequest(
        config=Config(env="CartPole-v1"),
        dims=(Dimension("lr", "grid", (1e-3, 3e-2)),),
        points=points,
        seeds=2,
        seed=0,
        out=sweep_dir,
    )
    for p in range(len(points)):
        write_run(sweep_dir / report.POINTS_DIR / f"{p:03d}", "CartPole-v1", 2, rng)
    (sweep_dir / SPEC_FILE).write_text(json.dumps(request.spec()))
    return root


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def same(a, b) -> bool:
    return np.array_equal(np.asarray(a, np.float64), np.asarray(b, np.float64), equal_nan=True)


def test_load_run_is_metrics_csv_plus_point(dirs):
    run = load_run(dirs / "acrobot")
    rows = read_csv(dirs / "acrobot" / "metrics.csv")
    assert list(run.metrics.columns) == ["point", *rows[0].keys()]
    assert len(run.metrics) == len(rows) == 3 * T and set(run.metrics["point"]) == {0}
    for column in rows[0]:
        assert same(run.metrics[column], [float(r[column]) for r in rows]), column
    summary = json.loads((dirs / "acrobot" / "summary.json").read_text())
    (row,) = run.summary.to_dict("records")
    assert row["env"] == "Acrobot-v1" and row["seeds"] == 3
    iqm = summary["final_return_iqm"]
    assert same(row["final_return_iqm"], math.nan if iqm is None else iqm)
    assert run.info == summary and not run.is_sweep


def test_load_sweep_has_every_point_with_its_values(dirs):
    sweep = load_sweep(dirs / "sweep")
    spec = json.loads((dirs / "sweep" / SPEC_FILE).read_text())
    assert sweep.is_sweep and list(sweep.metrics.columns[:2]) == ["point", "lr"]
    for p, values in enumerate(spec["points"]):
        rows = read_csv(dirs / "sweep" / "points" / f"{p:03d}" / "metrics.csv")
        mine = sweep.metrics[sweep.metrics["point"] == p]
        assert len(mine) == len(rows) and set(mine["lr"]) == {values["lr"]}
        assert same(mine["eval_return"], [float(r["eval_return"]) for r in rows])
        summary = json.loads((dirs / "sweep" / "points" / f"{p:03d}" / "summary.json").read_text())
        row = sweep.summary[sweep.summary["point"] == p].iloc[0]
        assert row["final_return_iqm"] == summary["final_return_iqm"]
        assert row["final_return_ci95_low"] == summary["final_return_ci95"][0]
        assert row["lr"] == values["lr"]


def final_by_seed(run_dir) -> list[float]:
    rows = read_csv(run_dir / "metrics.csv")
    last = max(int(r["env_steps"]) for r in rows)
    return [float(r["eval_return"]) for r in rows if int(r["env_steps"]) == last]


def test_rliable_npz_holds_runs_by_tasks(dirs, tmp_path):
    out = tmp_path / "scores.npz"
    code = results.main([str(dirs / "cartpole"), str(dirs / "acrobot"), "--rliable", str(out)])
    assert code == 0
    data = np.load(out)
    assert list(data["_tasks"]) == ["Acrobot-v1", "CartPole-v1"]
    scores = data["purejaxdqn"]
    assert scores.shape == (3, 2)  # [num_runs, num_tasks]
    assert same(scores[:, 0], final_by_seed(dirs / "acrobot"))
    assert same(scores[:, 1], final_by_seed(dirs / "cartpole"))


def test_sweep_points_are_algorithms(dirs):
    scores, tasks = results.final_scores([dirs / "sweep"], algorithm="dqn")
    assert tasks == ["CartPole-v1"] and sorted(scores) == ["dqn/p000", "dqn/p001"]
    for p in range(2):
        expected = final_by_seed(dirs / "sweep" / "points" / f"{p:03d}")
        assert same(scores[f"dqn/p{p:03d}"][:, 0], expected)


def test_marl_eval_json_layout(dirs, tmp_path):
    out = tmp_path / "scores.json"
    argv = [str(dirs / "acrobot"), "--marl-eval", str(out), "--environment", "gym"]
    assert results.main(argv) == 0
    text = out.read_text()
    data = json.loads(text, parse_constant=lambda c: pytest.fail(f"not strict JSON: {c}"))
    runs = data["gym"]["Acrobot-v1"]["purejaxdqn"]
    rows = read_csv(dirs / "acrobot" / "metrics.csv")
    assert sorted(runs) == ["seed_0", "seed_1", "seed_2"]
    for seed in range(3):
        mine = [r for r in rows if int(r["seed"]) == seed]
        run = runs[f"seed_{seed}"]
        assert sorted(run) == sorted([*(f"step_{t}" for t in range(T)), "absolute_metrics"])
        for t, r in enumerate(mine):
            assert run[f"step_{t}"]["step_count"] == int(r["env_steps"])
            value = float(r["eval_return"])
            assert run[f"step_{t}"]["return"] == [None if math.isnan(value) else value]
        assert run["absolute_metrics"]["return"] == run[f"step_{T - 1}"]["return"]
    assert runs["seed_1"]["absolute_metrics"]["return"] == [None]  # the NaN final return


def test_mismatched_inputs_are_one_line_exit_2(dirs, tmp_path, capsys):
    assert results.main([str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "metrics.csv" in err
    twice = [str(dirs / "cartpole")] * 2
    assert results.main([*twice, "--rliable", str(tmp_path / "x.npz")]) == 2
    assert "second run of 'purejaxdqn' on CartPole-v1" in capsys.readouterr().err


def test_file_names_are_the_writers():
    assert results.METRICS_FILE == files.METRICS_FILE
    assert results.SUMMARY_FILE == files.SUMMARY_FILE
    assert results.CONFIG_FILE == files.CONFIG_FILE
    assert results.POINTS_DIR == report.POINTS_DIR
    assert results.SWEEP_SUMMARY_FILE == report.SWEEP_SUMMARY_FILE
    assert results.SWEEP_SPEC_FILE == SPEC_FILE


def test_import_is_light_and_every_public_name_resolves():
    code = "import sys, purejaxdqn; print(sorted(m for m in ('jax', 'pandas') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    import purejaxdqn

    for name in purejaxdqn.__all__:
        assert getattr(purejaxdqn, name) is not None
    with pytest.raises(AttributeError):
        purejaxdqn.no_such_name  # noqa: B018
