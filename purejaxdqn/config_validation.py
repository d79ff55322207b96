"""Validation of a :class:`~purejaxdqn.config.Config`: one-line errors naming the field.

Called by ``Config.__post_init__``, so no invalid config exists; algorithm-specific rules
beyond these live beside the algorithm (e.g. :mod:`purejaxdqn.pqn.checks`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from purejaxdqn.config import (
    ALGORITHMS,
    NORMS,
    OPTIMIZERS,
    Q_NETWORKS,
    REPLAY_OBS_DTYPES,
    TD_LOSSES,
    ConfigError,
    is_int,
    traced_field_names,
)

if TYPE_CHECKING:
    from purejaxdqn.config import Config

__all__ = ["validate"]


def _positive(cfg: Config, *names: str) -> None:
    for n in names:
        v = getattr(cfg, n)
        if not is_int(v) or v <= 0:
            raise ConfigError(f"{n} must be a positive integer, got {v!r}")


def validate(cfg: Config) -> None:
    """Raises :class:`ConfigError` naming the field for any invalid value."""
    if not isinstance(cfg.env, str) or not cfg.env:
        raise ConfigError(f"env must be a non-empty string, got {cfg.env!r}")
    _positive(
        cfg,
        "total_steps",
        "num_envs",
        "capacity",
        "batch_size",
        "train_every",
        "gradient_steps",
        "target_period",
        "eval_every",
        "eval_episodes",
        "n_step",
    )
    if not is_int(cfg.learning_starts) or cfg.learning_starts < 0:
        raise ConfigError(f"learning_starts must be an integer >= 0, got {cfg.learning_starts!r}")
    if not is_int(cfg.bins) or cfg.bins < 2:
        raise ConfigError(f"bins must be an integer >= 2, got {cfg.bins!r}")
    if not cfg.hidden or any(h <= 0 for h in cfg.hidden):
        raise ConfigError(f"hidden must be a non-empty list of positive widths, got {cfg.hidden}")
    if any(c <= 0 for c in cfg.conv):
        raise ConfigError(f"conv must be a list of positive channel counts, got {cfg.conv}")
    for name in ("double_q", "dueling", "prioritized", "distributional"):
        if not isinstance(getattr(cfg, name), bool):
            raise ConfigError(f"{name} must be true or false, got {getattr(cfg, name)!r}")
    if cfg.q_network not in Q_NETWORKS:
        raise ConfigError(f"q_network must be one of {list(Q_NETWORKS)}, got {cfg.q_network!r}")
    if cfg.q_network == "state_action" and cfg.dueling:
        raise ConfigError("dueling needs q_network='per_action' (Q(s, a) has no per-action head)")
    if cfg.q_network == "state_action" and cfg.distributional:
        raise ConfigError("distributional needs q_network='per_action' (Q(s, a) is a scalar)")
    if not isinstance(cfg.num_atoms, int) or cfg.num_atoms < 2:
        raise ConfigError(f"num_atoms must be an integer >= 2, got {cfg.num_atoms!r}")
    if cfg.replay_obs_dtype not in REPLAY_OBS_DTYPES:
        raise ConfigError(
            f"replay_obs_dtype must be one of {list(REPLAY_OBS_DTYPES)}, "
            f"got {cfg.replay_obs_dtype!r}"
        )
    if cfg.loss not in TD_LOSSES:
        raise ConfigError(f"loss must be one of {list(TD_LOSSES)}, got {cfg.loss!r}")
    if cfg.optimizer not in OPTIMIZERS:
        raise ConfigError(f"optimizer must be one of {list(OPTIMIZERS)}, got {cfg.optimizer!r}")
    if cfg.batch_size > cfg.capacity:
        raise ConfigError(f"batch_size ({cfg.batch_size}) must be <= capacity ({cfg.capacity})")
    if cfg.learning_starts < cfg.batch_size:
        raise ConfigError(
            f"learning_starts ({cfg.learning_starts}) must be >= batch_size ({cfg.batch_size})"
        )
    if cfg.n_step > 1 and cfg.learning_starts < cfg.n_step * cfg.num_envs:
        raise ConfigError(
            f"learning_starts ({cfg.learning_starts}) must be >= n_step * num_envs "
            f"({cfg.n_step * cfg.num_envs}) so that every env has a full n-step sequence"
        )
    if not isinstance(cfg.per_rebuild_period, int) or cfg.per_rebuild_period < 0:
        raise ConfigError(
            f"per_rebuild_period must be an integer >= 0, got {cfg.per_rebuild_period!r}"
        )
    if cfg.capacity // cfg.num_envs < cfg.n_step:
        raise ConfigError(f"n_step ({cfg.n_step}) must be <= capacity // num_envs")
    if cfg.algorithm not in ALGORITHMS:
        raise ConfigError(f"algorithm must be one of {list(ALGORITHMS)}, got {cfg.algorithm!r}")
    if cfg.norm not in NORMS:
        raise ConfigError(f"norm must be one of {list(NORMS)}, got {cfg.norm!r}")
    if cfg.norm != "none" and cfg.q_network == "state_action":
        raise ConfigError("norm needs q_network='per_action' (the Q(s, a) MLP has no norm option)")
    if cfg.algorithm == "pqn":
        from purejaxdqn.pqn.checks import validate_pqn  # imports this module

        validate_pqn(cfg)
    elif cfg.norm == "batch":
        raise ConfigError("norm='batch' needs algorithm='pqn' (DQN keeps no batch statistics)")
    for name in (
        ()
        if cfg.algorithm == "pqn"
        else (
            "total_steps",
            "eval_every",
            "target_period",
            "train_every",
            "learning_starts",
            "per_rebuild_period",
        )
    ):
        v = getattr(cfg, name)
        if name == "per_rebuild_period" and not (cfg.prioritized and v):
            continue
        if v % cfg.num_envs and not (name == "train_every" and cfg.num_envs % v == 0):
            raise ConfigError(
                f"{name} ({v}) must be a multiple of num_envs ({cfg.num_envs})"
                + (" or divide it" if name == "train_every" else "")
            )
    if cfg.total_steps % cfg.eval_every:
        raise ConfigError(
            f"total_steps ({cfg.total_steps}) must be a multiple of eval_every ({cfg.eval_every})"
        )
    for name in traced_field_names():
        v = getattr(cfg, name)
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ConfigError(f"{name} must be a number, got {v!r}")
    for name in (
        "gamma",
        "eps_start",
        "eps_end",
        "tau",
        "rms_decay",
        "lr_end_fraction",
        "per_alpha",
        "per_beta_start",
    ):
        v = getattr(cfg, name)
        if not 0.0 <= v <= 1.0:
            raise ConfigError(f"{name} must be in [0, 1], got {v!r}")
    if not 0.0 <= cfg.rms_momentum < 1.0:
        raise ConfigError(f"rms_momentum must be in [0, 1), got {cfg.rms_momentum!r}")
    if cfg.tau == 0.0:
        raise ConfigError("tau must be in (0, 1]: tau = 0 never updates the target network")
    for name in ("lr", "huber_delta", "max_grad_norm", "rms_eps", "adam_eps", "per_eps"):
        v = getattr(cfg, name)
        if not v > 0:
            raise ConfigError(f"{name} must be > 0, got {v!r}")
    if not cfg.exploration_steps >= 0:
        raise ConfigError(f"exploration_steps must be >= 0, got {cfg.exploration_steps!r}")
    for name in traced_field_names():
        v = getattr(cfg, name)
        if name not in ("max_grad_norm", "huber_delta") and not math.isfinite(v):
            raise ConfigError(f"{name} must be finite, got {v!r}")
    if not cfg.v_min < cfg.v_max:
        raise ConfigError(f"v_min ({cfg.v_min}) must be < v_max ({cfg.v_max})")
