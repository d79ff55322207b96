"""The network factory: the Q-network a :class:`~purejaxdqn.config.Config` asks for."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from purejaxdqn.config import Config, ConfigError, HyperParams
from purejaxdqn.networks.modules import QNetwork, StateActionQNetwork
from purejaxdqn.types import Params


def make_network(
    config: Config, env: Any, num_actions: int, obs_shape: tuple[int, ...]
) -> nn.Module:
    """The Q-network picked by the config: ``apply(params, obs [..., *obs_shape]) -> [..., A]``.

    Args:
      config: the config (``hidden``, ``conv``, ``norm``, ``dueling``, ``q_network``, C51
        fields).
      env: the env; for ``q_network='state_action'`` a :class:`~purejaxdqn.envs.Discretize`
        whose grid ``env.actions`` ``[A, d]`` the network scores.
      num_actions: ``A``.
      obs_shape: the shape of one observation.

    Raises:
      ConfigError: ``q_network='state_action'`` on an env without an action grid; ``conv``
        layers on observations that are not images ``[H, W, C]`` or that they shrink to
        nothing (each 3x3 ``VALID`` layer removes 2 rows and 2 columns).
    """
    if config.conv and len(obs_shape) != 3:
        raise ConfigError(
            f"conv layers need image observations [H, W, C]; {config.env} observations have "
            f"shape {tuple(obs_shape)} (use conv=[] for an MLP on flat observations)"
        )
    if config.conv and min(obs_shape[:2]) - 2 * len(config.conv) < 1:
        raise ConfigError(
            f"{len(config.conv)} conv layers (3x3, VALID) leave no pixels of {config.env}'s "
            f"{obs_shape[0]}x{obs_shape[1]} observations"
        )
    if config.q_network == "state_action":
        grid = getattr(env, "actions", None)
        if grid is None or np.shape(grid)[0] != num_actions:
            raise ConfigError(
                "q_network='state_action' needs an env with an action grid `actions` [A, d] "
                "(a Box env wrapped in Discretize)"
            )
        return StateActionQNetwork(
            action_grid=tuple(tuple(float(v) for v in row) for row in np.asarray(grid)),
            hidden=config.hidden,
            obs_ndim=len(obs_shape),
            conv=config.conv,
        )
    return QNetwork(
        num_actions=num_actions,
        hidden=config.hidden,
        obs_ndim=len(obs_shape),
        conv=config.conv,
        dueling=config.dueling,
        num_atoms=config.num_atoms if config.distributional else 0,
        v_min=config.v_min,
        v_max=config.v_max,
        norm=config.norm,
    )


def with_support(config: Config, params: Params, hp: HyperParams) -> Params:
    """For C51, the variables with the support ``z`` set; else ``params`` unchanged.

    The support is ``linspace(hp.v_min, hp.v_max, num_atoms)`` (traced, so sweepable).
    """
    if not config.distributional:
        return params
    z = jnp.linspace(hp.v_min, hp.v_max, config.num_atoms)
    return {**params, "support": {"z": z}}
