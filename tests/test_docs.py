"""The documentation site builds with ``mkdocs build --strict`` and documents every public name.

One build (about 15 s) is shared by the module. The checks read the built HTML against
sources independent of the docs hook: ``pkgutil.walk_packages`` for the modules, each
module's ``__all__`` for the names, the argparse parsers for the flags, the filesystem for
the plots.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import purejaxdqn
from purejaxdqn import run, sweep

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return out


def public_modules() -> list[str]:
    names = ["purejaxdqn"]
    for info in pkgutil.walk_packages(purejaxdqn.__path__, "purejaxdqn."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return names


def test_every_module_has_a_page_with_every_public_name(site):
    modules = public_modules()
    assert {"purejaxdqn.config", "purejaxdqn.envs.pendulum", "purejaxdqn.engine.engine"} <= set(
        modules
    )
    missing = []
    for name in modules:
        page = site / "api" / name / "index.html"
        if not page.exists():
            missing.append(f"{name} (no page)")
            continue
        html = page.read_text(encoding="utf-8")
        module = importlib.import_module(name)
        for member in getattr(module, "__all__", []):
            if isinstance(getattr(module, member), type(purejaxdqn)):  # a submodule: linked
                ok = f'href="../{name}.{member}/"' in html
            else:
                ok = f'id="{name}.{member}"' in html
            if not ok:
                missing.append(f"{name}.{member}")
    assert not missing, f"not in the API reference: {missing}"


def test_api_nav_lists_every_module(site):
    html = (site / "index.html").read_text(encoding="utf-8")
    for name in public_modules():
        assert f"api/{name}/" in html, name


def test_cli_page_holds_every_flag_of_run_and_sweep(site):
    html = (site / "cli" / "index.html").read_text(encoding="utf-8")
    for parser in (run.build_parser(), sweep.build_parser()):
        for action in parser._actions:
            for flag in action.option_strings:
                assert flag in html, f"{parser.prog} {flag}"
    for text in ("python -m purejaxdqn.evaluate", "--episodes", "run_dir"):
        assert text in html


def test_benchmarks_page_shows_every_results_plot(site):
    html = (site / "benchmarks" / "index.html").read_text(encoding="utf-8")
    pngs = sorted((ROOT / "benchmarks" / "results").rglob("*.png"))
    assert pngs
    for png in pngs:
        rel = png.relative_to(ROOT / "benchmarks").as_posix()
        assert (site / rel).read_bytes() == png.read_bytes(), rel
        assert f'src="../{rel}"' in html, rel


def test_example_scripts_are_included_verbatim(site):
    # pymdownx.snippets inlines the scripts: the page shows the code CI runs.
    for page, name in [("quickstart", "TINY_FIELDS"), ("sweeps", "over_points"),
                       ("custom_env", "CorridorState"), ("checkpoints", "tiny_run")]:  # fmt: skip
        html = (site / page / "index.html").read_text(encoding="utf-8")
        assert name in html and "--8&lt;--" not in html, page
