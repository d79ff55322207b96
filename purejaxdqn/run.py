"""``python -m purejaxdqn.run``: train DQN (or PQN) on many seeds in one compiled program.

Examples::

    python -m purejaxdqn.run --seeds 64                       # InvertedPendulum-v5 preset
    python -m purejaxdqn.run --env CartPole-v1 --seeds 16 --lr 3e-4 --out runs/cp
    python -m purejaxdqn.run --algorithm pqn --env CartPole-v1 --seeds 16  # PQN's preset
    python -m purejaxdqn.run --env InvertedPendulum-v5 --env-backend mjx
    python -m purejaxdqn.run --config runs/cp/config.json     # rerun a run's exact config
    python -m purejaxdqn.run --seeds 64 --checkpoint-every 20000 --out runs/p
    python -m purejaxdqn.run --resume runs/p                  # continue after a kill

Every bad input exits with code 2 and one line on stderr, before anything is compiled or
written. A run is the engine's run axis with one point (see ``docs/architecture.md``).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from purejaxdqn import config_checks, metrics, report, tracking
from purejaxdqn.algorithms import make_trainer
from purejaxdqn.cli import cpu_devices, flags, training
from purejaxdqn.config import Config, ConfigError
from purejaxdqn.engine.engine import EngineResult
from purejaxdqn.engine.layout import RunAxis
from purejaxdqn.engine.loop import Interrupted
from purejaxdqn.envs.discrete import make_env
from purejaxdqn.rundir import files, lock

_START = time.perf_counter()


def build_parser() -> argparse.ArgumentParser:
    """The run's flags: ``--seeds``, ``--config``, ``--resume``, ... and one per config field."""
    p = flags.OneLineArgumentParser(
        prog="python -m purejaxdqn.run",
        description="Train DQN or PQN on many seeds at once: one jax.lax.scan, vmapped over seeds.",
    )
    flags.add_config_flags(p)
    return p


@dataclasses.dataclass(frozen=True)
class RunRequest:
    """A validated command line: what to train and where."""

    config: Config
    seeds: int
    seed: int
    out: Path
    checkpoint_every: int | None = None
    max_memory_gb: float | None = None
    resume: bool = False
    quiet: bool = False
    env: Any = None
    env_params: Any = None
    log: tuple[str, ...] = ()


def request_from_args(args: argparse.Namespace) -> RunRequest:
    """Validates a parsed command line; reads files but writes and compiles nothing.

    Raises:
      ConfigError: for any invalid input, with a one-line message.
    """
    config_checks.check_memory_gb(args.max_memory_gb)
    if args.resume is not None:
        flags.refuse_beside_resume(args, _RESUME_CONFLICTS, "a run as configured")
        out = Path(args.resume)
        config_checks.check_out_path("--resume", out)  # a usable, writable path
        if not (out / files.CONFIG_FILE).is_file():
            raise ConfigError(f"--resume {out}: not a run directory (no config.json)")
        ns = argparse.Namespace(**{**vars(args), "config": str(out / files.CONFIG_FILE)})
        # The run's own config.json without today's preset under it: a field an older
        # version did not save takes its default (that version's behaviour).
        config, seeds, seed, every = flags.config_from_args(ns, presets=False)
        memory = files.read_config_file(out / files.CONFIG_FILE)[1].get("max_memory_gb")
        config_checks.check_memory_gb(memory, "max_memory_gb in config.json")
        resume = True
    else:
        config, seeds, seed, every = flags.config_from_args(args)
        memory = args.max_memory_gb
        if args.out is not None:
            config_checks.check_path_text("--out", args.out)
        out = Path(args.out) if args.out is not None else files.default_run_dir(config.env)
        config_checks.check_out_path("--out", out)
        files.check_run_dir(out, expected_config(config, seeds, seed, every, memory))
        resume = False
    env, env_params = make_env(config)  # an unknown env or action space fails here
    make_trainer(config, env, env_params)  # a network the env's observations cannot feed, too
    log = tracking.parse_log(args.log)
    return RunRequest(
        config, seeds, seed, out, every, memory, resume, args.quiet, env, env_params, log
    )


_RESUME_CONFLICTS = (
    "seeds", "seed", "config", "out", "env_backend", "checkpoint_every", "max_memory_gb",
)  # fmt: skip


def expected_config(
    config: Config, seeds: int, seed: int, every: int | None, memory: float | None = None
) -> dict[str, Any]:
    """What ``config.json`` holds for this run."""
    return {**config.to_dict(), **files.run_entries(seeds, seed, every, memory)}


def main(argv: Sequence[str] | None = None, *, default_cpu_devices: str | None = None) -> int:
    """The command line; returns the exit code (2 for any bad input, with one line).

    ``default_cpu_devices`` applies when ``--cpu-devices`` is not given (see
    :mod:`purejaxdqn.cli.cpu_devices`); ``None`` leaves JAX's devices as they are unless
    ``$PUREJAXDQN_CPU_DEVICES`` is set. ``python -m purejaxdqn.run`` passes ``"auto"``.
    """
    try:
        args = build_parser().parse_args(argv)
        cpu_devices.configure_from_args(args, default_cpu_devices)
        return execute(request_from_args(args))
    except KeyboardInterrupt:  # before training started (its own handler takes over there)
        print("interrupted before training: nothing was written", file=sys.stderr)
        return 130
    except (ConfigError, flags.UsageError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def execute(request: RunRequest) -> int:
    """Trains a validated request (fresh or resumed).

    Writes the run directory and prints the end table.
    """
    r = request
    config, out = r.config, r.out
    lock.check(out)  # a run that is still going: refused before anything is read or written
    if r.resume and files.is_complete(out):
        print(f"{out}: the run is already complete; nothing to resume", file=sys.stderr)
        return 0
    entries = files.run_entries(r.seeds, r.seed, r.checkpoint_every, r.max_memory_gb)
    expected = {**config.to_dict(), **entries}
    files.check_run_dir(out, expected)
    import jax

    platform = jax.devices()[0].platform
    command = f"python -m purejaxdqn.run --resume {out}"

    def prepare(_: Any) -> None:  # the runs fit: only now is anything written or said
        training.log(
            f"purejaxdqn: {config.env}, {r.seeds} seeds x {config.total_steps:,} env steps "
            f"({platform})"
        )
        files.mark_incomplete(out)
        if not r.resume:
            files.write_config(out, expected)

    def interrupted(stopped: Interrupted) -> None:  # the metrics so far, a summary saying so
        files.write_metrics_csv(out, {k: stopped.rows[k] for k in metrics.CSV_KEYS})
        summary = training.interrupted_summary(stopped, config, command)
        files.write_summary(out, {**summary, "seeds": r.seeds, "platform": platform})

    axis = RunAxis((config,), r.seeds, r.seed)

    def write(result: EngineResult) -> int:
        (point,) = report.points_of(result, axis)
        summary = report.write_point(out, point, result, {"platform": platform})
        summary["wall_seconds"] = time.perf_counter() - _START
        files.write_summary(out, summary)
        return training.finish(out, report.run_table(summary, out))

    tracker = tracking.make_tracker(
        r.log,
        seeds=r.seeds,
        eval_every=config.eval_every,
        run_dir=lambda _: out,
        config=lambda _: expected,
        group=out.resolve().name,
    )
    return training.train(
        lambda progress: make_trainer(config, r.env, r.env_params, progress=progress),
        axis,
        out,
        quiet=r.quiet,
        checkpoint_every=r.checkpoint_every,
        resume=r.resume,
        meta={"config": config.to_dict(), **entries},
        resume_command=command,
        on_interrupt=interrupted,
        on_result=write,
        max_memory_bytes=None if r.max_memory_gb is None else int(r.max_memory_gb * 2**30),
        before_compile=prepare,
        tracker=tracker,
    )


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main(default_cpu_devices="auto"))
