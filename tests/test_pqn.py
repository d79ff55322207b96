"""PQN: Q(λ) targets, the minibatch schedule, the normalised networks, Q* on the chain MDP,
and the command line (MinAtar preset run, kill + resume, sweep over λ and lr)."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import rlax
from chain_env import Chain
from tiny_run import compilation_cache_env, python

from purejaxdqn import envs, presets, sweep
from purejaxdqn.algorithms import make_trainer
from purejaxdqn.cli import flags
from purejaxdqn.config import Config, ConfigError
from purejaxdqn.networks import QNetwork
from purejaxdqn.pqn import make_pqn, minibatch_schedule, q_lambda_targets
from purejaxdqn.rundir import files


# --- Q(λ) targets -----------------------------------------------------------------------
def numpy_q_lambda(r, term, trunc, q_next, gamma, lam):
    """The recursion written out per env, backwards (independent of the scan)."""
    T, N = r.shape
    v = q_next.max(-1)
    out = np.zeros((T, N))
    for i in range(N):
        g = v[T - 1, i]
        for t in reversed(range(T)):
            if term[t, i]:
                g = r[t, i]
            elif trunc[t, i] or t == T - 1:
                g = r[t, i] + gamma * v[t, i]
            else:
                g = r[t, i] + gamma * ((1 - lam) * v[t, i] + lam * g)
            out[t, i] = g
    return out


def _rollout(seed=0, T=9, N=4, A=3):
    rng = np.random.default_rng(seed)
    r = rng.normal(size=(T, N)).astype(np.float32)
    q = rng.normal(size=(T, N, A)).astype(np.float32)
    term = np.zeros((T, N), bool)
    trunc = np.zeros((T, N), bool)
    term[[2, 6], 0] = True  # two terminations inside the rollout
    trunc[4, 1] = True  # a truncation inside it
    term[3, 2], trunc[7, 2] = True, True  # both kinds in one env
    term[T - 1, 3] = True  # a termination at the rollout's last step
    return r, term, trunc, q


@pytest.mark.parametrize("lam", [0.0, 0.65, 1.0])
def test_q_lambda_targets_match_numpy_and_rlax(lam):
    gamma = 0.9
    r, term, trunc, q = _rollout()
    got = np.asarray(q_lambda_targets(r, term, trunc, q, gamma, lam))
    np.testing.assert_allclose(got, numpy_q_lambda(r, term, trunc, q, gamma, lam), rtol=1e-5)
    done = term | trunc
    discount = gamma * (1.0 - term)
    lam_t = lam * (1.0 - done)
    for i in range(r.shape[1]):  # rlax, one env at a time
        ref = rlax.lambda_returns(r[:, i], discount[:, i], q[:, i].max(-1), lam_t[:, i])
        np.testing.assert_allclose(got[:, i], ref, rtol=1e-5)


def test_q_lambda_extremes_one_step_and_monte_carlo():
    gamma = 0.9
    r, term, trunc, q = _rollout(1)
    v = q.max(-1)
    one_step = r + gamma * (1 - term) * v
    np.testing.assert_allclose(q_lambda_targets(r, term, trunc, q, gamma, 0.0), one_step, 1e-5)
    # λ = 1, env 0 (terminations at 2 and 6): discounted reward sums to the termination.
    mc = np.asarray(q_lambda_targets(r, term, trunc, q, gamma, 1.0))[:, 0]
    r0 = r[:, 0]
    np.testing.assert_allclose(mc[0], r0[0] + gamma * r0[1] + gamma**2 * r0[2], rtol=1e-5)
    np.testing.assert_allclose(mc[3], sum(gamma**k * r0[3 + k] for k in range(4)), rtol=1e-5)
    # ... and after the last termination, the return to the rollout's end plus its bootstrap.
    tail = r0[7] + gamma * r0[8] + gamma**2 * v[8, 0]
    np.testing.assert_allclose(mc[7], tail, rtol=1e-5)
    # env 1, truncated at 4: the trace stops there and bootstraps the final obs' value.
    r1 = r[:, 1]
    expected = r1[3] + gamma * (r1[4] + gamma * v[4, 1])
    np.testing.assert_allclose(np.asarray(q_lambda_targets(r, term, trunc, q, gamma, 1.0))[3, 1],
                               expected, rtol=1e-5)  # fmt: skip


# --- the minibatch / epoch schedule -----------------------------------------------------
def test_every_transition_used_exactly_num_epochs_times():
    B, E, M = 96, 3, 4
    sched = np.asarray(minibatch_schedule(jax.random.key(7), B, E, M))
    assert sched.shape == (E * M, B // M)
    counts = np.bincount(sched.ravel(), minlength=B)
    np.testing.assert_array_equal(counts, np.full(B, E))
    epochs = sched.reshape(E, B)
    for e in range(E):  # each epoch a permutation
        np.testing.assert_array_equal(np.sort(epochs[e]), np.arange(B))
    assert not np.array_equal(epochs[0], epochs[1])  # fresh keys per epoch
    other = np.asarray(minibatch_schedule(jax.random.key(8), B, E, M))
    assert not np.array_equal(sched, other)


# --- normalised networks ----------------------------------------------------------------
def test_layer_norm_network_matches_hand_computation():
    net = QNetwork(num_actions=3, hidden=(5,), norm="layer")
    x = np.random.default_rng(0).normal(size=(4, 6)).astype(np.float32)
    variables = net.init(jax.random.key(0), x)
    p = jax.tree.map(np.asarray, variables["params"])
    # perturb scale and bias so they matter
    p["LayerNorm_0"]["scale"] = np.linspace(0.5, 1.5, 5).astype(np.float32)
    p["LayerNorm_0"]["bias"] = np.linspace(-0.2, 0.2, 5).astype(np.float32)
    h = x @ p["Dense_0"]["kernel"] + p["Dense_0"]["bias"]
    mu, var = h.mean(-1, keepdims=True), h.var(-1, keepdims=True)
    h = (h - mu) / np.sqrt(var + 1e-6) * p["LayerNorm_0"]["scale"] + p["LayerNorm_0"]["bias"]
    expected = np.maximum(h, 0) @ p["Dense_1"]["kernel"] + p["Dense_1"]["bias"]
    got = net.apply({"params": p}, x)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_batch_norm_train_and_eval_modes_match_hand_computation():
    net = QNetwork(num_actions=2, hidden=(3,), norm="batch")
    x = np.random.default_rng(1).normal(size=(8, 4)).astype(np.float32)
    variables = net.init(jax.random.key(1), x)
    p = jax.tree.map(np.asarray, variables["params"])
    stats = {"mean": np.array([0.1, -0.2, 0.3], np.float32),
             "var": np.array([2.0, 0.5, 1.0], np.float32)}  # fmt: skip
    full = {"params": p, "batch_stats": {"BatchNorm_0": stats}}
    bn, h = p["BatchNorm_0"], x @ p["Dense_0"]["kernel"] + p["Dense_0"]["bias"]

    def head(z):
        return (
            np.maximum(z * bn["scale"] + bn["bias"], 0) @ p["Dense_1"]["kernel"]
            + p["Dense_1"]["bias"]
        )

    eval_q = head((h - stats["mean"]) / np.sqrt(stats["var"] + 1e-5))
    np.testing.assert_allclose(net.apply(full, x), eval_q, rtol=1e-4, atol=1e-5)
    train_q, updates = net.apply(full, x, train=True, mutable=["batch_stats"])
    mu, var = h.mean(0), h.var(0)
    np.testing.assert_allclose(train_q, head((h - mu) / np.sqrt(var + 1e-5)), rtol=1e-4, atol=1e-5)
    new = updates["batch_stats"]["BatchNorm_0"]
    np.testing.assert_allclose(new["mean"], 0.99 * stats["mean"] + 0.01 * mu, rtol=1e-5)
    np.testing.assert_allclose(new["var"], 0.99 * stats["var"] + 0.01 * var, rtol=1e-5)


# --- PQN on the chain MDP, through the sweep command -----------------------------------
GAMMA = 0.9
SEEDS = 2
CHAIN_ENV = "chain-pqn-test"
# Uniform behaviour (ε = 1) and λ = 0: one-step Q-learning targets, whose fixed point is Q*
# (Peng's Q(λ > 0) mixes in the behaviour policy's returns). The chain truncates after 8
# steps, so a learner that cut the bootstrap at truncations would miss Q* near the start.
CHAIN_PQN = Config(
    env=CHAIN_ENV,
    algorithm="pqn",
    total_steps=8192,
    eval_every=4096,
    num_envs=16,
    num_steps=8,
    num_minibatches=4,
    num_epochs=2,
    eval_episodes=2,
    hidden=(32,),
    norm="layer",
    loss="l2",
    optimizer="radam",
    lr=5e-3,
    lr_end_fraction=0.1,
    gamma=GAMMA,
    lam=0.0,
    eps_start=1.0,
    eps_end=1.0,
)
CHAIN_FLAGS = [
    "--algorithm", "pqn", "--env", CHAIN_ENV, "--total-steps", "8192", "--eval-every", "4096",
    "--num-envs", "16", "--num-steps", "8", "--num-minibatches", "4", "--num-epochs", "2",
    "--eval-episodes", "2", "--hidden", "32", "--norm", "layer", "--loss", "l2",
    "--optimizer", "radam", "--lr", "5e-3", "--lr-end-fraction", "0.1", "--gamma", "0.9",
    "--eps-start", "1", "--eps-end", "1", "--seeds", str(SEEDS), "--quiet",
]  # fmt: skip
GRID = [{"lam": 0.0, "lr": 4e-3}, {"lam": 0.0, "lr": 6e-3}, {"lam": 0.5, "lr": 4e-3},
        {"lam": 0.5, "lr": 6e-3}]  # fmt: skip


@pytest.fixture(scope="module")
def chain_sweep(tmp_path_factory) -> Path:
    """``sweep --algorithm pqn --grid lam=0,0.5 lr=4e-3,6e-3`` on the chain (one program)."""
    try:
        envs.register(CHAIN_ENV, Chain)
    except ValueError:  # registered by an earlier test in this process
        pass
    out = tmp_path_factory.mktemp("pqn-sweep") / "sweep"
    argv = [*CHAIN_FLAGS, "--grid", "lam=0,0.5", "lr=4e-3,6e-3", "--out", str(out)]
    assert sweep.main(argv) == 0
    return out


def _point(out: Path, p: int) -> Path:
    return out / "points" / f"{p:03d}"


def test_sweep_over_lambda_and_lr(chain_sweep):
    rows = (chain_sweep / "sweep.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + len(GRID) * SEEDS  # a row per point and seed
    for p, values in enumerate(GRID):
        fields = files.read_config_file(_point(chain_sweep, p) / "config.json")[0]
        assert Config.from_dict(fields) == CHAIN_PQN.replace(**values)
    leaves = [np.asarray(jax.tree.leaves(files.load_params(_point(chain_sweep, p)))[0])
              for p in range(len(GRID))]  # fmt: skip
    assert all(not np.array_equal(leaves[0], x) for x in leaves[1:])  # λ and lr reach it


def test_pqn_learns_chain_q_star(chain_sweep):
    env = Chain()
    network = make_pqn(CHAIN_PQN, env).network
    q_star = env.q_star(GAMMA)
    for p, values in enumerate(GRID):
        if values["lam"] != 0.0:
            continue
        params = files.load_params(_point(chain_sweep, p))
        for seed in range(SEEDS):
            one = jax.tree.map(lambda x, s=seed: x[s], params)
            q = np.asarray(network.apply(one, jnp.eye(env.length)))[: env.length - 1]
            np.testing.assert_allclose(q, q_star, atol=0.03, err_msg=f"point {p} seed {seed}")
        summary = json.loads((_point(chain_sweep, p) / "summary.json").read_text())
        assert summary["diverged_count"] == 0
        lines = (_point(chain_sweep, p) / "metrics.csv").read_text().strip().splitlines()
        assert len(lines) == 1 + SEEDS * 3  # header, 2 evaluations + row 0 per seed


# --- config --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "changes, words",
    [
        ({"num_minibatches": 7}, "num_minibatches (7) must divide"),
        ({"eval_every": 100}, "eval_every (100) must be a multiple"),
        ({"double_q": True}, "double_q=True is not available"),
        ({"n_step": 3}, "n_step=3 is not available"),
        ({"lam": 1.5}, "lam must be in [0, 1]"),
        ({"reward_scale": 0.0}, "reward_scale must be > 0"),
        ({"norm": "group"}, "norm must be one of"),
        ({"algorithm": "ppo"}, "algorithm must be one of"),
    ],
)
def test_pqn_config_errors_are_one_line(changes, words):
    with pytest.raises(ConfigError) as e:
        CHAIN_PQN.replace(**changes)
    assert words in str(e.value) and "\n" not in str(e.value)


def test_batch_norm_refused_for_dqn_and_presets_by_algorithm():
    with pytest.raises(ConfigError, match="norm='batch' needs algorithm='pqn'"):
        Config(norm="batch")
    Config(norm="layer")  # LayerNorm is a network option DQN has too
    args = sweep.build_parser().parse_args(["--algorithm", "pqn", "--env", "CartPole-v1"])
    config = flags.config_from_args(args)[0]
    assert config == presets.preset("CartPole-v1", algorithm="pqn")
    assert (config.num_envs, config.num_steps, config.lam, config.norm) == (32, 64, 0.95, "layer")
    dqn = flags.config_from_args(sweep.build_parser().parse_args(["--env", "CartPole-v1"]))[0]
    assert dqn == presets.preset("CartPole-v1") and dqn.algorithm == "dqn"
    for env in presets.PQN_PRESETS:
        presets.preset(env, algorithm="pqn")  # every preset is valid


# --- the command line ---------------------------------------------------------------
MINATAR = [
    "--algorithm", "pqn", "--env", "Breakout-MinAtar", "--seeds", "2", "--total-steps", "192",
    "--eval-every", "64", "--num-envs", "4", "--num-steps", "8", "--num-minibatches", "2",
    "--eval-episodes", "1", "--quiet",
]  # fmt: skip
_CACHE: dict[str, str] = {}


@pytest.fixture(scope="module")
def minatar_run(tmp_path_factory) -> Path:
    """A tiny PQN run on the MinAtar preset in one piece (the resume test's reference)."""
    _CACHE.update(compilation_cache_env(tmp_path_factory.mktemp("jax-cache")))
    out = tmp_path_factory.mktemp("pqn") / "full"
    # Checkpoints every period, as the killed run below: the same compiled segment program,
    # so both later subprocesses find it in the shared compilation cache.
    args = [*MINATAR, "--checkpoint-every", "64", "--out", str(out)]
    proc = python("-m", "purejaxdqn.run", *args, env=_CACHE)
    assert proc.returncode == 0, proc.stderr
    return out


def test_minatar_preset_run(minatar_run):
    config, _ = files.read_config_file(minatar_run / "config.json")
    assert (
        config["algorithm"] == "pqn"
        and tuple(config["conv"]) == (16,)
        and config["norm"] == "layer"
    )
    assert config["lam"] == 0.65 and config["optimizer"] == "radam"
    assert files.is_complete(minatar_run)
    lines = (minatar_run / "metrics.csv").read_text().strip().splitlines()
    assert len(lines) == 1 + 2 * 4  # header + 2 seeds x (3 evaluations + row 0)


def test_pqn_kill_and_resume_is_byte_identical(minatar_run, tmp_path):
    out = tmp_path / "run"
    run = lambda *a, fault=None: python("-m", "purejaxdqn.run", *a, fault=fault, env=_CACHE)
    killed = run(*MINATAR, "--checkpoint-every", "64", "--out", str(out), fault="after:1")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    done = run("--resume", str(out), "--quiet")
    assert done.returncode == 0, done.stderr
    assert "resumed from" in done.stderr
    for name in ("metrics.csv", "params.msgpack"):
        assert (out / name).read_bytes() == (minatar_run / name).read_bytes(), name


def test_make_trainer_dispatches():
    assert type(make_trainer(CHAIN_PQN, Chain())).__name__ == "PQN"
    assert type(make_trainer(Config(env="CartPole-v1"))).__name__ == "DQN"
