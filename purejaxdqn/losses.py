"""TD errors and losses: rlax-style functions of one transition, and their batch means.

Names follow rlax: ``q_tm1`` are the Q-values at the state where action ``a_tm1`` was taken,
``r_t`` and ``discount_t`` the reward and discount of the transition (``discount_t`` is
``gamma * (1 - terminated)``: zero after a termination, ``gamma`` after a time-limit
truncation so the value of the truncated state is bootstrapped), ``q_t`` the target
network's Q-values at the next state.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp


def q_learning_target(r_t: chex.Array, discount_t: chex.Array, q_t: chex.Array) -> chex.Array:
    """The one-step Q-learning target ``r_t + discount_t * max_a q_t[a]``.

    Args:
      r_t: reward, shape ``[]``.
      discount_t: discount, shape ``[]``.
      q_t: next-state Q-values, shape ``[A]``.

    Returns:
      The target with its gradient stopped, shape ``[]``.
    """
    chex.assert_rank([r_t, discount_t, q_t], [0, 0, 1])
    return jax.lax.stop_gradient(r_t + discount_t * jnp.max(q_t))


def q_learning_td_error(
    q_tm1: chex.Array,
    a_tm1: chex.Array,
    r_t: chex.Array,
    discount_t: chex.Array,
    q_t: chex.Array,
) -> chex.Array:
    """The Q-learning TD error ``target - q_tm1[a_tm1]``.

    Args:
      q_tm1: Q-values at the first state, shape ``[A]``.
      a_tm1: action taken, shape ``[]`` (int).
      r_t: reward, shape ``[]``.
      discount_t: discount, shape ``[]``.
      q_t: target-network Q-values at the next state, shape ``[A]``.

    Returns:
      The TD error, shape ``[]``.
    """
    chex.assert_rank([q_tm1, a_tm1], [1, 0])
    return q_learning_target(r_t, discount_t, q_t) - q_tm1[a_tm1]


def double_q_learning_td_error(
    q_tm1: chex.Array,
    a_tm1: chex.Array,
    r_t: chex.Array,
    discount_t: chex.Array,
    q_t_value: chex.Array,
    q_t_selector: chex.Array,
) -> chex.Array:
    """The Double DQN TD error (van Hasselt et al. 2016).

    The online network picks the next action, the target network values it:
    ``r_t + discount_t * q_t_value[argmax q_t_selector] - q_tm1[a_tm1]``.

    Args:
      q_tm1: online Q-values at the first state, shape ``[A]``.
      a_tm1: action taken, shape ``[]`` (int).
      r_t: reward, shape ``[]``.
      discount_t: discount, shape ``[]``.
      q_t_value: target-network Q-values at the next state, shape ``[A]``.
      q_t_selector: online-network Q-values at the next state, shape ``[A]``.

    Returns:
      The TD error, shape ``[]``.
    """
    chex.assert_rank([q_tm1, a_tm1, q_t_value, q_t_selector], [1, 0, 1, 1])
    best = jnp.argmax(q_t_selector)
    target = jax.lax.stop_gradient(r_t + discount_t * q_t_value[best])
    return target - q_tm1[a_tm1]


def huber_loss(x: chex.Array, delta: chex.Array = 1.0) -> chex.Array:
    """Huber loss: ``0.5 x^2`` for ``|x| <= delta``, else ``delta (|x| - 0.5 delta)``.

    Its gradient is the TD error clipped to ``[-delta, delta]``, the error clipping of the
    Nature DQN (Mnih et al. 2015; Roderick et al. 2017).
    """
    abs_x = jnp.abs(x)
    quadratic = jnp.minimum(abs_x, delta)
    return 0.5 * quadratic**2 + delta * (abs_x - quadratic)


def l2_loss(x: chex.Array) -> chex.Array:
    """Squared loss ``0.5 x^2``."""
    return 0.5 * jnp.square(x)


def n_step_return(
    r_t: chex.Array, terminated: chex.Array, done: chex.Array, gamma: chex.Array
) -> tuple[chex.Array, chex.Array, chex.Array]:
    """The n-step return of one sequence of ``n`` consecutive transitions, cut at an episode end.

    With ``m = min(n, 1 + first k with done[k])`` the target is
    ``G + discount * max_a Q(next_obs[last], a)`` where ``G = sum_{k<m} gamma^k r_t[k]``,
    ``last = m - 1`` and ``discount = gamma^m (1 - terminated[last])``: no bootstrap after a
    termination, and a bootstrap from the final observation of a truncated episode (whose
    ``next_obs`` is the pre-reset observation).

    Args:
      r_t: rewards, shape ``[n]``.
      terminated: terminations, shape ``[n]``.
      done: ``terminated | truncated``, shape ``[n]``.
      gamma: discount factor, shape ``[]``.

    Returns:
      ``(G [], discount [], last [] int)``; bootstrap from ``next_obs[last]``.
    """
    chex.assert_rank([r_t, terminated, done], 1)
    n = r_t.shape[0]
    done = done.astype(bool)
    last = jnp.where(jnp.any(done), jnp.argmax(done), n - 1)
    k = jnp.arange(n)
    powers = gamma ** k.astype(r_t.dtype)
    g = jnp.sum(jnp.where(k <= last, powers * r_t, 0.0))
    discount = gamma ** (last + 1).astype(r_t.dtype) * (1.0 - terminated[last].astype(r_t.dtype))
    return g, discount, last


def categorical_projection(z_p: chex.Array, probs: chex.Array, z_q: chex.Array) -> chex.Array:
    """Projects a distribution on atoms ``z_p`` onto the evenly spaced support ``z_q``.

    C51's projection (Bellemare et al. 2017, alg. 1): atoms are clipped to
    ``[z_q[0], z_q[-1]]`` and each atom's mass is split between its two neighbouring support
    points in proportion to closeness, written as ``sum_i probs_i * max(0, 1 - |z_p_i - z_q_j|
    / dz)`` (the mean is preserved for atoms inside the support).

    Args:
      z_p: atoms of the distribution to project, e.g. ``r + discount * z``, shape ``[K]``.
      probs: their probabilities, shape ``[K]``.
      z_q: the support, evenly spaced and increasing, shape ``[M]``.

    Returns:
      Probabilities on ``z_q``, shape ``[M]``.
    """
    chex.assert_rank([z_p, probs, z_q], 1)
    dz = z_q[1] - z_q[0]
    clipped = jnp.clip(z_p, z_q[0], z_q[-1])
    weight = jnp.clip(1.0 - jnp.abs(clipped[:, None] - z_q[None, :]) / dz, 0.0, 1.0)  # [K, M]
    return jnp.sum(probs[:, None] * weight, axis=0)


def categorical_q_learning_loss(
    logits_tm1: chex.Array,
    a_tm1: chex.Array,
    r_t: chex.Array,
    discount_t: chex.Array,
    logits_t: chex.Array,
    a_t: chex.Array,
    z: chex.Array,
) -> chex.Array:
    """C51's cross-entropy between the projected target and the predicted distribution.

    Args:
      logits_tm1: online logits at the first state, shape ``[A, K]``.
      a_tm1: action taken, shape ``[]`` (int).
      r_t: (n-step) reward, shape ``[]``.
      discount_t: bootstrap discount (0 after a termination), shape ``[]``.
      logits_t: target-network logits at the bootstrap state, shape ``[A, K]``.
      a_t: the bootstrap action (greedy for the target net, or the online net's choice for
        Double DQN), shape ``[]`` (int).
      z: the support, shape ``[K]``.

    Returns:
      The loss, shape ``[]``; the target carries no gradient.
    """
    chex.assert_rank([logits_tm1, a_tm1, logits_t, a_t, z], [2, 0, 2, 0, 1])
    p_t = jax.nn.softmax(logits_t[a_t])
    target = jax.lax.stop_gradient(categorical_projection(r_t + discount_t * z, p_t, z))
    return -jnp.sum(target * jax.nn.log_softmax(logits_tm1[a_tm1]))


# --------------------------------------------------------------------------------------------
# Batch losses: the per-transition functions above, vmapped over a batch [B].
# --------------------------------------------------------------------------------------------

TD_LOSSES = ("huber", "l2")


def td_loss(
    q_tm1: chex.Array,
    a_tm1: chex.Array,
    r_t: chex.Array,
    discount_t: chex.Array,
    q_t: chex.Array,
    q_t_selector: chex.Array | None = None,
    *,
    kind: str = "huber",
    huber_delta: chex.Numeric = 1.0,
    weights: chex.Array | None = None,
) -> tuple[chex.Array, chex.Array]:
    """Mean one-step TD loss over a batch.

    Args:
      q_tm1: online Q-values at the first states, ``[B, A]`` (or any ``[B, A']`` whose column
        ``a_tm1`` holds the taken action's value).
      a_tm1: actions taken, ``[B]`` int.
      r_t: (n-step) rewards, ``[B]``.
      discount_t: bootstrap discounts, ``[B]`` (0 after a termination, ``gamma^m`` after a
        truncation or none).
      q_t: target-network Q-values at the bootstrap states, ``[B, A]``.
      q_t_selector: online Q-values at the bootstrap states, ``[B, A]``: Double DQN's action
        selector; ``None`` for the max over ``q_t``.
      kind: ``"huber"`` or ``"l2"`` (``0.5 x^2``).
      huber_delta: the Huber threshold.
      weights: per-item loss weights ``[B]`` (prioritized replay); default 1.

    Returns:
      ``(loss [], td_errors [B])``.
    """
    chex.assert_rank([q_tm1, q_t, a_tm1, r_t, discount_t], [2, 2, 1, 1, 1])
    r_t = r_t.astype(q_tm1.dtype)
    if q_t_selector is None:
        td = jax.vmap(q_learning_td_error)(q_tm1, a_tm1, r_t, discount_t, q_t)
    else:
        td = jax.vmap(double_q_learning_td_error)(q_tm1, a_tm1, r_t, discount_t, q_t, q_t_selector)
    if kind == "huber":
        per_item = huber_loss(td, huber_delta)
    elif kind == "l2":
        per_item = l2_loss(td)
    else:
        raise ValueError(f"td_loss: kind must be one of {list(TD_LOSSES)}, got {kind!r}")
    if weights is not None:
        per_item = weights * per_item
    return jnp.mean(per_item), td


def categorical_td_loss(
    logits_tm1: chex.Array,
    a_tm1: chex.Array,
    r_t: chex.Array,
    discount_t: chex.Array,
    logits_t: chex.Array,
    a_t: chex.Array,
    z: chex.Array,
    weights: chex.Array | None = None,
) -> tuple[chex.Array, chex.Array]:
    """Mean C51 loss over a batch (cross-entropy to the projected target distribution).

    Args:
      logits_tm1: online logits at the first states, ``[B, A, K]``.
      a_tm1: actions taken, ``[B]`` int.
      r_t: (n-step) rewards, ``[B]``.
      discount_t: bootstrap discounts, ``[B]`` (0 after a termination).
      logits_t: target-network logits at the bootstrap states, ``[B, A, K]``.
      a_t: bootstrap actions, ``[B]`` int (target net's greedy, or online net's for Double).
      z: the support, ``[K]``.
      weights: per-item loss weights ``[B]`` (prioritized replay); default 1.

    Returns:
      ``(loss [], per_item_loss [B])``; the per-item losses are unweighted.
    """
    chex.assert_rank([logits_tm1, logits_t, a_tm1, a_t], [3, 3, 1, 1])
    per_item = jax.vmap(categorical_q_learning_loss, in_axes=(0, 0, 0, 0, 0, 0, None))(
        logits_tm1, a_tm1, r_t.astype(jnp.float32), discount_t, logits_t, a_t, z
    )
    weighted = per_item if weights is None else weights * per_item
    return jnp.mean(weighted), per_item
