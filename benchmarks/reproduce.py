"""Published DQN results, reproduced: every config's seeds are one engine run (as ``run``).

Tasks (``--tasks``, comma-separated):

- ``classic``: CartPole-v1, Acrobot-v1 and MountainCar-v0 with CleanRL's ``dqn_jax``
  hyperparameters (500k steps, Adam 2.5e-4, MSE loss (``loss="l2"``), replay 10k, batch 128,
  one update per 10 env steps, target copy every 500 steps, hidden (120, 84), γ 0.99,
  ε 1 → 0.05 over half the run, no gradient clipping), against CleanRL's published table.
  One deviation: 10 envs stepped in parallel instead of CleanRL's one (the same env steps,
  replay ratio and update count; 10x fewer sequential scan steps).
- ``pendulum``: InvertedPendulum-v4 and -v5 with this project's defaults (100k steps),
  against the continuous-control references a user would otherwise pick (CleanRL TD3-JAX on
  v4; Tianshou's DDPG/TD3/SAC reach 1000).
- ``ablation``: the Nature DQN / Roderick et al. (2017) choices on CartPole-v1 (its preset):
  Huber vs squared loss, the Nature Huber threshold of 1, centered RMSProp (lr 2.5e-4, decay
  0.95, eps 0.01) vs Adam, and the target period.
- ``minatar``: Breakout, SpaceInvaders, Asterix and Freeway (gymnax's MinAtar ports) with the
  MinAtar paper's DQN (the ``*-MinAtar`` presets: a 16-channel 3x3 conv torso, one update per
  frame, PyTorch's centered RMSprop with momentum) for ``--minatar-steps`` frames per seed
  (the paper's 5M by default; a CPU finishes ~100k per seed in minutes per game). The paper
  publishes learning curves (30 runs), not a numeric table, so no reference line is drawn.
- ``minatar-ablation``: the same choices as ``ablation`` on Breakout-MinAtar: squared loss,
  Adam, the Nature/Roderick RMSProp (eps inside the sqrt, no momentum) instead of
  PyTorch's, and the target period.

For every config: mean ± std and IQM with a 95% bootstrap CI of the final greedy return
(``eval_episodes`` fresh episodes per seed) and of the ε-greedy training return of the last
eval period (closer to what CleanRL reports: episodic returns while training), the number of
seeds and steps, compile and training time. Writes ``reproduce.md``, ``reproduce.json`` and
one plot per env (IQM learning curve with a 95% band, the published number as a line).

Each config's seeds are trained by :func:`purejaxdqn.engine.engine.execute`, the engine behind
``python -m purejaxdqn.run``: one point, all seeds vmapped in one program, sharded over
``jax.devices()`` and cut into sequential groups only where they do not fit in memory (each
row records its layout).

Usage::

    python benchmarks/reproduce.py                                   # everything, 16 seeds
    python benchmarks/reproduce.py --tasks classic --seeds 10 --total-steps 100000
    python benchmarks/reproduce.py --tasks minatar,minatar-ablation --seeds 5 \
        --minatar-steps 100000 --out benchmarks/results/reproduce-minatar-cpu
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import jax
import numpy as np

from purejaxdqn import stats as stats_lib
from purejaxdqn.algorithms import make_trainer
from purejaxdqn.config import Config, ConfigError
from purejaxdqn.engine.engine import execute
from purejaxdqn.engine.layout import RunAxis
from purejaxdqn.presets import REWARD_THRESHOLDS, preset
from purejaxdqn.rundir.atomic import atomic_write_text

# CleanRL's dqn_jax benchmark table (docs, mean ± std over its seeds).
CLEANRL_DQN_JAX = {
    "CartPole-v1": (498.38, 2.29),
    "Acrobot-v1": (-88.89, 1.56),
    "MountainCar-v0": (-188.90, 11.78),
}
PENDULUM_REFERENCES = {
    "InvertedPendulum-v4": ("CleanRL TD3-JAX (v4)", 988.94, 8.86),
    "InvertedPendulum-v5": ("Tianshou DDPG/TD3/SAC (v4)", 1000.0, 0.0),
}


def cleanrl_config(env: str, total_steps: int) -> Config:
    """CleanRL ``dqn_jax.py`` defaults mapped onto :class:`Config` (10 parallel envs)."""
    return Config(
        env=env,
        total_steps=total_steps,
        num_envs=10,
        capacity=10_000,
        batch_size=128,
        learning_starts=min(10_000, total_steps // 10),
        train_every=10,
        gradient_steps=1,
        hidden=(120, 84),
        loss="l2",
        optimizer="adam",
        target_period=500,
        eval_every=total_steps // 20,
        eval_episodes=10,
        lr=2.5e-4,
        lr_end_fraction=1.0,
        gamma=0.99,
        eps_start=1.0,
        eps_end=0.05,
        exploration_steps=0.5 * total_steps,
        tau=1.0,
        max_grad_norm=float("inf"),
    )


def train_seeds(config: Config, seeds: int, seed: int = 0) -> dict[str, Any]:
    """Trains ``seeds`` seeds through the engine; returns curves and timings (host arrays).

    ``compile_s`` is the engine's compile of its two programs (``start`` and
    ``train_periods``); ``train_s`` the training after it (the evaluation before training
    included), as in the run directory's ``summary.json``.
    """
    axis = RunAxis((config,), seeds, seed)
    log = lambda line: print(f"    {line}", file=sys.stderr, flush=True)
    result = execute(lambda progress: make_trainer(config, progress=progress), axis, log=log)
    rows = result.rows
    return {
        "env_steps": rows["env_steps"][0],
        "eval_return": rows["eval_return"],  # [S, T]
        "train_return": rows["train_return"],  # [S, T]
        "diverged": int(np.sum(result.diverged_step >= 0)),
        "compile_s": result.compile_seconds,
        "train_s": result.train_seconds,
        "layout": {"devices": result.layout.devices, "groups": result.layout.groups},
    }


def stats(x: np.ndarray) -> dict[str, float]:
    """Mean, std (ddof 0), IQM and its 95% bootstrap CI over seeds, ignoring NaNs."""
    x = np.asarray(x, np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return {"mean": float("nan"), "std": float("nan"), "iqm": float("nan"), "ci": [0, 0]}
    lo, hi = stats_lib.bootstrap_ci(x)
    return {
        "mean": float(x.mean()),
        "std": float(x.std()),
        "iqm": float(stats_lib.iqm(x)),
        "ci": [float(lo), float(hi)],
    }


def row(task: str, name: str, config: Config, seeds: int, ref: Any, run: dict) -> dict:
    final = run["eval_return"][:, -1]
    last_train = run["train_return"][:, -1]
    threshold = REWARD_THRESHOLDS.get(config.env)
    return {
        "task": task,
        "name": name,
        "env": config.env,
        "seeds": seeds,
        "steps_per_seed": config.total_steps,
        "final_greedy": stats(final),
        "final_train": stats(last_train),
        "solved": None if threshold is None else int(np.sum(final >= threshold)),
        "diverged": run["diverged"],
        "reference": ref,
        "compile_s": run["compile_s"],
        "train_s": run["train_s"],
        "env_steps_per_s": config.total_steps * seeds / run["train_s"],
        "layout": run["layout"],
        "curve": {
            "env_steps": run["env_steps"].tolist(),
            "eval_return": run["eval_return"].tolist(),
            "train_return": run["train_return"].tolist(),
        },
        "config": config.to_dict(),
    }


def plot(out: Path, env: str, rows: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for r in rows:
        steps = np.asarray(r["curve"]["env_steps"])
        center, lo, hi = stats_lib.curve_stats(np.asarray(r["curve"]["eval_return"]))
        ax.plot(steps, center, label=f"{r['name']} (IQM, {r['seeds']} seeds)")
        ax.fill_between(steps, lo, hi, alpha=0.2)
    ref = rows[0]["reference"]
    if ref is not None:
        ax.axhline(ref["value"], color="k", ls="--", lw=1, label=ref["source"])
    ax.set_xlabel("env steps per seed")
    ax.set_ylabel("greedy eval return")
    ax.set_title(env)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / f"{env}.png", dpi=110)
    plt.close(fig)


def fmt(s: dict[str, Any]) -> str:
    return f"{s['mean']:.1f} ± {s['std']:.1f} | {s['iqm']:.1f} [{s['ci'][0]:.1f}, {s['ci'][1]:.1f}]"


def _config_key(config: dict[str, Any]) -> str:
    """A config dict as text; rows written by older versions are read through today's
    :class:`Config` (its aliases, e.g. ``loss='mse'``, and fields added since)."""
    try:
        config = Config.from_dict(config).to_dict()
    except (ConfigError, TypeError):
        pass
    return json.dumps(config, sort_keys=True)


def markdown(rows: list[dict]) -> str:
    # Rows written before rows recorded their command and device: the ones of this run.
    commands = dict.fromkeys(r.get("command", "(not recorded)") for r in rows)
    devices = dict.fromkeys(r.get("device", "(not recorded)") for r in rows)
    lines = [
        "# Reproductions",
        "",
        "Command(s): " + "; ".join(f"`{c}`" for c in commands) + "  ",
        f"Device(s): {', '.join(devices)}; jax {jax.__version__}. Final greedy return: "
        "`eval_episodes` fresh "
        "episodes per seed after the last update; training return: ε-greedy episodes that "
        "ended in the last eval period. Mean ± std (ddof 0) | IQM [95% bootstrap CI].",
        "",
        "| task | config | env | seeds | steps | greedy mean ± std | greedy IQM [95% CI] "
        "| training mean ± std | training IQM [95% CI] | solved | diverged | published "
        "| compile s | train s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ref = r["reference"]
        pub = "—" if ref is None else f"{ref['value']:.2f} ± {ref['std']:.2f} ({ref['source']})"
        solved = "—" if r["solved"] is None else f"{r['solved']}/{r['seeds']}"
        lines.append(
            f"| {r['task']} | {r['name']} | {r['env']} | {r['seeds']} | {r['steps_per_seed']:,} "
            f"| {fmt(r['final_greedy'])} | {fmt(r['final_train'])} "
            f"| {solved} | {r['diverged']} "
            f"| {pub} | {r['compile_s']:.1f} | {r['train_s']:.1f} |"
        )
    return "\n".join(lines) + "\n"


TASKS = ("classic", "pendulum", "ablation", "minatar", "minatar-ablation")
# The reproduction's games (Seaquest-MinAtar has the preset too but is not in this table).
MINATAR_GAMES = ("Breakout", "SpaceInvaders", "Asterix", "Freeway")


def minatar_config(game: str, frames: int, **changes: Any) -> Config:
    """The MinAtar paper's DQN (the ``*-MinAtar`` preset) for ``frames`` frames per seed."""
    return preset(f"{game}-MinAtar", total_steps=frames, eval_every=frames // 10, **changes)


def tasks(names: list[str], seeds: int, total_steps: int | None, minatar_steps: int):
    """Yields ``(task, name, config, seeds, reference)``."""
    if "classic" in names:
        for env, (mean, std) in CLEANRL_DQN_JAX.items():
            ref = {"source": "CleanRL dqn_jax", "value": mean, "std": std}
            yield (
                "classic",
                "CleanRL settings",
                cleanrl_config(env, total_steps or 500_000),
                seeds,
                ref,
            )
    if "pendulum" in names:
        for env, (source, mean, std) in PENDULUM_REFERENCES.items():
            overrides = {"total_steps": total_steps} if total_steps else {}
            ref = {"source": source, "value": mean, "std": std}
            yield "pendulum", "defaults", preset(env, **overrides), max(seeds, 64), ref
    if "ablation" in names:
        overrides = {"total_steps": total_steps} if total_steps else {}
        base = preset("CartPole-v1", **overrides)
        variants = {
            "preset (Adam, Huber δ=10, target 500)": {},
            "squared loss": {"loss": "l2"},
            "Nature Huber δ=1": {"huber_delta": 1.0},
            "centered RMSProp 2.5e-4": {"optimizer": "rmsprop", "lr": 2.5e-4},
            "target period 100": {"target_period": 100},
            "target period 2000": {"target_period": 2000},
        }
        for name, change in variants.items():
            yield "ablation", name, base.replace(**change), seeds, None
    if "minatar" in names:
        for game in MINATAR_GAMES:
            yield "minatar", "MinAtar paper DQN", minatar_config(game, minatar_steps), seeds, None
    if "minatar-ablation" in names:
        variants = {
            "paper settings": {},
            "squared loss": {"loss": "l2"},
            "Adam 2.5e-4": {"optimizer": "adam"},
            "target period 100": {"target_period": 100},
            "Nature/Roderick RMSProp (eps in sqrt, no momentum)": {
                "optimizer": "rmsprop",
                "rms_momentum": 0.0,
            },
        }
        for name, change in variants.items():
            config = minatar_config("Breakout", minatar_steps, **change)
            yield "minatar-ablation", name, config, seeds, None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", default="classic,pendulum,ablation")
    ap.add_argument("--seeds", type=int, default=16, help="seeds per config (pendulum: >= 64)")
    ap.add_argument(
        "--total-steps", type=int, default=None, help="override the classic/pendulum budgets"
    )
    ap.add_argument(
        "--minatar-steps",
        type=int,
        default=5_000_000,
        help="frames per seed of the MinAtar tasks (default: the paper's 5M)",
    )
    ap.add_argument("--out", default="benchmarks/results/reproduce")
    ap.add_argument(
        "--only",
        default=None,
        help="comma-separated config names (e.g. 'squared loss,target period 100'): run only those",
    )
    ap.add_argument(
        "--resume",
        action="store_true",
        help="keep the rows already in OUT/reproduce.json; train only the configs not in it",
    )
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    command = "python benchmarks/reproduce.py " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    device = f"{jax.devices()[0].platform} ({jax.devices()[0].device_kind})"
    if args.minatar_steps < 10 or args.minatar_steps % 10:
        ap.error(f"--minatar-steps must be a positive multiple of 10, got {args.minatar_steps}")
    names = args.tasks.split(",")
    unknown = sorted(set(names) - set(TASKS))
    if unknown:
        ap.error(f"unknown task(s) {unknown}; known: {list(TASKS)}")
    rows: list[dict] = []
    if args.resume and (out / "reproduce.json").is_file():
        rows = json.loads((out / "reproduce.json").read_text())
    # A config already trained with these seeds (an earlier run, or the ablation baseline
    # that is also a reproduction row) is reused, not trained again.
    done = {(_config_key(r["config"]), r["seeds"]): r for r in rows}
    for task, name, config, seeds, ref in tasks(
        names, args.seeds, args.total_steps, args.minatar_steps
    ):
        if args.only is not None and name not in args.only.split(","):
            continue
        if any(r["task"] == task and r["name"] == name and r["env"] == config.env for r in rows):
            print(f"[{task}] {config.env} {name}: already in {out}, kept", flush=True)
            continue
        print(f"[{task}] {config.env} {name}: {seeds} seeds x {config.total_steps:,}", flush=True)
        key = (_config_key(config.to_dict()), seeds)
        if key in done:
            r = {**done[key], "task": task, "name": name, "reference": ref}
        else:
            r = row(task, name, config, seeds, ref, train_seeds(config, seeds))
            r.update(command=command, device=device)
            done[key] = r
        rows.append(r)
        print(
            f"    greedy {fmt(r['final_greedy'])} | train {fmt(r['final_train'])} | "
            f"compile {r['compile_s']:.1f}s train {r['train_s']:.1f}s",
            flush=True,
        )
        # Written after every config, so an interrupted run keeps what finished.
        atomic_write_text(out / "reproduce.md", markdown(rows))
        atomic_write_text(out / "reproduce.json", json.dumps(rows, indent=1) + "\n")
    for task in dict.fromkeys(r["task"] for r in rows):
        for env in dict.fromkeys(r["env"] for r in rows if r["task"] == task):
            group = [r for r in rows if r["task"] == task and r["env"] == env]
            plot(out, f"{env}-ablation" if task.endswith("ablation") else env, group)
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
