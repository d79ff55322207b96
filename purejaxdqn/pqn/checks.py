"""Config checks of ``algorithm='pqn'`` (called by :func:`purejaxdqn.config.validate`)."""

from __future__ import annotations

from typing import Any

#: DQN options PQN has no counterpart for, with the value that leaves them off.
_DQN_ONLY = {
    "double_q": (False, "PQN has no target network"),
    "prioritized": (False, "PQN has no replay"),
    "distributional": (False, "PQN learns Q-values, not C51 distributions"),
    "n_step": (1, "PQN's Q(lambda) returns replace n-step returns (set lam)"),
}


def _positive_int(cfg: Any, name: str) -> int:
    from purejaxdqn.config import ConfigError, is_int

    v = getattr(cfg, name)
    if not is_int(v) or v <= 0:
        raise ConfigError(f"{name} must be a positive integer, got {v!r}")
    return int(v)


def validate_pqn(cfg: Any) -> None:
    """Raises :class:`~purejaxdqn.config.ConfigError` (one line) for a config PQN cannot run.

    The rollout ``num_envs x num_steps`` must split into ``num_minibatches`` equal
    minibatches, and ``eval_every`` (hence ``total_steps``) must be whole rollouts. DQN's
    replay and target-network fields are unused; the DQN options without a PQN counterpart
    are refused when switched on.
    """
    from purejaxdqn.config import ConfigError

    for name, (off, why) in _DQN_ONLY.items():
        if getattr(cfg, name) != off:
            raise ConfigError(
                f"{name}={getattr(cfg, name)!r} is not available with algorithm='pqn': {why}"
            )
    for name in ("num_envs", "num_steps", "num_epochs", "num_minibatches", "eval_every"):
        _positive_int(cfg, name)
    rollout = cfg.num_envs * cfg.num_steps
    if rollout % cfg.num_minibatches:
        raise ConfigError(
            f"num_minibatches ({cfg.num_minibatches}) must divide num_envs x num_steps "
            f"({cfg.num_envs} x {cfg.num_steps} = {rollout})"
        )
    if cfg.eval_every % rollout:
        raise ConfigError(
            f"eval_every ({cfg.eval_every}) must be a multiple of num_envs x num_steps ({rollout})"
        )
    if isinstance(cfg.lam, int | float) and not 0.0 <= cfg.lam <= 1.0:
        raise ConfigError(f"lam must be in [0, 1], got {cfg.lam!r}")
    if isinstance(cfg.reward_scale, int | float) and not cfg.reward_scale > 0:
        raise ConfigError(f"reward_scale must be > 0, got {cfg.reward_scale!r}")
