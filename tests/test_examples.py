"""Every script in examples/ runs at its tiny budget (``PUREJAXDQN_EXAMPLE_TINY=1``).

The four scripts start together (one compile each; two cores share them) from an empty
folder, with one shared compilation cache, and each test reads its script's output.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from tiny_run import compilation_cache_env

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ("quickstart", "sweep_from_python", "custom_env", "load_results_pandas")


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> dict[str, subprocess.CompletedProcess]:
    tmp = tmp_path_factory.mktemp("examples")
    env = {
        **os.environ,
        **compilation_cache_env(tmp / "cache"),
        "PUREJAXDQN_EXAMPLE_TINY": "1",
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    procs = {
        name: subprocess.Popen(
            [sys.executable, str(ROOT / "examples" / f"{name}.py")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=tmp,
        )
        for name in EXAMPLES
    }
    results = {}
    for name, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=600)
        results[name] = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    assert sorted(p.name for p in tmp.iterdir()) == ["cache"]  # nothing left behind
    return results


def _ok(outputs, name: str) -> str:
    proc = outputs[name]
    assert proc.returncode == 0, f"{name}:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    return proc.stdout


def _floats(text: str) -> list[float]:
    return [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?", text)]


def test_quickstart_prints_every_evaluation(outputs):
    lines = [ln for ln in _ok(outputs, "quickstart").splitlines() if "env steps:" in ln]
    assert [int(ln.split()[0]) for ln in lines] == [0, 200, 400]
    for ln in lines:  # CartPole returns: 1 per step, at most 500
        mean, lo, hi = _floats(ln.split(":", 1)[1])
        assert 1 <= lo <= mean <= hi <= 500


def test_sweep_from_python_ranks_the_points(outputs):
    out = _ok(outputs, "sweep_from_python")
    means = {float(m[0]): float(m[1]) for m in re.findall(r"lr=(\S+): mean\s+(\S+)", out)}
    assert set(means) == {1e-4, 1e-3}
    assert f"best lr: {max(means, key=means.get):g}" in out


def test_custom_env_trains_on_the_registered_corridor(outputs):
    out = _ok(outputs, "custom_env")
    per_seed = re.search(r"per seed \[(.*?)\]", out).group(1)
    returns = [float(x) for x in per_seed.split(",")]
    # Every episode of the corridor returns between -0.01 * max_steps and the optimum.
    assert len(returns) == 2 and all(-0.5 - 1e-6 <= r <= 0.94 + 1e-6 for r in returns)


def test_load_results_pandas_reads_the_run(outputs):
    out = _ok(outputs, "load_results_pandas")
    assert "CartPole-v1, 2 seeds" in out
    assert re.search(r"final greedy return per seed: \[[\d.]+, [\d.]+\]", out)
    assert "IQM" in out
