"""Training speed of this checkout against a baseline commit, A B A B in separate processes.

Each workload runs as ``python -m purejaxdqn.run`` in a subprocess, once with the baseline's
code (a git worktree of ``--baseline``, put first on ``PYTHONPATH``) and once with this
checkout's, alternating ``--repeats`` times. Per run it records env-steps/s and compile
seconds (the run's ``summary.json``), wall seconds and CPU utilisation (process CPU time,
children and all threads included, over wall time and cores; for the training window alone,
sampled from ``/proc``), with the 1-minute load average before and after (the machine may be
shared). Ratios are paired per repeat and reported as ranges.

The learner section (``--learner``) times, in one process, this checkout's learning phase
for workload (a)'s shapes vmapped over the seeds (in the engine's blocks of runs), on one CPU
device and sharded over all cores as devices, beside plain batched matmuls: the learner's
dominant shape (``[S, 128, 120] @ [S, 120, 84]``) on one device, sharded, and in NumPy, and
every matmul of an update (``shapes_*``: each shape timed on its own, the times summed).
The learner and every reference are timed once per round, round after round
(``--learner-rounds``), each keeping its best. Each reference product is stored, as the
learner's are; ``summed_*`` is the dominant shape with only its sum kept, which YNNPACK fuses
into the dot (never storing the product), shown for comparison. Every program of the section
is compiled with the engine's compile options (``purejaxdqn/engine/compile_options.py``), as
training is.

    python benchmarks/speed.py                                # all workloads, 2 repeats
    python benchmarks/speed.py --workloads a64 a1 --repeats 3 --out benchmarks/results/speed
    python benchmarks/speed.py --workloads none --learner     # the learner section only
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CORES = os.cpu_count() or 1
TICK = os.sysconf("SC_CLK_TCK")

# CleanRL's dqn_jax.py settings for CartPole-v1 (10 envs stepped in parallel): 9,000 updates
# of a 128 x (4 -> 120 -> 84 -> 2) MLP per seed over 100k env steps.
CLEANRL = [
    "--env", "CartPole-v1", "--num-envs", "10", "--capacity", "10000", "--batch-size", "128",
    "--learning-starts", "10000", "--train-every", "10", "--hidden", "120,84", "--loss", "l2",
    "--optimizer", "adam", "--target-period", "500", "--eval-episodes", "10",
    "--lr", "2.5e-4", "--lr-end-fraction", "1", "--gamma", "0.99", "--eps-end", "0.05",
    "--tau", "1", "--max-grad-norm", "inf", "--total-steps", "100000", "--eval-every", "5000",
    "--exploration-steps", "50000",
]  # fmt: skip
WORKLOADS: dict[str, list[str]] = {
    "a64": [*CLEANRL, "--seeds", "64"],
    "a1": [*CLEANRL, "--seeds", "1"],
    "b": ["--seeds", "64"],  # the InvertedPendulum-v5 default, with its evaluation
    "c": [
        "--env", "Breakout-MinAtar", "--seeds", "8", "--total-steps", "20000",
        "--eval-every", "10000",
    ],
}  # fmt: skip


# Flags renamed since the default baseline (97aec68): this checkout's name -> the baseline's.
BASELINE_RENAMES = {("--loss", "l2"): ("--loss", "mse")}


def for_baseline(flags: list[str]) -> list[str]:
    """``flags`` with the values the baseline spells differently (:data:`BASELINE_RENAMES`)."""
    out = list(flags)
    for i in range(len(out) - 1):
        new = BASELINE_RENAMES.get((out[i], out[i + 1]))
        if new is not None:
            out[i], out[i + 1] = new
    return out


def _proc_cpu(pid: int) -> float | None:
    """CPU seconds of ``pid`` (all threads, waited-for children included), None if gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return sum(int(x) for x in fields[11:15]) / TICK


def run_workload(code: Path, args: list[str], out: Path, env_extra: dict[str, str]) -> dict:
    """One ``purejaxdqn.run`` with ``code`` first on the path; its timings and utilisation."""
    env = {**os.environ, "PYTHONPATH": str(code), "JAX_PLATFORMS": "cpu", **env_extra}
    load_before = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "purejaxdqn.run", *args, "--quiet", "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=out.parent,
    )
    samples: list[tuple[float, float]] = []
    first_stdout: list[float] = []

    def poll() -> None:
        while proc.poll() is None:
            cpu = _proc_cpu(proc.pid)
            if cpu is not None:
                samples.append((time.perf_counter(), cpu))
            time.sleep(0.2)

    def read_stdout() -> None:
        assert proc.stdout is not None
        for _ in proc.stdout:
            if not first_stdout:
                first_stdout.append(time.perf_counter())

    threads = [threading.Thread(target=poll), threading.Thread(target=read_stdout)]
    for t in threads:
        t.start()
    assert proc.stderr is not None
    stderr = proc.stderr.read()
    proc.wait()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{code}: {' '.join(args)} failed:\n{stderr[-2000:]}")
    summary = json.loads((out / "summary.json").read_text())
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    train_s = float(summary["train_seconds"])
    # The training window: the train_s seconds before the first table line on stdout.
    end = first_stdout[0] if first_stdout else t0 + wall
    window = [(t, c) for t, c in samples if end - train_s <= t <= end]
    train_util = None
    if len(window) >= 2 and window[-1][0] > window[0][0]:
        train_util = (window[-1][1] - window[0][1]) / (window[-1][0] - window[0][0]) / CORES
    return {
        "env_steps_per_second": summary["env_steps_per_second"],
        "compile_s": summary["compile_seconds"],
        "train_s": train_s,
        "wall_s": wall,
        "cpu_util": cpu / wall / CORES,
        "train_cpu_util": train_util,
        "final_return_iqm": summary.get("final_return_iqm"),
        "load": [load_before, os.getloadavg()[0]],
    }


# --- the learner section (runs in its own process: it sets XLA_FLAGS before jax) ----------


def _best_of_rounds(
    jobs: dict[str, tuple[Any, Any]], rounds: int
) -> dict[str, tuple[float, float]]:
    """Each ``fn(args)`` of ``jobs`` (name -> (fn, args)) warmed up, then timed once per
    round, round after round: per name the best wall seconds and that call's CPU util."""
    import jax

    for fn, args in jobs.values():
        jax.block_until_ready(fn(args))
    best = {k: (float("inf"), 0.0) for k in jobs}
    for _ in range(rounds):
        for k, (fn, args) in jobs.items():
            c0, t0 = time.process_time(), time.perf_counter()
            jax.block_until_ready(fn(args))
            dt = time.perf_counter() - t0
            if dt < best[k][0]:
                best[k] = (dt, (time.process_time() - c0) / dt / CORES)
    return best


@contextlib.contextmanager
def baseline_worktree(commit: str) -> Iterator[Path]:
    """A temporary detached git worktree of ``commit``, removed on exit."""
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "baseline"
        git = ["git", "-C", str(ROOT), "worktree"]
        add = [*git, "add", "--detach", str(base), commit]
        subprocess.run(add, check=True, capture_output=True)
        try:
            yield base
        finally:
            subprocess.run([*git, "remove", "--force", str(base)], capture_output=True)


def cleanrl_learner(phases: int) -> tuple[Any, Any, Any]:
    """Workload (a)'s learner: ``(config, start, run)``.

    ``start(key)`` is a run's state with its whole (zero-filled) replay marked full, so
    sampling is valid; ``run(state)`` is ``phases`` learning phases in a ``lax.scan``.
    """
    import jax
    import jax.numpy as jnp

    from purejaxdqn.config import Config
    from purejaxdqn.dqn import make_dqn

    try:  # as the command lines do (same bits; absent in older checkouts)
        from purejaxdqn import threefry_cpu

        threefry_cpu.use_unrolled()
    except ImportError:
        pass

    config = Config(
        env="CartPole-v1", num_envs=10, capacity=10_000, batch_size=128, learning_starts=10_000,
        train_every=10, hidden=(120, 84), loss="l2", optimizer="adam", target_period=500,
        lr=2.5e-4, lr_end_fraction=1.0, max_grad_norm=float("inf"), total_steps=100_000,
        eval_every=5_000,
    )  # fmt: skip
    dqn = make_dqn(config)
    hp = config.hyperparams()

    def start(key: Any) -> Any:
        s = dqn.init(key, hp)
        buf = s.buffer_state
        if hasattr(buf, "is_full"):
            s = s.replace(buffer_state=buf.replace(is_full=jnp.ones_like(buf.is_full)))
        return s

    def run(s: Any) -> Any:
        def body(s: Any, i: jax.Array) -> tuple[Any, jax.Array]:
            s, loss, _ = dqn.learn_phase(s, hp, jax.random.fold_in(s.key, i), 20_000 + i)
            return s, loss

        return jax.lax.scan(body, s, jnp.arange(phases))

    return config, start, run


def learner_worker(seeds: int, phases: int, rounds: int) -> dict:
    """GFLOP/s of the learner (workload (a)'s shapes) and of plain batched matmuls."""
    import jax
    import jax.numpy as jnp
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    try:  # the engine's compile options (absent in older checkouts)
        from purejaxdqn.engine.compile_options import compile_lowered
    except ImportError:

        def compile_lowered(lowered: Any, platform: str) -> Any:
            return lowered.compile()

    config, start, phases_fn = cleanrl_learner(phases)
    keys = jax.vmap(jax.random.key)(jnp.arange(seeds))
    states = jax.jit(jax.vmap(start))(keys)

    def blocked(fn: Any) -> Any:
        """``fn`` over a device's seeds as the engine trains them (in blocks on CPU)."""
        try:
            from purejaxdqn.engine.engine import CPU_RUNS_PER_BLOCK
            from purejaxdqn.engine.programs import vmap_in_blocks
        except ImportError:  # before runs were trained in blocks: one vmap
            return jax.vmap(fn)
        return vmap_in_blocks(fn, (0,), CPU_RUNS_PER_BLOCK)

    sizes = [4, *config.hidden, 2]
    fwd = 2 * config.batch_size * sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    # The online and the target forward passes, and the backward pass: every layer's weight
    # gradient and the input gradients of all but the first layer (the observations need
    # none, and XLA computes none): the same products as the ``shapes`` reference below.
    update_flop = 4 * fwd - 2 * config.batch_size * sizes[0] * sizes[1]
    flop = update_flop * seeds * phases
    res: dict[str, Any] = {"learner_mflop_per_seed_update": update_flop / 1e6}
    devs = jax.devices()
    x = jnp.ones((seeds, config.batch_size, 120), jnp.float32)
    w = jnp.ones((seeds, 120, 84), jnp.float32)
    mm_n = 200

    def repeat(ops: Any, summed: bool = False) -> Any:
        """``mm_n`` rounds of every product in ``ops``, each stored: the operands and the
        last round's products pass through an optimization barrier each round (so XLA can
        neither hoist the products out of the loop nor drop a round), and each round's
        products are the loop's new carry, written to memory as a learner's are.

        ``summed``: keep only each product's sum instead. YNNPACK fuses that sum into the
        dot, so the product is never stored: faster than any matmul whose result is used
        (1.7x at ``[32,128,120]@[32,120,84]`` on one device), so not the reference, but
        printed beside it."""

        def body(i: jax.Array, carry: tuple[Any, Any]) -> tuple[Any, Any]:
            ops, kept = jax.lax.optimization_barrier(carry)
            outs = [jnp.einsum("smk,skn->smn", a, b) for a, b in ops]
            if summed:
                return ops, kept + sum(jnp.sum(o, axis=(1, 2)) for o in outs)
            return ops, outs

        if summed:
            kept = jnp.zeros((seeds,))
        else:
            kept = [jnp.zeros((*a.shape[:-1], b.shape[-1]), a.dtype) for a, b in ops]
        return jax.lax.fori_loop(0, mm_n, body, (ops, kept))[1]

    mm_flop = 2 * seeds * config.batch_size * 120 * 84 * mm_n

    # Every matmul of one update, as plain batched matmuls of the learner's own shapes: the
    # online and the target forward passes, and the backward pass (the input gradients of
    # layers 2 and 3, the weight gradients of all three).
    b = config.batch_size
    layer_shapes = list(zip(sizes[:-1], sizes[1:], strict=True))
    shapes = [(b, i, o) for i, o in layer_shapes] * 2  # online + target forward
    shapes += [(b, o, i) for i, o in layer_shapes[1:]]  # dX = dY @ W^T
    shapes += [(i, b, o) for i, o in layer_shapes]  # dW = X^T @ dY
    operands = [
        (jnp.ones((seeds, m, k), jnp.float32), jnp.ones((seeds, k, n), jnp.float32))
        for m, k, n in shapes
    ]
    shapes_flop = sum(2 * seeds * m * k * n for m, k, n in shapes) * mm_n
    assert sum(2 * m * k * n for m, k, n in shapes) == update_flop  # the same products

    def compiled(fn: Any, *args: Any) -> Any:
        """``fn`` compiled for ``args`` with the engine's compile options, as training is."""
        return compile_lowered(jax.jit(fn).lower(*args), "cpu")

    # Every program first, then ``rounds`` rounds that time each once in turn, each program's
    # best round kept: a burst of load elsewhere on the machine then slows the learner and
    # its references alike instead of whichever happened to be timed during it.
    jobs: dict[str, tuple[Any, Any]] = {}
    for name, d in (("1dev", devs[:1]), (f"{len(devs)}dev", devs)):
        if name == "1dev" or len(devs) > 1:
            sh = NamedSharding(Mesh(np.array(d), ("s",)), PartitionSpec("s"))
            put = lambda t, sh=sh: jax.tree.map(lambda a: jax.device_put(a, sh), t)
            learner = jax.shard_map(
                blocked(phases_fn),
                mesh=sh.mesh,
                in_specs=PartitionSpec("s"),
                out_specs=PartitionSpec("s"),
                check_vma=False,
            )
            summed = functools.partial(repeat, summed=True)
            programs = {
                f"learner_{name}": (learner, put(states)),
                f"matmul_{name}": (repeat, put([(x, w)])),
                f"summed_{name}": (summed, put([(x, w)])),
                # Each shape in a loop of its own (all of them in one loop thrash the
                # caches: ~30% slower), the times summed: an update's matmuls at their best.
                **{f"shape{i}_{name}": (repeat, put([op])) for i, op in enumerate(operands)},
            }
            jobs.update({k: (compiled(fn, arg), arg) for k, (fn, arg) in programs.items()})
    best = _best_of_rounds(jobs, rounds)
    for name in ("1dev", f"{len(devs)}dev"):
        if f"learner_{name}" not in best:
            continue
        t, u = best[f"learner_{name}"]
        res[f"learner_{name}"] = {"gflops": flop / t / 1e9, "cpu_util": u, "s": t}
        for kind in ("matmul", "summed"):
            t, u = best[f"{kind}_{name}"]
            res[f"{kind}_{name}"] = {"gflops": mm_flop / t / 1e9, "cpu_util": u}
        timed = [best[f"shape{i}_{name}"] for i in range(len(operands))]
        t = sum(tt for tt, _ in timed)
        u = sum(tt * uu for tt, uu in timed) / t
        res[f"shapes_{name}"] = {"gflops": shapes_flop / t / 1e9, "cpu_util": u}
    res["rounds"] = rounds
    xn, wn = np.ones(x.shape, np.float32), np.ones(w.shape, np.float32)
    np.matmul(xn, wn)
    c0, t0 = time.process_time(), time.perf_counter()
    for _ in range(20):
        np.matmul(xn, wn)
    dt = time.perf_counter() - t0
    res["matmul_numpy"] = {
        "gflops": 2 * seeds * config.batch_size * 120 * 84 * 20 / dt / 1e9,
        "cpu_util": (time.process_time() - c0) / dt / CORES,
    }
    return res


def run_learner(code: Path, seeds: int, phases: int, rounds: int) -> dict:
    """The learner section in a subprocess with all cores as XLA devices."""
    env = {
        **os.environ,
        "PYTHONPATH": str(code),
        "JAX_PLATFORMS": "cpu",
        "XLA_FLAGS": f"--xla_force_host_platform_device_count={CORES}",
    }
    cmd = [sys.executable, __file__, "--learner-worker", str(seeds), str(phases), str(rounds)]
    load = os.getloadavg()[0]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"learner worker failed:\n{proc.stderr[-2000:]}")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res["load"] = [load, os.getloadavg()[0]]
    return res


# --- report ------------------------------------------------------------------------------


def _rng(values: list[float], fmt: str = "{:.2f}") -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "—"
    lo, hi = min(values), max(values)
    return fmt.format(lo) if lo == hi else f"{fmt.format(lo)}–{fmt.format(hi)}"


def table(results: dict[str, dict[str, list[dict]]]) -> list[str]:
    """Markdown rows: per workload, baseline and this checkout, ranges over repeats."""
    lines = [
        "| workload | code | env-steps/s | compile s | wall s | CPU util (train / whole) "
        "| ratio to baseline | load |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, by_code in results.items():
        base, this = by_code.get("baseline", []), by_code.get("this", [])
        ratios = [
            t["env_steps_per_second"] / b["env_steps_per_second"]
            for b, t in zip(base, this, strict=False)
        ]
        for label, runs in (("baseline", base), ("this", this)):
            if not runs:
                continue
            util = (
                f"{_rng([r['train_cpu_util'] * 100 for r in runs], '{:.0f}')}% / "
                f"{_rng([r['cpu_util'] * 100 for r in runs], '{:.0f}')}%"
            )
            loads = [x for r in runs for x in r["load"]]
            lines.append(
                f"| {name} | {label} | {_rng([r['env_steps_per_second'] for r in runs], '{:,.0f}')}"
                f" | {_rng([r['compile_s'] for r in runs], '{:.1f}')}"
                f" | {_rng([r['wall_s'] for r in runs], '{:.1f}')} | {util}"
                f" | {_rng(ratios) + 'x' if label == 'this' and ratios else ''}"
                f" | {_rng(loads, '{:.1f}')} |"
            )
    return lines


def learner_lines(res: dict) -> list[str]:
    """Markdown rows of the learner section."""
    lines = [
        f"learner: {res['learner_mflop_per_seed_update']:.2f} MFLOP per seed-update; "
        f"load {_rng(res['load'], '{:.1f}')}; best of {res.get('rounds', 3)} rounds each",
        "",
        "| what | GFLOP/s | CPU util |",
        "|---|---|---|",
    ]
    for k, v in res.items():
        if isinstance(v, dict):
            lines.append(f"| {k} | {v['gflops']:.1f} | {v['cpu_util'] * 100:.0f}% |")
    best_mm = max(v["gflops"] for k, v in res.items() if k.startswith("matmul_"))
    best_l = max(
        v["gflops"] for k, v in res.items() if k.startswith("learner_") and isinstance(v, dict)
    )
    lines.append(f"\nlearner / best matmul of the dominant shape: {best_l / best_mm:.2f}")
    shapes = [v["gflops"] for k, v in res.items() if k.startswith("shapes_")]
    if shapes:
        lines.append(f"learner / best matmuls of all its shapes: {best_l / max(shapes):.2f}")
    summed = [v["gflops"] for k, v in res.items() if k.startswith("summed_")]
    if summed:
        lines.append(
            f"learner / best dominant-shape dot fused with a sum (product never stored): "
            f"{best_l / max(summed):.2f}"
        )
    return lines


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--baseline", default="97aec68", help="baseline commit (default 97aec68)")
    p.add_argument("--baseline-dir", type=Path, help="an existing checkout of the baseline")
    p.add_argument(
        "--workloads", nargs="+", default=list(WORKLOADS), help="of a64 a1 b c, or 'none'"
    )
    p.add_argument("--repeats", type=int, default=2, help="A B pairs per workload")
    p.add_argument("--no-baseline", action="store_true", help="time this checkout only")
    p.add_argument("--learner", action="store_true", help="also run the learner section")
    p.add_argument("--learner-seeds", type=int, default=64)
    p.add_argument("--learner-phases", type=int, default=300)
    p.add_argument(
        "--learner-rounds",
        type=int,
        default=5,
        help="rounds that time the learner and each reference once in turn (best kept)",
    )
    p.add_argument(
        "--extra", default="", help="flags appended to every workload, e.g. '--total-steps 30000'"
    )
    p.add_argument("--xla-flags", help="XLA_FLAGS of this checkout's runs (--xla-flags=...)")
    p.add_argument("--baseline-xla-flags", help="XLA_FLAGS of the baseline's runs")
    p.add_argument("--out", type=Path, help="write speed.md and speed.json here")
    p.add_argument("--learner-worker", nargs=3, type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.learner_worker:
        print(json.dumps(learner_worker(*args.learner_worker)))
        return 0
    names = [] if args.workloads == ["none"] else args.workloads
    unknown = sorted(set(names) - set(WORKLOADS))
    if unknown:
        p.error(f"unknown workloads {unknown}; choose from {sorted(WORKLOADS)}")
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    head += " (+ uncommitted changes)" if dirty else ""
    results: dict[str, dict[str, list[dict]]] = {}
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory())
        base = args.baseline_dir
        if base is None and not args.no_baseline and names:
            base = stack.enter_context(baseline_worktree(args.baseline))
        codes = [("this", ROOT)] if args.no_baseline else [("baseline", base), ("this", ROOT)]
        for name in names:
            results[name] = {label: [] for label, _ in codes}
            for rep in range(args.repeats):
                for label, code in codes:
                    out = Path(tmp) / f"{name}-{label}-{rep}"
                    extra = {}
                    xla = args.xla_flags if label == "this" else args.baseline_xla_flags
                    if xla is not None:
                        extra["XLA_FLAGS"] = xla
                    flags = WORKLOADS[name] + args.extra.split()
                    if label == "baseline":
                        flags = for_baseline(flags)
                    r = run_workload(code, flags, out, extra)
                    results[name][label].append(r)
                    print(f"{name} {label} #{rep}: {json.dumps(r)}", flush=True)
    learner = None
    if args.learner:
        learner = run_learner(ROOT, args.learner_seeds, args.learner_phases, args.learner_rounds)
    cmd = "python benchmarks/speed.py " + shlex.join(sys.argv[1:])
    lines = [
        f"`{cmd}`",
        "",
        f"baseline {args.baseline_dir or args.baseline} vs {head}; "
        f"{CORES} cores; XLA_FLAGS baseline {args.baseline_xla_flags!r}, this "
        f"{args.xla_flags!r} (None: inherited {os.environ.get('XLA_FLAGS', '')!r})",
        "",
    ]
    if results:
        lines += table(results)
    if learner:
        lines += ["", *learner_lines(learner)]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "speed.md").write_text(text, encoding="utf-8")
        payload = {"command": cmd, "runs": results, "learner": learner, "workloads": WORKLOADS}
        (args.out / "speed.json").write_text(json.dumps(payload, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
