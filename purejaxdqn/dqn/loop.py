"""One evaluation period of training as branch-free scans.

The schedule of a run is static: learning phases follow the vector steps whose env-step count
``(t + 1) * num_envs`` reaches ``learning_starts`` and is a multiple of the learning cadence,
target updates those whose count is a multiple of ``target_period``
(:func:`~purejaxdqn.dqn.cadence.learns_after`, :func:`~purejaxdqn.dqn.cadence.targets_after`).
So nothing is decided per vector step: a period is a warm-up scan of env steps without
learning (only before ``learning_starts``), then a scan over *blocks* of ``block`` vector
steps, each ending in its learning phase. The target update is a select on the block's
(shared) step; the warm-up's target updates, of parameters that do not change before
learning starts, are applied after it, as many as fell in it. Periods differ only in their
warm-up length: at most three kinds (all warm-up, the one period where learning starts, all
learning), picked by one ``lax.switch`` per period on its shared index. On CPU the period
instead runs its warm-up and its blocks in loops whose trip counts are read from the period
index (:func:`traced_lengths_default`): XLA copies every buffer a ``lax.switch`` branch
updates in place (the whole replay, each period), and fresh memory is what a CPU pays most
for; accelerators keep the switch, whose loops have static trip counts (XLA:GPU reads a
loop's condition back to the host each iteration when its trip count is not known).

Configs whose period is not a whole number of blocks take the general loop: the same steps
with a ``lax.cond`` per vector step.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

from purejaxdqn import acting, metrics
from purejaxdqn import replay as replay_lib
from purejaxdqn.config import Config, HyperParams
from purejaxdqn.dqn.cadence import BlockPlan, block_plan, learning_cadence
from purejaxdqn.dqn.state import ACT_STREAM, ENV_STREAM, LEARN_STREAM, TrainState, stream_key
from purejaxdqn.types import EnvParams, Params, PRNGKey

#: ``(state, hp, stats)``: a :class:`TrainState`, :class:`HyperParams` and ``PeriodStats``.
Carry = tuple
#: ``period_fn(state, hp, period) -> (state, stats)``: trains one eval period.
PeriodFn = Callable[[TrainState, HyperParams, jax.Array], tuple[TrainState, metrics.PeriodStats]]


def epsilon_at(hp: HyperParams, env_steps: jax.Array | float) -> jax.Array:
    """The exploration ε after ``env_steps`` env steps (linear decay)."""
    return acting.linear_epsilon(hp.eps_start, hp.eps_end, hp.exploration_steps, env_steps)


def traced_lengths_default() -> bool:
    """Whether :func:`make_period` uses traced trip counts by default: on CPU only.

    Measured on a 2-core CPU (Breakout-MinAtar, 8 seeds, 20k frames, replay 100k): the
    ``lax.switch`` form copied the 1.3 GB replay of each device several times per period,
    and the whole run went from 2,059 to 2,348 env-steps/s without those copies.
    """
    return jax.default_backend() == "cpu"


def make_period(
    config: Config,
    env_params: EnvParams,
    act: Callable[[Params, jax.Array, PRNGKey, jax.Array], jax.Array],
    learn_phase: Callable[..., tuple[TrainState, jax.Array, jax.Array]],
    buffer: replay_lib.ReplayBuffer,
    v_step: Callable[..., tuple],
    traced_lengths: bool | None = None,
) -> PeriodFn:
    """``period_fn(state, hp, period) -> (state, stats)`` for eval period ``period`` (shared).

    Vector steps ``period * I .. (period + 1) * I - 1`` (``I = eval_every // num_envs``):
    act, step, store, and the learning phases and target updates the schedule puts there.
    ``traced_lengths``: the blocked loop's period as loops with trip counts read from
    ``period`` (``True``) or as one static loop per kind of period behind a ``lax.switch``
    (``False``); the same steps either way. ``None``: :func:`traced_lengths_default`.
    """
    if traced_lengths is None:
        traced_lengths = traced_lengths_default()
    n = config.num_envs
    cadence = learning_cadence(config)
    maybe_plan = block_plan(config)
    plan = maybe_plan or BlockPlan(1, 0, 1, 1)  # (unused by the stepwise loop)

    def env_step(carry: Carry, t: jax.Array) -> Carry:
        """Act, step the envs, store the transitions (vector step ``t``, shared)."""
        state, hp, stats = carry
        epsilon = epsilon_at(hp, (t * n).astype(jnp.float32))
        action = act(state.params, state.obs, stream_key(state.key, ACT_STREAM, t), epsilon)
        keys = jax.random.split(stream_key(state.key, ENV_STREAM, t), n)
        stepped = v_step(keys, state.env_state, action, env_params)
        obs, env_state, reward, term, trunc, info = stepped
        reward = reward.astype(jnp.float32)
        transition = replay_lib.Transition(
            replay_lib.to_replay_dtype(config, state.obs),
            action,
            reward,
            replay_lib.to_replay_dtype(config, info["final_obs"]),
            term,
            trunc,
        )
        done = term | trunc
        episode_return = state.episode_return + reward
        stats = metrics.add_episodes(stats, done, episode_return)
        state = state.replace(
            buffer_state=buffer.add(state.buffer_state, transition),
            env_state=env_state,
            obs=obs,
            episode_return=jnp.where(done, 0.0, episode_return),
        )
        return state, hp, stats._replace(epsilon=epsilon)

    def learn(carry: Carry, t: jax.Array) -> Carry:
        """The learning phase after vector step ``t``."""
        state, hp, stats = carry
        steps_after = (t + 1) * n
        k_learn = stream_key(state.key, LEARN_STREAM, t)
        state, loss_sum, q_sum = learn_phase(state, hp, k_learn, steps_after)
        stats = stats._replace(
            loss_sum=stats.loss_sum + loss_sum,
            q_sum=stats.q_sum + q_sum,
            updates=stats.updates + jnp.float32(cadence.gradient_steps),
        )
        return state, hp, stats

    def rebuild(carry: Carry, t: jax.Array) -> Carry:
        state, hp, stats = carry
        buffer_state = replay_lib.scheduled_sum_tree_rebuild(
            config, state.buffer_state, (t + 1) * n
        )
        return state.replace(buffer_state=buffer_state), hp, stats

    def target_update(state: TrainState, hp: HyperParams) -> TrainState:
        target = optax.incremental_update(state.params, state.target_params, hp.tau)
        return state.replace(target_params=target)  # type: ignore[attr-defined]

    def target_select(carry: Carry, t: jax.Array) -> Carry:
        """The target update after vector step ``t`` if the schedule has one there."""
        state, hp, stats = carry
        due = ((t + 1) * n) % config.target_period == 0
        new = target_update(state, hp).target_params
        target = jax.tree.map(lambda a, b: jnp.where(due, a, b), new, state.target_params)
        return state.replace(target_params=target), hp, stats

    def plain_step(carry: Carry, t: jax.Array) -> tuple[Carry, None]:
        return rebuild(env_step(carry, t), t), None

    def inner_step(carry: Carry, t: jax.Array) -> tuple[Carry, None]:
        return target_select(plain_step(carry, t)[0], t), None

    def block(carry: Carry, t_last: jax.Array) -> tuple[Carry, None]:
        """``plan.block`` vector steps ending at ``t_last``, then the learning phase."""
        if plan.block > 1:
            ts = t_last - plan.block + 1 + jnp.arange(plan.block - 1)
            carry, _ = jax.lax.scan(inner_step, carry, ts)
        carry = learn(env_step(carry, t_last), t_last)
        return target_select(rebuild(carry, t_last), t_last), None

    def run_period(carry: Carry, first: jax.Array, warmup: int | jax.Array) -> Carry:
        """A period from vector step ``first`` whose first ``warmup`` steps are warm-up.

        ``warmup`` a Python int: loops with static trip counts (one such function per kind
        of period); traced: the same steps in loops whose trip counts are read at run time.
        """
        carry = jax.lax.fori_loop(0, warmup, lambda i, c: plain_step(c, first + i)[0], carry)
        state, hp, stats = carry
        # The warm-up's target updates: params are fixed until learning starts.
        tv = plan.target_every
        k = (first + warmup) // tv - first // tv
        state = jax.lax.fori_loop(0, k, lambda _, s: target_update(s, hp), state)
        first_end = first + warmup + plan.block - 1
        return jax.lax.fori_loop(
            0,
            (plan.period - warmup) // plan.block,
            lambda i, c: block(c, first_end + plan.block * i)[0],
            (state, hp, stats),
        )

    def blocked_period(
        state: TrainState, hp: HyperParams, period: jax.Array
    ) -> tuple[TrainState, metrics.PeriodStats]:
        kinds = plan.period_kinds(config.num_evals)
        start = (state, hp, metrics.zero_stats(epsilon_at(hp, jnp.float32(0.0))))
        first = period * plan.period
        index = jnp.asarray(kinds.kind_of)[period]
        if traced_lengths:
            warmup = jnp.asarray(kinds.warmups, jnp.int32)[index]
            state, _, stats = run_period(start, first, warmup)
        else:
            branches = [functools.partial(run_period, warmup=w) for w in kinds.warmups]
            state, _, stats = jax.lax.switch(index, branches, start, first)
        return state, stats

    def stepwise_period(
        state: TrainState, hp: HyperParams, period: jax.Array
    ) -> tuple[TrainState, metrics.PeriodStats]:
        def iteration(carry: Carry, t: jax.Array) -> tuple[Carry, None]:
            carry = env_step(carry, t)
            steps_after = (t + 1) * n
            # Gated by the shared step: a real branch under vmap.
            do_learn = (steps_after >= config.learning_starts) & (steps_after % cadence.every == 0)
            carry = jax.lax.cond(do_learn, learn, lambda c, _: c, carry, t)
            carry = rebuild(carry, t)
            state, hp, stats = carry
            state = jax.lax.cond(
                steps_after % config.target_period == 0,
                target_update,
                lambda s, _: s,
                state,
                hp,
            )
            return (state, hp, stats), None

        iters = config.eval_every // n
        start = (state, hp, metrics.zero_stats(epsilon_at(hp, jnp.float32(0.0))))
        (state, _, stats), _ = jax.lax.scan(iteration, start, period * iters + jnp.arange(iters))
        return state, stats

    return blocked_period if maybe_plan is not None else stepwise_period
