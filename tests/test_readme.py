"""The README's Python example runs as written."""

from __future__ import annotations

import re

import jax
import numpy as np
from tiny_run import TESTS_DIR

README = TESTS_DIR.parent / "README.md"


def section_python_blocks(text: str, heading: str) -> list[str]:
    """The ```python blocks of the ``## heading`` section (up to the next ``## `` heading,
    its ``###`` subsections included)."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"README.md has no '## {heading}' section"
    return re.findall(r"^```python\n(.*?)^```", match.group(1), re.M | re.S)


def test_using_it_snippet_runs_as_written():
    blocks = section_python_blocks(README.read_text(encoding="utf-8"), "Using it")
    assert blocks, "no ```python block in README.md's 'Using it'"
    namespace: dict = {"__name__": "readme"}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)  # noqa: S102
    out, config, keys = namespace["out"], namespace["config"], namespace["keys"]
    returns = np.asarray(jax.block_until_ready(out.metrics["eval_return"]))
    # What its comments promise: [16, num_evals + 1] greedy returns, one per seed and eval.
    assert returns.shape == (keys.shape[0], config.num_evals + 1) == (16, config.num_evals + 1)
    assert np.all(np.isfinite(returns)) and np.all(returns >= 1)  # CartPole pays 1 per step
