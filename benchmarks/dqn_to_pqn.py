"""From the DQN preset to the PQN preset one change at a time, at equal env steps.

Each row's config is the previous row's with the changes of its step (:data:`STEPS`); the
first row is the env's DQN preset, the last the env's PQN preset (``algorithm='pqn'``), both
at this table's budget (``total_steps``, ``eval_every`` and the epsilon decay scaled to it;
everything else as the presets set it). Every row is one ``python -m purejaxdqn.run
--config <row>.json --seeds S`` in its own process (seed i is ``key(i)``), so each row's
wall time and env-steps/s are those of a standalone run. Per row: the final greedy return
(the evaluation after the last step, ``eval_episodes`` fresh episodes per seed) as IQM with
its 95% percentile-bootstrap CI over seeds (:func:`purejaxdqn.stats.final_return_stats`),
the AUC (:func:`purejaxdqn.stats.learning_curve_auc`: the time-averaged greedy return over
the run, per seed, IQM over seeds), wall time (process start to exit, and compile / train
from the run's ``summary.json``) and env-steps/s (all seeds' env steps / train seconds).

Writes under ``--out``: ``results.json`` (every row: config, per-seed finals, curves,
timing, 1-minute load before and after; rewritten after every row, and rows already there
with the same config and seeds are not run again), ``results.md`` and ``<env>.png``
(final IQM with CI per step, and the IQM learning curves). Measured, never asserted.

    python benchmarks/dqn_to_pqn.py                                    # both envs, all steps
    python benchmarks/dqn_to_pqn.py --envs CartPole-v1 --seeds 16 --total-steps 98304
    python benchmarks/dqn_to_pqn.py --envs Breakout-MinAtar --steps dqn,pqn_lam0,pqn_lam,pqn
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import purejaxdqn
from purejaxdqn import stats
from purejaxdqn.presets import REWARD_THRESHOLDS, preset
from purejaxdqn.rundir.atomic import atomic_write_text
from purejaxdqn.rundir.files import read_metrics_csv

# The rows run the purejaxdqn this script imports (``python -m`` puts the cwd first on
# sys.path, so the subprocesses start in its checkout).
CODE_ROOT = Path(purejaxdqn.__file__).resolve().parent.parent

# Fields that set the budget: scaled to --total-steps for every row.
BUDGET_FIELDS = ("total_steps", "eval_every", "exploration_steps")

# PQN's update schedule and hyperparameters, from the PQN presets (purejaxql's configs).
_PQN_CARTPOLE_HP = {
    "hidden": (256, 256),
    "optimizer": "radam",
    "lr": 1e-4,
    "lr_end_fraction": 0.0,
    "loss": "l2",
    "reward_scale": 0.1,
    "gamma": 0.99,
    "eps_end": 0.2,
    "explore_fraction": 0.2,  # exploration_steps = 0.2 x total_steps (purejaxql's EPS_DECAY)
}

# (name, what changes, overrides applied on top of the previous row). "explore_fraction"
# is this script's: exploration_steps = fraction x total_steps.
STEPS: dict[str, list[tuple[str, str, dict[str, Any]]]] = {
    "CartPole-v1": [
        (
            "dqn",
            "DQN preset (2x64, Adam 5e-4, Huber 10, gamma 0.98, 4 envs, replay 50k, "
            "batch 64 every 4 env steps, target copy every 500)",
            {},
        ),
        ("layernorm", "+ LayerNorm after each hidden layer", {"norm": "layer"}),
        (
            "no_target",
            "- target network: target copied after every vector step (period = "
            "num_envs = 4), i.e. before every 1-gradient-step phase",
            {"target_period": 4},
        ),
        (
            "on_policy",
            "replay -> on-policy rollouts (PQN with lambda 0): 4 envs x 64 steps, "
            "4 minibatches of 64 x 16 epochs = the same batch, 0.25 gradient steps per env step "
            "and 16 uses per transition as DQN's replay",
            {
                "algorithm": "pqn",
                "lam": 0.0,
                "num_steps": 64,
                "num_minibatches": 4,
                "num_epochs": 16,
            },
        ),
        ("lambda", "+ Q(lambda) returns, lambda 0.95", {"lam": 0.95}),
        (
            "envs32",
            "envs 4 -> 32 (32 minibatches of 64 x 16 epochs: same update ratio)",
            {"num_envs": 32, "num_minibatches": 32},
        ),
        (
            "pqn_schedule",
            "PQN's update schedule: 16 minibatches (of 128) x 4 epochs",
            {"num_minibatches": 16, "num_epochs": 4},
        ),
        (
            "pqn",
            "PQN's hyperparameters (2x256, RAdam 1e-4 -> 0, L2, reward x0.1, gamma "
            "0.99, eps -> 0.2 over 20%) = PQN preset",
            _PQN_CARTPOLE_HP,
        ),
    ],
    "Breakout-MinAtar": [
        (
            "dqn",
            "DQN preset (MinAtar paper: 1 env, replay 100k, batch 32 every frame, "
            "target every 1k, centered RMSprop 2.5e-4, Huber 1)",
            {},
        ),
        (
            "pqn_lam0",
            "PQN preset with lambda 0 and 32 envs (replay -> rollouts, - target, "
            "+ LayerNorm, RAdam 5e-4 -> 0, L2, eps -> 0.05 over 10%, 32 x 32 rollouts, "
            "8 minibatches x 2 epochs): DQN's one-step target on PQN",
            {
                "algorithm": "pqn",
                "lam": 0.0,
                "num_envs": 32,
                "num_steps": 32,
                "num_minibatches": 8,
                "num_epochs": 2,
                "norm": "layer",
                "optimizer": "radam",
                "lr": 5e-4,
                "lr_end_fraction": 0.0,
                "loss": "l2",
                "eps_end": 0.05,
                "explore_fraction": 0.1,
                "max_grad_norm": 10.0,
            },
        ),
        ("pqn_lam", "+ Q(lambda) returns, lambda 0.65 (32 envs)", {"lam": 0.65}),
        (
            "pqn",
            "envs 32 -> 128 (32 minibatches x 2 epochs) = PQN preset",
            {"num_envs": 128, "num_minibatches": 32},
        ),
        ("pqn_no_layernorm", "PQN preset - LayerNorm (norm none)", {"norm": "none"}),
    ],
}
DEFAULT_BUDGET = {"CartPole-v1": 98_304, "Breakout-MinAtar": 98_304}
DEFAULT_EVALS = 12


def code_version() -> str:
    """The commit (and whether the tree is dirty) of the purejaxdqn the rows run."""
    git = ["git", "-C", str(CODE_ROOT)]
    try:
        head = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            [*git, "status", "--porcelain", "purejaxdqn"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return f"{CODE_ROOT} (no git)"
    return f"{CODE_ROOT} at {head}" + (" with uncommitted changes" if dirty else "")


def loadavg() -> float:
    return os.getloadavg()[0]


def row_configs(env: str, total_steps: int, num_evals: int) -> list[dict[str, Any]]:
    """Each step's full config dict (the cumulative overrides on the DQN preset)."""
    dqn = preset(env).to_dict()
    eval_every = total_steps // num_evals
    # The DQN rows keep the preset's epsilon decay in env steps (CartPole 20k, MinAtar 105k,
    # as reproduce.py's CPU MinAtar runs did): only the run length and eval period change.
    cfg = {**dqn, "total_steps": total_steps, "eval_every": eval_every}
    out = []
    for name, what, overrides in STEPS[env]:
        overrides = dict(overrides)
        fraction = overrides.pop("explore_fraction", None)
        cfg = {**cfg, **overrides}
        if fraction is not None:
            cfg["exploration_steps"] = int(fraction * total_steps)
        out.append({"step": name, "what": what, "config": dict(cfg)})
    return out


def pqn_preset_diff(env: str, last: dict[str, Any]) -> dict[str, Any]:
    """Fields where row ``pqn`` differs from the PQN preset (budget fields excepted)."""
    try:
        target = preset(env, algorithm="pqn").to_dict()
    except Exception as e:  # noqa: BLE001 - a code base without PQN
        return {"error": f"{type(e).__name__}: {e}"}
    return {
        k: {"row": last.get(k), "pqn_preset": v}
        for k, v in target.items()
        if k not in BUDGET_FIELDS
        and _norm(last.get(k)) != _norm(v)
        and (last.get("algorithm") == "pqn" or k == "algorithm")
        and k not in _PQN_UNUSED
    }


# DQN fields the PQN trainer does not read (replay, target network, DQN's cadence).
_PQN_UNUSED = {
    "capacity",
    "batch_size",
    "learning_starts",
    "train_every",
    "gradient_steps",
    "target_period",
    "tau",
    "huber_delta",
    "replay_obs_dtype",
    "per_rebuild_period",
    "per_alpha",
    "per_beta_start",
    "per_eps",
    "v_min",
    "v_max",
    "num_atoms",
    "rms_decay",
    "rms_eps",
    "rms_momentum",
}


def _norm(v: Any) -> Any:
    return list(v) if isinstance(v, tuple | list) else v


def run_row(row: dict[str, Any], seeds: int, timeout: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="dqn-to-pqn-") as tmp:
        cfg_path = Path(tmp, "config.json")
        cfg_path.write_text(json.dumps(row["config"]))
        cmd = [sys.executable, "-m", "purejaxdqn.run", "--quiet", "--config", str(cfg_path)]
        cmd += ["--seeds", str(seeds), "--out", f"{tmp}/run"]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=CODE_ROOT)
        process_s = time.perf_counter() - t0
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or [""])[-1]
            raise RuntimeError(f"exit {proc.returncode}: {last[:300]}")
        summary = json.loads(Path(tmp, "run", "summary.json").read_text())
        m = read_metrics_csv(Path(tmp, "run"))
    seed_col, steps_col = np.asarray(m["seed"]), np.asarray(m["env_steps"])
    curves = np.stack([np.asarray(m["eval_return"])[seed_col == s] for s in range(seeds)])
    env_steps = steps_col[seed_col == 0]
    final = curves[:, -1]
    fs = stats.final_return_stats(final)
    auc = stats.learning_curve_auc(env_steps, curves)
    return {
        "final_per_seed": final.tolist(),
        "final_iqm": fs.iqm,
        "final_ci95": list(fs.ci95) if fs.ci95 else None,
        "auc_per_seed": auc.tolist(),
        "auc_iqm": float(stats.iqm(auc)),
        "env_steps": env_steps.tolist(),
        "curves": curves.tolist(),
        "compile_s": summary["compile_seconds"],
        "train_s": summary["train_seconds"],
        "process_s": process_s,
        "env_steps_per_s": summary["env_steps_per_second"],
        "solved_seeds": summary.get("solved_seeds"),
    }


def _f(x: Any, spec: str = ".1f") -> str:
    return "—" if x is None or not np.isfinite(x) else format(x, spec)


def table(rows: list[dict[str, Any]]) -> str:
    env = rows[0]["env"]
    lines = [
        f"### {env} ({rows[0]['config']['total_steps']:,} env steps per seed)",
        "",
        "| # | step | change | seeds | final greedy IQM [95% CI] | AUC (IQM) | wall s "
        "(compile + train) | env-steps/s |",
        "|---:|---|---|---:|---|---:|---|---:|",
    ]
    for i, r in enumerate(rows):
        if not r.get("ok"):
            lines.append(
                f"| {i} | {r['step']} | {r['what']} | | failed: {r['error'][:160]} | | | |"
            )
            continue
        ci = r["final_ci95"] or [float("nan")] * 2
        lines.append(
            f"| {i} | {r['step']} | {r['what']} | {r['seeds']} | {_f(r['final_iqm'])} "
            f"[{_f(ci[0])}, {_f(ci[1])}] | {_f(r['auc_iqm'])} | {r['process_s']:.0f} "
            f"({r['compile_s']:.0f} + {r['train_s']:.0f}) | {_f(r['env_steps_per_s'], ',.0f')} |"
        )
    return "\n".join(lines) + "\n"


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    ok = [r for r in rows if r.get("ok")]
    if not ok:
        return
    fig = Figure(figsize=(11, 4.5))
    FigureCanvasAgg(fig)
    ax1, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    y = np.arange(len(ok))[::-1]
    for yi, r in zip(y, ok, strict=True):
        ci = r["final_ci95"] or [r["final_iqm"]] * 2
        ax1.errorbar(
            r["final_iqm"],
            yi,
            xerr=[[r["final_iqm"] - ci[0]], [ci[1] - r["final_iqm"]]],
            fmt="o",
            capsize=3,
        )
        steps = np.asarray(r["env_steps"])
        mid, lo, hi = stats.curve_stats(np.asarray(r["curves"]))
        ax2.plot(steps, mid, label=r["step"])
        ax2.fill_between(steps, lo, hi, alpha=0.12)
    ax1.set_yticks(y, [r["step"] for r in ok], fontsize=8)
    ax1.set_xlabel("final greedy return, IQM and 95% CI")
    threshold = REWARD_THRESHOLDS.get(ok[0]["env"])
    for ax in (ax1, ax2) if threshold is not None else ():
        (ax.axvline if ax is ax1 else ax.axhline)(threshold, color="k", ls="--", lw=0.8)
    ax2.set_xlabel("env steps")
    ax2.set_ylabel("greedy return (IQM, 95% CI)")
    ax2.legend(fontsize=7)
    fig.suptitle(
        f"DQN -> PQN on {ok[0]['env']}, {ok[0]['seeds']} seeds, "
        f"{ok[0]['config']['total_steps']:,} env steps"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def write(out: Path, payload: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "results.json", json.dumps(payload, indent=1) + "\n")
    by_env: dict[str, list] = {}
    for r in payload["rows"]:
        by_env.setdefault(r["env"], []).append(r)
    cmds = "\n".join(payload["commands"])
    md = f"# DQN -> PQN, one change at a time\n\nWritten by, oldest first:\n\n```\n{cmds}\n```\n\n"
    codes = sorted({str(r.get("code")) for r in payload["rows"]})
    md += f"Machine: {payload['machine']}; rows measured with: {'; '.join(codes)}. "
    md += "1-minute load before/after each row in results.json.\n\n"
    for env, rows in by_env.items():
        md += table(rows) + "\n"
        diff = payload.get("last_row_vs_pqn_preset", {}).get(env)
        if diff:
            md += f"Row `pqn` vs the PQN preset (budget fields aside): {json.dumps(diff)}\n\n"
        plot(rows, out / f"{env}.png")
    atomic_write_text(out / "results.md", md)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--envs", default="CartPole-v1,Breakout-MinAtar")
    p.add_argument("--steps", default="", help="step names to run (default: all)")
    p.add_argument("--seeds", type=int, default=16)
    p.add_argument("--total-steps", type=int, default=0, help="per seed (default per env)")
    p.add_argument("--evals", type=int, default=DEFAULT_EVALS, help="evaluations per run")
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds per row")
    p.add_argument("--out", default="benchmarks/results/dqn_to_pqn")
    args = p.parse_args()
    envs = [e for e in args.envs.split(",") if e]
    for e in envs:
        if e not in STEPS:
            sys.exit(f"error: --envs: {e!r} has no steps; known: {list(STEPS)}")
    wanted = {s for s in args.steps.split(",") if s}
    known = {name for e in envs for name, _, _ in STEPS[e]}
    if wanted - known:
        sys.exit(f"error: --steps: unknown {sorted(wanted - known)}; known: {sorted(known)}")
    if args.seeds < 1 or args.evals < 1:
        sys.exit("error: --seeds and --evals must be >= 1")
    out = Path(args.out)
    command = "python benchmarks/dqn_to_pqn.py " + shlex.join(sys.argv[1:])
    old = json.loads((out / "results.json").read_text()) if (out / "results.json").exists() else {}
    for r in old.get("rows", []):  # rows measured before rows recorded their code
        r.setdefault("code", old.get("code"))
    done = {(r["env"], r["step"]): r for r in old.get("rows", []) if r.get("ok")}
    payload: dict[str, Any] = {
        # Every invocation that wrote rows into this directory, oldest first.
        "commands": [*old.get("commands", [old["command"]] if "command" in old else []), command],
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "code": code_version(),
        # Rows of envs this invocation does not run are kept as they were.
        "rows": [r for r in old.get("rows", []) if r["env"] not in envs],
        "last_row_vs_pqn_preset": {
            k: v for k, v in old.get("last_row_vs_pqn_preset", {}).items() if k not in envs
        },
    }
    print(f"$ {command}", flush=True)
    for env in envs:
        total = args.total_steps or DEFAULT_BUDGET[env]
        rows = row_configs(env, total, args.evals)
        pqn_row = next(r for r in rows if r["step"] == "pqn")
        payload["last_row_vs_pqn_preset"][env] = pqn_preset_diff(env, pqn_row["config"])
        for row in rows:
            row = {"env": env, **row, "seeds": args.seeds}
            prev = done.get((env, row["step"]))
            same = prev is not None and prev["config"] == json.loads(json.dumps(row["config"]))
            skipped = bool(wanted) and row["step"] not in wanted
            if prev is not None and (skipped or (same and prev["seeds"] == args.seeds)):
                # A row not asked for keeps its earlier measurement, flagged if its config
                # is no longer the one this code would build.
                payload["rows"].append({**prev, "config_as_built_now": same})
                print(f"{env} {row['step']}: kept from results.json", flush=True)
                continue
            if skipped:
                continue
            row["code"] = payload["code"]
            row["load_before"] = loadavg()
            try:
                row.update(run_row(row, args.seeds, args.timeout), ok=True)
            except (OSError, RuntimeError, ValueError, KeyError, subprocess.SubprocessError) as e:
                row.update(ok=False, error=f"{type(e).__name__}: {e}")
            row["load_after"] = loadavg()
            payload["rows"].append(row)
            write(out, payload)
            if row["ok"]:
                ci = row["final_ci95"] or [float("nan")] * 2
                print(
                    f"{env} {row['step']}: final IQM {row['final_iqm']:.1f} [{ci[0]:.1f}, "
                    f"{ci[1]:.1f}], AUC {row['auc_iqm']:.1f}, {row['process_s']:.0f}s, "
                    f"{row['env_steps_per_s']:,.0f} env-steps/s | load "
                    f"{row['load_before']:.1f} -> {row['load_after']:.1f}",
                    flush=True,
                )
            else:
                print(f"{env} {row['step']}: FAILED {row['error']}", flush=True)
    write(out, payload)
    print((out / "results.md").read_text())


if __name__ == "__main__":
    main()
