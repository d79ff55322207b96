"""The sdist and wheel build, hold what they need, and the wheel trains from outside the repo.

The wheel goes into a fresh venv in a temporary folder with ``--no-deps``; the venv sees the
dependencies (jax, flax, mujoco, ...) through one ``.pth`` line naming this interpreter's
site-packages, so nothing is downloaded or reinstalled. A ``.pth`` line only appends a
folder to ``sys.path``: the ``.pth`` files inside that folder, among them the editable
install's finder that maps ``purejaxdqn`` to the checkout, are not executed, so the checkout
cannot be imported. The run starts from an empty folder with ``PYTHONPATH`` unset, and
checks that ``purejaxdqn`` comes from the new venv.
"""

from __future__ import annotations

import csv
import email
import json
import os
import shutil
import site
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from tiny_run import tiny_pendulum_args

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_FILES = sorted(
    p.relative_to(ROOT).as_posix()
    for p in (ROOT / "purejaxdqn").rglob("*")
    if p.is_file() and "__pycache__" not in p.parts and p.suffix in {".py", ".xml", ".typed"}
)


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kwargs)
    assert proc.returncode == 0, f"{cmd}\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    return proc


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """``python -m build`` (sdist, then the wheel from the sdist) of a copy of the sources."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"  # a copy, so the build leaves no egg-info or build/ in the checkout
    shutil.copytree(
        ROOT / "purejaxdqn", src / "purejaxdqn", ignore=shutil.ignore_patterns("__pycache__")
    )
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, src / name)
    out = tmp / "dist"
    _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(src)])
    return out


def _one(folder: Path, pattern: str) -> Path:
    (path,) = folder.glob(pattern)
    return path


def test_sdist_holds_the_sources_assets_and_metadata(dist):
    with tarfile.open(_one(dist, "purejaxdqn-*.tar.gz")) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    for name in ["pyproject.toml", "README.md", "LICENSE", *PACKAGE_FILES]:
        assert name in names, name
    assert "purejaxdqn/envs/assets/inverted_pendulum.xml" in names
    assert "purejaxdqn/py.typed" in names


def test_wheel_holds_the_package_assets_and_metadata(dist):
    with zipfile.ZipFile(_one(dist, "purejaxdqn-*-py3-none-any.whl")) as whl:
        names = set(whl.namelist())
        (meta_name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        meta = email.message_from_bytes(whl.read(meta_name))
    assert set(PACKAGE_FILES) <= names, set(PACKAGE_FILES) - names
    assert not [n for n in names if n.startswith(("tests/", "benchmarks/", "docs/"))]
    assert meta["Name"] == "purejaxdqn" and meta["License-Expression"] == "Apache-2.0"
    assert {"gymnasium", "logging", "video", "docs", "test"} <= set(meta.get_all("Provides-Extra"))
    classifiers = meta.get_all("Classifier")
    assert "Typing :: Typed" in classifiers and len(classifiers) >= 5
    assert meta["Requires-Python"] == ">=3.11" and meta["Keywords"]
    assert any(r.startswith("jax") for r in meta.get_all("Requires-Dist"))


CHECK = """
import json, sys
import purejaxdqn
from purejaxdqn.envs import pendulum
from purejaxdqn import run
info = {
    "file": purejaxdqn.__file__,
    "model": pendulum.model_path(),
    "nq": pendulum.load_model().nq,
    "editable": [m for m in sys.modules if "editable" in m]
    + [repr(f) for f in sys.meta_path if "editable" in repr(f).lower()],
}
print("CHECK " + json.dumps(info))
sys.exit(run.main(sys.argv[1:]))
"""


def test_wheel_trains_from_a_fresh_venv_outside_the_repository(dist, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], env=env)
    py = venv / "bin" / "python"
    wheel = _one(dist, "purejaxdqn-*.whl")
    _run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps",
          "--no-index", "--ignore-installed", str(wheel)], env=env)  # fmt: skip
    purelib = _run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
    venv_site = Path(purelib.stdout.strip())
    (venv_site / "project_deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")

    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    out = tmp_path / "run"
    args = [*tiny_pendulum_args(400), "--quiet", "--out", str(out)]
    proc = _run([str(py), "-c", CHECK, *args], cwd=cwd, env=env)

    (line,) = [ln for ln in proc.stdout.splitlines() if ln.startswith("CHECK ")]
    info = json.loads(line.removeprefix("CHECK "))
    assert Path(info["file"]).is_relative_to(venv_site), info["file"]
    assert Path(info["model"]).is_relative_to(venv_site) and Path(info["model"]).is_file()
    assert info["nq"] == 2 and not info["editable"]
    with open(out / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted({(r["seed"], r["env_steps"]) for r in rows}) == [
        (s, t) for s in ("0", "1") for t in ("0", "200", "400")
    ]
    assert json.loads((out / "config.json").read_text())["env"] == "InvertedPendulum-v5"
