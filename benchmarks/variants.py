"""DQN's family at equal env steps: final greedy return IQM with a 95% bootstrap CI.

For every env x variant one engine run (:func:`purejaxdqn.engine.engine.execute`, as
``python -m purejaxdqn.run`` trains) of ``--seeds`` seeds in one program (seed i is
``key(i)``), from the env's preset with the variant's switches on. Writes, under ``--out``:
``results.json`` (every seed's final return and the learning curves), ``results.md`` (one
table per env) and ``<env>.png`` (IQM learning curves with 95% bootstrap bands). Measured,
never asserted; the numbers depend on the scale, so the table states it.

    python benchmarks/variants.py                                   # full scale: presets, 16 seeds
    python benchmarks/variants.py --envs CartPole-v1 --seeds 4 --total-steps 20000

The action-grid variants apply only to Box-action envs (InvertedPendulum): the notebook's
Q(s, a) scoring 1000 grid actions (``q_network=state_action, bins=1000``) against the
K-output head at the same 1000 actions and at the preset's 5.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np

from purejaxdqn import stats
from purejaxdqn.algorithms import make_trainer
from purejaxdqn.engine.engine import execute
from purejaxdqn.engine.layout import RunAxis
from purejaxdqn.presets import REWARD_THRESHOLDS, preset
from purejaxdqn.rundir.atomic import atomic_write_text

VARIANTS: dict[str, dict[str, Any]] = {
    "dqn": {},
    "double": {"double_q": True},
    "dueling": {"dueling": True},
    "n_step3": {"n_step": 3},
    "prioritized": {"prioritized": True},
    "c51": {"distributional": True},
    "double_dueling_n3_per": {
        "double_q": True,
        "dueling": True,
        "n_step": 3,
        "prioritized": True,
    },
    # Box action spaces only.
    "kout_bins1000": {"bins": 1000},
    "state_action_bins1000": {"q_network": "state_action", "bins": 1000},
}
BOX_ONLY = {"kout_bins1000", "state_action_bins1000"}
BOX_ENVS = {"InvertedPendulum-v5", "InvertedPendulum-v4"}


def scaled_config(env: str, variant: str, total_steps: int | None, num_evals: int | None):
    """The env's preset with the variant's switches, optionally at another run length."""
    overrides = dict(VARIANTS[variant])
    base = preset(env)
    if total_steps is not None:
        evals = num_evals or base.num_evals
        step = base.num_envs * max(1, total_steps // (evals * base.num_envs))
        overrides.update(total_steps=step * (total_steps // step), eval_every=step)
        overrides["exploration_steps"] = min(base.exploration_steps, 0.2 * total_steps)
    return preset(env, **overrides)


def run_one(env: str, variant: str, seeds: int, total_steps: int | None, num_evals: int | None):
    cfg = scaled_config(env, variant, total_steps, num_evals)
    t = time.perf_counter()  # wall time with compile, as before: the whole engine call
    result = execute(lambda progress: make_trainer(cfg, progress=progress), RunAxis((cfg,), seeds))
    wall = time.perf_counter() - t
    curves = np.asarray(result.rows["eval_return"], np.float64)  # [S, T]
    final = curves[:, -1]
    lo, hi = stats.bootstrap_ci(final)
    threshold = REWARD_THRESHOLDS.get(env)
    return {
        "env": env,
        "variant": variant,
        "config": cfg.to_dict(),
        "seeds": seeds,
        "env_steps": result.rows["env_steps"][0].tolist(),
        "curves": curves.tolist(),
        "final": final.tolist(),
        "iqm": stats.iqm(final),
        "ci": [lo, hi],
        "solved": None if threshold is None else int(np.sum(final >= threshold)),
        "wall_s": wall,
        "device": _device(),
        "layout": {"devices": result.layout.devices, "groups": result.layout.groups},
    }


def table(rows: list[dict]) -> str:
    """A markdown table of one env's runs (each row states its own scale)."""
    lines = [
        f"### {rows[0]['env']}",
        "",
        "| variant | env steps | seeds | final IQM | 95% CI | solved | wall s (with compile) "
        "| device |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        solved = "" if r["solved"] is None else f"{r['solved']}/{r['seeds']}"
        lines.append(
            f"| {r['variant']} | {r['config']['total_steps']} | {r['seeds']} | {r['iqm']:.1f} | "
            f"{r['ci'][0]:.1f}–{r['ci'][1]:.1f} | {solved} | {r['wall_s']:.0f} "
            f"| {r.get('device', 'unrecorded')} |"
        )
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for r in rows:
        steps = np.asarray(r["env_steps"])
        mid, lo, hi = stats.curve_stats(np.asarray(r["curves"]))
        ax.plot(steps, mid, label=r["variant"])
        ax.fill_between(steps, lo, hi, alpha=0.15)
    threshold = REWARD_THRESHOLDS.get(rows[0]["env"])
    if threshold is not None:
        ax.axhline(threshold, color="k", ls="--", lw=0.8)
    ax.set_xlabel("env steps")
    ax.set_ylabel("greedy eval return (IQM, 95% CI)")
    ax.set_title(f"{rows[0]['env']}, {rows[0]['seeds']} seeds")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--envs", nargs="+", default=["CartPole-v1", "InvertedPendulum-v5"])
    p.add_argument("--seeds", type=int, default=16)
    p.add_argument("--total-steps", type=int, default=None, help="default: each env's preset")
    p.add_argument("--num-evals", type=int, default=None, help="with --total-steps")
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--out", default="benchmarks/results/variants")
    p.add_argument(
        "--merge", nargs="+", default=None, help="only re-render these results.json files"
    )
    a = p.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    if a.merge:
        rows = [r for path in a.merge for r in json.loads(Path(path).read_text())]
        write_outputs(rows, out)
        return
    all_rows: list[dict] = []
    for env in a.envs:
        for variant in a.variants:
            if variant in BOX_ONLY and env not in BOX_ENVS:
                continue
            r = run_one(env, variant, a.seeds, a.total_steps, a.num_evals)
            print(
                f"{env} {variant}: IQM {r['iqm']:.1f} ({r['ci'][0]:.1f}-{r['ci'][1]:.1f}) "
                f"{r['wall_s']:.0f} s",
                flush=True,
            )
            all_rows.append(r)
            # Written after every run, so an interrupted benchmark keeps what it measured.
            write_outputs(all_rows, out)


def _device() -> str:
    d = jax.devices()[0]
    return f"{d.platform} ({d.device_kind}), jax {jax.__version__}"


def write_outputs(rows: list[dict], out: Path) -> None:
    """``results.json``, ``results.md`` (a table per env) and ``<env>.png`` under ``out``."""
    by_env: dict[str, list[dict]] = {}
    for r in rows:
        by_env.setdefault(r["env"], []).append(r)
    atomic_write_text(out / "results.json", json.dumps(rows, indent=1))
    devices = sorted({r.get("device", "unrecorded") for r in rows})
    header = f"# DQN variants (device: {'; '.join(devices)})\n"
    header += "\nCommand: `python benchmarks/variants.py " + " ".join(sys.argv[1:]) + "`\n"
    md = [header] + [table(env_rows) for env_rows in by_env.values()]
    atomic_write_text(out / "results.md", "\n".join(md))
    for env, env_rows in by_env.items():
        plot(env_rows, out / f"{env}.png")


if __name__ == "__main__":
    main()
