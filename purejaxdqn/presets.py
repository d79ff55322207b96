"""Per-env presets: the config overrides each (algorithm, env) starts from; solve thresholds."""

from __future__ import annotations

from typing import Any

from purejaxdqn.config import Config
from purejaxdqn.config_checks import derived_eval_every

# Per-environment presets: overrides of the defaults above, tuned on this project's CPU.
_CLASSIC_CONTROL: dict[str, Any] = {
    "hidden": (64, 64),
    "capacity": 50_000,
    "batch_size": 64,
    "lr_end_fraction": 1.0,
    "exploration_steps": 20_000,
    "huber_delta": 10.0,
}

PRESETS: dict[str, dict[str, Any]] = {
    "InvertedPendulum-v5": {},
    "InvertedPendulum-v4": {"env": "InvertedPendulum-v4"},
    # Measured: 16 seeds, final greedy return IQM in the README.
    "CartPole-v1": {
        **_CLASSIC_CONTROL,
        "env": "CartPole-v1",
        "total_steps": 200_000,
        "eval_every": 20_000,
        "lr": 5e-4,
        "gamma": 0.98,
    },
    # Not yet tuned.
    "Acrobot-v1": {
        **_CLASSIC_CONTROL,
        "env": "Acrobot-v1",
        "total_steps": 200_000,
        "eval_every": 20_000,
        "lr": 5e-4,
        "gamma": 0.99,
        "huber_delta": 30.0,
    },
    "MountainCar-v0": {
        **_CLASSIC_CONTROL,
        "env": "MountainCar-v0",
        "total_steps": 300_000,
        "eval_every": 20_000,
        "lr": 5e-4,
        "gamma": 0.99,
        "exploration_steps": 100_000,
        "huber_delta": 30.0,
    },
}

# The MinAtar paper's DQN (Young & Tian 2019; kenjyoung/MinAtar examples/dqn.py): one 3x3
# conv of 16 channels, 128 hidden units, replay 100k, batch 32, one update per frame after
# 5k frames, target copy every 1k, PyTorch's centered RMSprop (lr 2.5e-4, alpha 0.95, eps
# 0.01, momentum 0.95), Huber loss, gamma 0.99, epsilon 1 -> 0.1, 5M frames. Deviation: our
# epsilon decays from frame 0 over 105k frames (the paper's is 1 for 5k frames, then decays
# over 100k), so it is 0.957 when learning starts and 0.1 from the same frame on. Replay
# stores the observations as uint8: MinAtar's planes are 0/1, so training is bit-identical
# with a quarter of float32's memory (320 MB -> 80 MB per seed for obs and next obs).
_MINATAR: dict[str, Any] = {
    "conv": (16,),
    "hidden": (128,),
    "total_steps": 5_000_000,
    "num_envs": 1,
    "capacity": 100_000,
    "replay_obs_dtype": "uint8",
    "batch_size": 32,
    "learning_starts": 5_000,
    "train_every": 1,
    "gradient_steps": 1,
    "target_period": 1_000,
    "eval_every": 100_000,
    "eval_episodes": 8,
    "loss": "huber",
    "huber_delta": 1.0,
    "optimizer": "rmsprop_torch",
    "lr": 2.5e-4,
    "lr_end_fraction": 1.0,
    "rms_decay": 0.95,
    "rms_eps": 0.01,
    "rms_momentum": 0.95,
    "max_grad_norm": float("inf"),
    "gamma": 0.99,
    "eps_start": 1.0,
    "eps_end": 0.1,
    "exploration_steps": 105_000,
}
MINATAR_GAMES = ("Breakout", "SpaceInvaders", "Asterix", "Freeway", "Seaquest")
PRESETS.update({f"{game}-MinAtar": dict(_MINATAR) for game in MINATAR_GAMES})

# PQN (algorithm="pqn"), from purejaxql's config/alg/pqn_cartpole.yaml (CartPole-v1 and,
# with ENV_NAME changed, Acrobot-v1) and pqn_minatar.yaml; README "PQN" lists each difference.
# Budgets are whole rollouts with 20 evaluations (purejaxql tests every 5% of its updates):
# 240 rollouts of 32 x 64 (purejaxql: 5e5 // 2048 = 244) and 2440 of 128 x 32 (2441).
_PQN_CLASSIC: dict[str, Any] = {
    "algorithm": "pqn",
    "total_steps": 491_520,
    "eval_every": 24_576,
    "num_envs": 32,
    "num_steps": 64,
    "num_minibatches": 16,
    "num_epochs": 4,
    "hidden": (256, 256),
    "norm": "layer",
    "loss": "l2",
    "optimizer": "radam",
    "lr": 1e-4,
    "lr_end_fraction": 0.0,
    "max_grad_norm": 10.0,
    "reward_scale": 0.1,
    "gamma": 0.99,
    "lam": 0.95,
    "eps_start": 1.0,
    "eps_end": 0.2,
    "exploration_steps": 100_000,
}
_PQN_MINATAR: dict[str, Any] = {
    **_PQN_CLASSIC,
    "total_steps": 9_994_240,
    "eval_every": 499_712,
    "num_envs": 128,
    "num_steps": 32,
    "num_minibatches": 32,
    "num_epochs": 2,
    "conv": (16,),
    "hidden": (128,),
    "lr": 5e-4,
    "reward_scale": 1.0,
    "lam": 0.65,
    "eps_end": 0.05,
    "exploration_steps": 1_000_000,
}
PQN_PRESETS: dict[str, dict[str, Any]] = {
    "CartPole-v1": {**_PQN_CLASSIC, "env": "CartPole-v1"},
    "Acrobot-v1": {**_PQN_CLASSIC, "env": "Acrobot-v1"},
    **{f"{game}-MinAtar": dict(_PQN_MINATAR) for game in MINATAR_GAMES},
}

# Final greedy return at or above which a seed counts as solved (gymnasium's reward_threshold).
REWARD_THRESHOLDS: dict[str, float] = {
    "InvertedPendulum-v5": 950.0,
    "InvertedPendulum-v4": 950.0,
    "CartPole-v1": 475.0,
    "Acrobot-v1": -100.0,
    "MountainCar-v0": -110.0,
}


def preset_overrides(env: str, algorithm: str = "dqn") -> dict[str, Any]:
    """The preset fields of ``(algorithm, env)``.

    DQN: :data:`PRESETS`; PQN: :data:`PQN_PRESETS` (for an env without one: nothing, the
    defaults, whose budgets then must be given in whole rollouts).
    """
    if algorithm == "pqn":
        return dict(PQN_PRESETS.get(env, {}))
    return dict(PRESETS.get(env, {}))


def eval_granularity(fields: dict[str, Any]) -> Any:
    """The env steps that ``eval_every`` must be a multiple of, from config ``fields``.

    A vector step of ``num_envs`` (DQN) or a rollout of ``num_envs x num_steps`` (PQN);
    defaults where ``fields`` has none.
    """
    num_envs = fields.get("num_envs", Config.num_envs)
    if fields.get("algorithm", Config.algorithm) != "pqn":
        return num_envs
    num_steps = fields.get("num_steps", Config.num_steps)
    both_int = all(isinstance(v, int) and not isinstance(v, bool) for v in (num_envs, num_steps))
    return num_envs * num_steps if both_int else num_envs


def preset(env: str, **overrides: Any) -> Config:
    """The preset config for ``env`` (defaults for envs without one) with ``overrides``.

    ``algorithm="pqn"`` among the overrides picks the PQN preset. Without an ``eval_every``
    override it is derived from ``total_steps`` as on the command line
    (:func:`purejaxdqn.config_checks.derived_eval_every`).
    """
    base = preset_overrides(env, overrides.get("algorithm", "dqn"))
    base["env"] = env
    ref_total = base.get("total_steps", Config.total_steps)
    ref_every = base.get("eval_every", Config.eval_every)
    base.update(overrides)
    if "eval_every" not in overrides:
        base["eval_every"] = derived_eval_every(
            base.get("total_steps", ref_total), eval_granularity(base), ref_total, ref_every,
        )  # fmt: skip
    return Config.from_dict(base)
