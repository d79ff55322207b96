"""PQN against its reference code: purejaxdqn's ``--algorithm pqn`` vs purejaxql's
``pqn_gymnax.py`` on purejaxql's CartPole config, all seeds in one program each.

purejaxql (github mttga/purejaxql) is not on PyPI: pass a checkout with ``--purejaxql-src``
(measured at commit 47af6d7b). It runs in its own virtual environment, built by this
script under ``benchmarks/.venvs/purejaxql`` with the pins below (or ``--peer-python``),
through ``benchmarks/peers_workers/purejaxql_pqn.py``. purejaxdqn runs as ``python -m
purejaxdqn.run --algorithm pqn`` with this interpreter, in a subprocess.

Matched work (printed with the results): purejaxql's ``pqn_cartpole.yaml`` unchanged
(``TOTAL_TIMESTEPS`` 5e5, i.e. 244 rollouts of 32 envs x 64 steps = 499,712 env steps per
seed, 16 minibatches x 4 epochs, 2 x 256 LayerNorm MLP, RAdam 1e-4 decaying to 0, grad norm
10, reward scale 0.1, gamma 0.99, lambda 0.95, eps 1 -> 0.2 over the first 20% of updates);
ours at the same fields and the same 499,712 steps. Greedy evaluation: purejaxql tests 21
times (before training and every 12 updates) with 128 envs for 500 steps; ours evaluates
every 4 rollouts (62 times, with the one before training) on 43 fresh episodes, i.e. 2,666
greedy episodes against purejaxql's 2,688 windows of 500 steps (ours cannot evaluate every
12 rollouts: ``eval_every`` must divide the 244 rollouts).

Timing, the same for both: *compile* is the XLA compile of the whole program (ahead of
time for purejaxql; purejaxdqn's ``compile_seconds``), *wall* = compile + the timed call of
the compiled program (evaluations inside it), interpreter start and imports excluded;
env-steps/s = all seeds' training env steps / (wall - compile). Tools alternate A B A B in
separate processes; the 1-minute load before and after each measurement is recorded, the
ratios are paired per repeat.

    python benchmarks/pqn_peer.py --purejaxql-src /path/to/purejaxql
    python benchmarks/pqn_peer.py --purejaxql-src SRC --seeds 16 --repeats 2
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dqn_to_pqn import code_version  # noqa: E402
from peers import WORKERS, Peer, _last_json_line, _tail, ensure_venv, freeze  # noqa: E402

import purejaxdqn  # noqa: E402
from purejaxdqn.stats import final_return_stats  # noqa: E402

# Ours runs the purejaxdqn this script imports (``python -m`` puts the cwd first on sys.path).
ROOT = Path(purejaxdqn.__file__).resolve().parent.parent
OURS, PEER = "purejaxdqn", "purejaxql"
PUREJAXQL = Peer(
    requirements=(
        "jax==0.10.2",
        "jaxlib==0.10.2",
        "flax==0.12.8",
        "optax==0.2.8",
        "chex==0.1.92",
        "numpy==2.4.6",
        "gymnax==0.0.9",  # pqn_gymnax.py unpacks gymnax 0.0.x's five-value step
        "six==1.17.0",  # imported by gymnax 0.0.9, not declared by it
        "hydra-core==1.3.8",
        "omegaconf==2.3.1",
        "wandb==0.31.0",
        "safetensors==0.8.0",
    ),
    worker="purejaxql_pqn.py",
    worker_args=(),
    envs=("CartPole-v1",),
    vectorized=True,
    note="gymnax 0.0.9 envs; jit(vmap(make_train(config))) over seeds",
)
# purejaxdqn flags matching purejaxql's config/alg/pqn_cartpole.yaml (see the docstring).
OUR_FLAGS: dict[str, Any] = {
    "algorithm": "pqn",
    "env": "CartPole-v1",
    "total-steps": 499_712,
    "num-envs": 32,
    "num-steps": 64,
    "num-minibatches": 16,
    "num-epochs": 4,
    "hidden": "256,256",
    "norm": "layer",
    "loss": "l2",
    "optimizer": "radam",
    "lr": 1e-4,
    "lr-end-fraction": 0.0,
    "max-grad-norm": 10.0,
    "reward-scale": 0.1,
    "gamma": 0.99,
    "lam": 0.95,
    "eps-start": 1.0,
    "eps-end": 0.2,
    "exploration-steps": 99_942,  # purejaxql: 0.2 x 244 updates x 2048 steps
    "eval-every": 8_192,
    "eval-episodes": 43,
}
MISMATCHES = (
    "Episode ends: purejaxql (gymnax 0.0.9 `done`) treats CartPole's 500-step truncation "
    "as a termination (target r); ours bootstraps from the final observation.",
    "Envs: gymnax 0.0.9's CartPole-v1 for purejaxql, this project's gymnax 1.x port for ours.",
    "Evaluation: purejaxql runs 128 envs for 500 steps 21 times and averages the episodes "
    "that ended inside the window; ours runs 43 fresh episodes 62 times (2,666 vs 2,688 "
    "greedy episodes/windows). Final return: purejaxql's last test (update 240 of 244, then "
    "held); ours the evaluation after the last rollout.",
    "Bootstrap values: purejaxql reuses the Q-values it acted with (one extra forward pass "
    "per rollout, for the last observation); ours evaluates max Q on every step's "
    "pre-reset observation (one batched forward pass over the rollout), because a "
    "truncated step bootstraps from the observation the episode ended in.",
    "purejaxql's network has an unused input BatchNorm (its 'dummy normalize'); its "
    "batch_stats travel in the train state but do not reach the Q-values.",
)


def loadavg() -> float:
    return os.getloadavg()[0]


def run_ours(seeds: int, timeout: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="pqn-peer-ours-") as tmp:
        cmd = [sys.executable, "-m", "purejaxdqn.run", "--quiet", "--out", f"{tmp}/run"]
        cmd += ["--seeds", str(seeds)]
        for k, v in OUR_FLAGS.items():
            cmd += [f"--{k}", str(v)]
        env_vars = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env_vars
        )
        if proc.returncode != 0:
            raise RuntimeError(f"exit {proc.returncode}: {_tail(proc.stderr)}")
        s = json.loads(Path(tmp, "run", "summary.json").read_text())
    return {
        "command": shlex.join(cmd[:3] + cmd[6:]),
        "compile_s": s["compile_seconds"],
        "wall_s": s["compile_seconds"] + s["train_seconds"],
        "final_returns": s["final_return_per_seed"],
        "steps_per_seed": OUR_FLAGS["total-steps"],
    }


def run_peer(python: Path, src: Path, seeds: int, timeout: float) -> dict[str, Any]:
    cmd = [str(python), str(WORKERS / PUREJAXQL.worker), "--src", str(src), "--seeds", str(seeds)]
    env_vars = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env_vars["WANDB_MODE"] = "disabled"
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, cwd=WORKERS, env=env_vars
    )
    if proc.returncode != 0:
        raise RuntimeError(f"exit {proc.returncode}: {_tail(proc.stderr)}")
    out = _last_json_line(proc.stdout)
    return {
        "command": shlex.join(cmd),
        "compile_s": out["compile_seconds"],
        "wall_s": out["compile_seconds"] + out["train_seconds"],
        "final_returns": [p["final_return"] for p in out["per_seed"]],
        "steps_per_seed": out["steps_per_seed"],
        "worker": {k: v for k, v in out.items() if k not in ("per_seed", "test_curve")},
    }


def summarize(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    ours = {r["repeat"]: r for r in records if r["tool"] == OURS and r["ok"]}
    for tool in (OURS, PEER):
        ok = [r for r in records if r["tool"] == tool and r["ok"]]
        if not ok:
            continue
        st = final_return_stats(np.concatenate([r["final_returns"] for r in ok[-1:]]))
        row: dict[str, Any] = {
            "tool": tool,
            "repeats": len(ok),
            "steps_per_seed": ok[0]["steps_per_seed"],
            "compile_s": [r["compile_s"] for r in ok],
            "wall_s": [r["wall_s"] for r in ok],
            "sps": [r["sps"] for r in ok],
            "final_iqm": [r["final_iqm"] for r in ok],
            "process_cpu_s": [r.get("process_cpu_s") for r in ok if r.get("process_cpu_s")],
            "final_ci95_last": st.ci95,
            "load": [r["load_before"] for r in ok] + [ok[-1]["load_after"]],
        }
        if tool == PEER:
            pairs = [(ours[r["repeat"]], r) for r in ok if r["repeat"] in ours]
            row["sps_ratio"] = [a["sps"] / b["sps"] for a, b in pairs]
            row["wall_ratio"] = [b["wall_s"] / a["wall_s"] for a, b in pairs]
        rows.append(row)
    return rows


def _rng(xs: list[float] | None, spec: str = ",.1f") -> str:
    if not xs:
        return "—"
    lo, hi = min(xs), max(xs)
    return format(lo, spec) if len(xs) == 1 else f"{format(lo, spec)}–{format(hi, spec)}"


def markdown(rows: list[dict[str, Any]], seeds: int) -> str:
    out = (
        "| tool | seeds | env steps/seed | compile s | wall s | env-steps/s | final greedy "
        "IQM | process CPU s | ours ÷ purejaxql env-steps/s | purejaxql ÷ ours wall |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    for r in rows:
        out += (
            f"| {r['tool']} | {seeds} | {r['steps_per_seed']:,} | {_rng(r['compile_s'])} "
            f"| {_rng(r['wall_s'])} | {_rng(r['sps'], ',.0f')} | {_rng(r['final_iqm'])} "
            f"| {_rng(r.get('process_cpu_s'), ',.0f')} "
            f"| {_rng(r.get('sps_ratio'), '.2f')} | {_rng(r.get('wall_ratio'), '.2f')} |\n"
        )
    return out


def write(out_dir: Path, payload: dict[str, Any], seeds: int) -> str:
    rows = summarize(payload["records"])
    loads = [r[k] for r in payload["records"] for k in ("load_before", "load_after") if k in r]
    md = (
        "# PQN: purejaxdqn vs purejaxql on purejaxql's CartPole config\n\n"
        f"```\n{payload['command']}\n```\n\n"
        + ("" if payload["finished"] else "**Unfinished: stopped before all measurements.**\n\n")
        + markdown(rows, seeds)
        + "\n| repeat | tool | compile s | wall s | env-steps/s | process CPU s | final IQM "
        "| load before → after |\n|---:|---|---:|---:|---:|---:|---:|---|\n"
        + "".join(
            f"| {r['repeat']} | {r['tool']} | {r['compile_s']:.1f} | {r['wall_s']:.1f} "
            f"| {r['sps']:,.0f} | {_rng([r['process_cpu_s']] if r.get('process_cpu_s') else [])} "
            f"| {r['final_iqm']:.1f} | {r['load_before']:.1f} → {r['load_after']:.1f} |\n"
            for r in payload["records"]
            if r.get("ok")
        )
        + "\nRanges are min–max over the A B repeats; ratios are paired per repeat. "
        f"1-minute load during the measurements: {min(loads, default=float('nan')):.1f}–"
        f"{max(loads, default=float('nan')):.1f} on {os.cpu_count()} CPUs (shared). "
        f"purejaxdqn: {payload['code']}.\n\n"
        + "\n".join(f"- Mismatch: {m}" for m in MISMATCHES)
        + "\n\n## purejaxdqn flags\n\n```\n"
        + " ".join(f"--{k} {v}" for k, v in OUR_FLAGS.items())
        + "\n```\n"
    )
    (out_dir / "pqn_peer.md").write_text(md)
    (out_dir / "pqn_peer.json").write_text(json.dumps({**payload, "rows": rows}, indent=2) + "\n")
    return md


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--purejaxql-src", default="", help="a checkout of mttga/purejaxql")
    ap.add_argument("--peer-python", help="python of a ready purejaxql venv (else built)")
    ap.add_argument("--seeds", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=2, help="A B alternations")
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds per measurement")
    ap.add_argument("--only", choices=(OURS, PEER), help="measure one tool (no ratio)")
    ap.add_argument("--out", default="benchmarks/results/pqn_peer")
    ap.add_argument(
        "--report-only", action="store_true", help="rewrite pqn_peer.md from pqn_peer.json"
    )
    args = ap.parse_args()
    if args.report_only:
        payload = json.loads(Path(args.out, "pqn_peer.json").read_text())
        print(write(Path(args.out), payload, payload["args"]["seeds"]))
        return
    src = Path(args.purejaxql_src).resolve()
    if not (src / "purejaxql" / "pqn_gymnax.py").is_file():
        sys.exit(f"error: --purejaxql-src: {src} has no purejaxql/pqn_gymnax.py")
    if args.seeds < 1 or args.repeats < 1:
        sys.exit("error: --seeds and --repeats must be >= 1")
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    command = "python benchmarks/pqn_peer.py " + shlex.join(sys.argv[1:])
    print(f"$ {command}", flush=True)
    if args.peer_python:
        python = Path(args.peer_python)
    else:
        python, err = ensure_venv(PEER, PUREJAXQL, print)
        if python is None:
            sys.exit(f"error: {err}")
    names = tuple(r.split("==")[0] for r in PUREJAXQL.requirements)
    payload: dict[str, Any] = {
        "command": command,
        "args": vars(args),
        "our_flags": OUR_FLAGS,
        "code": code_version(),
        "peer_versions": freeze(python, names),
        "records": [],
        "finished": False,
    }
    for rep in range(args.repeats):
        for tool in (OURS, PEER) if args.only is None else (args.only,):
            rec: dict[str, Any] = {"tool": tool, "repeat": rep, "load_before": loadavg()}
            rec["started"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            try:
                if tool == OURS:
                    res = run_ours(args.seeds, args.timeout)
                else:
                    res = run_peer(python, src, args.seeds, args.timeout)
            except (OSError, RuntimeError, ValueError, KeyError, subprocess.SubprocessError) as e:
                rec.update(ok=False, error=f"{type(e).__name__}: {e}")
                print(f"rep {rep} {tool}: FAILED {rec['error']}", flush=True)
            else:
                rec.update(res, ok=True)
                train_s = rec["wall_s"] - rec["compile_s"]
                rec["sps"] = args.seeds * rec["steps_per_seed"] / train_s
                rec["final_iqm"] = final_return_stats(np.asarray(rec["final_returns"])).iqm
                print(
                    f"rep {rep} {tool}: compile {rec['compile_s']:.1f}s, wall "
                    f"{rec['wall_s']:.1f}s, {rec['sps']:,.0f} env-steps/s, final IQM "
                    f"{rec['final_iqm']:.1f} | load {rec['load_before']:.1f}",
                    flush=True,
                )
            cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            # CPU seconds of the whole worker process (imports and compile included): on a
            # shared machine a steadier measure of work than its wall time.
            rec["process_cpu_s"] = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
            rec["load_after"] = loadavg()
            payload["records"].append(rec)
            write(out_dir, payload, args.seeds)
    payload["finished"] = True
    print(write(out_dir, payload, args.seeds))


if __name__ == "__main__":
    main()
