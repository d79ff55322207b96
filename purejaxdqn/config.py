"""The DQN config: one frozen dataclass whose fields are either static or traced.

*Static* fields fix shapes, sizes and counts: changing one needs a new compiled program.
*Traced* fields (learning rate, discount, exploration, target mixing, ...) enter the program
as arrays, so a sweep over them is a ``jax.vmap`` of the same program (see
:class:`HyperParams`).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

import chex
import jax.numpy as jnp

REPLAY_OBS_DTYPES = ("float32", "bfloat16", "uint8", "bool")
Q_NETWORKS = ("per_action", "state_action")
TD_LOSSES = ("huber", "l2")
OPTIMIZERS = ("adam", "rmsprop", "rmsprop_torch", "radam")
ALGORITHMS = ("dqn", "pqn")
NORMS = ("none", "layer", "batch")
# Names older config files use, and what they mean now.
_ALIASES = {"mlp": "per_action", "mse": "l2"}


def _static(default: Any, help: str) -> Any:
    return dataclasses.field(default=default, metadata={"traced": False, "help": help})


def _traced(default: float, help: str) -> Any:
    return dataclasses.field(default=default, metadata={"traced": True, "help": help})


class ConfigError(ValueError):
    """An invalid config value, raised before anything is compiled."""


@dataclasses.dataclass(frozen=True)
class Config:
    """Everything a run needs; sizes and counts are in env steps *per seed*.

    Defaults suit the default env, InvertedPendulum-v5; :mod:`purejaxdqn.presets` holds the
    other envs' (why the presets set ``huber_delta`` on the scale of the returns:
    ``docs/architecture.md``). String options have aliases kept for old config files:
    ``q_network='mlp'`` is ``'per_action'``, ``loss='mse'`` is ``'l2'``.
    """

    # --- algorithm -----------------------------------------------------------------------
    algorithm: str = _static(
        "dqn",
        "'dqn' (replay, target network) or 'pqn' (Gallici et al. 2025: Q(lambda) on rollouts "
        "of num_envs x num_steps, num_epochs x num_minibatches updates per rollout, no replay "
        "and no target network; the replay and target fields are then unused)",
    )
    # --- environment ---------------------------------------------------------------------
    env: str = _static("InvertedPendulum-v5", "environment name (see purejaxdqn.envs.make)")
    env_kwargs: dict[str, Any] = dataclasses.field(
        default_factory=dict,
        metadata={
            "traced": False,
            "help": "keyword arguments for the env factory, a JSON object: the pendulum's "
            '{"backend": "mjx"}, a Brax env\'s {"backend": "generalized"}, gymnax kwargs',
        },
    )
    bins: int = _static(5, "actions per dimension when a Box action space is discretized")
    # --- run length and data collection ----------------------------------------------------
    total_steps: int = _static(100_000, "env steps per seed")
    num_envs: int = _static(4, "parallel envs per seed")
    # --- PQN rollouts and updates (algorithm='pqn') -----------------------------------------
    num_steps: int = _static(64, "PQN: vector steps per rollout (each of num_envs envs)")
    num_epochs: int = _static(4, "PQN: passes over each rollout's num_envs x num_steps batch")
    num_minibatches: int = _static(16, "PQN: minibatches per pass (must divide the rollout)")
    # --- replay --------------------------------------------------------------------------
    capacity: int = _static(100_000, "replay capacity in transitions")
    batch_size: int = _static(128, "transitions per gradient step")
    replay_obs_dtype: str = _static(
        "float32",
        "dtype observations are stored in replay: float32, bfloat16, uint8 or bool (a quarter "
        "of the memory; exact only for observations those hold exactly, e.g. MinAtar's 0/1 "
        "planes); the network sees float32 either way",
    )
    learning_starts: int = _static(1_000, "env steps before the first update")
    train_every: int = _static(4, "env steps between learning phases")
    gradient_steps: int = _static(1, "gradient steps per learning phase")
    n_step: int = _static(
        1,
        "n-step returns: bootstrap after n transitions, cut at an episode end (no bootstrap "
        "after a termination, bootstrap from a truncated episode's final obs)",
    )
    prioritized: bool = _static(
        False,
        "prioritized replay (Flashbax sum tree): P(i) ~ (|td| + per_eps)^per_alpha, importance "
        "weights with beta annealed from per_beta_start to 1 over the run",
    )
    per_rebuild_period: int = _static(
        10_000,
        "env steps between rebuilds of the float32 sum tree from its leaves (removes the "
        "drift of Flashbax's incremental updates); 0 = never",
    )
    # --- network and loss ----------------------------------------------------------------
    hidden: tuple[int, ...] = _static((32, 32), "hidden layer widths of the Q-network MLP")
    conv: tuple[int, ...] = _static(
        (),
        "channels of 3x3 stride-1 'VALID' conv layers before the MLP, for image observations "
        "[H, W, C] (the MinAtar paper's DQN: [16] with hidden [128]); empty = no conv torso",
    )
    norm: str = _static(
        "none",
        "normalisation after each hidden layer (and conv), before its ReLU: 'none', 'layer' "
        "(LayerNorm) or 'batch' (BatchNorm: batch statistics while learning, running averages "
        "when acting; algorithm='pqn' only)",
    )
    double_q: bool = _static(False, "Double DQN: online net selects, target net evaluates")
    dueling: bool = _static(False, "dueling head: Q = V + A - mean_a A on a shared torso")
    q_network: str = _static(
        "per_action",
        "'per_action': one output per action (after the conv torso, if any); 'state_action': a "
        "Q(s, a) MLP scoring the bins**d grid of a Box action space in one vectorized call "
        "(bins=1000 for fine actions)",
    )
    loss: str = _static("huber", "TD loss: 'huber' (Nature DQN error clipping) or 'l2' (x^2/2)")
    optimizer: str = _static(
        "adam",
        "'adam'; 'radam' (rectified Adam, PQN's); 'rmsprop': the Nature/Roderick centered "
        "RMSProp (eps inside the sqrt); "
        "'rmsprop_torch': PyTorch's centered RMSprop (eps outside the sqrt), as in the MinAtar "
        "paper's DQN",
    )
    distributional: bool = _static(
        False, "C51: a categorical return distribution on num_atoms atoms in [v_min, v_max]"
    )
    num_atoms: int = _static(51, "C51 atoms (distributional=true)")
    # --- target network -------------------------------------------------------------------
    target_period: int = _static(500, "env steps between target-network updates")
    # --- evaluation ----------------------------------------------------------------------
    eval_every: int = _static(5_000, "env steps between greedy evaluations")
    eval_episodes: int = _static(8, "fresh episodes per greedy evaluation")
    # --- traced hyperparameters ----------------------------------------------------------
    lam: float = _traced(0.95, "PQN: lambda of the Q(lambda) returns (0: one-step, 1: Monte Carlo)")
    reward_scale: float = _traced(1.0, "PQN: rewards are multiplied by this for learning")
    lr: float = _traced(3e-3, "learning rate")
    lr_end_fraction: float = _traced(0.1, "final lr as a fraction of lr (linear decay; 1 = off)")
    gamma: float = _traced(0.97, "discount factor")
    eps_start: float = _traced(1.0, "initial exploration epsilon")
    eps_end: float = _traced(0.05, "final exploration epsilon")
    exploration_steps: float = _traced(10_000, "env steps of the linear epsilon decay")
    tau: float = _traced(1.0, "target update mixing: 1.0 = hard copy, <1 = Polyak averaging")
    huber_delta: float = _traced(30.0, "Huber threshold (Nature DQN: 1.0, for rewards in [-1, 1])")
    max_grad_norm: float = _traced(10.0, "global-norm gradient clipping (inf = off)")
    rms_decay: float = _traced(0.95, "RMSProp decay of both averages (rmsprop optimizers)")
    rms_eps: float = _traced(
        0.01, "RMSProp epsilon: inside the sqrt ('rmsprop'), outside it ('rmsprop_torch')"
    )
    rms_momentum: float = _traced(
        0.0, "RMSProp heavy-ball momentum on the scaled gradient (MinAtar's DQN: 0.95)"
    )
    adam_eps: float = _traced(1e-8, "Adam epsilon (optimizer='adam' or 'radam')")
    per_alpha: float = _traced(0.6, "prioritized replay: priority exponent alpha (0 = uniform)")
    per_beta_start: float = _traced(
        0.4, "prioritized replay: initial importance exponent beta, annealed linearly to 1"
    )
    per_eps: float = _traced(1e-6, "prioritized replay: added to |td| so no priority is 0")
    v_min: float = _traced(-10.0, "C51: lowest atom of the return support")
    v_max: float = _traced(60.0, "C51: highest atom (classic-control returns at gamma ~0.97)")

    # ------------------------------------------------------------------------------------
    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", _int_tuple("hidden", self.hidden))
        object.__setattr__(self, "conv", _int_tuple("conv", self.conv))
        for name in ("q_network", "loss"):
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, _ALIASES.get(value, value))
        if not isinstance(self.env_kwargs, Mapping) or not all(
            isinstance(k, str) for k in self.env_kwargs
        ):
            raise ConfigError(f"env_kwargs must be a JSON object, got {self.env_kwargs!r}")
        object.__setattr__(self, "env_kwargs", dict(self.env_kwargs))
        from purejaxdqn.config_validation import validate  # it needs the names above

        validate(self)

    @property
    def iterations(self) -> int:
        """Scan iterations (one vector step of ``num_envs`` envs each)."""
        return self.total_steps // self.num_envs

    @property
    def num_evals(self) -> int:
        """Evaluation points after the initial one."""
        return self.total_steps // self.eval_every

    def replace(self, **changes: Any) -> Config:
        """A copy with ``changes`` applied (and validated)."""
        unknown = sorted(set(changes) - set(field_names()))
        if unknown:
            raise ConfigError(f"unknown config field(s) {unknown}; known: {field_names()}")
        return dataclasses.replace(self, **changes)

    def hyperparams(self) -> HyperParams:
        """The traced fields as a pytree of float32 scalars."""
        return HyperParams(**{n: jnp.float32(getattr(self, n)) for n in traced_field_names()})

    def to_dict(self) -> dict[str, Any]:
        """The config as a JSON-able dict (layer widths as lists, ``env_kwargs`` a plain dict)."""
        d = dataclasses.asdict(self)
        d["hidden"] = list(self.hidden)
        d["conv"] = list(self.conv)
        d["env_kwargs"] = dict(self.env_kwargs)
        return d

    def to_json(self) -> str:
        """The config as a JSON string (keys sorted), as ``config.json`` holds it."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Config:
        """The config with the fields in ``d`` (validated; an unknown key is a ConfigError)."""
        unknown = sorted(set(d) - set(field_names()))
        if unknown:
            raise ConfigError(f"unknown config field(s) {unknown}; known: {field_names()}")
        return cls(**d)


@chex.dataclass(frozen=True)
class HyperParams:
    """The traced config fields: a pytree of scalars (or of ``[N]`` arrays for a sweep)."""

    lam: chex.Array
    reward_scale: chex.Array
    lr: chex.Array
    lr_end_fraction: chex.Array
    gamma: chex.Array
    eps_start: chex.Array
    eps_end: chex.Array
    exploration_steps: chex.Array
    tau: chex.Array
    huber_delta: chex.Array
    max_grad_norm: chex.Array
    rms_decay: chex.Array
    rms_eps: chex.Array
    rms_momentum: chex.Array
    adam_eps: chex.Array
    per_alpha: chex.Array
    per_beta_start: chex.Array
    per_eps: chex.Array
    v_min: chex.Array
    v_max: chex.Array


def field_names() -> list[str]:
    """Names of all :class:`Config` fields, in declaration order."""
    return [f.name for f in dataclasses.fields(Config)]


def traced_field_names() -> list[str]:
    """Names of the traced :class:`Config` fields (those of :class:`HyperParams`)."""
    return [f.name for f in dataclasses.fields(Config) if f.metadata["traced"]]


def static_field_names() -> list[str]:
    """Names of the static (not traced) :class:`Config` fields."""
    return [f.name for f in dataclasses.fields(Config) if not f.metadata["traced"]]


def field_help(name: str) -> str:
    """The help text of the :class:`Config` field ``name``."""
    return {f.name: f.metadata["help"] for f in dataclasses.fields(Config)}[name]


def is_int(v: Any) -> bool:
    """Whether ``v`` is an ``int`` (a ``bool`` is not)."""
    return isinstance(v, int) and not isinstance(v, bool)


def _int_tuple(name: str, value: Any) -> tuple[int, ...]:
    """A layer-width field (``hidden``, ``conv``) as a tuple of ints.

    The value is a single int or a list of ints (not a string).
    """
    if is_int(value):
        return (value,)
    if isinstance(value, list | tuple) and all(is_int(h) for h in value):
        return tuple(value)
    raise ConfigError(f"{name} must be a list of positive integers (e.g. [64, 64]), got {value!r}")
