"""The search space of a sweep: which traced fields take which values.

A grid (``--grid name=v1,v2,...``) is the cartesian product of the listed values; a random
search (``--random K --space name=DIST``) draws ``K`` points from per-field distributions
(``loguniform:lo:hi``, ``uniform:lo:hi``, ``choice:v1,v2,...``) with a seeded NumPy
generator. Only traced config fields can be swept: they enter the program as arrays, so
every point is the same compiled program.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import math
from collections.abc import Sequence

import numpy as np

from purejaxdqn import config as config_lib
from purejaxdqn.config import Config, ConfigError

__all__ = [
    "DISTRIBUTIONS",
    "Dimension",
    "SweepError",
    "grid_points",
    "parse_grid",
    "parse_space",
    "parse_sweep",
    "point_configs",
    "random_points",
]

DISTRIBUTIONS = ("loguniform", "uniform", "choice")
#: Most points one sweep takes (``--random K``, a grid's product).
MAX_POINTS = 100_000


class SweepError(ConfigError):
    """A bad sweep spec or a sweep that cannot run: one line, exit code 2."""


@dataclasses.dataclass(frozen=True)
class Dimension:
    """One swept field.

    Attributes:
      name: a traced config field.
      kind: ``"grid"``, ``"choice"`` (``values`` are the options), ``"uniform"`` or
        ``"loguniform"`` (``values`` is ``(lo, hi)``).
      values: see ``kind``.
    """

    name: str
    kind: str
    values: tuple[float, ...]

    @property
    def log_scale(self) -> bool:
        """Whether plots show this field on a log axis.

        True for loguniform, or for positive values spanning at least a factor of 10.
        """
        if self.kind == "loguniform":
            return True
        return min(self.values) > 0 and max(self.values) >= 10 * min(self.values)


def _float(name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise SweepError(f"{name}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise SweepError(f"{name}: {text!r} is not a finite number")
    return value


def _split_assignment(item: str) -> tuple[str, str]:
    """``"name=rhs"`` -> ``(field, rhs)``; the field must be a traced config field."""
    if "=" not in item:
        raise SweepError(f"{item!r}: expected name=values")
    raw, rhs = item.split("=", 1)
    name = raw.strip().replace("-", "_")
    traced = config_lib.traced_field_names()
    if name in config_lib.static_field_names():
        raise SweepError(
            f"{name} is a static field (it fixes shapes or sizes, so it cannot be vmapped); "
            f"sweep only traced fields ({', '.join(traced)}) or run one sweep per {name}"
        )
    if name not in traced:
        raise SweepError(f"unknown field {raw.strip()!r}; traced fields: {', '.join(traced)}")
    return name, rhs.strip()


def _values(name: str, text: str) -> tuple[float, ...]:
    items = [t.strip() for t in text.split(",")]
    if not text or not all(items):
        raise SweepError(f"{name}: empty value in {text!r}; expected v1,v2,...")
    values = tuple(_float(name, t) for t in items)
    if len(set(values)) != len(values):
        raise SweepError(f"{name}: repeated value in {text!r}")
    return values


def parse_grid(items: Sequence[str]) -> list[Dimension]:
    """Parse ``name=v1,v2,...`` items into grid dimensions.

    Args:
        items: One item per field; names may use dashes for underscores.

    Returns:
        One :class:`Dimension` of kind ``"grid"`` per item, in order.

    Raises:
        SweepError: Unknown or static field, empty or malformed value, repeated field.
    """
    dims = [
        Dimension(name, "grid", _values(name, rhs)) for name, rhs in map(_split_assignment, items)
    ]
    _check_unique(dims)
    return dims


def parse_space(items: Sequence[str]) -> list[Dimension]:
    """Parse ``name=loguniform:lo:hi | uniform:lo:hi | choice:v1,v2,...`` items.

    Args:
        items: One item per field; names may use dashes for underscores.

    Returns:
        One :class:`Dimension` per item, in order, of the distribution's kind.

    Raises:
        SweepError: Unknown or static field, unknown distribution, malformed bounds,
            ``lo >= hi``, ``lo <= 0`` for loguniform.
    """
    dims = []
    for name, rhs in map(_split_assignment, items):
        kind, _, args = rhs.partition(":")
        kind = kind.strip()
        if kind not in DISTRIBUTIONS:
            raise SweepError(
                f"{name}: unknown distribution {kind!r}; expected one of {', '.join(DISTRIBUTIONS)}"
            )
        if kind == "choice":
            dims.append(Dimension(name, kind, _values(name, args)))
            continue
        bounds = args.split(":")
        if len(bounds) != 2 or not all(b.strip() for b in bounds):
            raise SweepError(f"{name}: expected {kind}:lo:hi, got {rhs!r}")
        lo, hi = (_float(name, b) for b in bounds)
        if not lo < hi:
            raise SweepError(f"{name}: {kind} needs lo < hi, got {lo:g} >= {hi:g}")
        if kind == "loguniform" and lo <= 0:
            raise SweepError(f"{name}: loguniform needs lo > 0, got {lo:g}")
        dims.append(Dimension(name, kind, (lo, hi)))
    _check_unique(dims)
    return dims


def _check_unique(dims: list[Dimension]) -> None:
    if not dims:
        raise SweepError("no field to sweep; expected name=... items")
    names = [d.name for d in dims]
    for name in names:
        if names.count(name) > 1:
            raise SweepError(f"{name} is given more than once")


def grid_points(dims: Sequence[Dimension]) -> list[dict[str, float]]:
    """The cartesian product of the grid values, the last dimension varying fastest.

    Args:
        dims: Grid dimensions (from :func:`parse_grid`).

    Returns:
        ``P = prod(len(d.values))`` dicts mapping each field to its value.
    """
    names = [d.name for d in dims]
    return [
        dict(zip(names, combo, strict=True))
        for combo in itertools.product(*(d.values for d in dims))
    ]


def random_points(dims: Sequence[Dimension], num: int, seed: int = 0) -> list[dict[str, float]]:
    """``num`` points drawn independently per dimension by ``np.random.default_rng(seed)``.

    Dimensions are drawn in the order given, ``num`` values each, so the same spec and seed
    always give the same points.

    Args:
        dims: Space dimensions (from :func:`parse_space`).
        num: Number of points ``P``.
        seed: Seed of the generator.

    Returns:
        ``P`` dicts mapping each field to a Python float.

    Raises:
        SweepError: If ``num < 1``.
    """
    if num < 1:
        raise SweepError(f"--random must be >= 1, got {num}")
    rng = np.random.default_rng(seed)
    columns = {}
    for d in dims:
        if d.kind == "uniform":
            columns[d.name] = rng.uniform(d.values[0], d.values[1], num)
        elif d.kind == "loguniform":
            columns[d.name] = np.exp(rng.uniform(np.log(d.values[0]), np.log(d.values[1]), num))
        else:
            columns[d.name] = np.asarray(d.values)[rng.integers(0, len(d.values), num)]
    return [{n: float(c[i]) for n, c in columns.items()} for i in range(num)]


def point_configs(base: Config, points: Sequence[dict[str, float]]) -> list[Config]:
    """Each point's full config (validated).

    Args:
        base: The base config; a point replaces only its swept fields.
        points: ``P`` dicts of traced-field values.

    Returns:
        ``P`` configs, in point order.

    Raises:
        SweepError: Naming the point and the field, for a value the config rejects.
    """
    configs = []
    for i, point in enumerate(points):
        try:
            configs.append(base.replace(**point))
        except ConfigError as e:
            values = ", ".join(f"{k}={v:g}" for k, v in point.items())
            raise SweepError(f"sweep point {i} ({values}): {e}") from None
    return configs


def parse_sweep(args: argparse.Namespace) -> tuple[list[Dimension], list[dict[str, float]]]:
    """The dimensions and points of parsed sweep flags.

    Args:
        args: Parsed flags with ``grid`` (list or ``None``), ``random`` (int or ``None``),
            ``space`` (list or ``None``) and ``space_seed``.

    Returns:
        ``(dimensions, points)``: the grid's product, or ``random`` points of the space.

    Raises:
        SweepError: Neither ``--grid`` nor ``--random``, ``--space`` with ``--grid``,
            ``--random`` without ``--space``, or a bad spec.
    """
    if args.grid is None and args.random is None:
        raise SweepError("give --grid NAME=V1,V2 ... or --random K --space NAME=DIST ...")
    if args.grid is not None:
        if args.space is not None:
            raise SweepError("--space goes with --random, not --grid")
        dims = parse_grid(args.grid)
        size = math.prod(len(d.values) for d in dims)
        if size > MAX_POINTS:
            raise SweepError(f"--grid gives {size:,} points; at most {MAX_POINTS:,} per sweep")
        return dims, grid_points(dims)
    if args.space is None:
        raise SweepError("--random needs --space NAME=DIST ...")
    dims = parse_space(args.space)
    return dims, random_points(dims, args.random, args.space_seed)
