"""A run's results as pandas tables (``purejaxdqn.load_run``), and scores for rliable.

    python examples/load_results_pandas.py runs/CartPole-v1-<time>   # a finished run directory
    PUREJAXDQN_EXAMPLE_TINY=1 python examples/load_results_pandas.py  # trains a tiny run first

Every run directory holds ``metrics.csv`` (one row per seed per evaluation: ``seed``,
``env_steps``, ``eval_return``, ``loss``, ``q_mean``, ``epsilon``, ...), ``summary.json`` and
``config.json``; ``purejaxdqn.load_run`` returns them as tidy tables (``load_sweep`` does the
same for a sweep, one ``point`` per row), and ``purejaxdqn.results.export_scores`` writes the
final scores in the layout rliable reads.
"""

import json
import os
import sys
import tempfile
from pathlib import Path

TINY = os.environ.get("PUREJAXDQN_EXAMPLE_TINY") == "1"
TINY_FLAGS = ["--env", "CartPole-v1", "--seeds", "2", "--total-steps", "400", "--eval-every",
              "200", "--eval-episodes", "1", "--capacity", "400", "--batch-size", "32",
              "--learning-starts", "100", "--hidden", "16", "--target-period", "100"]  # fmt: skip


def tiny_run(out: Path) -> Path:
    """Trains a tiny CartPole run with the command line's entry point into ``out``."""
    from purejaxdqn import run

    code = run.main([*TINY_FLAGS, "--quiet", "--out", str(out)])
    if code != 0:
        raise SystemExit(code)
    return out


def summarize(run_dir: Path) -> None:
    """Prints the learning curve (mean and quartiles over seeds) and the summary."""
    import numpy as np

    import purejaxdqn
    from purejaxdqn.results import export_scores

    results = purejaxdqn.load_run(run_dir)
    metrics, summary = results.metrics, results.summary.iloc[0]
    config = json.loads((run_dir / "config.json").read_text())
    print(f"{run_dir}: {config['env']}, {metrics['seed'].nunique()} seeds")
    curve = metrics.groupby("env_steps")["eval_return"].describe()[["mean", "25%", "50%", "75%"]]
    print(curve.to_string(float_format="{:.1f}".format))
    final = metrics[metrics["env_steps"] == metrics["env_steps"].max()]
    print("final greedy return per seed:", final.set_index("seed")["eval_return"].round(1).tolist())
    low, high = summary["final_return_ci95_low"], summary["final_return_ci95_high"]
    print(f"IQM {summary['final_return_iqm']:.1f}, 95% CI [{low:.1f}, {high:.1f}]")
    with tempfile.TemporaryDirectory() as tmp:
        export_scores([run_dir], rliable=Path(tmp) / "scores.npz")
        with np.load(Path(tmp) / "scores.npz") as scores:
            print("rliable scores:", {k: scores[k].shape for k in scores.files})


def main() -> None:
    """Reads the run directory given, or trains a tiny run in a temporary one (TINY)."""
    if len(sys.argv) > 1:
        summarize(Path(sys.argv[1]))
    elif TINY:
        with tempfile.TemporaryDirectory() as tmp:
            summarize(tiny_run(Path(tmp) / "run"))
    else:
        raise SystemExit(f"usage: python {sys.argv[0]} RUN_DIR (or set PUREJAXDQN_EXAMPLE_TINY=1)")


if __name__ == "__main__":
    main()
