"""The branch-free training loop keeps DQN's schedule: the same updates and target copies."""

from __future__ import annotations

import itertools
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from chain_env import CHAIN_CONFIG, Chain

from purejaxdqn.dqn import loop, make_dqn, num_updates
from purejaxdqn.dqn.cadence import block_plan


def _reference_schedule(n, train_every, learning_starts, target_period, total_steps):
    """The per-vector-step definition, transcribed: (learn steps, target steps) as sets of t."""
    every = max(train_every, n)
    steps = (np.arange(total_steps // n) + 1) * n
    learn = set(np.flatnonzero((steps >= learning_starts) & (steps % every == 0)))
    target = set(np.flatnonzero(steps % target_period == 0))
    return learn, target


def _block_schedule(plan, num_periods):
    """The learn steps the blocked loop runs: the last step of every block after the warm-up."""
    kinds = plan.period_kinds(num_periods)
    learn = set()
    for p, k in enumerate(kinds.kind_of):
        first = p * plan.period + kinds.warmups[k]
        learn |= set(range(first + plan.block - 1, (p + 1) * plan.period, plan.block))
    return learn


@pytest.mark.parametrize(
    "n, train_every, learning_starts, eval_every",
    [  # valid configs: train_every and num_envs, one a multiple of the other
        (n, every, starts, evals)
        for n, every, starts, evals in itertools.product(
            [1, 4, 10], [1, 4, 10, 20], [40, 100, 1000, 1234], [200, 1000]
        )
        if not (every % n and n % every)
    ],
)
def test_blocks_learn_exactly_when_the_per_step_rule_does(
    n, train_every, learning_starts, eval_every
):
    learning_starts = learning_starts // n * n
    cfg = CHAIN_CONFIG.replace(
        num_envs=n,
        train_every=train_every,
        learning_starts=learning_starts,
        eval_every=eval_every,
        total_steps=4 * eval_every,
        target_period=10 * n,
    )
    plan = block_plan(cfg)
    learn, _ = _reference_schedule(n, train_every, learning_starts, 10 * n, cfg.total_steps)
    if plan is None:  # the stepwise loop applies the rule itself
        assert (eval_every // n) % (max(train_every, n) // n) != 0
        return
    assert _block_schedule(plan, cfg.num_evals) == learn
    per_phase = cfg.gradient_steps * max(1, n // train_every)
    assert num_updates(cfg) == len(learn) * per_phase


def _periods(cfg, periods, key=0):
    """Trains ``periods`` eval periods one call each; states and rows after each."""
    dqn = make_dqn(cfg, Chain())
    hp = cfg.hyperparams()
    run = jax.jit(dqn.train_periods)
    state = dqn.init(jax.random.key(key), hp)
    states, rows = [state], []
    for p in range(periods):
        state, row = run(state, hp, jnp.arange(p, p + 1))
        states.append(state)
        rows.append(row)
    return states, rows


# Learning from step 100 (inside period 0), target copy every 120 env steps, periods of 40:
# three kinds of period (warm-up, the one where learning starts, learning).
TARGET_CFG = CHAIN_CONFIG.replace(
    total_steps=480, eval_every=40, learning_starts=60, target_period=120, train_every=8
)


@pytest.fixture(scope="module")
def target_run():
    return _periods(TARGET_CFG, TARGET_CFG.num_evals)


def test_updates_per_period_match_the_closed_form(target_run):
    _, rows = target_run
    cfg = TARGET_CFG
    learn, _ = _reference_schedule(4, 8, 60, 120, cfg.total_steps)
    per_period = [sum(1 for t in learn if p * 10 <= t < (p + 1) * 10) for p in range(cfg.num_evals)]
    got = [int(r["updates"][0]) for r in rows]
    assert got == per_period
    assert sum(got) == num_updates(cfg)
    assert block_plan(cfg) is not None and block_plan(cfg).block == 2


def test_hard_target_copies_land_on_their_steps(target_run):
    states, _ = target_run
    # After period p (env step 40 p) the target holds the online params of the last multiple
    # of 120 at or before it: those after period 3 * (p // 3).
    for p in range(1, len(states)):
        copied = states[3 * (p // 3)].params
        for a, b in zip(
            jax.tree.leaves(states[p].target_params), jax.tree.leaves(copied), strict=True
        ):
            np.testing.assert_array_equal(a, b)
    # Learning moved the params between copies (else the check above would be vacuous).
    assert not np.array_equal(
        jax.tree.leaves(states[5].params)[0], jax.tree.leaves(states[3].params)[0]
    )


def test_blocked_loop_equals_the_stepwise_loop(target_run, monkeypatch):
    """The per-step ``lax.cond`` loop (the general path) trains the same run."""
    states, rows = target_run
    monkeypatch.setattr(loop, "block_plan", lambda cfg: None)
    stepwise, stepwise_rows = _periods(TARGET_CFG, TARGET_CFG.num_evals)
    for a, b in zip(
        jax.tree.leaves(states[-1].replace(key=0)),
        jax.tree.leaves(stepwise[-1].replace(key=0)),
        strict=True,
    ):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    for r, s in zip(rows, stepwise_rows, strict=True):
        np.testing.assert_array_equal(r["updates"], s["updates"])
        np.testing.assert_allclose(r["eval_return"], s["eval_return"], rtol=1e-5)


def test_switch_and_traced_trip_counts_train_the_same_bits(target_run, monkeypatch):
    """The accelerators' form (one static loop per kind behind a ``lax.switch``) on CPU."""
    states, rows = target_run
    assert loop.traced_lengths_default()  # the fixture ran the CPU form
    monkeypatch.setattr(loop, "traced_lengths_default", lambda: False)
    switched, switched_rows = _periods(TARGET_CFG, TARGET_CFG.num_evals)

    def leaves(state):
        return jax.tree.leaves(state.replace(key=jax.random.key_data(state.key)))

    for a, b in zip(leaves(states[-1]), leaves(switched[-1]), strict=True):
        np.testing.assert_array_equal(a, b)
    for r, s in zip(rows, switched_rows, strict=True):
        for k in r:
            np.testing.assert_array_equal(r[k], s[k])


def _replay_copies(cfg):
    """Copy instructions of replay-sized arrays in the compiled ``train_periods``."""
    dqn = make_dqn(cfg, Chain())
    hp = cfg.hyperparams()
    state = jax.eval_shape(dqn.init, jax.random.key(0), hp)
    run = jax.jit(dqn.train_periods, donate_argnums=0)  # as the engine calls it
    text = run.lower(state, hp, jnp.arange(2)).compile().as_text()
    sized = re.compile(rf"\[([0-9]+,)*{cfg.capacity}[,\]]")
    return [line for line in text.splitlines() if " copy(" in line and sized.search(line)]


def test_the_cpu_loop_does_not_copy_the_replay(monkeypatch):
    """Each period updates the replay in place (XLA copies what a switch branch updates)."""
    cfg = TARGET_CFG.replace(capacity=4099)
    assert _replay_copies(cfg) == []
    monkeypatch.setattr(loop, "traced_lengths_default", lambda: False)
    assert _replay_copies(cfg)  # the check can fail: the switch form does copy
