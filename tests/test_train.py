"""The one-scan trainer: losses against hand computations, semantics, seeds, one program."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from chain_env import CHAIN_CONFIG, GAMMA, Chain

from purejaxdqn import losses
from purejaxdqn.config import Config, ConfigError, HyperParams, traced_field_names
from purejaxdqn.dqn import epsilon_at, make_dqn, make_optimizer, make_train, num_updates
from purejaxdqn.replay import Transition, one_step_view

SEEDS = 8


def td_loss(config, hp, q_tm1, batch, q_t, q_t_selector=None):
    """The batch TD loss the learner computes for ``config`` (``loss``, ``double_q``), with
    the one-step discounts ``gamma * (1 - terminated)`` of ``batch``."""
    batch, discount_t = one_step_view(hp.gamma, batch)
    return losses.td_loss(
        q_tm1,
        batch.action,
        batch.reward,
        discount_t,
        q_t,
        q_t_selector if config.double_q else None,
        kind=config.loss,
        huber_delta=hp.huber_delta,
    )


@pytest.fixture(scope="module")
def chain_run():
    """One compiled program trains 8 seeds on the chain; seed 3 is also trained alone."""
    env = Chain()
    train = make_train(CHAIN_CONFIG, env)
    keys = jax.vmap(jax.random.key)(jnp.arange(SEEDS))
    batched = jax.jit(jax.vmap(train))
    out = batched(keys)
    alone = jax.jit(train)(jax.random.key(3))
    return env, train, batched, keys, out, alone


# ---------------------------------------------------------------------------------------
# Losses and targets against hand computations.


def test_td_target_and_losses_match_hand_computation():
    q_tm1 = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0], [2.0, 2.0, 2.0]], np.float32)
    q_t = np.array([[0.5, 4.0, 1.0], [10.0, 0.0, -2.0], [1.0, 7.0, 3.0]], np.float32)
    action = np.array([1, 2, 0], np.int32)
    reward = np.array([1.0, -0.5, 2.0], np.float32)
    terminated = np.array([False, True, False])
    gamma = 0.9
    # By hand: targets 1 + .9*4 = 4.6; -0.5 (terminal); 2 + .9*7 = 8.3.
    td = np.array([4.6 - 2.0, -0.5 - 3.0, 8.3 - 2.0])
    huber = np.where(np.abs(td) <= 1.0, 0.5 * td**2, np.abs(td) - 0.5)
    batch = Transition(q_tm1, action, reward, q_t, terminated)
    for loss, expected in (("huber", huber.mean()), ("l2", (0.5 * td**2).mean())):
        cfg = Config(loss=loss)
        hp = Config(gamma=gamma, huber_delta=1.0).hyperparams()
        value, td_out = td_loss(cfg, hp, jnp.asarray(q_tm1), batch, jnp.asarray(q_t))
        np.testing.assert_allclose(td_out, td, rtol=1e-6)
        np.testing.assert_allclose(value, expected, rtol=1e-6)


def test_huber_gradient_is_clipped_td_error():
    x = jnp.array([-3.0, -0.5, 0.0, 0.25, 2.0])
    grad = jax.vmap(jax.grad(lambda v: losses.huber_loss(v, 1.0)))(x)
    np.testing.assert_allclose(grad, np.clip(np.asarray(x), -1, 1))
    np.testing.assert_allclose(losses.huber_loss(x, 2.0), [4.0, 0.125, 0.0, 0.03125, 2.0])


def test_target_has_no_gradient():
    g = jax.grad(lambda q: losses.q_learning_target(1.0, 0.9, q))(jnp.ones(3))
    np.testing.assert_array_equal(g, 0.0)


def test_truncation_bootstraps_termination_does_not():
    q_tm1 = jnp.zeros((2, 2))
    q_t = jnp.array([[5.0, 3.0], [5.0, 3.0]])
    # Same transition; the first ended by termination, the second by a time-limit truncation
    # (stored with terminated=False and next_obs = the pre-reset observation).
    batch = Transition(q_tm1, jnp.array([0, 0]), jnp.array([1.0, 1.0]), q_t, jnp.array([1, 0]))
    _, td = td_loss(Config(), Config(gamma=0.5).hyperparams(), q_tm1, batch, q_t)
    np.testing.assert_allclose(td, [1.0, 1.0 + 0.5 * 5.0])


def test_epsilon_schedule_linear_then_flat():
    hp = Config(eps_start=1.0, eps_end=0.1, exploration_steps=1000).hyperparams()
    steps = jnp.array([0.0, 250.0, 500.0, 1000.0, 5000.0])
    np.testing.assert_allclose(epsilon_at(hp, steps), [1.0, 0.775, 0.55, 0.1, 0.1], 1e-6)


# ---------------------------------------------------------------------------------------
# Config.


def test_hyperparams_are_exactly_the_traced_fields():
    assert sorted(HyperParams.__dataclass_fields__) == sorted(traced_field_names())


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"batch_size": 512, "capacity": 256}, "batch_size"),
        ({"learning_starts": 10}, "learning_starts"),
        ({"gamma": 1.5}, "gamma"),
        ({"eps_end": -0.1}, "eps_end"),
        ({"bins": 1}, "bins"),
        ({"num_envs": 0}, "num_envs"),
        ({"loss": "l1"}, "loss"),
        ({"total_steps": 10_001}, "total_steps"),
        ({"nonsense": 1}, "nonsense"),
    ],
)
def test_bad_config_names_the_field(changes, field):
    with pytest.raises(ConfigError, match=field):
        Config().replace(**changes)


# ---------------------------------------------------------------------------------------
# A whole run on the chain MDP.


def test_learns_chain_q_star(chain_run):
    env, _, _, _, out, _ = chain_run
    network = make_dqn(CHAIN_CONFIG, env).network
    q_star = env.q_star(GAMMA)
    for seed in range(SEEDS):
        params = jax.tree.map(lambda x, s=seed: x[s], out.params)
        q = np.asarray(network.apply(params, jnp.eye(env.length)))[: env.length - 1]
        np.testing.assert_allclose(q, q_star, atol=0.02, err_msg=f"seed {seed}")


def test_greedy_eval_reaches_goal(chain_run):
    out = chain_run[4]
    # From a start s in 0..3 the optimal greedy policy earns reward 1.
    np.testing.assert_array_equal(np.asarray(out.metrics["eval_return"])[:, -1], 1.0)
    assert out.metrics["eval_return"].shape == (SEEDS, CHAIN_CONFIG.num_evals + 1)
    np.testing.assert_array_equal(out.metrics["env_steps"][0], [0, 1000, 2000, 3000, 4000])


def test_seed_alone_equals_seed_in_batch(chain_run):
    out, alone = chain_run[4], chain_run[5]
    in_batch = jax.tree.map(lambda x: x[3], out.params)
    for a, b in zip(jax.tree.leaves(alone.params), jax.tree.leaves(in_batch), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(alone.metrics["loss"], out.metrics["loss"][3], rtol=1e-4, atol=1e-8)


def test_different_seeds_differ(chain_run):
    out = chain_run[4]
    first = jax.tree.leaves(out.params)[0]
    for i in range(1, SEEDS):
        assert not np.allclose(first[0], first[i])


def test_one_compiled_program(chain_run):
    _, train, batched, keys, _, _ = chain_run
    assert batched._cache_size() == 1
    batched(keys)  # a second call neither retraces nor recompiles
    assert batched._cache_size() == 1


def test_gating_stays_a_real_branch_under_vmap(chain_run, monkeypatch):
    # The accelerators' form of the loop (on CPU the period has no branch: its loops' trip
    # counts are read from the same shared index, see tests/test_loop.py).
    from purejaxdqn.dqn import loop

    monkeypatch.setattr(loop, "traced_lengths_default", lambda: False)
    env, _, _, keys, _, _ = chain_run
    train = make_train(CHAIN_CONFIG, env)
    jaxpr = jax.make_jaxpr(jax.vmap(train))(keys)
    text = str(jaxpr)
    # The per-period switch (warm-up / learning starts / learning) survives batching: a
    # batched index would have turned it into `select_n` of all branches.
    assert text.count("cond[") >= 1
    assert "while[" in text  # the scans


# ---------------------------------------------------------------------------------------
# Replay contents and targets.


def _run(config: Config, env, periods: int):
    dqn = make_dqn(config, env)
    hp = config.hyperparams()
    state = dqn.init(jax.random.key(0), hp)
    state, _ = jax.jit(dqn.train_periods)(state, hp, jnp.arange(periods))
    return dqn, state


def test_replay_holds_exactly_the_transitions_including_final_obs():
    env = Chain(length=5, max_steps=6)
    cfg = CHAIN_CONFIG.replace(
        total_steps=400, num_envs=1, eval_every=100, learning_starts=400, capacity=1000
    )
    _, state = _run(cfg, env, 4)
    exp = jax.tree.map(lambda x: np.asarray(x[0, :400]), state.buffer_state.experience)
    assert int(state.buffer_state.current_index) == 400
    s = exp.obs.argmax(-1)
    s_next = exp.next_obs.argmax(-1)
    # Every stored next_obs is the true successor, also when the episode ended there.
    np.testing.assert_array_equal(s_next, np.clip(s + 2 * exp.action - 1, 0, 4))
    np.testing.assert_array_equal(exp.terminated, s_next == 4)
    np.testing.assert_array_equal(exp.reward, (s_next == 4).astype(np.float32))
    assert exp.terminated.sum() > 10
    # Consecutive transitions chain up except across an episode boundary.
    cont = ~exp.terminated[:-1]
    step_in_episode = np.zeros(400, int)
    for i in range(1, 400):
        ended = exp.terminated[i - 1] or step_in_episode[i - 1] + 1 >= 6
        step_in_episode[i] = 0 if ended else step_in_episode[i - 1] + 1
    cont &= step_in_episode[1:] != 0
    np.testing.assert_array_equal(exp.obs[1:][cont], exp.next_obs[:-1][cont])
    # Truncated transitions (time limit, not goal) are stored as not terminated.
    truncated = (step_in_episode == 5) & ~exp.terminated
    assert truncated.sum() > 5


def test_hard_and_polyak_target_updates():
    env = Chain()
    base = CHAIN_CONFIG.replace(total_steps=400, eval_every=200, learning_starts=100)
    # Hard copy every 40 steps; the run ends on a multiple of 40, right after a learn phase.
    dqn, state = _run(base.replace(target_period=40, tau=1.0), env, 2)
    for a, b in zip(
        jax.tree.leaves(state.params), jax.tree.leaves(state.target_params), strict=True
    ):
        np.testing.assert_array_equal(a, b)
    # With a hard copy every 120 steps the target is the params of step 360: stale at 400.
    _, stale = _run(base.replace(target_period=120, tau=1.0), env, 2)
    assert not all(
        np.array_equal(a, b)
        for a, b in zip(
            jax.tree.leaves(stale.params), jax.tree.leaves(stale.target_params), strict=True
        )
    )
    # Polyak: target <- tau * online + (1 - tau) * target every 4 env steps (each iteration);
    # with learning off the online params are fixed, so the recursion has a closed form.
    cfg = base.replace(learning_starts=400, target_period=4, tau=0.02)
    dqn = make_dqn(cfg, env)
    hp = cfg.hyperparams()
    state = dqn.init(jax.random.key(1), hp)
    other = dqn.init(jax.random.key(2), hp)
    state = state.replace(target_params=other.params)
    new, _ = jax.jit(dqn.train_periods)(state, hp, jnp.arange(1))
    # 50 iterations, each mixes once with tau: target = online + (1-tau)^50 (target0 - online).
    decay = 0.98**50
    for online, t0, t1 in zip(
        jax.tree.leaves(state.params),
        jax.tree.leaves(other.params),
        jax.tree.leaves(new.target_params),
        strict=True,
    ):
        expected = np.asarray(online) + decay * (np.asarray(t0) - np.asarray(online))
        np.testing.assert_allclose(t1, expected, rtol=1e-5, atol=1e-5)


def test_learning_rate_decays_linearly_over_the_run():
    cfg = Config(
        total_steps=1000,
        num_envs=1,
        train_every=4,
        learning_starts=100,
        eval_every=500,
        batch_size=32,
    ).replace(lr=1e-2, lr_end_fraction=0.25, max_grad_norm=1e9)
    n = num_updates(cfg)
    assert n == len(range(100, 1001, 4))  # learning phases at steps 100, 104, ..., 1000
    opt = make_optimizer(cfg, cfg.hyperparams())
    params = jnp.zeros(())
    state = opt.init(params)
    sizes = []
    for _ in range(n):
        # Adam's step for a constant gradient is exactly the learning rate.
        updates, state = opt.update(jnp.ones(()), state, params)
        sizes.append(-float(updates))
    expected = 1e-2 * (1 + (0.25 - 1) * np.arange(n) / n)
    np.testing.assert_allclose(sizes, expected, rtol=1e-4)


def test_double_q_target_matches_numpy():
    rng = np.random.default_rng(0)
    q_tm1, q_t, q_sel = (rng.normal(size=(6, 4)).astype(np.float32) for _ in range(3))
    action = rng.integers(0, 4, 6).astype(np.int32)
    reward = rng.normal(size=6).astype(np.float32)
    terminated = np.array([0, 1, 0, 0, 1, 0], bool)
    gamma = 0.9
    # NumPy reference: the online (selector) net picks a*, the target net values it.
    best = q_sel.argmax(1)
    target = reward + gamma * (1 - terminated) * q_t[np.arange(6), best]
    expected_td = target - q_tm1[np.arange(6), action]
    batch = Transition(q_tm1, action, reward, q_t, terminated)
    cfg = Config(double_q=True, loss="l2")
    hp = Config(gamma=gamma).hyperparams()
    loss, td = td_loss(cfg, hp, jnp.asarray(q_tm1), batch, jnp.asarray(q_t), jnp.asarray(q_sel))
    np.testing.assert_allclose(td, expected_td, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(loss, np.mean(0.5 * expected_td**2), rtol=1e-5)
    # Without double_q the target maximizes the target net itself.
    _, td_plain = td_loss(Config(loss="l2"), hp, jnp.asarray(q_tm1), batch, jnp.asarray(q_t))
    plain = reward + gamma * (1 - terminated) * q_t.max(1) - q_tm1[np.arange(6), action]
    np.testing.assert_allclose(td_plain, plain, rtol=1e-5, atol=1e-6)


def test_run_in_chunks_equals_run_at_once():
    cfg = CHAIN_CONFIG.replace(total_steps=800, eval_every=200)
    dqn = make_dqn(cfg, Chain())
    hp = cfg.hyperparams()
    run = jax.jit(dqn.train_periods)
    start = dqn.init(jax.random.key(5), hp)
    whole, rows = run(start, hp, jnp.arange(4))
    half, rows_a = run(start, hp, jnp.arange(2))
    rest, rows_b = run(half, hp, jnp.arange(2, 4))
    # Every part of the state (params, optimizer, replay, envs) is bit-identical.
    same = jax.tree.leaves(whole.replace(key=0)), jax.tree.leaves(rest.replace(key=0))
    for a, b in zip(*same, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(
        rows["eval_return"], np.concatenate([rows_a["eval_return"], rows_b["eval_return"]])
    )
