"""The tiny InvertedPendulum command line the CLI tests run (seconds to train)."""

from __future__ import annotations


def tiny_pendulum_args(total_steps: int = 400) -> list[str]:
    """``purejaxdqn.run`` flags for 2 seeds x ``total_steps`` env steps, evaluated every 200."""
    return [
        "--env", "InvertedPendulum-v5",
        "--seeds", "2",
        "--total-steps", str(total_steps),
        "--eval-every", "200",
        "--eval-episodes", "1",
        "--capacity", "400",
        "--batch-size", "32",
        "--learning-starts", "100",
        "--hidden", "16",
        "--target-period", "100",
        "--lr", "3e-4",
    ]  # fmt: skip
