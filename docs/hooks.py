"""mkdocs hooks: the pages generated at build time, so they cannot drift from the code.

* ``api/<module>.md``: one page per module of the ``purejaxdqn`` package, found by walking
  the package's files (a module another change adds gets its page without an edit here),
  each holding ``::: purejaxdqn.<module>`` for mkdocstrings. The nav's "API reference"
  section is filled from the same walk.
* ``cli.md``: the ``--help`` of ``run``, ``sweep`` and ``evaluate``, captured by running
  ``python -m purejaxdqn.<command> --help`` (so a new flag appears in the docs by itself).
* ``benchmarks.md``: ``benchmarks/README.md`` followed by every plot under
  ``benchmarks/results/`` (the PNGs are copied into the site).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "purejaxdqn"
COMMANDS = ("run", "sweep", "evaluate")
API_SECTION = "API reference"


def module_names() -> list[str]:
    """Every public module of the package, dotted, packages before their submodules.

    A file or folder whose name starts with ``_`` (other than ``__init__.py``) is private.
    """
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if any(p.startswith("_") for p in parts) or "__pycache__" in path.parts:
            continue
        names.append(".".join(parts))
    return sorted(names, key=lambda n: n.split("."))


def api_page(name: str) -> str:
    """The docs path of module ``name``'s page: ``api/purejaxdqn.envs.pendulum.md``."""
    return f"api/{name}.md"


def api_markdown(name: str, names: list[str]) -> str:
    """The page of module ``name``: a title, its submodules (for a package), the directive.

    Args:
      name: the dotted module name.
      names: every module's name (:func:`module_names`).
    """
    depth = name.count(".") + 1
    subs = [n for n in names if n.startswith(name + ".") and n.count(".") == depth]
    lines = [f"# `{name}`", ""]
    if subs:
        links = ", ".join(f"[`{n}`]({n}.md)" for n in subs)
        lines += [f"Modules: {links}.", ""]
    return "\n".join([*lines, f"::: {name}", ""])


def help_texts() -> dict[str, str]:
    """``python -m purejaxdqn.<command> --help`` of each command, run in parallel."""
    env = {**os.environ, "COLUMNS": "88", "JAX_PLATFORMS": "cpu"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    procs = {
        c: subprocess.Popen(
            [sys.executable, "-m", f"purejaxdqn.{c}", "--help"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        for c in COMMANDS
    }
    out = {}
    for c, p in procs.items():
        stdout, stderr = p.communicate(timeout=300)
        if p.returncode != 0:
            raise RuntimeError(f"purejaxdqn.{c} --help exited {p.returncode}: {stderr[-2000:]}")
        out[c] = stdout
    return out


def cli_markdown(helps: dict[str, str]) -> str:
    """The command-line page: each command's ``--help``, verbatim."""
    lines = [
        "# Command lines",
        "",
        "Generated at build time from each command's `--help`. Every field of",
        "[`Config`](api/purejaxdqn.config.md) is a flag (`--total-steps`, `--lr`, ...); bad input",
        "exits with code 2 and one line on stderr, before anything is compiled or written.",
        "",
    ]
    for c, text in helps.items():
        lines += [f"## `python -m purejaxdqn.{c}`", "", "```text", text.rstrip(), "```", ""]
    return "\n".join(lines)


def benchmark_markdown() -> tuple[str, list[Path]]:
    """The benchmarks page (``benchmarks/README.md`` and every results plot) and the plots."""
    bench = ROOT / "benchmarks"
    text = (bench / "README.md").read_text(encoding="utf-8")
    pngs = sorted((bench / "results").rglob("*.png"))
    lines = [text.rstrip(), "", "## Plots", ""]
    lines.append("Every plot committed under `benchmarks/results/`, by results folder.")
    folder = None
    for png in pngs:
        rel = png.relative_to(bench).as_posix()
        if png.parent != folder:
            folder = png.parent
            lines += ["", f"### `{png.parent.relative_to(bench).as_posix()}/`", ""]
        lines += [f"![{rel}]({rel})", ""]
    return "\n".join(lines) + "\n", pngs


def api_nav(names: list[str], parent: str = "purejaxdqn") -> list[dict[str, Any]]:
    """The nav entries of ``parent``'s page and its submodules; a subpackage is a section.

    Args:
      names: every module's name (:func:`module_names`).
      parent: the package whose entries to list.
    """
    depth = parent.count(".") + 1
    entries: list[dict[str, Any]] = [{parent: api_page(parent)}]
    for name in names:
        if name.startswith(parent + ".") and name.count(".") == depth:
            is_package = any(n.startswith(name + ".") for n in names)
            entries.append({name: api_nav(names, name)} if is_package else {name: api_page(name)})
    return entries


def on_config(config: Any) -> Any:
    """Fills the nav's "API reference" section with one entry per module."""
    entries = api_nav(module_names())
    for item in config["nav"]:
        if isinstance(item, dict) and API_SECTION in item:
            item[API_SECTION] = entries
            break
    else:
        config["nav"].append({API_SECTION: entries})
    return config


def on_files(files: Files, config: Any) -> Files:
    """Adds the generated pages and the benchmark plots to the site's files."""
    names = module_names()
    for name in names:
        files.append(File.generated(config, api_page(name), content=api_markdown(name, names)))
    files.append(File.generated(config, "cli.md", content=cli_markdown(help_texts())))
    text, pngs = benchmark_markdown()
    files.append(File.generated(config, "benchmarks.md", content=text))
    for png in pngs:
        rel = png.relative_to(ROOT / "benchmarks").as_posix()
        files.append(File.generated(config, rel, abs_src_path=str(png)))
    return files
