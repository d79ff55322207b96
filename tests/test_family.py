"""DQN's family (issue 5): each switch against an independent NumPy reference, and every
variant's Q-values on the chain MDP against the known Q*."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from chain_env import CHAIN_CONFIG, GAMMA, BoxChain, Chain, ImageChain

from purejaxdqn import losses, replay
from purejaxdqn.config import Config, ConfigError
from purejaxdqn.dqn import make_dqn, make_train
from purejaxdqn.envs import Discretize
from purejaxdqn.envs.discrete import make_env
from purejaxdqn.networks import QNetwork, StateActionQNetwork
from purejaxdqn.replay import Transition, one_step_view, per_beta

CHAIN_SEEDS = 4
# Every seed's Q on the non-terminal chain states must be within CHAIN_ATOL of Q*. The
# n-step targets under the uniform behavior policy are noisy (each seed fits the mean target
# of its own finite replay, measured: to 1e-3), so there each seed must be within
# N_STEP_SEED_ATOL and the mean over seeds within CHAIN_ATOL (8 seeds measured: worst seed
# 0.061, seed mean 0.007).
CHAIN_ATOL = 0.03
N_STEP_SEED_ATOL = 0.1

# One compiled program per variant (about 11 s each on a quiet 2-core CPU); the combined
# variants cover the pairwise compositions.
VARIANTS = {
    "double": {"double_q": True},
    "dueling": {"dueling": True},
    # On ImageChain: the state as a lit pixel, seen through a 3x3 conv torso.
    "conv": {"conv": (8,)},
    # On BoxChain discretized to a 4-point grid (a continuous-action chain with known Q*).
    "state_action": {"q_network": "state_action"},
    # n-step variants run on Chain(max_steps=200) (truncation all but impossible) and are
    # checked against the n-step operator's fixed point under the uniform behavior policy.
    "n_step3": {"n_step": 3},
    "prioritized": {"prioritized": True},
    "prioritized_n_step3_double_dueling": {
        "prioritized": True,
        "n_step": 3,
        "double_q": True,
        "dueling": True,
    },
    "c51": {"distributional": True, "v_min": -0.5, "v_max": 1.5},
    "c51_prioritized_n_step3_double_dueling": {
        "distributional": True,
        "v_min": -0.5,
        "v_max": 1.5,
        "prioritized": True,
        "n_step": 3,
        "double_q": True,
        "dueling": True,
    },
}


def _relu(x):
    return np.maximum(x, 0.0)


def _dense(p, x):
    return x @ np.asarray(p["kernel"]) + np.asarray(p["bias"])


# ---------------------------------------------------------------------------------------
# Dueling.


def test_dueling_head_matches_numpy():
    net = QNetwork(num_actions=3, hidden=(8, 6), dueling=True)
    obs = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    params = net.init(jax.random.key(0), obs)["params"]
    h = _relu(_dense(params["Dense_1"], _relu(_dense(params["Dense_0"], obs))))
    value = _dense(params["value"], h)  # [5, 1]
    adv = _dense(params["advantage"], h)  # [5, 3]
    expected = value + adv - adv.mean(axis=1, keepdims=True)
    q = np.asarray(net.apply({"params": params}, obs))
    np.testing.assert_allclose(q, expected, rtol=1e-5, atol=1e-5)
    # The advantage is identifiable: mean_a Q = V.
    np.testing.assert_allclose(q.mean(1), value[:, 0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"dueling": 1}, "dueling"),
        ({"q_network": "cnn"}, "q_network"),
        ({"q_network": "state_action", "dueling": True}, "dueling"),
        ({"n_step": 0}, "n_step"),
        ({"n_step": 100, "learning_starts": 200}, "n_step"),
        ({"prioritized": "yes"}, "prioritized"),
        ({"per_alpha": 1.5}, "per_alpha"),
        ({"per_beta_start": -0.1}, "per_beta_start"),
        ({"per_eps": 0.0}, "per_eps"),
        ({"per_rebuild_period": -1}, "per_rebuild_period"),
        ({"distributional": True, "q_network": "state_action"}, "distributional"),
        ({"num_atoms": 1}, "num_atoms"),
        ({"v_min": 5.0, "v_max": 5.0}, "v_min"),
    ],
)
def test_bad_switch_names_the_field(changes, field):
    with pytest.raises(ConfigError, match=field):
        Config(**changes)


def test_per_rebuild_period_only_constrains_prioritized_runs():
    three_envs = Config(
        num_envs=3,
        total_steps=30,
        eval_every=15,
        learning_starts=150,
        batch_size=16,
        target_period=3,
        train_every=3,
        capacity=300,
    )
    three_envs.replace(per_rebuild_period=10)  # not prioritized: no constraint
    with pytest.raises(ConfigError, match="per_rebuild_period"):
        three_envs.replace(per_rebuild_period=10, prioritized=True)


# ---------------------------------------------------------------------------------------
# The notebook's Q(s, a) over an action grid.


def test_state_action_grid_argmax_matches_numpy():
    rng = np.random.default_rng(1)
    grid = np.linspace(-3.0, 3.0, 1000, dtype=np.float32)[:, None]  # the seed's 1000 actions
    obs = rng.normal(size=(6, 4)).astype(np.float32)
    net = StateActionQNetwork(action_grid=tuple(map(tuple, grid.tolist())), hidden=(16, 8))
    params = net.init(jax.random.key(2), obs)["params"]
    # NumPy reference: the MLP on the concatenated features [obs, a], one grid point at a time.
    w1 = np.concatenate([params["obs_in"]["kernel"], params["action_in"]["kernel"]], axis=0)
    q_ref = np.empty((6, 1000), np.float64)
    for k in range(1000):
        feats = np.concatenate([obs, np.repeat(grid[k][None], 6, 0)], axis=1)  # [6, 5]
        h = _relu(feats @ w1 + np.asarray(params["obs_in"]["bias"]))
        h = _relu(_dense(params["Dense_0"], h))
        q_ref[:, k] = _dense(params["q"], h)[:, 0]
    q = np.asarray(net.apply({"params": params}, obs))
    assert q.shape == (6, 1000)
    np.testing.assert_allclose(q, q_ref, rtol=1e-4, atol=1e-5)
    # The greedy action is the NumPy argmax (checked where the top two are not near-tied).
    top2 = np.sort(q_ref, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 1e-4
    assert clear.sum() >= 4
    np.testing.assert_array_equal(q.argmax(1)[clear], q_ref.argmax(1)[clear])


def test_state_action_scores_one_grid_action_like_the_whole_grid():
    # The learner's Q(s_t, a_t) path (one grid row per observation) against the whole-grid
    # output gathered at a_t: same values and same gradients.
    grid = np.linspace(-3.0, 3.0, 50, dtype=np.float32)[:, None]
    net = StateActionQNetwork(action_grid=tuple(map(tuple, grid.tolist())), hidden=(16, 8))
    obs = jax.random.normal(jax.random.key(0), (7, 4))
    action = jax.random.randint(jax.random.key(1), (7,), 0, 50)
    params = net.init(jax.random.key(2), obs)

    def via_grid(p):
        return jnp.take_along_axis(net.apply(p, obs), action[:, None], axis=-1)[:, 0]

    def via_action(p):
        return net.apply(p, obs, action)

    np.testing.assert_allclose(via_action(params), via_grid(params), rtol=1e-5, atol=1e-6)
    g_grid = jax.grad(lambda p: jnp.sum(jnp.sin(via_grid(p))))(params)
    g_action = jax.grad(lambda p: jnp.sum(jnp.sin(via_action(p))))(params)
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6), g_action, g_grid
    )


def test_state_action_on_pendulum_scores_the_1000_point_grid():
    cfg = Config(q_network="state_action", bins=1000, hidden=(16, 16))
    dqn = make_dqn(cfg)
    assert isinstance(dqn.network, StateActionQNetwork)
    np.testing.assert_array_equal(np.asarray(dqn.network.action_grid), dqn.env.actions)
    obs, _ = dqn.env.reset(jax.random.key(0), dqn.env_params)
    params = dqn.network.init(jax.random.key(1), obs[None])
    q = dqn.network.apply(params, jnp.stack([obs, obs + 0.1]))
    action = dqn.act(params, jnp.stack([obs, obs + 0.1]), jax.random.key(3), jnp.float32(0.0))
    assert q.shape == (2, 1000)
    np.testing.assert_array_equal(action, np.asarray(q).argmax(1))


def test_state_action_needs_a_box_action_space():
    with pytest.raises(ConfigError, match="state_action"):
        make_env(Config(env="CartPole-v1", q_network="state_action"))
    with pytest.raises(ConfigError, match="state_action"):
        make_dqn(CHAIN_CONFIG.replace(q_network="state_action"), Chain())


# ---------------------------------------------------------------------------------------
# n-step returns.


def _n_step_reference(r, term, trunc, q_next, gamma):
    """Loop reference: accumulate rewards until the window ends or an episode ends."""
    g, k = 0.0, 0
    for k in range(len(r)):
        g += gamma**k * r[k]
        if term[k] or trunc[k]:
            break
    bootstrap = 0.0 if term[k] else gamma ** (k + 1) * q_next[k].max()
    return g + bootstrap


def test_n_step_target_matches_numpy_with_terminal_and_truncation():
    rng = np.random.default_rng(3)
    b, n, d, a = 6, 4, 3, 2
    obs = rng.normal(size=(b, n, d)).astype(np.float32)
    next_obs = rng.normal(size=(b, n, d)).astype(np.float32)
    reward = rng.normal(size=(b, n)).astype(np.float32)
    action = rng.integers(0, a, (b, n)).astype(np.int32)
    term = np.zeros((b, n), bool)
    trunc = np.zeros((b, n), bool)
    term[1, 2] = True  # terminal inside the window: no bootstrap, later rewards ignored
    trunc[2, 1] = True  # truncation inside: bootstrap from that step's final obs
    term[3, 0] = True  # terminal at the first step: one-step, no bootstrap
    trunc[4, 3] = True  # truncation at the last step: the full n-step bootstrap
    term[5, 1], trunc[5, 3] = True, True  # the first end counts
    w = rng.normal(size=(d, a)).astype(np.float32)  # a linear "target network"
    q_tm1 = rng.normal(size=(b, a)).astype(np.float32)
    gamma = 0.8
    seq = Transition(obs, action, reward, next_obs, term, trunc)
    hp = Config(gamma=gamma).hyperparams()
    batch, discount = one_step_view(hp.gamma, jax.tree.map(jnp.asarray, seq))
    q_t = batch.next_obs @ jnp.asarray(w)
    _, td = losses.td_loss(
        jnp.asarray(q_tm1),
        batch.action,
        batch.reward,
        discount,
        q_t,
        kind="l2",
        huber_delta=hp.huber_delta,
    )
    expected = [
        _n_step_reference(reward[i], term[i], trunc[i], next_obs[i] @ w, gamma)
        - q_tm1[i, action[i, 0]]
        for i in range(b)
    ]
    np.testing.assert_allclose(td, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("prioritized", [False, True])
def test_sequences_never_cross_the_write_head(prioritized):
    # 2 envs x 8 time steps, sequences of 3; 11 steps written, so row i holds times 3..10
    # (obs = time) with the write head between times 10 and 3.
    buf = replay.sequence_replay(16, 256, 2, 3, prioritized=prioritized)
    x = jnp.zeros(())
    state = buf.init(Transition(x, jnp.int32(0), x, x, jnp.bool_(False), jnp.bool_(False)))
    f = jnp.zeros((2,), bool)

    def add(state, t):
        v = jnp.full((2,), t, jnp.float32)
        return buf.add(state, Transition(v, jnp.zeros(2, jnp.int32), v, v, f, f)), None

    state, _ = jax.jit(lambda s: jax.lax.scan(add, s, jnp.arange(11)))(state)
    obs = np.asarray(jax.jit(buf.sample)(state, jax.random.key(0)).experience.obs)  # [256, 3]
    # Every sampled sequence is 3 consecutive written times; every valid start (3..8) occurs.
    np.testing.assert_array_equal(obs[:, 1:] - obs[:, :-1], 1.0)
    assert set(obs[:, 0].astype(int)) == set(range(3, 9))


def test_n_step_return_gives_no_gradient_path_and_one_step_when_n_is_1():
    g, disc, last = losses.n_step_return(
        jnp.array([2.0]), jnp.array([False]), jnp.array([False]), jnp.float32(0.5)
    )
    np.testing.assert_allclose([g, disc, last], [2.0, 0.5, 0])


def _q_n_step_uniform(length: int, gamma: float, n: int) -> np.ndarray:
    """Fixed point of n-step Q-learning on the chain when the data comes from the uniform
    random policy: Q(s, a) = r + gamma (1 - term) W_{n-1}(s'), with W_0 = max_a Q and
    W_{j+1}(s) = mean_a [r + gamma (1 - term) W_j(s')]. ``[L-1, 2]``."""
    L = length
    nxt = np.array([[max(s - 1, 0), min(s + 1, L - 1)] for s in range(L)])
    rew = (nxt == L - 1).astype(float)
    q = np.zeros((L, 2))
    for _ in range(2000):
        w = np.where(np.arange(L) == L - 1, 0.0, q.max(1))
        for _ in range(n - 1):
            w_new = (rew + gamma * np.where(nxt == L - 1, 0.0, w[nxt])).mean(1)
            w = np.where(np.arange(L) == L - 1, 0.0, w_new)
        q = rew + gamma * np.where(nxt == L - 1, 0.0, w[nxt])
    return q[: L - 1]


def test_n_step_reference_is_q_star_for_one_step():
    np.testing.assert_allclose(_q_n_step_uniform(5, GAMMA, 1), Chain().q_star(GAMMA), atol=1e-9)


# ---------------------------------------------------------------------------------------
# Prioritized replay.


def _filled_per_buffer(num_envs=2, time_len=8):
    buf = replay.sequence_replay(num_envs * time_len, 64, num_envs, 1, prioritized=True)
    x = jnp.zeros(())
    state = buf.init(Transition(x, jnp.int32(0), x, x, jnp.bool_(False), jnp.bool_(False)))
    f = jnp.zeros((num_envs,), bool)

    def add(state, t):
        v = jnp.full((num_envs,), t, jnp.float32)
        return buf.add(state, Transition(v, jnp.zeros(num_envs, jnp.int32), v, v, f, f)), None

    state, _ = jax.jit(lambda s: jax.lax.scan(add, s, jnp.arange(time_len)))(state)
    return buf, state


def test_per_probabilities_and_importance_weights_match_numpy():
    buf, state = _filled_per_buffer()
    n_items = 16
    rng = np.random.default_rng(4)
    td = rng.normal(size=n_items).astype(np.float32) * 3
    alpha, beta, eps = 0.6, 0.4, 1e-6
    prio = replay.priorities_from_td(jnp.asarray(td), alpha, eps)
    state = buf.set_priorities(state, jnp.arange(n_items), prio)
    # NumPy reference.
    p_ref = (np.abs(td.astype(np.float64)) + eps) ** alpha
    probs_ref = p_ref / p_ref.sum()
    sample = buf.sample(state, jax.random.key(0))
    idx = np.asarray(sample.indices)
    np.testing.assert_allclose(sample.probabilities, probs_ref[idx], rtol=1e-5)
    w = np.asarray(replay.importance_weights(sample.probabilities, beta))
    w_ref = (n_items * probs_ref[idx]) ** (-beta)
    np.testing.assert_allclose(w, w_ref / w_ref.max(), rtol=1e-5)
    # A zero-probability sample (drifted tree) gets weight 0 and does not set the maximum.
    w0 = replay.importance_weights(jnp.array([0.1, 0.0, 0.4]), 0.5)
    np.testing.assert_allclose(w0, [1.0, 0.0, 0.5], rtol=1e-6)
    # The sample holds the stored items: item i is env i // 8 at time i % 8 (value = time).
    np.testing.assert_array_equal(sample.experience.obs[:, 0], idx % 8)
    # Sampling frequencies follow P (64 x 200 draws; 5 standard errors).
    draws = jax.jit(jax.vmap(lambda k: buf.sample(state, k).indices))(
        jax.random.split(jax.random.key(1), 200)
    )
    freq = np.bincount(np.asarray(draws).ravel(), minlength=n_items) / draws.size
    se = np.sqrt(probs_ref * (1 - probs_ref) / draws.size)
    assert np.all(np.abs(freq - probs_ref) < 5 * se + 1e-9)


def test_per_beta_anneals_linearly_to_one():
    cfg = Config(total_steps=10_000, learning_starts=1000, eval_every=5000, per_beta_start=0.4)
    hp = cfg.hyperparams()
    steps = jnp.array([0.0, 1000.0, 5500.0, 10_000.0])
    np.testing.assert_allclose(per_beta(cfg, hp, steps), [0.4, 0.4, 0.7, 1.0], rtol=1e-6)


def test_sum_tree_drift_is_measured_and_removed_by_a_rebuild():
    buf, state = _filled_per_buffer(num_envs=4, time_len=256)

    def body(state, key):
        idx = jax.random.randint(key, (64,), 0, 1024)
        prio = jax.random.uniform(jax.random.fold_in(key, 1), (64,)) * 1e3
        return buf.set_priorities(state, idx, prio), None

    state, _ = jax.jit(lambda s, k: jax.lax.scan(body, s, k))(
        state, jax.random.split(jax.random.key(2), 2000)
    )
    tree = state.sum_tree_state
    leaves = np.asarray(tree.nodes[2**tree.tree_depth - 1 :], np.float64)
    drift = float(state.sum_tree_state.nodes[0]) - leaves.sum()
    assert abs(drift) > 0  # incremental float32 updates drift
    np.testing.assert_allclose(replay.sum_tree_drift(state), drift, rtol=1e-3, atol=1e-2)
    rebuilt = replay.rebuild_sum_tree(state)
    np.testing.assert_allclose(rebuilt.sum_tree_state.nodes[0], leaves.sum(), rtol=1e-6)
    assert float(replay.sum_tree_drift(rebuilt)) == 0.0
    # Every inner node is the sum of its two children again.
    nodes = np.asarray(rebuilt.sum_tree_state.nodes, np.float64)
    inner = np.arange(2**tree.tree_depth - 1)
    np.testing.assert_allclose(nodes[inner], nodes[2 * inner + 1] + nodes[2 * inner + 2], rtol=1e-6)


# ---------------------------------------------------------------------------------------
# C51.


def _project_reference(z_p, probs, z):
    """Bellemare et al. (2017), algorithm 1: floor/ceil split of each clipped atom."""
    v_min, v_max, dz = z[0], z[-1], z[1] - z[0]
    m = np.zeros(len(z))
    for zj, pj in zip(z_p, probs, strict=True):
        b = (min(max(zj, v_min), v_max) - v_min) / dz
        lo, hi = int(np.floor(b)), int(np.ceil(b))
        if lo == hi:
            m[lo] += pj
        else:
            m[lo] += pj * (hi - b)
            m[hi] += pj * (b - lo)
    return m


def test_categorical_projection_matches_numpy():
    rng = np.random.default_rng(6)
    z = np.linspace(-2.0, 3.0, 11)
    probs = rng.dirichlet(np.ones(11))
    cases = [
        (0.7, 0.9),  # inside, between atoms
        (2.5, 0.9),  # many atoms clipped at v_max
        (-1.9, 0.9),  # many atoms clipped at v_min
        (0.35, 0.0),  # terminal: all mass at r (between two atoms)
        (10.0, 0.0),  # terminal with r beyond v_max: all mass on the last atom
        (0.5, 1.0),  # r + z shifts by exactly one atom
    ]
    for r, discount in cases:
        z_p = r + discount * z
        got = losses.categorical_projection(
            jnp.asarray(z_p, jnp.float32),
            jnp.asarray(probs, jnp.float32),
            jnp.asarray(z, jnp.float32),
        )
        ref = _project_reference(z_p, probs, z)
        np.testing.assert_allclose(got, ref, atol=1e-5, err_msg=f"r={r} discount={discount}")
        np.testing.assert_allclose(np.sum(got), 1.0, rtol=1e-5)


def test_c51_loss_matches_numpy_with_double_q_and_n_step():
    rng = np.random.default_rng(7)
    b, a, k = 5, 3, 7
    z = np.linspace(-1.0, 2.0, k)
    logits_tm1 = rng.normal(size=(b, a, k)).astype(np.float32)
    logits_t = rng.normal(size=(b, a, k)).astype(np.float32)
    action = rng.integers(0, a, b).astype(np.int32)
    a_t = rng.integers(0, a, b).astype(np.int32)  # e.g. the online net's choice (double)
    reward = rng.normal(size=b).astype(np.float32)
    discount = np.array([0.81, 0.0, 0.9, 0.729, 0.0], np.float32)  # n-step gammas, terminals
    weights = rng.uniform(0.2, 1.0, b).astype(np.float32)

    def softmax(x):
        e = np.exp(x - x.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    ref = np.array(
        [
            -np.sum(
                _project_reference(reward[i] + discount[i] * z, softmax(logits_t[i, a_t[i]]), z)
                * np.log(softmax(logits_tm1[i, action[i]]))
            )
            for i in range(b)
        ]
    )
    loss, per_item = losses.categorical_td_loss(
        jnp.asarray(logits_tm1),
        jnp.asarray(action),
        jnp.asarray(reward),
        jnp.asarray(discount),
        jnp.asarray(logits_t),
        jnp.asarray(a_t),
        jnp.asarray(z, jnp.float32),
        jnp.asarray(weights),
    )
    np.testing.assert_allclose(per_item, ref, rtol=1e-4)
    np.testing.assert_allclose(loss, np.mean(weights * ref), rtol=1e-4)


def test_c51_network_q_is_the_mean_of_the_distribution():
    cfg = CHAIN_CONFIG.replace(distributional=True, num_atoms=11, v_min=-1.0, v_max=2.0)
    dqn = make_dqn(cfg, Chain())
    state = dqn.init(jax.random.key(0), cfg.hyperparams())
    z = np.asarray(state.params["support"]["z"])
    np.testing.assert_allclose(z, np.linspace(-1.0, 2.0, 11), rtol=1e-6)
    obs = jnp.eye(5)
    logits, _ = dqn.network.apply(state.params, obs, return_logits=True)
    assert logits.shape == (5, 2, 11)
    p = np.exp(np.asarray(logits, np.float64))
    p /= p.sum(-1, keepdims=True)
    np.testing.assert_allclose(dqn.network.apply(state.params, obs), (p * z).sum(-1), rtol=1e-5)


# ---------------------------------------------------------------------------------------
# Every variant on the chain MDP: one compiled program per variant, 4 seeds vmapped.


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def chain_variant(request):
    cfg = CHAIN_CONFIG.replace(**VARIANTS[request.param])
    if cfg.q_network == "state_action":
        env = Discretize(BoxChain(), bins=4)
    elif cfg.conv:
        env = ImageChain()
    else:
        env = Chain(max_steps=200 if cfg.n_step > 1 else 8)
    keys = jax.vmap(jax.random.key)(jnp.arange(CHAIN_SEEDS))
    out = jax.jit(jax.vmap(make_train(cfg, env)))(keys)
    return request.param, cfg, env, out


def test_variant_learns_chain_q_star(chain_variant):
    name, cfg, env, out = chain_variant
    network = make_dqn(cfg, env).network
    if cfg.q_network == "state_action":
        q_star = env.env.q_star_grid(GAMMA, env.actions)
    elif cfg.n_step > 1:
        q_star = _q_n_step_uniform(env.length, GAMMA, cfg.n_step)
    else:
        q_star = env.q_star(GAMMA)
    seed_atol = N_STEP_SEED_ATOL if cfg.n_step > 1 else CHAIN_ATOL
    qs = []
    for seed in range(CHAIN_SEEDS):
        params = jax.tree.map(lambda x, s=seed: x[s], out.params)
        obs = env.observations() if isinstance(env, ImageChain) else jnp.eye(env.length)
        q = np.asarray(network.apply(params, obs))[: env.length - 1]
        np.testing.assert_allclose(q, q_star, atol=seed_atol, err_msg=f"{name} seed {seed}")
        qs.append(q)
    np.testing.assert_allclose(np.mean(qs, 0), q_star, atol=CHAIN_ATOL, err_msg=name)
    np.testing.assert_array_equal(np.asarray(out.metrics["eval_return"])[:, -1], 1.0)
