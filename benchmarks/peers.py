"""Training throughput of purejaxdqn against peer DQN libraries: SB3, SBX, rejax, purejaxrl.

Every tool trains DQN with one matched config (printed, and written with the results) on the
same task for the same number of env steps per seed, with one env per seed and one
gradient step every 4 env steps. Each peer is installed by this script into its own virtual
environment under ``benchmarks/.venvs/<peer>`` (created once and reused; the peers pin
other versions of jax, gymnax and gymnasium than this project) and runs in a subprocess
with that venv's python (a worker in ``benchmarks/peers_workers/``). purejaxdqn runs the
same way, as ``python -m purejaxdqn.run`` in a subprocess with this interpreter.

Timing, the same for every tool: *wall* is measured inside the worker process from the
construction of the agent to the end of training (interpreter start, imports, the final
evaluation and file writes are excluded). *compile* is the XLA compile time where it can be
separated (purejaxdqn, rejax: compiled ahead of time before training); env-steps/s divides
all seeds' env steps by wall minus compile. SB3 compiles nothing; SBX jits inside
``learn`` so its compile stays inside its wall and its env-steps/s.

Seeds: purejaxdqn and rejax train all seeds in one vmapped program. SB3 and SBX have no
seed vectorization and train their seeds one after another; with ``--peer-seeds-max K``
only K seeds are run and the wall time for all seeds is extrapolated from them (first seed
+ (S - 1) x the mean of the others, so a one-time compile is not multiplied), and the
table says so.

Tools alternate inside each (env, seeds) cell: purejaxdqn, peer, peer, ..., then again,
``--repeats`` times (A B A B), so slow drift of a shared machine hits all tools alike; the
ratios are paired per repeat. The 1-minute load average before and after every
measurement is printed and recorded.

Usage::

    python benchmarks/peers.py                      # defaults: about an hour on 2 cores
    python benchmarks/peers.py --envs CartPole-v1 --seeds 64 --peers sb3,rejax \\
        --total-steps 50000 --peer-seeds-max 4 --repeats 3
"""

from __future__ import annotations

import argparse
import dataclasses
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

from purejaxdqn.stats import iqm

ROOT = Path(__file__).resolve().parent.parent
VENVS = ROOT / "benchmarks" / ".venvs"
WORKERS = ROOT / "benchmarks" / "peers_workers"
OURS = "purejaxdqn"


@dataclasses.dataclass(frozen=True)
class Peer:
    requirements: tuple[str, ...]  # exact pins, installed into benchmarks/.venvs/<name>
    worker: str  # file in benchmarks/peers_workers/
    worker_args: tuple[str, ...]
    envs: tuple[str, ...]  # envs the peer can run
    vectorized: bool  # trains all seeds in one program
    note: str = ""


PEERS: dict[str, Peer] = {
    "sb3": Peer(
        requirements=(
            "stable-baselines3==2.9.2",
            "torch==2.13.0",  # the CPU build (an unpinned torch pulls a CUDA build)
            "gymnasium[mujoco]==1.4.0",
            "mujoco==4.0.0",
            "numpy==2.4.6",
        ),
        worker="sb3_worker.py",
        worker_args=("--lib", "sb3"),
        envs=("CartPole-v1", "InvertedPendulum-v5"),
        vectorized=False,
        note="PyTorch CPU; gymnasium's envs (C MuJoCo for the pendulum)",
    ),
    "sbx": Peer(
        requirements=(
            "sbx-rl==0.28.0",
            "stable-baselines3==2.9.2",
            "torch==2.13.0",  # a dependency of stable-baselines3, unused by SBX
            "jax==0.10.2",
            "jaxlib==0.10.2",
            "flax==0.12.8",
            "optax==0.2.8",
            "gymnasium[mujoco]==1.4.0",
            "mujoco==4.0.0",
            "numpy==2.4.6",
        ),
        worker="sb3_worker.py",
        worker_args=("--lib", "sbx"),
        envs=("CartPole-v1", "InvertedPendulum-v5"),
        vectorized=False,
        note="JAX update, Python env loop; gymnasium's envs",
    ),
    "rejax": Peer(
        requirements=(
            "rejax==0.1.3",
            "gymnax==0.0.9",  # rejax 0.1.3 breaks on gymnax 1.x
            "jax==0.10.2",
            "jaxlib==0.10.2",
            "flax==0.12.8",
            "optax==0.2.8",
            "chex==0.1.92",
            "distrax==0.1.9",
            "numpy==2.4.6",
        ),
        worker="rejax_worker.py",
        worker_args=(),
        envs=("CartPole-v1",),  # no InvertedPendulum in rejax/gymnax
        vectorized=True,
        note="gymnax envs; jit(vmap(train)) over seeds",
    ),
    # purejaxrl's dqn.py is a file, not a package: clone github.com/luchris429/purejaxrl
    # (tested at 31756b1) and give its purejaxrl/dqn.py as $PUREJAXRL_DQN.
    "purejaxrl": Peer(
        requirements=(
            "jax==0.10.2",
            "jaxlib==0.10.2",
            "flax==0.12.8",
            "optax==0.2.8",
            "chex==0.1.92",
            "gymnax==0.0.9",  # dqn.py unpacks the 5-tuple step of gymnax 0.0.x
            "flashbax==0.1.3",
            "six==1.17.0",
            "numpy==2.4.6",
        ),
        worker="purejaxrl_worker.py",
        worker_args=(),
        envs=("CartPole-v1",),
        vectorized=True,
        note="single-file pure-JAX DQN (CleanRL's, ported); same jax as purejaxdqn",
    ),
}

# The matched config: every tool gets these values through its own API.
COMMON: dict[str, Any] = {
    "num_envs": 1,
    "learning_starts": 1_000,
    "train_every": 4,
    "gradient_steps": 1,
    "target_period": 500,
    "eps_start": 1.0,
    "eps_end": 0.05,
    "exploration_fraction": 0.1,  # of total_steps, linear decay
    "max_grad_norm": 10.0,
    "huber_delta": 1.0,
    "bins": 5,
    "eval_episodes": 8,
}
MATCHED: dict[str, dict[str, Any]] = {
    "CartPole-v1": {
        **COMMON,
        "hidden": [64, 64],
        "capacity": 50_000,
        "batch_size": 64,
        "lr": 5e-4,
        "gamma": 0.98,
    },
    "InvertedPendulum-v5": {
        **COMMON,
        "hidden": [32, 32],
        "capacity": 100_000,
        "batch_size": 128,
        "lr": 1e-3,
        "gamma": 0.97,
    },
}


# What could not be matched, printed under every table.
MISMATCHES = (
    "rejax has no train_freq: each iteration steps `num_envs` envs and takes one gradient "
    "step, so it runs 4 envs per seed (same 1 update per 4 env steps); the others run 1 env "
    "per seed and update every 4th step.",
    "Loss: Huber with threshold 1 (SB3 smooth_l1, SBX optax.huber_loss, purejaxdqn "
    "huber_delta=1); rejax's DQN uses a squared error (not configurable).",
    "Gradient clipping at global norm 10 for SB3, rejax and purejaxdqn; SBX's DQN has none.",
    "Time limits: SB3, SBX and purejaxdqn bootstrap through truncations; rejax (gymnax "
    "0.0.9 `done`) treats them as terminal.",
    "Before learning_starts SB3, SBX and rejax act uniformly at random; purejaxdqn follows "
    "its ε schedule from step 0 (ε near 1 there).",
    "Envs: CartPole-v1 is gymnax's for purejaxdqn (gymnax 1.x) and rejax (gymnax 0.0.9), "
    "gymnasium's for SB3/SBX; InvertedPendulum-v5 is purejaxdqn's JAX port vs gymnasium's "
    "C MuJoCo env behind a 5-bin action wrapper (values linspace(-3, 3, 5), as ours).",
    "Final evaluation: rejax's act() keeps ε = 0.005; the others are fully greedy.",
    "SB3 runs with torch.set_num_threads(1): on this shared 2-core machine 2 threads were "
    "~7× slower (3,000 CartPole steps: 40-43 s vs 5-7 s).",
    "purejaxdqn is run with this table, not its tuned presets (1 env, constant lr, Huber "
    "threshold 1; for the pendulum also lr 1e-3 instead of 3e-3 decaying): its returns "
    "here are not the README's figures.",
)


# CleanRL's dqn_jax.py settings for CartPole-v1 with 10 envs (benchmarks/speed.py's workload
# (a)): purejaxrl's dqn.py defaults. ``--preset cleanrl`` puts them in place of MATCHED.
CLEANRL: dict[str, Any] = {
    "num_envs": 10,
    "learning_starts": 10_000,
    "train_every": 10,
    "gradient_steps": 1,
    "target_period": 500,
    "eps_start": 1.0,
    "eps_end": 0.05,
    "exploration_fraction": 0.5,
    "max_grad_norm": float("inf"),
    "huber_delta": 1.0,
    "loss": "l2",
    "bins": 5,
    "eval_episodes": 10,
    "hidden": [120, 84],
    "capacity": 10_000,
    "batch_size": 128,
    "lr": 2.5e-4,
    "gamma": 0.99,
}


def matched_config(env: str, total_steps: int) -> dict[str, Any]:
    c = dict(MATCHED[env])
    c["total_steps"] = total_steps
    c["exploration_steps"] = int(c.pop("exploration_fraction") * total_steps)
    return c


def loadavg() -> float:
    return os.getloadavg()[0]


# --- virtual environments ---------------------------------------------------------------
def ensure_venv(name: str, peer: Peer, log) -> tuple[Path | None, str | None]:
    """``(python of the peer's venv, None)``, or ``(None, error)`` if it cannot be built."""
    venv = VENVS / name
    python = venv / "bin" / "python"
    marker = venv / "peers-requirements.txt"
    wanted = "\n".join(peer.requirements) + "\n"
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        log(f"[venv] {name}: reusing {venv}")
        return python, None
    log(f"[venv] {name}: installing {' '.join(peer.requirements)} into {venv} ...")
    t0 = time.perf_counter()
    VENVS.mkdir(parents=True, exist_ok=True)
    base = getattr(sys, "_base_executable", sys.executable)
    steps = [
        [base, "-m", "venv", "--clear", str(venv)],
        [str(python), "-m", "pip", "install", "--quiet", *peer.requirements],
    ]
    for cmd in steps:
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            err = (proc.stderr or proc.stdout).strip().splitlines()
            return None, f"install failed ({shlex.join(cmd[:4])} ...): " + " | ".join(err[-3:])
    marker.write_text(wanted)
    log(f"[venv] {name}: installed in {time.perf_counter() - t0:.0f}s")
    return python, None


def freeze(python: Path, names: tuple[str, ...]) -> dict[str, str]:
    """Installed versions of ``names`` in a venv (for the record)."""
    code = (
        "import importlib.metadata as m, json, sys\n"
        "out = {}\n"
        "for n in sys.argv[1:]:\n"
        "    try: out[n] = m.version(n)\n"
        "    except m.PackageNotFoundError: pass\n"
        "print(json.dumps(out))"
    )
    proc = subprocess.run([str(python), "-c", code, *names], capture_output=True, text=True)
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError:
        return {}


# --- one measurement --------------------------------------------------------------------
def _last_json_line(text: str) -> dict[str, Any]:
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError("no JSON line in the worker's output")


def _tail(text: str, n: int = 3) -> str:
    lines = [x for x in text.strip().splitlines() if x.strip()]
    return " | ".join(lines[-n:])[-400:]


def run_ours(env: str, seeds: int, c: dict[str, Any], timeout: float) -> dict[str, Any]:
    """purejaxdqn through its command line, all seeds in one program."""
    flags = {
        "env": env,
        "seeds": seeds,
        "total-steps": c["total_steps"],
        "num-envs": c["num_envs"],
        "hidden": ",".join(map(str, c["hidden"])),
        "capacity": c["capacity"],
        "batch-size": c["batch_size"],
        "learning-starts": c["learning_starts"],
        "train-every": c["train_every"],
        "gradient-steps": c["gradient_steps"],
        "target-period": c["target_period"],
        "lr": c["lr"],
        "lr-end-fraction": 1.0,
        "gamma": c["gamma"],
        "eps-start": c["eps_start"],
        "eps-end": c["eps_end"],
        "exploration-steps": c["exploration_steps"],
        "huber-delta": c["huber_delta"],
        "max-grad-norm": c["max_grad_norm"],
        "tau": 1.0,
        "double-q": "false",
        "loss": c.get("loss", "huber"),
        "optimizer": "adam",
        "bins": c["bins"],
        "eval-every": c["total_steps"],
        "eval-episodes": c["eval_episodes"],
    }
    with tempfile.TemporaryDirectory(prefix="peers-ours-") as tmp:
        cmd = [sys.executable, "-m", "purejaxdqn.run", "--quiet", "--out", f"{tmp}/run"]
        for k, v in flags.items():
            cmd += [f"--{k}", str(v)]
        env_vars = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env_vars
        )
        if proc.returncode != 0:
            raise RuntimeError(f"exit {proc.returncode}: {_tail(proc.stderr)}")
        s = json.loads(Path(tmp, "run", "summary.json").read_text())
    import jax

    return {
        "version": f"purejaxdqn (jax {jax.__version__})",
        "compile_s": s["compile_seconds"],
        # train_seconds includes the greedy evaluations before and after training, which
        # run inside the compiled program (eval_every = total_steps: two of them).
        "wall_s": s["compile_seconds"] + s["train_seconds"],
        "measured_seeds": seeds,
        "final_returns": s["final_return_per_seed"],
        "extrapolated": False,
    }


def run_peer(
    name: str,
    peer: Peer,
    python: Path,
    env: str,
    seeds: int,
    c: dict[str, Any],
    peer_seeds_max: int,
    timeout: float,
) -> dict[str, Any]:
    measured = seeds if peer.vectorized else min(seeds, peer_seeds_max)
    cmd = [str(python), str(WORKERS / peer.worker), *peer.worker_args, "--env", env]
    cmd += ["--seeds", ",".join(str(i) for i in range(measured)), "--config", json.dumps(c)]
    cmd += ["--eval-episodes", str(c["eval_episodes"])]
    env_vars = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, cwd=WORKERS, env=env_vars
    )
    if proc.returncode != 0:
        raise RuntimeError(f"exit {proc.returncode}: {_tail(proc.stderr)}")
    out = _last_json_line(proc.stdout)
    returns = [p["final_return"] for p in out["per_seed"]]
    if peer.vectorized:
        compile_s, wall_s = out["compile_seconds"], out["compile_seconds"] + out["train_seconds"]
    else:
        t = [p["seconds"] for p in out["per_seed"]]
        rest = float(np.mean(t[1:])) if len(t) > 1 else t[0]
        compile_s = None
        wall_s = t[0] + (seeds - 1) * rest  # equals sum(t) when every seed was run
    return {
        "version": f"{name} {out['version']} ({out['backend']})",
        "compile_s": compile_s,
        "wall_s": wall_s,
        "measured_seeds": measured,
        "final_returns": returns,
        "extrapolated": measured < seeds,
        "per_seed_seconds": [p.get("seconds") for p in out["per_seed"]],
    }


# --- tables -------------------------------------------------------------------------------
def _fmt(x: float | None, spec: str = ",.1f") -> str:
    return "—" if x is None or not np.isfinite(x) else format(x, spec)


def summarize(records: list[dict[str, Any]], tools: list[str]) -> list[dict[str, Any]]:
    """One row per (env, seeds, tool): medians over repeats, paired ratios vs purejaxdqn."""
    rows = []
    cells = sorted({(r["env"], r["seeds"]) for r in records}, key=lambda k: (k[0], k[1]))
    for env, seeds in cells:
        cell = [r for r in records if r["env"] == env and r["seeds"] == seeds]
        ours = {r["repeat"]: r for r in cell if r["tool"] == OURS and r["ok"]}
        for tool in tools:
            runs = [r for r in cell if r["tool"] == tool]
            if not runs:
                continue
            ok = [r for r in runs if r["ok"]]
            row: dict[str, Any] = {"env": env, "seeds": seeds, "tool": tool}
            if not ok:
                row["error"] = runs[-1]["error"]
                row["skipped"] = runs[-1].get("skipped", False)
                rows.append(row)
                continue
            compiles = [r["compile_s"] for r in ok if r["compile_s"] is not None]
            row.update(
                total_env_steps=ok[0]["total_env_steps"],
                compile_s=float(np.median(compiles)) if compiles else None,
                wall_s=float(np.median([r["wall_s"] for r in ok])),
                sps=float(np.median([r["sps"] for r in ok])),
                final_return_iqm=float(np.mean([r["final_return_iqm"] for r in ok])),
                measured_seeds=ok[0]["measured_seeds"],
                extrapolated=ok[0]["extrapolated"],
                repeats=len(ok),
                load=[r["load_before"] for r in ok] + [ok[-1]["load_after"]],
            )
            if tool != OURS:
                pairs = [(ours[r["repeat"]], r) for r in ok if r["repeat"] in ours]
                if pairs:
                    row["sps_ratio"] = [a["sps"] / b["sps"] for a, b in pairs]
                    row["wall_ratio"] = [b["wall_s"] / a["wall_s"] for a, b in pairs]
            rows.append(row)
    return rows


def _ratio(values: list[float] | None) -> str:
    if not values:
        return "—"
    mean = float(np.mean(values))
    if len(values) == 1:
        return f"{mean:.1f}×"
    return f"{mean:.1f}× ({min(values):.1f}–{max(values):.1f})"


def markdown_table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| env | seeds | tool | total env steps | compile s | wall s | env-steps/s "
        "| final return IQM | ours ÷ peer env-steps/s | peer ÷ ours wall |\n"
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    lines = []
    for r in rows:
        if "error" in r:
            lines.append(
                f"| {r['env']} | {r['seeds']} | {r['tool']} "
                f"| {'not run' if r.get('skipped') else 'failed'}: {r['error'][:200]} "
                "| | | | | | |"
            )
            continue
        mark = "*" if r["extrapolated"] else ""
        iqm_note = f" ({r['measured_seeds']} seeds)" if r["extrapolated"] else ""
        lines.append(
            f"| {r['env']} | {r['seeds']} | {r['tool']}{mark} | {r['total_env_steps']:,} "
            f"| {_fmt(r['compile_s'])} | {_fmt(r['wall_s'])}{mark} | {_fmt(r['sps'], ',.0f')}"
            f"{mark} | {_fmt(r['final_return_iqm'])}{iqm_note} | {_ratio(r.get('sps_ratio'))} "
            f"| {_ratio(r.get('wall_ratio'))} |"
        )
    return head + "\n".join(lines) + "\n"


def config_table(envs: list[str], total_steps: int) -> str:
    cfgs = {e: matched_config(e, total_steps) for e in envs}
    keys = list(next(iter(cfgs.values())))
    out = "| field | " + " | ".join(envs) + " |\n|---|" + "---|" * len(envs) + "\n"
    for k in keys:
        out += f"| {k} | " + " | ".join(str(cfgs[e][k]) for e in envs) + " |\n"
    return out


def write_report(
    out_dir: Path,
    command: str,
    args: argparse.Namespace,
    envs: list[str],
    peers: list[str],
    versions: dict[str, dict[str, str]],
    install_errors: dict[str, str],
    records: list[dict[str, Any]],
    elapsed: float,
    finished: bool,
) -> str:
    """Writes ``peers.md`` and ``peers.json`` (after every measurement, so a run cut short
    still leaves what it measured, marked unfinished); returns the markdown."""
    rows = summarize(records, [OURS, *peers])
    table = markdown_table(rows)
    loads = [r[k] for r in records for k in ("load_before", "load_after") if k in r]
    seq = [p for p in peers if not PEERS[p].vectorized]
    notes = [
        f"Scale: {args.total_steps:,} env steps per seed, {args.repeats} repeats (A B A B), "
        f"measurements took {elapsed / 60:.1f} min.",
        f"Machine: {os.cpu_count()} CPUs; 1-minute load average during the measurements "
        f"{min(loads, default=float('nan')):.2f}–{max(loads, default=float('nan')):.2f} "
        "(the machine was shared; every number is noisy).",
        "wall s: timed inside the worker process from building the agent to the end of "
        "training; interpreter start and imports are excluded for every tool. compile s: XLA "
        "compile, separated ahead of time (purejaxdqn, rejax). env-steps/s: all seeds' env "
        "steps / (wall − compile). SB3 compiles nothing; SBX jits inside `learn`, so its "
        "compile stays in its wall and env-steps/s. Each number is the median over repeats.",
        "Final return: mean of "
        f"{MATCHED[envs[0]]['eval_episodes']} greedy episodes per seed after training, IQM over "
        "seeds, mean over repeats. The JAX tools evaluate inside their compiled program, so "
        "their wall includes it (purejaxdqn: before and after training; rejax: after); SB3 "
        "and SBX evaluate after the timer stops.",
        "Ratios: per repeat, purejaxdqn vs the peer measured next to it; mean (min–max).",
    ]
    if seq:
        notes.append(
            f"{', '.join(seq)}: no seed vectorization: their seeds run one after another. "
            f"* = extrapolated: only {args.peer_seeds_max} seed(s) were run; wall = first seed "
            "+ (seeds − 1) × mean of the other measured seeds; IQM over the measured seeds."
        )
    notes += [f"{p}: {PEERS[p].note}" for p in peers]
    notes += [f"Mismatch: {m}" for m in MISMATCHES]
    notes += [
        f"{p} versions: " + ", ".join(f"{k}=={v}" for k, v in versions[p].items()) for p in versions
    ]
    md = (
        "# purejaxdqn vs peers: DQN training throughput\n\n"
        f"```\n{command}\n```\n\n"
        + ("" if finished else "**Unfinished: the run stopped before all measurements.**\n\n")
        + table
        + "\n"
        + "\n".join(f"- {n}" for n in notes)
        + "\n\n## Matched config\n\n"
        + config_table(envs, args.total_steps)
    )
    (out_dir / "peers.md").write_text(md)
    payload = {
        "command": command,
        "args": vars(args),
        "configs": {e: matched_config(e, args.total_steps) for e in envs},
        "versions": versions,
        "install_errors": install_errors,
        "records": records,
        "rows": rows,
        "elapsed_seconds": elapsed,
        "finished": finished,
    }
    (out_dir / "peers.json").write_text(json.dumps(payload, indent=2) + "\n")
    return md


# --- main ---------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--envs", default="CartPole-v1,InvertedPendulum-v5")
    ap.add_argument("--seeds", default="1,64", help="seed counts, comma-separated")
    ap.add_argument("--total-steps", type=int, default=20_000, help="env steps per seed")
    ap.add_argument("--peers", default="sb3,sbx,rejax")
    ap.add_argument(
        "--peer-seeds-max",
        type=int,
        default=2,
        help="seeds actually run by a sequential peer (SB3, SBX); more are extrapolated",
    )
    ap.add_argument("--repeats", type=int, default=2, help="A B A B alternations per cell")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per measurement")
    ap.add_argument("--out", default="benchmarks/results/peers")
    ap.add_argument(
        "--preset",
        choices=("matched", "cleanrl"),
        default="matched",
        help="cleanrl: CartPole-v1 with CleanRL's dqn_jax settings, 10 envs (for purejaxrl)",
    )
    args = ap.parse_args()
    if args.preset == "cleanrl":
        MATCHED["CartPole-v1"] = dict(CLEANRL)

    envs = [e for e in args.envs.split(",") if e]
    seed_counts = [int(s) for s in args.seeds.split(",") if s]
    peers = [p for p in args.peers.split(",") if p]
    for e in envs:
        if e not in MATCHED:
            sys.exit(f"error: --envs: {e!r} has no matched config; known: {list(MATCHED)}")
    for p in peers:
        if p not in PEERS:
            sys.exit(f"error: --peers: {p!r} unknown; known: {list(PEERS)}")
    if args.peer_seeds_max < 1 or args.repeats < 1 or args.total_steps < 1:
        sys.exit("error: --peer-seeds-max, --repeats and --total-steps must be >= 1")
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    command = "python benchmarks/peers.py " + shlex.join(sys.argv[1:])

    def log(msg: str) -> None:
        print(msg, flush=True)

    log(f"$ {command}")
    log(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, python {platform.python_version()}")
    log("\nmatched config (every tool):\n" + config_table(envs, args.total_steps))

    pythons: dict[str, Path] = {}
    install_errors: dict[str, str] = {}
    versions: dict[str, dict[str, str]] = {}
    for p in peers:
        python, err = ensure_venv(p, PEERS[p], log)
        if err:
            install_errors[p] = err
            log(f"[venv] {p}: {err}")
        else:
            pythons[p] = python
            names = tuple(r.split("==")[0].split("[")[0] for r in PEERS[p].requirements)
            versions[p] = freeze(python, names)

    records: list[dict[str, Any]] = []
    t_start = time.perf_counter()
    for env in envs:
        c = matched_config(env, args.total_steps)
        for seeds in seed_counts:
            for rep in range(args.repeats):
                for tool in [OURS, *peers]:
                    rec: dict[str, Any] = {"env": env, "seeds": seeds, "tool": tool, "repeat": rep}
                    if tool != OURS and env not in PEERS[tool].envs:
                        rec.update(ok=False, skipped=True, error=f"{tool} has no {env}")
                        if rep == 0:
                            records.append(rec)
                        continue
                    if tool in install_errors:
                        rec.update(ok=False, error=install_errors[tool])
                        records.append(rec)
                        continue
                    rec["load_before"] = loadavg()
                    t0 = time.perf_counter()
                    try:
                        if tool == OURS:
                            res = run_ours(env, seeds, c, args.timeout)
                        else:
                            res = run_peer(
                                tool,
                                PEERS[tool],
                                pythons[tool],
                                env,
                                seeds,
                                c,
                                args.peer_seeds_max,
                                args.timeout,
                            )
                    except (
                        OSError,
                        RuntimeError,
                        ValueError,
                        KeyError,
                        subprocess.SubprocessError,
                    ) as e:
                        rec.update(ok=False, error=f"{type(e).__name__}: {e}")
                    else:
                        rec.update(res, ok=True)
                        rec["total_env_steps"] = seeds * args.total_steps
                        train_s = rec["wall_s"] - (rec["compile_s"] or 0.0)
                        rec["sps"] = rec["total_env_steps"] / train_s
                        rec["final_return_iqm"] = iqm(np.asarray(rec["final_returns"]))
                    rec["process_s"] = time.perf_counter() - t0
                    rec["load_after"] = loadavg()
                    records.append(rec)
                    write_report(
                        out_dir,
                        command,
                        args,
                        envs,
                        peers,
                        versions,
                        install_errors,
                        records,
                        time.perf_counter() - t_start,
                        finished=False,
                    )
                    if rec["ok"]:
                        ex = (
                            f" (extrapolated from {rec['measured_seeds']} seeds)"
                            if rec["extrapolated"]
                            else ""
                        )
                        log(
                            f"{env} seeds={seeds} rep={rep} {tool}: wall {rec['wall_s']:.1f}s"
                            f"{ex}, compile {_fmt(rec['compile_s'])}s, "
                            f"{rec['sps']:,.0f} env-steps/s, IQM {rec['final_return_iqm']:.1f}"
                            f" | load {rec['load_before']:.2f} -> {rec['load_after']:.2f}"
                        )
                    else:
                        log(f"{env} seeds={seeds} rep={rep} {tool}: FAILED {rec['error']}")
    md = write_report(
        out_dir,
        command,
        args,
        envs,
        peers,
        versions,
        install_errors,
        records,
        time.perf_counter() - t_start,
        finished=True,
    )
    log("\n" + md)
    log(f"wrote {out_dir / 'peers.md'} and {out_dir / 'peers.json'}")


if __name__ == "__main__":
    main()
