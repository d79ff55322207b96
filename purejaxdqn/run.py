"""``python -m purejaxdqn.run``: train DQN on many seeds in one compiled program.

Examples::

    python -m purejaxdqn.run --seeds 64                       # InvertedPendulum-v5 preset
    python -m purejaxdqn.run --env CartPole-v1 --seeds 16 --lr 3e-4 --out runs/cp
    python -m purejaxdqn.run --config runs/cp/config.json     # rerun a run's exact config
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from purejaxdqn import config as config_lib
from purejaxdqn.config import Config, ConfigError

_START = time.perf_counter()


class UsageError(Exception):
    """A bad command line: reported in one line, exit code 2."""


def _parse_hidden(text: str) -> tuple[int, ...]:
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
    if f.name == "hidden":
        return _parse_hidden
    if isinstance(f.default, bool):
        return _parse_bool
    if f.metadata["traced"]:
        return float
    return type(f.default)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m purejaxdqn.run",
        description="Train DQN on many seeds at once: one jax.lax.scan, vmapped over seeds.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--seeds", type=int, default=None, help="number of seeds trained together (64)")
    p.add_argument("--seed", type=int, default=None, help="first seed; seed i uses key(seed + i)")
    p.add_argument("--out", type=str, default=None, help="run directory (runs/<env>-<time>)")
    p.add_argument("--config", type=str, default=None, help="a config.json to start from")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
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


def config_from_args(args: argparse.Namespace) -> tuple[Config, int, int]:
    """``(config, seeds, seed)``: the env's preset, then ``--config``, then explicit flags."""
    base: dict[str, Any] = {}
    run: dict[str, Any] = {}
    if args.config is not None:
        base, run = config_lib.read_config_file(args.config)
    flags = {f: getattr(args, f) for f in config_lib.field_names() if getattr(args, f) is not None}
    env = flags.get("env", base.get("env", Config.env))
    merged = {**config_lib.PRESETS.get(env, {}), **base, **flags, "env": env}
    if "hidden" in merged:
        merged["hidden"] = tuple(merged["hidden"])
    seeds = args.seeds if args.seeds is not None else run.get("seeds", 64)
    seed = args.seed if args.seed is not None else run.get("seed", 0)
    if not isinstance(seeds, int) or seeds < 1:
        raise ConfigError(f"--seeds must be an integer >= 1, got {seeds!r}")
    if not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"--seed must be an integer >= 0, got {seed!r}")
    return Config.from_dict(merged), seeds, seed


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
        rate = self.done_steps * self.seeds / max(elapsed, 1e-9)
        line = (
            f"\r[{bar}] {self.done_steps:>{len(str(self.total_steps))}}/{self.total_steps} "
            f"steps/seed | {rate:,.0f} env-steps/s | eval IQM {self.latest_iqm:8.2f} "
            f"| {elapsed:6.1f}s"
        )
        sys.stderr.write(line + ("\n" if final else ""))
        sys.stderr.flush()


def default_run_dir(env: str) -> Path:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{env.replace(':', '_').replace('/', '_')}-{stamp}"


def prepare_run_dir(path: Path, config: Config, seeds: int, seed: int) -> None:
    """Creates ``path``; refuses a directory that already holds a different run."""
    if path.exists() and not path.is_dir():
        raise ConfigError(f"--out {path}: exists and is not a directory")
    existing = path / "config.json"
    if existing.exists():
        try:
            old = json.loads(existing.read_text())
        except (OSError, json.JSONDecodeError):
            old = None
        want = {**config.to_dict(), "seeds": seeds, "seed": seed}
        if old != want:
            raise ConfigError(f"--out {path}: already holds a different run (its config.json)")
    path.mkdir(parents=True, exist_ok=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config, seeds, seed = config_from_args(args)
        out = Path(args.out) if args.out else default_run_dir(config.env)
        return train_and_report(config, seeds, seed, out, quiet=args.quiet)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def train_and_report(config: Config, seeds: int, seed: int, out: Path, quiet: bool = False) -> int:
    """Trains ``seeds`` seeds of ``config``, writes the run directory and prints a summary."""
    import jax

    from purejaxdqn import results
    from purejaxdqn.train import make_env, make_train

    env, env_params = make_env(config)  # validates the env before anything is compiled
    prepare_run_dir(out, config, seeds, seed)
    results.mark_incomplete(out)
    results.write_config(out, {**config.to_dict(), "seeds": seeds, "seed": seed})

    progress = Progress(config.total_steps, seeds, enabled=not quiet)
    train = make_train(config, env, env_params, progress=progress)
    keys = jax.vmap(jax.random.key)(np.arange(seed, seed + seeds))
    print(
        f"purejaxdqn: {config.env}, {seeds} seeds x {config.total_steps:,} env steps "
        f"({jax.devices()[0].platform}); compiling...",
        file=sys.stderr,
        flush=True,
    )
    t0 = time.perf_counter()
    compiled = jax.jit(jax.vmap(train)).lower(keys).compile()
    compile_seconds = time.perf_counter() - t0
    print(f"compiled in {compile_seconds:.1f}s; training", file=sys.stderr, flush=True)

    progress.start = time.perf_counter()
    output = jax.block_until_ready(compiled(keys))
    train_seconds = time.perf_counter() - progress.start
    progress.done_steps = config.total_steps
    progress.render(final=True)

    metrics = jax.tree.map(np.asarray, output.metrics)
    returns = metrics["eval_return"]  # [S, T]
    env_steps = metrics["env_steps"][0]
    threshold = config_lib.REWARD_THRESHOLDS.get(config.env)
    summary = results.summarize(
        env=config.env,
        final_returns=returns[:, -1],
        reward_threshold=threshold,
        total_steps=config.total_steps,
        compile_seconds=compile_seconds,
        train_seconds=train_seconds,
        env_steps_total=config.total_steps * seeds,
        extra={"seed": seed, "platform": jax.devices()[0].platform},
    )
    results.write_metrics_csv(
        out,
        {
            "env_steps": env_steps,
            "eval_return": returns,
            "loss": metrics["loss"],
            "q_mean": metrics["q_mean"],
            "epsilon": metrics["epsilon"],
            "train_return": metrics["train_return"],
        },
    )
    results.save_params(out, jax.tree.map(np.asarray, output.params))
    results.plot_learning_curve(
        out, env_steps, returns, title=config.env, reward_threshold=threshold
    )
    summary["wall_seconds"] = time.perf_counter() - _START
    results.write_summary(out, summary)
    results.mark_complete(out)

    lo, hi = summary["final_return_ci95"]
    solved = summary["solved_seeds"]
    rows = [
        ("env", config.env),
        ("final return IQM", f"{summary['final_return_iqm']:.1f}  (95% CI {lo:.1f} .. {hi:.1f})"),
        ("solved seeds", f"{solved}/{seeds}" if threshold is not None else "n/a"),
        ("wall time", f"{summary['wall_seconds']:.1f}s (start to end of this command)"),
        ("compile time", f"{compile_seconds:.1f}s"),
        ("env-steps/s", f"{summary['env_steps_per_second']:,.0f} (all seeds)"),
        ("run directory", str(out)),
    ]
    print(results.format_table(rows))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main())
