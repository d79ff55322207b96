r"""``python -m purejaxdqn.sweep``: a hyperparameter sweep as one compiled program.

Examples::

    python -m purejaxdqn.sweep --env CartPole-v1 --seeds 16 \
        --grid lr=1e-4,3e-4,1e-3 gamma=0.99,0.995
    python -m purejaxdqn.sweep --env CartPole-v1 --seeds 8 \
        --random 64 --space lr=loguniform:1e-5:1e-2 tau=uniform:0.001:0.1 \
        eps_end=choice:0.01,0.05
    python -m purejaxdqn.sweep ... --checkpoint-every 20000 --out runs/s
    python -m purejaxdqn.sweep --resume runs/s
    python -m purejaxdqn.sweep ... --coordinator HOST:PORT --num-processes 2 --process-id 0

Only *traced* config fields can be swept (they enter the program as arrays); a static field
is refused with exit code 2. Points x seeds go through the same engine as ``run``: sharded
over ``jax.devices()``, cut into groups when memory is short, checkpointed on request. The
sweep directory holds ``sweep.json`` (the spec, for ``--resume``), ``sweep.csv``,
``sweep_summary.json``, ``sweep.png``, ``best_config.json`` and, under ``points/<p>/``, every
point's run directory (``metrics.csv``, ``params.msgpack``, ``summary.json``, ...), which
``purejaxdqn.load_params`` and ``purejaxdqn.evaluate`` read like any run's.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax

from purejaxdqn import config_checks, metrics, report, search_space, tracking
from purejaxdqn.algorithms import make_trainer
from purejaxdqn.cli import cpu_devices, distributed, flags, training
from purejaxdqn.config import Config, ConfigError
from purejaxdqn.engine.engine import EngineResult, default_devices
from purejaxdqn.engine.layout import RunAxis
from purejaxdqn.engine.loop import Interrupted
from purejaxdqn.envs.discrete import make_env
from purejaxdqn.rundir import files, lock
from purejaxdqn.rundir.atomic import atomic_write_text, jsonable
from purejaxdqn.search_space import Dimension, SweepError

SPEC_FILE = "sweep.json"
MAX_POINTS = search_space.MAX_POINTS
_START = time.perf_counter()


def build_parser() -> argparse.ArgumentParser:
    """``run``'s flags (every config field, ``--seeds``, ``--config``, ...) plus the sweep's."""
    p = flags.OneLineArgumentParser(
        prog="python -m purejaxdqn.sweep",
        description="Sweep traced hyperparameters: points x seeds in one compiled program, "
        "sharded over all devices.",
    )
    flags.add_config_flags(p)
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
    g.add_argument(
        "--space-seed", type=int, default=0, help="seed of the random points (default 0)"
    )
    distributed.add_flags(p)
    return p


@dataclasses.dataclass(frozen=True)
class SweepRequest:
    """A validated sweep: the base config, its points and where the results go."""

    config: Config
    dims: tuple[Dimension, ...]
    points: tuple[dict[str, float], ...]
    seeds: int
    seed: int
    out: Path
    checkpoint_every: int | None = None
    space_seed: int | None = None
    max_memory_gb: float | None = None
    resume: bool = False
    quiet: bool = False
    log: tuple[str, ...] = ()

    def spec(self) -> dict[str, Any]:
        """The contents of ``sweep.json``: everything ``--resume`` needs."""
        return {
            "config": self.config.to_dict(),
            "dims": [{"name": d.name, "kind": d.kind, "values": list(d.values)} for d in self.dims],
            "points": [dict(p) for p in self.points],
            **files.run_entries(self.seeds, self.seed, self.checkpoint_every),
            "space_seed": self.space_seed,
            "max_memory_gb": self.max_memory_gb,
        }


def _read_spec(out: Path) -> dict[str, Any]:
    path = out / SPEC_FILE
    if not path.is_file():
        raise SweepError(f"--resume {out}: not a sweep directory (no {SPEC_FILE})")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SweepError(f"--resume {out}: cannot read {SPEC_FILE} ({e})") from e


_RESUME_CONFLICTS = (
    "seeds", "seed", "config", "out", "env_backend", "grid", "random", "space",
    "max_memory_gb", "checkpoint_every",
)  # fmt: skip


def resume_request(args: argparse.Namespace) -> SweepRequest:
    """The request saved in ``--resume DIR``'s ``sweep.json`` (no other spec flags allowed)."""
    flags.refuse_beside_resume(args, _RESUME_CONFLICTS, "a sweep as specified")
    out = Path(args.resume)
    config_checks.check_out_path("--resume", out)  # a usable, writable path
    config_checks.read_size_ok("--resume", str(out / SPEC_FILE))
    spec = _read_spec(out)
    try:
        config_checks.check_memory_gb(spec.get("max_memory_gb"), "max_memory_gb")
        config_checks.check_seed_range(spec["seeds"], spec["seed"], len(spec["points"]))
        return SweepRequest(
            config=Config.from_dict(spec["config"]),  # lists become tuples in Config
            dims=tuple(Dimension(d["name"], d["kind"], tuple(d["values"])) for d in spec["dims"]),
            points=tuple(dict(p) for p in spec["points"]),
            seeds=int(spec["seeds"]),
            seed=int(spec["seed"]),
            out=out,
            checkpoint_every=spec.get("checkpoint_every"),
            space_seed=spec.get("space_seed"),
            max_memory_gb=spec.get("max_memory_gb"),
            resume=True,
            quiet=args.quiet,
            log=tracking.parse_log(args.log),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise SweepError(f"--resume {out}: {SPEC_FILE} is damaged ({e})") from None


def new_request(args: argparse.Namespace) -> SweepRequest:
    """The request of a fresh sweep's flags (nothing written yet)."""
    if args.space_seed < 0:
        raise SweepError(f"--space-seed must be >= 0, got {args.space_seed}")
    if args.random is not None and args.random > MAX_POINTS:
        raise SweepError(f"--random {args.random}: at most {MAX_POINTS:,} points per sweep")
    dims, points = search_space.parse_sweep(args)
    config, seeds, seed, every = flags.config_from_args(args)
    config_checks.check_seed_range(seeds, seed, len(points))
    if args.out is not None:
        config_checks.check_path_text("--out", args.out)
    out = Path(args.out) if args.out is not None else files.default_run_dir(config.env, "sweep-")
    config_checks.check_out_path("--out", out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise SweepError(f"--out {out}: exists and is not an empty directory")
    config_checks.check_memory_gb(args.max_memory_gb)
    return SweepRequest(
        config=config,
        dims=tuple(dims),
        points=tuple(points),
        seeds=seeds,
        seed=seed,
        out=out,
        checkpoint_every=every,
        space_seed=args.space_seed if args.random is not None else None,
        max_memory_gb=args.max_memory_gb,
        quiet=args.quiet,
        log=tracking.parse_log(args.log),
    )


def main(argv: Sequence[str] | None = None, *, default_cpu_devices: str | None = None) -> int:
    """The command line; returns the exit code (2 and one line on stderr for bad input).

    ``default_cpu_devices`` is as in :func:`purejaxdqn.run.main`; ``python -m
    purejaxdqn.sweep`` passes ``"auto"``.
    """
    try:
        args = build_parser().parse_args(argv)
        cpu_devices.configure_from_args(args, default_cpu_devices)
        distributed.initialize(args)  # several processes: join first (env lookups compute)
        request = resume_request(args) if args.resume is not None else new_request(args)
        search_space.point_configs(request.config, request.points)  # every point valid
        return distributed.guard(lambda: execute(request))
    except KeyboardInterrupt:  # before training started (its own handler takes over there)
        print("interrupted before training: nothing was written", file=sys.stderr)
        return 130
    except (ConfigError, flags.UsageError) as e:
        message = str(e).splitlines()[0] if str(e) else repr(e)
        print(f"error: {message}", file=sys.stderr)
        return 2


def execute(request: SweepRequest) -> int:
    """Trains a validated sweep, writes the sweep directory, prints the end table."""
    r = request
    config, out, seeds, seed, points = r.config, r.out, r.seeds, r.seed, r.points
    writer = jax.process_index() == 0  # on several hosts, host 0 writes the outputs
    if writer:
        lock.check(out)  # a sweep that is still going: refused before anything is written
    if r.resume and files.is_complete(out):
        print(f"{out}: the sweep is already complete; nothing to resume", file=sys.stderr)
        return 0
    configs = search_space.point_configs(config, points)
    env, env_params = make_env(config)  # a bad env is a one-line error, nothing written
    devices = default_devices(len(points) * seeds)
    command = f"python -m purejaxdqn.sweep --resume {out}"

    def prepare(_: Any) -> None:  # the sweep fits: only now is anything written or said
        training.log(
            f"purejaxdqn.sweep: {config.env}, {len(points)} points x {seeds} seeds = "
            f"{len(points) * seeds} runs x {config.total_steps:,} env steps on {len(devices)} "
            f"{devices[0].platform} device(s)"
            + (f", {jax.process_count()} processes" if jax.process_count() > 1 else "")
        )
        if writer:
            files.mark_incomplete(out)
            if not r.resume:
                text = json.dumps(jsonable(r.spec(), finite_only=False), indent=2, sort_keys=True)
                atomic_write_text(out / SPEC_FILE, text + "\n")

    axis = RunAxis(tuple(configs), seeds, seed)

    def interrupted(stopped: Interrupted) -> None:  # each reached point's metrics so far
        for p in range(len(points)):
            rows = {k: v[p * seeds : (p + 1) * seeds] for k, v in stopped.rows.items()}
            if len(rows["eval_return"]):
                run_dir = out / report.POINTS_DIR / f"{p:03d}"
                files.write_metrics_csv(run_dir, {k: rows[k] for k in metrics.CSV_KEYS})
        summary = training.interrupted_summary(stopped, config, command)
        text = json.dumps(jsonable(summary, finite_only=True), indent=2, sort_keys=True)
        atomic_write_text(out / report.SWEEP_SUMMARY_FILE, text + "\n")

    def write(result: EngineResult) -> int:
        if not writer:
            return 0
        return _write_results(r, axis, result, devices[0].platform)

    max_bytes = None if r.max_memory_gb is None else int(r.max_memory_gb * 2**30)
    tracker = tracking.make_tracker(
        r.log,
        seeds=seeds,
        eval_every=config.eval_every,
        run_dir=lambda p: out / report.POINTS_DIR / f"{p:03d}",
        config=lambda p: {**configs[p].to_dict(), "sweep_point": p, "seeds": seeds, "seed": seed},
        group=out.resolve().name,
        label=lambda p: f"p{p:03d}/",
    )
    return training.train(
        lambda progress: make_trainer(config, env, env_params, progress=progress),
        axis,
        out,
        quiet=r.quiet,
        checkpoint_every=r.checkpoint_every,
        resume=r.resume,
        meta={"sweep": r.spec()},
        resume_command=command,
        on_interrupt=interrupted,
        on_result=write,
        max_memory_bytes=max_bytes,
        before_compile=prepare,
        tracker=tracker if writer else None,
    )


def _write_results(r: SweepRequest, axis: RunAxis, result: EngineResult, platform: str) -> int:
    """Every point's run directory, then the sweep's files and end table."""
    out, seeds, seed, points = r.out, r.seeds, r.seed, r.points
    extra: dict[str, Any] = {"platform": platform}
    point_results = report.points_of(result, axis)
    for p, point in enumerate(point_results):
        run_dir = out / report.POINTS_DIR / f"{p:03d}"
        files.write_config(
            run_dir, {**point.config.to_dict(), **files.run_entries(seeds, seed, None)}
        )
        summary = report.write_point(
            run_dir, point, result, {**extra, "sweep_point": p, "values": points[p]}
        )
        files.write_summary(run_dir, summary)
    extra["space_seed"] = r.space_seed
    extra["wall_seconds"] = time.perf_counter() - _START
    summary = report.write_sweep(out, point_results, points, r.dims, result, extra)
    return training.finish(out, report.sweep_table(summary, out))


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main(default_cpu_devices="auto"))
