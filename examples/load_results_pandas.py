"""A run's results as pandas tables: metrics.csv, summary.json and config.json.

    python examples/load_results_pandas.py runs/CartPole-v1-<time>   # a finished run directory
    PUREJAXDQN_EXAMPLE_TINY=1 python examples/load_results_pandas.py  # trains a tiny run first

Every run directory holds ``metrics.csv`` (one row per seed per evaluation: ``seed``,
``env_steps``, ``eval_return``, ``loss``, ``q_mean``, ``epsilon``, ...), ``summary.json`` and
``config.json``; this reads them with ``pandas.read_csv`` and ``json`` directly. (A
``purejaxdqn.load_run`` helper returning these tables is planned; until then this is the way.)
"""

import json
import os
import sys
import tempfile
from pathlib import Path

import pandas as pd

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
    metrics = pd.read_csv(run_dir / "metrics.csv")
    summary = json.loads((run_dir / "summary.json").read_text())
    config = json.loads((run_dir / "config.json").read_text())
    print(f"{run_dir}: {config['env']}, {metrics['seed'].nunique()} seeds")
    curve = metrics.groupby("env_steps")["eval_return"].describe()[["mean", "25%", "50%", "75%"]]
    print(curve.to_string(float_format="{:.1f}".format))
    final = metrics[metrics["env_steps"] == metrics["env_steps"].max()]
    print("final greedy return per seed:", final.set_index("seed")["eval_return"].round(1).tolist())
    print(f"IQM {summary['final_return_iqm']:.1f}, 95% CI {summary['final_return_ci95']}")


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
