"""``python -m purejaxdqn.run``: train DQN on many seeds in one compiled program.

Examples::

    python -m purejaxdqn.run --seeds 64                       # InvertedPendulum-v5 preset
    python -m purejaxdqn.run --env CartPole-v1 --seeds 16 --lr 3e-4 --out runs/cp
    python -m purejaxdqn.run --config runs/cp/config.json     # rerun a run's exact config
    python -m purejaxdqn.run --seeds 64 --checkpoint-every 20000 --out runs/p
    python -m purejaxdqn.run --resume runs/p                  # continue after a kill

Every bad input (unknown field, wrong type, out-of-range value, unknown env, unreadable
file, a run directory holding another run) exits with code 2 and one line on stderr, before
anything is compiled or written.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import shutil
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from purejaxdqn import config as config_lib
from purejaxdqn.config import Config, ConfigError

_START = time.perf_counter()
_CONFIG_FILE = "config.json"


class UsageError(Exception):
    """A bad command line: reported in one line, exit code 2."""


class OneLineArgumentParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors raise :class:`UsageError` instead of printing the
    usage block, so every bad command line is reported in one line."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _parse_widths(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(w) for w in text.replace(" ", "").split(",") if w)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"expected comma-separated ints, got {text!r}") from e


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _field_type(f: dataclasses.Field) -> Any:
    if f.name in ("hidden", "conv"):
        return _parse_widths
    if isinstance(f.default, bool):
        return _parse_bool
    if f.metadata["traced"]:
        return float
    return type(f.default)


def build_parser() -> argparse.ArgumentParser:
    p = OneLineArgumentParser(
        prog="python -m purejaxdqn.run",
        description="Train DQN on many seeds at once: one jax.lax.scan, vmapped over seeds.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--seeds", type=int, default=None, help="number of seeds trained together (64)")
    p.add_argument("--seed", type=int, default=None, help="first seed; seed i uses key(seed + i)")
    p.add_argument("--out", type=str, default=None, help="run directory (runs/<env>-<time>)")
    p.add_argument("--config", type=str, default=None, help="a config.json to start from")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--checkpoint-every",
        type=int,
        default=None,
        help="save a resumable checkpoint every N env steps per seed (a multiple of "
        "eval_every dividing total_steps)",
    )
    p.add_argument(
        "--resume",
        type=str,
        default=None,
        metavar="RUN_DIR",
        help="continue an interrupted run from its latest checkpoint (no other config flags)",
    )
    group = p.add_argument_group("config fields (defaults: the env's preset)")
    for f in dataclasses.fields(Config):
        group.add_argument(
            "--" + f.name.replace("_", "-"),
            dest=f.name,
            type=_field_type(f),
            default=None,
            help=f.metadata["help"] + f" (default {f.default!r})",
        )
    return p


@dataclasses.dataclass(frozen=True)
class RunPlan:
    """A validated command line: what to train and where."""

    config: Config
    seeds: int
    seed: int
    out: Path
    checkpoint_every: int | None = None
    resume: bool = False
    quiet: bool = False
    env: Any = None
    env_params: Any = None


def config_from_args(args: argparse.Namespace) -> tuple[Config, int, int]:
    """``(config, seeds, seed)``: the env's preset, then ``--config``, then explicit flags."""
    config, seeds, seed, _ = _config_and_run_entries(args)
    return config, seeds, seed


def _config_and_run_entries(
    args: argparse.Namespace, presets: bool = True
) -> tuple[Config, int, int, int | None]:
    base: dict[str, Any] = {}
    run: dict[str, Any] = {}
    if args.config is not None:
        base, run = config_lib.read_config_file(args.config)
    flags = {f: getattr(args, f) for f in config_lib.field_names() if getattr(args, f) is not None}
    env = flags.get("env", base.get("env", Config.env))
    if not isinstance(env, str):
        raise ConfigError(f"env must be a string, got {env!r}")
    preset = config_lib.PRESETS.get(env, {}) if presets else {}
    merged = {**preset, **base, **flags, "env": env}
    seeds = args.seeds if args.seeds is not None else run.get("seeds", 64)
    seed = args.seed if args.seed is not None else run.get("seed", 0)
    every = getattr(args, "checkpoint_every", None)
    every = every if every is not None else run.get("checkpoint_every")
    if not config_lib.is_int(seeds) or seeds < 1:
        raise ConfigError(f"seeds must be an integer >= 1, got {seeds!r}")
    if not config_lib.is_int(seed) or seed < 0:
        raise ConfigError(f"seed must be an integer >= 0, got {seed!r}")
    config = Config.from_dict(merged)
    if every is not None:
        if not config_lib.is_int(every) or every <= 0:
            raise ConfigError(f"checkpoint_every must be a positive integer, got {every!r}")
        if every % config.eval_every or config.total_steps % every:
            raise ConfigError(
                f"checkpoint_every ({every}) must be a multiple of eval_every "
                f"({config.eval_every}) that divides total_steps ({config.total_steps})"
            )
    return config, seeds, seed, every


def plan_from_args(args: argparse.Namespace) -> RunPlan:
    """Validates a parsed command line; reads files but writes and compiles nothing.

    Raises:
      ConfigError: for any invalid input, with a one-line message.
    """
    if args.resume is not None:
        given = [f for f in config_lib.field_names() if getattr(args, f) is not None]
        given += [o for o in ("seeds", "seed", "config", "out") if getattr(args, o) is not None]
        if given:
            raise ConfigError(
                f"--resume continues a run as configured; drop --{given[0].replace('_', '-')}"
            )
        out = Path(args.resume)
        if not (out / _CONFIG_FILE).is_file():
            raise ConfigError(f"--resume {out}: not a run directory (no config.json)")
        ns = argparse.Namespace(**{**vars(args), "config": str(out / _CONFIG_FILE)})
        # The run's own config.json, without today's preset under it: a field an older
        # version did not save takes its default (the behaviour of that version).
        config, seeds, seed, every = _config_and_run_entries(ns, presets=False)
        resume = True
    else:
        config, seeds, seed, every = _config_and_run_entries(args)
        out = Path(args.out) if args.out else default_run_dir(config.env)
        check_run_dir(out, config, seeds, seed, every)
        resume = False
    from purejaxdqn.train import make_dqn, make_env

    env, env_params = make_env(config)  # unknown env or action space: fails here
    make_dqn(config, env, env_params)  # a network that cannot take the env's obs: fails here
    return RunPlan(config, seeds, seed, out, every, resume, args.quiet, env, env_params)


class Progress:
    """One progress line for the whole run, fed by per-seed callbacks from the program."""

    def __init__(self, total_steps: int, seeds: int, enabled: bool = True) -> None:
        self.total_steps = total_steps
        self.seeds = seeds
        self.enabled = enabled
        self._returns: dict[int, list[float]] = {}
        self._lock = threading.Lock()
        self.start = time.perf_counter()
        self.latest_iqm = float("nan")
        self.done_steps = 0
        self.resumed_steps = 0

    def __call__(self, env_steps: np.ndarray, eval_return: np.ndarray) -> None:
        step = int(env_steps)
        with self._lock:
            bucket = self._returns.setdefault(step, [])
            bucket.append(float(eval_return))
            if len(bucket) < self.seeds:
                return
            from purejaxdqn.results import iqm

            self.latest_iqm = float(iqm(np.asarray(self._returns.pop(step))))
            self.done_steps = max(self.done_steps, step)
            self.render()

    def render(self, final: bool = False) -> None:
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.start
        frac = self.done_steps / self.total_steps
        width = 30
        bar = "#" * int(width * frac) + "-" * (width - int(width * frac))
        rate = (self.done_steps - self.resumed_steps) * self.seeds / max(elapsed, 1e-9)
        line = (
            f"\r[{bar}] {self.done_steps:>{len(str(self.total_steps))}}/{self.total_steps} "
            f"steps/seed | {rate:,.0f} env-steps/s | eval IQM {self.latest_iqm:8.2f} "
            f"| {elapsed:6.1f}s"
        )
        sys.stderr.write(line + ("\n" if final else ""))
        sys.stderr.flush()


def default_run_dir(env: str, prefix: str = "") -> Path:
    """``runs/<prefix><env>-<time>`` with the env name made safe for a path."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{prefix}{env.replace(':', '_').replace('/', '_')}-{stamp}"


def run_entries(seeds: int, seed: int, checkpoint_every: int | None) -> dict[str, Any]:
    """The entries of ``config.json`` beside the config fields."""
    entries: dict[str, Any] = {"seeds": seeds, "seed": seed}
    if checkpoint_every is not None:
        entries["checkpoint_every"] = checkpoint_every
    return entries


def check_run_dir(
    path: Path, config: Config, seeds: int, seed: int, checkpoint_every: int | None = None
) -> None:
    """Refuses a path that is not a directory or a directory holding a different run."""
    if path.exists() and not path.is_dir():
        raise ConfigError(f"--out {path}: exists and is not a directory")
    existing = path / "config.json"
    if existing.exists():
        try:
            old = json.loads(existing.read_text())
        except (OSError, json.JSONDecodeError):
            old = None
        want = {**config.to_dict(), **run_entries(seeds, seed, checkpoint_every)}
        if old != want:
            raise ConfigError(f"--out {path}: already holds a different run (its config.json)")


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit code (2 for any bad input, with one line)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return execute(plan_from_args(args))
    except (ConfigError, UsageError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def execute(plan: RunPlan) -> int:
    """Runs a validated plan (a fresh run or a resumed one)."""
    from purejaxdqn import results

    if plan.resume and results.is_complete(plan.out):
        print(f"{plan.out}: the run is already complete; nothing to resume", file=sys.stderr)
        return 0
    return train_and_report(
        plan.config,
        plan.seeds,
        plan.seed,
        plan.out,
        quiet=plan.quiet,
        checkpoint_every=plan.checkpoint_every,
        resume=plan.resume,
        env=plan.env,
        env_params=plan.env_params,
    )


def _hp_axis(hp: Any) -> int | None:
    import jax

    return 0 if any(np.ndim(x) for x in jax.tree.leaves(hp)) else None


def train_and_report(
    config: Config,
    seeds: int,
    seed: int,
    out: Path,
    quiet: bool = False,
    checkpoint_every: int | None = None,
    resume: bool = False,
    hp: Any = None,
    env: Any = None,
    env_params: Any = None,
) -> int:
    """Trains ``seeds`` seeds of ``config``, writes the run directory and prints a summary.

    The run is two compiled programs: ``start`` (init + the evaluation before training) and
    ``run`` over a chunk of eval periods, called once (no checkpoints) or once per
    ``checkpoint_every // eval_every`` periods with a checkpoint after each chunk. Results
    are identical either way, and after ``resume``.

    Args:
      config: the validated config.
      seeds: number of seeds; seed ``i`` uses ``jax.random.key(seed + i)``.
      seed: the first seed.
      out: the run directory.
      quiet: no progress bar.
      checkpoint_every: env steps per seed between checkpoints (``None``: none).
      resume: continue from the latest checkpoint in ``out`` (from scratch if none).
      hp: optional :class:`~purejaxdqn.config.HyperParams`, scalar leaves or ``[seeds]``
        leaves (one point per seed); default ``config.hyperparams()``.
      env: the env already made from ``config`` (with ``env_params``); default: made here.
    """
    import jax

    from purejaxdqn import results
    from purejaxdqn.checkpoint import Checkpointer
    from purejaxdqn.train import make_dqn, make_env

    if env is None:  # validates the env before anything is written
        env, env_params = make_env(config)
    check_run_dir(out, config, seeds, seed, checkpoint_every)
    out.mkdir(parents=True, exist_ok=True)
    results.mark_incomplete(out)
    entries = run_entries(seeds, seed, checkpoint_every)
    if not resume:
        results.write_config(out, {**config.to_dict(), **entries})

    progress = Progress(config.total_steps, seeds, enabled=not quiet)
    dqn = make_dqn(config, env, env_params, progress=progress)
    hp = config.hyperparams() if hp is None else hp
    hp_axis = _hp_axis(hp)
    keys = jax.vmap(jax.random.key)(np.arange(seed, seed + seeds))
    chunk = checkpoint_every // config.eval_every if checkpoint_every else config.num_evals
    checkpointer = Checkpointer(out)
    ckpt = checkpointer.latest() if resume else None
    print(
        f"purejaxdqn: {config.env}, {seeds} seeds x {config.total_steps:,} env steps "
        f"({jax.devices()[0].platform}); compiling...",
        file=sys.stderr,
        flush=True,
    )
    t0 = time.perf_counter()
    start = jax.jit(jax.vmap(dqn.start, in_axes=(0, hp_axis)))
    state_shape = jax.eval_shape(start, keys, hp)[0]
    run = jax.jit(jax.vmap(dqn.run, in_axes=(0, hp_axis, None)), donate_argnums=0)
    run = run.lower(state_shape, hp, np.arange(chunk, dtype=np.int32)).compile()
    if ckpt is None:
        start = start.lower(keys, hp).compile()
    compile_seconds = time.perf_counter() - t0
    print(f"compiled in {compile_seconds:.1f}s; training", file=sys.stderr, flush=True)

    progress.start = time.perf_counter()
    if ckpt is None:
        state, row0 = start(keys, hp)
        rows = {k: np.asarray(v)[:, None] for k, v in row0.items()}
        period = 0
    else:
        try:
            state, rows, period = checkpointer.restore(ckpt, state_shape)
        except ValueError as e:
            raise ConfigError(f"--resume {out}: {e}") from e
        print(f"resumed from {ckpt} (env step {period * config.eval_every:,})", file=sys.stderr)
        progress.done_steps = progress.resumed_steps = period * config.eval_every
    first_period = period
    meta = {"config": config.to_dict(), **entries}
    while period < config.num_evals:
        periods = np.arange(period, period + chunk, dtype=np.int32)
        state, chunk_rows = run(state, hp, periods)
        chunk_rows = jax.device_get(chunk_rows)
        rows = {k: np.concatenate([rows[k], np.asarray(chunk_rows[k])], axis=1) for k in rows}
        period += chunk
        if checkpoint_every and period < config.num_evals:
            checkpointer.save(state, rows, period, meta)
    state = jax.block_until_ready(state)
    train_seconds = time.perf_counter() - progress.start
    progress.done_steps = config.total_steps
    progress.render(final=True)

    returns = rows["eval_return"]  # [S, T]
    env_steps = rows["env_steps"][0]
    diverged_step = np.asarray(state.diverged_step)  # [S]
    threshold = config_lib.REWARD_THRESHOLDS.get(config.env)
    diverged = [
        {"seed": seed + int(i), "env_step": int(diverged_step[i])}
        for i in np.flatnonzero(diverged_step >= 0)
    ]
    summary = results.summarize(
        env=config.env,
        final_returns=returns[:, -1],
        reward_threshold=threshold,
        total_steps=config.total_steps,
        compile_seconds=compile_seconds,
        train_seconds=train_seconds,
        env_steps_total=(config.num_evals - first_period) * config.eval_every * seeds,
        extra={
            "seed": seed,
            "platform": jax.devices()[0].platform,
            "diverged_count": len(diverged),
            "diverged_seeds": diverged,
            "resumed": ckpt is not None,
        },
    )
    results.write_metrics_csv(
        out,
        {
            "env_steps": env_steps,
            "eval_return": returns,
            "loss": rows["loss"],
            "q_mean": rows["q_mean"],
            "epsilon": rows["epsilon"],
            "train_return": rows["train_return"],
        },
    )
    results.save_params(out, jax.tree.map(np.asarray, state.params))
    results.plot_learning_curve(
        out, env_steps, returns, title=config.env, reward_threshold=threshold
    )
    summary["wall_seconds"] = time.perf_counter() - _START
    results.write_summary(out, summary)
    results.mark_complete(out)
    shutil.rmtree(out / "checkpoints", ignore_errors=True)

    lo, hi = summary["final_return_ci95"]
    solved = summary["solved_seeds"]
    first = ", ".join(f"seed {d['seed']} at step {d['env_step']}" for d in diverged[:3])
    rows_out = [
        ("env", config.env),
        ("final return IQM", f"{summary['final_return_iqm']:.1f}  (95% CI {lo:.1f} .. {hi:.1f})"),
        ("solved seeds", f"{solved}/{seeds}" if threshold is not None else "n/a"),
        ("diverged seeds", f"{len(diverged)}/{seeds}" + (f" ({first})" if diverged else "")),
        ("wall time", f"{summary['wall_seconds']:.1f}s (start to end of this command)"),
        ("compile time", f"{compile_seconds:.1f}s"),
        ("env-steps/s", f"{summary['env_steps_per_second']:,.0f} (all seeds)"),
        ("run directory", str(out)),
    ]
    print(results.format_table(rows_out))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main())
