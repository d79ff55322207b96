"""Plain-text printout: a two-column table and number formatting that never fails."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

__all__ = ["fmt_ci", "fmt_float", "format_table"]


def format_table(rows: list[tuple[str, str]]) -> str:
    """Format ``(name, value)`` pairs as a two-column, left-aligned text table.

    Example::

        >>> print(format_table([("env", "CartPole-v1"), ("final IQM", "500.0")]))
        env        CartPole-v1
        final IQM  500.0

    Args:
        rows: Pairs of strings (other values are converted with ``str``).

    Returns:
        The table, one line per row, without a trailing newline ("" for no rows).
    """
    if not rows:
        return ""
    width = max(len(str(name)) for name, _ in rows)
    return "\n".join(f"{str(name):<{width}}  {value}".rstrip() for name, value in rows)


def fmt_float(x: Any, spec: str = ".1f") -> str:
    """Format a number with ``spec``, without failing on missing or non-finite values.

    Args:
        x: A number (Python, NumPy or 0-d array) or ``None``.
        spec: A ``format`` spec for finite values, e.g. ``".1f"`` or ``",.0f"``.

    Returns:
        ``format(float(x), spec)``; ``"n/a"`` for ``None``, ``"nan"``, ``"inf"`` or
        ``"-inf"`` for non-finite values (unpadded, whatever ``spec`` says).
    """
    if x is None:
        return "n/a"
    value = float(x)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return format(value, spec)


def fmt_ci(ci: Sequence[Any] | None, spec: str = ".1f") -> str:
    """Format a confidence interval ``(lo, hi)``.

    Args:
        ci: ``(lo, hi)``, or ``None`` / ``(None, None)`` / non-finite bounds when there is
            none (a summary's ``final_return_ci95`` when a final return is not finite).
        spec: A ``format`` spec for the bounds.

    Returns:
        ``"95% CI lo .. hi"``, or ``"no CI: a final return is not finite"``.
    """
    bounds = [] if ci is None else list(ci)
    if len(bounds) != 2 or not all(b is not None and math.isfinite(float(b)) for b in bounds):
        return "no CI: a final return is not finite"
    lo, hi = bounds
    return f"95% CI {format(float(lo), spec)} .. {format(float(hi), spec)}"
