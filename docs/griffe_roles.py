"""A griffe extension: the package's Sphinx-style markup read as Markdown in the API pages.

The docstrings are Google style but name objects with Sphinx roles (``:func:`make` ``,
``:class:`~purejaxdqn.config.Config` ``) and open blocks with ``.. code-block:: python``;
here a role becomes inline code of its target (``~`` keeps the last dotted part, as in
Sphinx) and a ``code-block`` line is dropped (its indented block stays a code block).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:func|class|data|meth|attr|mod|exc|obj):`(~?)([^`]+)`")
CODE_BLOCK = re.compile(r"^[ \t]*\.\. code-block::.*\n", flags=re.M)


def _role(match: re.Match[str]) -> str:
    target = match.group(2)
    return f"`{target.rsplit('.', 1)[-1] if match.group(1) else target}`"


def to_markdown(text: str) -> str:
    """``text`` with Sphinx roles as inline code and ``.. code-block::`` lines removed."""
    return CODE_BLOCK.sub("", ROLE.sub(_role, text))


class SphinxRoles(griffe.Extension):
    """Rewrites every docstring of the loaded package with :func:`to_markdown`."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Rewrites ``obj``'s docstring, if any."""
        if obj.docstring is not None:
            obj.docstring.value = to_markdown(obj.docstring.value)
