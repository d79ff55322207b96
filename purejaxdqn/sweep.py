"""``python -m purejaxdqn.sweep``: a hyperparameter sweep as one compiled program.

Examples::

    python -m purejaxdqn.sweep --env CartPole-v1 --seeds 16 \\
        --grid lr=1e-4,3e-4,1e-3 gamma=0.99,0.995
    python -m purejaxdqn.sweep --env CartPole-v1 --seeds 8 \\
        --random 64 --space lr=loguniform:1e-5:1e-2 tau=uniform:0.001:0.1 \\
        eps_end=choice:0.01,0.05

**What can be swept.** Only the *traced* config fields (:func:`config.traced_field_names`:
``lr``, ``gamma``, ``tau``, ``eps_*``, ...): they enter the program as arrays, so every point
is the same program. *Static* fields (``hidden``, ``capacity``, ``num_envs``, ...) fix shapes
and sizes; sweeping one is refused with exit code 2 (run one sweep per value instead). Every
other config field is a flag exactly as in ``purejaxdqn.run`` (``--config`` too).

**One program.** A grid is the cartesian product of the listed values; ``--random K`` draws
``K`` points from ``--space`` with a NumPy generator seeded by ``--space-seed``. ``P`` points
times ``S`` seeds are flattened to one run axis ``[P * S]`` (run ``r`` is point ``r // S``
with seed ``seed + r % S``, the same key as ``purejaxdqn.run`` gives that seed), and
``jax.vmap`` of :func:`purejaxdqn.train.make_train`'s ``train`` over ``(key, hp)`` trains
them all in one ``jax.jit``. A point's results are therefore those of ``purejaxdqn.run`` with
that point's config.

**Devices.** The run axis is sharded over ``jax.devices()``: a 1-D mesh ``("runs",)``, inputs
placed with ``NamedSharding(mesh, PartitionSpec("runs"))`` and the vmapped trainer wrapped in
``jax.shard_map``, so each device trains its own block of runs with no communication. The
axis is padded up to a multiple of the device count by repeating the last run; the padding is
dropped from the results. For several hosts, call ``jax.distributed.initialize()`` (with the
coordinator address, process count and id, or from the cluster's environment) at the start
of the program on every host, then call :func:`run_sweep` as usual: ``jax.devices()`` then
spans all hosts and the same code shards the runs over all of them; no other scheduler is
involved. On the command line, ``--distributed`` makes that call (arguments from the
cluster's environment: SLURM, Cloud TPU, ...); start the same command on every host. Inputs
are built with ``jax.make_array_from_callback`` and results gathered with
``multihost_utils.process_allgather``; host 0 writes the outputs, each host's progress bar
counts its own devices' runs. (The single-host paths are tested, multi-host is not.)

**Memory guard.** Before compiling, the replay buffers and the rest of one run's state are
sized exactly with ``jax.eval_shape`` (:func:`estimate_run_bytes`); the estimate for a call
is that times the runs per device times :data:`SAFETY_FACTOR` (2, for XLA's temporaries and
the copies of the carried state). The limit per device is ``memory_stats()["bytes_limit"]``
where the device reports one (GPU, TPU), else :data:`HOST_MEMORY_FRACTION` of the host's
physical memory divided among its local devices, or ``--max-memory-gb``. A sweep that does
not fit is split into sequential chunks of equal size, every chunk a call of the *same*
compiled program (the last one padded); if even one run per device does not fit, the sweep
is refused with the estimate and the limit.

**Outputs** (``--out``, default ``runs/sweep-<env>-<time>/``): ``sweep.csv`` (one row per
point and seed: ``point``, ``seed``, the swept values, ``final_return``, ``auc``),
``sweep_summary.json`` (points ranked by the IQM of the final return over seeds, with a 95%
percentile bootstrap CI; the best point's full config; timings), ``sweep.png`` (final return
against each swept parameter: IQM over the runs with that value, with its 95% CI) and
``best_config.json``, which ``python -m purejaxdqn.run --config`` accepts.

**AUC** of a run is the area under its greedy learning curve, normalized by the run length:
the trapezoid integral of ``eval_return`` over ``env_steps`` (``0 .. total_steps``) divided
by ``total_steps``, i.e. the time-averaged evaluation return, in return units.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import itertools
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import chex
import numpy as np

from purejaxdqn import config as config_lib
from purejaxdqn.config import Config, ConfigError

#: Multiplier on the exactly sized state of the runs on a device, for XLA temporaries.
SAFETY_FACTOR = 2.0
#: Share of the host's physical memory a CPU sweep may plan for (shared by local devices).
HOST_MEMORY_FRACTION = 0.5
DISTRIBUTIONS = ("loguniform", "uniform", "choice")

CSV_FILE = "sweep.csv"
SUMMARY_FILE = "sweep_summary.json"
PLOT_FILE = "sweep.png"
BEST_CONFIG_FILE = "best_config.json"


class SweepError(ConfigError):
    """A bad sweep spec or a sweep that cannot run: one line, exit code 2."""


# --------------------------------------------------------------------------------------------
# The spec
# --------------------------------------------------------------------------------------------


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
        """Whether plots show this field on a log axis (loguniform, or positive values
        spanning at least a factor of 10)."""
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
    """Parses ``name=v1,v2,...`` items into grid dimensions.

    Raises:
      SweepError: unknown or static field, empty or malformed value, repeated field.
    """
    dims = [
        Dimension(name, "grid", _values(name, rhs)) for name, rhs in map(_split_assignment, items)
    ]
    _check_unique(dims)
    return dims


def parse_space(items: Sequence[str]) -> list[Dimension]:
    """Parses ``name=loguniform:lo:hi | uniform:lo:hi | choice:v1,v2,...`` items.

    Raises:
      SweepError: unknown or static field, unknown distribution, malformed bounds,
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
    """The cartesian product of the grid values, the last dimension varying fastest."""
    names = [d.name for d in dims]
    return [
        dict(zip(names, combo, strict=True))
        for combo in itertools.product(*(d.values for d in dims))
    ]


def random_points(dims: Sequence[Dimension], num: int, seed: int = 0) -> list[dict[str, float]]:
    """``num`` points drawn independently per dimension by ``np.random.default_rng(seed)``.

    Dimensions are drawn in the order given, ``num`` values each, so the same spec and seed
    always give the same points.
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

    Raises:
      SweepError: naming the point and the field, for a value the config rejects.
    """
    configs = []
    for i, point in enumerate(points):
        try:
            configs.append(base.replace(**point))
        except ConfigError as e:
            values = ", ".join(f"{k}={v:g}" for k, v in point.items())
            raise SweepError(f"sweep point {i} ({values}): {e}") from None
    return configs


# --------------------------------------------------------------------------------------------
# Memory guard
# --------------------------------------------------------------------------------------------


def estimate_run_bytes(config: Config, env: Any = None, env_params: Any = None) -> int:
    """Bytes of one run's arrays: its ``TrainState`` (replay buffer, params, optimizer, envs),
    its ``TrainOutput`` (final params, ``T = num_evals + 1`` metrics rows, the NaN-guard
    step), its seed and hp.

    Nothing is compiled: the shapes of the state and of one metrics row come from
    ``jax.eval_shape`` of the trainer's ``start`` (init and one evaluation are traced, not
    the training loop).
    """
    import jax

    from purejaxdqn.train import make_dqn

    hp = config.hyperparams()
    state, row = jax.eval_shape(make_dqn(config, env, env_params).start, jax.random.key(0), hp)

    def nbytes(tree: Any) -> int:
        return sum(math.prod(x.shape) * np.dtype(x.dtype).itemsize for x in _shaped_leaves(tree))

    output = nbytes(state.params) + (config.num_evals + 1) * nbytes(row)
    output += nbytes(state.diverged_step)
    return nbytes(state) + output + nbytes(hp) + 4  # + the int32 seed


def _shaped_leaves(tree: Any) -> list[Any]:
    import jax

    leaves = []
    for x in jax.tree.leaves(tree):
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            leaves.append(jax.ShapeDtypeStruct(x.shape + (2,), np.uint32))
        else:
            leaves.append(x)
    return leaves


def device_memory_limit(devices: Sequence[Any]) -> tuple[int, str]:
    """``(bytes per device, where the number comes from)``.

    The device's ``memory_stats()["bytes_limit"]`` where it reports one (GPU, TPU); else
    :data:`HOST_MEMORY_FRACTION` of the host's physical memory shared by its local devices.
    """
    stats = None
    try:
        stats = devices[0].memory_stats()
    except Exception:  # CPU backends may not implement it
        stats = None
    if stats and stats.get("bytes_limit"):
        return int(stats["bytes_limit"]), f"{devices[0].platform} bytes_limit"
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    local = max(1, sum(1 for d in devices if d.process_index == devices[0].process_index))
    source = f"{HOST_MEMORY_FRACTION:g} x host memory / {local} device(s)"
    return int(physical * HOST_MEMORY_FRACTION / local), source


@dataclasses.dataclass(frozen=True)
class Plan:
    """How the flattened runs are cut into calls of one compiled program.

    Attributes:
      runs: real runs (points x seeds).
      devices: devices the run axis is sharded over.
      chunks: sequential calls of the program.
      runs_per_call: runs per call, a multiple of ``devices``.
      bytes_per_run: exact size of one run's arrays (:func:`estimate_run_bytes`).
      limit_bytes: memory limit per device.
      limit_source: where ``limit_bytes`` comes from.
    """

    runs: int
    devices: int
    chunks: int
    runs_per_call: int
    bytes_per_run: int
    limit_bytes: int
    limit_source: str

    @property
    def padded_runs(self) -> int:
        return self.chunks * self.runs_per_call

    @property
    def estimate_bytes_per_device(self) -> int:
        """Planned bytes on one device for one call (safety factor included)."""
        return int(self.runs_per_call // self.devices * self.bytes_per_run * SAFETY_FACTOR)


def plan_chunks(
    runs: int, devices: int, bytes_per_run: int, limit_bytes: int, limit_source: str = "limit"
) -> Plan:
    """Fewest equal chunks whose runs per device fit ``limit_bytes`` with :data:`SAFETY_FACTOR`.

    Raises:
      SweepError: if even one run per device does not fit.
    """
    need = bytes_per_run * SAFETY_FACTOR
    fit = int(limit_bytes // need)
    if fit < 1:
        raise SweepError(
            f"sweep does not fit in device memory: one run needs about {_mib(need)} "
            f"({_mib(bytes_per_run)} x safety {SAFETY_FACTOR:g}), the limit is "
            f"{_mib(limit_bytes)} per device ({limit_source}); reduce capacity or num_envs, "
            "or raise --max-memory-gb"
        )
    per_device = -(-runs // devices)
    chunks = -(-per_device // fit)
    per_call = -(-per_device // chunks) * devices
    return Plan(runs, devices, chunks, per_call, bytes_per_run, int(limit_bytes), limit_source)


def _mib(n: float) -> str:
    return f"{n / 2**20:,.1f} MiB"


# --------------------------------------------------------------------------------------------
# The program
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class SweepResult:
    """A finished sweep (host arrays, padding dropped).

    Attributes:
      points: the swept values of each point, ``P`` dicts.
      configs: each point's full config.
      seeds: seeds per point ``S``; point ``p``'s seed ``i`` used ``key(seed + i)``.
      seed: the first seed.
      env_steps: ``[T]`` env steps of the evaluations.
      eval_return: ``[P, S, T]`` greedy evaluation returns.
      params: final online params, leaves ``[P, S, ...]``.
      plan: the chunking plan.
      compile_seconds, train_seconds: wall time of compiling and of all calls.
      outputs: the raw (device, sharded) ``TrainOutput`` of each call, padding included.
    """

    points: list[dict[str, float]]
    configs: list[Config]
    seeds: int
    seed: int
    env_steps: np.ndarray
    eval_return: np.ndarray
    params: Any
    plan: Plan
    compile_seconds: float
    train_seconds: float
    outputs: list[Any]

    @property
    def final_return(self) -> np.ndarray:
        """``[P, S]``: the last evaluation's return."""
        return self.eval_return[..., -1]

    @property
    def auc(self) -> np.ndarray:
        """``[P, S]``: trapezoid area under the learning curve over env steps / total steps."""
        return learning_curve_auc(self.env_steps, self.eval_return)


def learning_curve_auc(env_steps: np.ndarray, eval_return: np.ndarray) -> np.ndarray:
    """Time-averaged evaluation return: trapezoid integral over ``env_steps`` ``[T]`` of
    ``eval_return`` ``[..., T]`` divided by the steps spanned; shape ``[...]``."""
    x = np.asarray(env_steps, np.float64)
    y = np.asarray(eval_return, np.float64)
    chex.assert_rank(x, 1)
    chex.assert_axis_dimension(y, -1, x.shape[0])
    return np.trapezoid(y, x, axis=-1) / (x[-1] - x[0])


class _ChunkProgress:
    """Feeds :class:`purejaxdqn.run.Progress` from every chunk, offset so one bar spans all."""

    def __init__(self, progress: Any, total_steps: int) -> None:
        self.progress = progress
        self.total_steps = total_steps
        self.chunk = 0

    def __call__(self, env_steps: np.ndarray, eval_return: np.ndarray) -> None:
        self.progress(int(env_steps) + self.chunk * self.total_steps, eval_return)


def make_sweep_program(
    config: Config,
    env: Any = None,
    env_params: Any = None,
    devices: Sequence[Any] | None = None,
    progress: Callable[[np.ndarray, np.ndarray], None] | None = None,
) -> tuple[Callable[..., Any], Any]:
    """The sweep program and the sharding of its run axis.

    Returns:
      ``(program, sharding)``: ``program(seeds [R] int32, hp)`` (``hp`` a ``HyperParams``
      with leaves ``[R]``, ``R`` a multiple of ``len(devices)``) is ``jax.jit`` of the
      trainer vmapped over runs (run ``r`` trains with ``jax.random.key(seeds[r])``), inside
      ``jax.shard_map`` over a ``("runs",)`` mesh of ``devices`` (default
      ``jax.devices()``); it returns a ``TrainOutput`` with leaves ``[R, ...]`` sharded like
      its inputs, ``sharding`` (a ``NamedSharding``).
    """
    import jax
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    from purejaxdqn.train import make_train

    devices = list(jax.devices() if devices is None else devices)
    mesh = Mesh(np.array(devices), ("runs",))
    spec = PartitionSpec("runs")
    train = make_train(config, env, env_params, progress=progress)

    def runs(seeds: jax.Array, hp: Any) -> Any:
        chex.assert_rank(seeds, 1)
        chex.assert_tree_shape_prefix(hp, seeds.shape)
        # Keys are made inside from plain ints, so the inputs are ordinary arrays on any
        # number of hosts; key(s) here is the same key as key(s) outside.
        return jax.vmap(lambda s, h: train(jax.random.key(s), h))(seeds, hp)

    sharded = jax.shard_map(runs, mesh=mesh, in_specs=(spec, spec), out_specs=spec, check_vma=False)
    return jax.jit(sharded), NamedSharding(mesh, spec)


def run_sweep(
    config: Config,
    points: Sequence[dict[str, float]],
    seeds: int,
    seed: int = 0,
    *,
    env: Any = None,
    env_params: Any = None,
    devices: Sequence[Any] | None = None,
    max_memory_bytes: int | None = None,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
    before_compile: Callable[[Plan], None] | None = None,
) -> SweepResult:
    """Trains every point x seed of a sweep with one compiled program.

    Args:
      config: the base config; its static fields are every point's.
      points: ``P`` dicts of traced-field values (``{}`` for the base config itself).
      seeds: seeds per point ``S``; point ``p``'s seed ``i`` uses ``jax.random.key(seed + i)``.
      seed: the first seed.
      env, env_params: optional env (default: built from ``config.env``).
      devices: devices to shard the runs over (default ``jax.devices()``).
      max_memory_bytes: memory limit per device (default :func:`device_memory_limit`).
      progress: show one progress bar for the whole sweep on stderr.
      log: where to report compiling and chunking (default: nothing).
      before_compile: called with the plan once the sweep is known to fit (the CLI creates
        the run directory there, so a refused sweep writes nothing).

    Returns:
      A :class:`SweepResult`.

    Raises:
      SweepError: for an invalid point or a sweep that cannot fit in memory.
    """
    import jax

    from purejaxdqn.run import Progress
    from purejaxdqn.train import make_env

    log = log or (lambda _: None)
    if seeds < 1:
        raise SweepError(f"--seeds must be >= 1, got {seeds}")
    configs = point_configs(config, points)
    if env is None:
        env, env_params = make_env(config)
    devices = list(jax.devices() if devices is None else devices)
    num_points = len(configs)
    runs = num_points * seeds

    bytes_per_run = estimate_run_bytes(config, env, env_params)
    if max_memory_bytes is None:
        limit, source = device_memory_limit(devices)
    else:
        limit, source = int(max_memory_bytes), "--max-memory-gb"
    plan = plan_chunks(runs, len(devices), bytes_per_run, limit, source)
    if before_compile is not None:
        before_compile(plan)
    if plan.chunks > 1:
        whole = bytes_per_run * SAFETY_FACTOR * -(-runs // len(devices))
        log(
            f"memory: {runs} runs need about {_mib(whole)} per device, limit {_mib(limit)} "
            f"({source}): {plan.chunks} sequential chunks of {plan.runs_per_call} runs, "
            "one compiled program"
        )

    # The flattened run axis: run r is point r // S, seed index r % S; padding repeats r = R-1.
    index = np.minimum(np.arange(plan.padded_runs), runs - 1)
    point_of, seed_of = index // seeds, seed + index % seeds
    # float32 of the same Python floats as Config.hyperparams(): a point's hp is bit-equal.
    hp_fields = {
        name: np.asarray([getattr(c, name) for c in configs], np.float32)[point_of]
        for name in config_lib.traced_field_names()
    }
    hp_all = type(config.hyperparams())(**hp_fields)

    # Each host's progress callbacks report its own devices' runs.
    local = sum(d.process_index == jax.process_index() for d in devices)
    reports = plan.runs_per_call * local // len(devices)
    bar = Progress(config.total_steps * plan.chunks, reports, enabled=progress)
    feed = _ChunkProgress(bar, config.total_steps)
    program, sharding = make_sweep_program(config, env, env_params, devices, feed)

    def chunk_inputs(c: int) -> tuple[Any, Any]:
        part = slice(c * plan.runs_per_call, (c + 1) * plan.runs_per_call)
        seeds_part = np.asarray(seed_of[part], np.int32)
        hp = jax.tree.map(lambda x: x[part], hp_all)
        return _put(seeds_part, sharding), jax.tree.map(lambda x: _put(x, sharding), hp)

    log(
        f"purejaxdqn.sweep: {config.env}, {num_points} points x {seeds} seeds = {runs} runs x "
        f"{config.total_steps:,} env steps on {len(devices)} {devices[0].platform} device(s); "
        "compiling..."
    )
    t0 = time.perf_counter()
    compiled = program.lower(*chunk_inputs(0)).compile()
    compile_seconds = time.perf_counter() - t0
    log(f"compiled in {compile_seconds:.1f}s; training")

    bar.start = time.perf_counter()
    outputs = []
    for c in range(plan.chunks):
        feed.chunk = c
        outputs.append(jax.block_until_ready(compiled(*chunk_inputs(c))))
    train_seconds = time.perf_counter() - bar.start
    bar.done_steps = bar.total_steps
    bar.render(final=True)

    def gather(*chunks: Any) -> np.ndarray:
        flat = np.concatenate([_host(x) for x in chunks])[:runs]
        return flat.reshape(num_points, seeds, *flat.shape[1:])

    params = jax.tree.map(gather, *[o.params for o in outputs])
    eval_return = gather(*[o.metrics["eval_return"] for o in outputs])
    env_steps = gather(*[o.metrics["env_steps"] for o in outputs])[0, 0]
    return SweepResult(
        points=[dict(p) for p in points],
        configs=configs,
        seeds=seeds,
        seed=seed,
        env_steps=env_steps,
        eval_return=eval_return,
        params=params,
        plan=plan,
        compile_seconds=compile_seconds,
        train_seconds=train_seconds,
        outputs=outputs,
    )


def _put(x: np.ndarray, sharding: Any) -> Any:
    """A host array (the same on every host) as a global array sharded by ``sharding``."""
    import jax

    return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])


def _host(x: Any) -> np.ndarray:
    """A (possibly multi-host) sharded array as one NumPy array on this host."""
    if x.is_fully_addressable:
        return np.asarray(x)
    from jax.experimental import multihost_utils

    return np.asarray(multihost_utils.process_allgather(x, tiled=True))


# --------------------------------------------------------------------------------------------
# Outputs
# --------------------------------------------------------------------------------------------


def rank_points(final_return: np.ndarray, seed: int = 0) -> list[dict[str, Any]]:
    """Points ranked by the IQM of their final returns ``[P, S]`` over seeds, best first.

    Returns:
      One dict per point: ``point``, ``final_return_iqm``, ``final_return_ci95`` (95%
      percentile bootstrap over seeds; ``[None, None]`` if a return is not finite). Ties keep
      the point order.
    """
    from purejaxdqn.results import bootstrap_ci, iqm

    chex.assert_rank(final_return, 2)
    rows = []
    for p, returns in enumerate(np.asarray(final_return, np.float64)):
        finite = bool(np.all(np.isfinite(returns)))
        score = float(iqm(returns)) if finite else -math.inf
        ci = list(bootstrap_ci(returns, iqm, seed=seed)) if finite else [None, None]
        rows.append({"point": p, "final_return_iqm": score, "final_return_ci95": ci})
    return sorted(rows, key=lambda r: -r["final_return_iqm"])


def write_outputs(
    out: Path,
    result: SweepResult,
    dims: Sequence[Dimension],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Writes ``sweep.csv``, ``sweep_summary.json``, ``sweep.png`` and ``best_config.json``.

    Returns:
      The summary dict (as written).
    """
    from purejaxdqn import results

    names = [d.name for d in dims]
    final, auc = result.final_return, result.auc

    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["point", "seed", *names, "final_return", "auc"])
    for p, point in enumerate(result.points):
        for i in range(result.seeds):
            values = [repr(float(point[n])) for n in names]
            writer.writerow(
                [p, result.seed + i, *values, repr(float(final[p, i])), repr(float(auc[p, i]))]
            )
    results.atomic_write_text(out / CSV_FILE, text.getvalue())

    ranking = rank_points(final)
    for r in ranking:
        p = r["point"]
        r["values"] = dict(result.points[p])
        r["auc_iqm"] = results.iqm(auc[p])
        r["final_return_per_seed"] = final[p].tolist()
    best = ranking[0]["point"]
    best_config = {**result.configs[best].to_dict(), "seeds": result.seeds, "seed": result.seed}
    runs = result.plan.runs
    summary = {
        "env": result.configs[0].env,
        "points": len(result.points),
        "seeds": result.seeds,
        "seed": result.seed,
        "runs": runs,
        "total_steps": result.configs[0].total_steps,
        "swept": {d.name: {"kind": d.kind, "values": list(d.values)} for d in dims},
        "ranking": ranking,
        "best": {"point": best, "values": dict(result.points[best]), "config": best_config},
        "compile_seconds": result.compile_seconds,
        "train_seconds": result.train_seconds,
        "env_steps_per_second": runs * result.configs[0].total_steps / result.train_seconds,
        "devices": result.plan.devices,
        "chunks": result.plan.chunks,
        "runs_per_call": result.plan.runs_per_call,
        "memory": {
            "bytes_per_run": result.plan.bytes_per_run,
            "safety_factor": SAFETY_FACTOR,
            "estimate_bytes_per_device": result.plan.estimate_bytes_per_device,
            "limit_bytes_per_device": result.plan.limit_bytes,
            "limit_source": result.plan.limit_source,
        },
        **(extra or {}),
    }
    summary = results.to_json(summary, finite_only=True)
    results.atomic_write_text(out / SUMMARY_FILE, json.dumps(summary, indent=2, sort_keys=True))
    results.atomic_write_text(
        out / BEST_CONFIG_FILE, json.dumps(best_config, indent=2, sort_keys=True) + "\n"
    )
    plot_sweep(out / PLOT_FILE, dims, result.points, final, title=summary["env"])
    return summary


def plot_sweep(
    path: Path,
    dims: Sequence[Dimension],
    points: Sequence[dict[str, float]],
    final_return: np.ndarray,
    title: str = "",
) -> None:
    """One panel per swept field: final return (IQM over all runs with that value, 95%
    bootstrap CI) against the value. Grids draw a line with a band; random draws points with
    error bars. Written atomically as PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from purejaxdqn import results

    final = np.asarray(final_return, np.float64)
    fig = Figure(figsize=(4.2 * len(dims), 3.6), dpi=110)
    FigureCanvasAgg(fig)
    for k, d in enumerate(dims):
        ax = fig.add_subplot(1, len(dims), k + 1)
        column = np.asarray([p[d.name] for p in points])
        xs = np.unique(column)
        stats = np.full((3, xs.size), np.nan)  # IQM, CI low, CI high per value
        for j, x in enumerate(xs):
            runs = final[column == x].reshape(-1)
            runs = runs[np.isfinite(runs)]
            if runs.size:
                stats[:, j] = (results.iqm(runs), *results.bootstrap_ci(runs))
        center, low, high = stats
        if d.kind in ("grid", "choice"):
            ax.fill_between(
                xs, low, high, color="tab:blue", alpha=0.25, linewidth=0, label="95% CI"
            )
            ax.plot(xs, center, "o-", color="tab:blue", label="IQM")
        else:
            err = np.stack([center - low, high - center])
            ax.errorbar(xs, center, yerr=err, fmt="o", color="tab:blue", ms=3, label="IQM, 95% CI")
        if d.log_scale:
            ax.set_xscale("log")
        ax.set_xlabel(d.name)
        ax.set_ylabel("final return" if k == 0 else "")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best", fontsize="small")
    fig.suptitle(title)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    results.atomic_write_bytes(path, buffer.getvalue())


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """``purejaxdqn.run``'s flags (every config field, ``--seeds``, ``--config``, ...) plus
    the sweep's."""
    from purejaxdqn.run import OneLineArgumentParser
    from purejaxdqn.run import build_parser as run_parser

    p = OneLineArgumentParser(
        prog="python -m purejaxdqn.sweep",
        description="Sweep traced hyperparameters: points x seeds in one compiled program, "
        "sharded over all devices.",
        parents=[run_parser()],
        conflict_handler="resolve",
    )
    g = p.add_argument_group("sweep")
    how = g.add_mutually_exclusive_group()
    how.add_argument("--grid", nargs="+", metavar="NAME=V1,V2", help="grid over traced fields")
    how.add_argument("--random", type=int, metavar="K", help="K random points from --space")
    g.add_argument(
        "--space",
        nargs="+",
        metavar="NAME=DIST",
        help="for --random: loguniform:lo:hi, uniform:lo:hi or choice:v1,v2,...",
    )
    g.add_argument("--space-seed", type=int, default=0, help="seed of the random points (0)")
    g.add_argument(
        "--distributed",
        action="store_true",
        help="call jax.distributed.initialize() first (multi-host; run on every host)",
    )
    g.add_argument(
        "--max-memory-gb",
        type=float,
        default=None,
        help="memory limit per device in GiB (default: the device's, or half the host's)",
    )
    return p


def parse_sweep(args: argparse.Namespace) -> tuple[list[Dimension], list[dict[str, float]]]:
    """``(dimensions, points)`` from parsed flags."""
    if args.grid is None and args.random is None:
        raise SweepError("give --grid NAME=V1,V2 ... or --random K --space NAME=DIST ...")
    if args.grid is not None:
        if args.space is not None:
            raise SweepError("--space goes with --random, not --grid")
        dims = parse_grid(args.grid)
        return dims, grid_points(dims)
    if args.space is None:
        raise SweepError("--random needs --space NAME=DIST ...")
    dims = parse_space(args.space)
    return dims, random_points(dims, args.random, args.space_seed)


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit code (2 and one line on stderr for bad input)."""
    from purejaxdqn.run import UsageError, config_from_args, default_run_dir

    try:
        args = build_parser().parse_args(argv)
        for flag in ("resume", "checkpoint_every"):
            if getattr(args, flag, None) is not None:
                raise SweepError(f"--{flag.replace('_', '-')} is for purejaxdqn.run, not sweeps")
        dims, points = parse_sweep(args)
        if args.distributed:
            import jax

            try:  # coordinator, hosts and ids from the cluster's environment
                jax.distributed.initialize()
            except Exception as e:
                raise SweepError(f"--distributed: {str(e).splitlines()[0]}") from None
        config, seeds, seed = config_from_args(args)
        point_configs(config, points)  # every point valid before anything else happens
        if args.max_memory_gb is not None and not args.max_memory_gb > 0:
            raise SweepError(f"--max-memory-gb must be > 0, got {args.max_memory_gb}")
        out = Path(args.out) if args.out else default_run_dir(config.env, prefix="sweep-")
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise SweepError(f"--out {out}: exists and is not an empty directory")
        return _sweep_and_report(config, dims, points, seeds, seed, out, args)
    except (ConfigError, UsageError) as e:
        print(f"error: {str(e).splitlines()[0] if str(e) else e!r}", file=sys.stderr)
        return 2


def _sweep_and_report(
    config: Config,
    dims: list[Dimension],
    points: list[dict[str, float]],
    seeds: int,
    seed: int,
    out: Path,
    args: argparse.Namespace,
) -> int:
    import jax

    from purejaxdqn import results
    from purejaxdqn.train import make_env

    start = time.perf_counter()
    env, env_params = make_env(config)  # a bad env is a one-line error, nothing written
    max_bytes = None if args.max_memory_gb is None else int(args.max_memory_gb * 2**30)

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    devices = jax.devices()
    writer = jax.process_index() == 0  # on several hosts, host 0 writes the outputs
    result = run_sweep(
        config,
        points,
        seeds,
        seed,
        env=env,
        env_params=env_params,
        devices=devices,
        max_memory_bytes=max_bytes,
        progress=not args.quiet,
        log=log,
        before_compile=lambda _: results.mark_incomplete(out) if writer else None,
    )
    extra = {
        "platform": devices[0].platform,
        "space_seed": args.space_seed if args.random is not None else None,
        "wall_seconds": time.perf_counter() - start,
    }
    if not writer:
        return 0
    summary = write_outputs(out, result, dims, extra)
    results.mark_complete(out)

    rows = []
    for rank, r in enumerate(summary["ranking"][:5], start=1):
        lo, hi = r["final_return_ci95"]
        values = " ".join(f"{k}={v:.4g}" for k, v in r["values"].items())
        ci = f"(95% CI {lo:.1f} .. {hi:.1f})" if lo is not None else ""
        rows.append(
            (f"#{rank} point {r['point']}", f"{values}  IQM {r['final_return_iqm']:.1f} {ci}")
        )
    rows += [
        ("runs", f"{len(points)} points x {seeds} seeds on {len(devices)} device(s), "
                 f"{result.plan.chunks} chunk(s)"),
        ("compile time", f"{result.compile_seconds:.1f}s"),
        ("train time", f"{result.train_seconds:.1f}s"),
        ("env-steps/s", f"{summary['env_steps_per_second']:,.0f} (all runs)"),
        ("run directory", str(out)),
    ]  # fmt: skip
    print(results.format_table(rows))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main())
