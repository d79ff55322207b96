"""make(), the gymnax and Brax adapters, and the Discretize wrapper."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purejaxdqn import envs
from purejaxdqn.envs.gymnax_env import GymnaxEnv


def _jit_vmap_rollout(env, params, n_envs=4, n_steps=3):
    """reset + a few steps under jit(vmap), random actions; returns the last outputs."""
    space = env.action_space(params)

    @jax.jit
    def run(key):
        keys = jax.random.split(key, n_envs)
        obs, state = jax.vmap(env.reset, (0, None))(keys, params)

        def body(carry, key):
            obs, state = carry
            k_act, k_step = jax.random.split(key)
            acts = jax.vmap(space.sample)(jax.random.split(k_act, n_envs))
            out = jax.vmap(env.step, (0, 0, 0, None))(
                jax.random.split(k_step, n_envs), state, acts, params
            )
            return (out[0], out[1]), out

        _, out = jax.lax.scan(body, (obs, state), jax.random.split(key, n_steps))
        return obs, out

    return run(jax.random.key(0))


def _check_outputs(env, params, obs0, out, n_envs=4, n_steps=3):
    obs, _, reward, term, trunc, info = out
    shape = env.observation_space(params).shape
    assert obs0.shape == (n_envs, *shape) and jnp.issubdtype(obs0.dtype, jnp.floating)
    assert obs.shape == (n_steps, n_envs, *shape) and jnp.issubdtype(obs.dtype, jnp.floating)
    assert reward.shape == (n_steps, n_envs) and jnp.issubdtype(reward.dtype, jnp.floating)
    assert term.dtype == jnp.bool_ and trunc.dtype == jnp.bool_
    assert term.shape == trunc.shape == (n_steps, n_envs)
    assert list(info) == ["final_obs"] and info["final_obs"].shape == obs.shape
    assert isinstance(env.max_episode_steps(params), int)
    assert isinstance(env, envs.Environment)


GYMNAX_NAMES = ["CartPole-v1", "Acrobot-v1", "MountainCar-v0", "Breakout-MinAtar"]


@pytest.mark.parametrize("name", GYMNAX_NAMES + ["InvertedPendulum-v5", "Pendulum-v1"])
def test_made_envs_work_under_jit_vmap(name):
    env, params = envs.make(name)
    if name == "Pendulum-v1":
        env = envs.Discretize(env, bins=5)
    obs0, out = _jit_vmap_rollout(env, params)
    _check_outputs(env, params, obs0, out)


@pytest.mark.parametrize("name", GYMNAX_NAMES)
def test_gymnax_truncation_at_time_limit_is_not_termination(name):
    env, params = envs.make(name)
    limit = env.max_episode_steps(params)
    obs, state = env.reset(jax.random.key(0), params)
    state = state.replace(env_state=state.env_state.replace(time=limit - 1))
    step = jax.jit(env.step)
    obs, new_state, reward, term, trunc, info = step(jax.random.key(1), state, 0, params)
    assert not bool(term) and bool(trunc)
    assert int(new_state.env_state.time) == 0
    # one step earlier: neither
    state = state.replace(env_state=state.env_state.replace(time=limit - 2))
    obs, new_state, _, term, trunc, info = step(jax.random.key(1), state, 0, params)
    assert not bool(term) and not bool(trunc)
    np.testing.assert_array_equal(np.asarray(info["final_obs"]), np.asarray(obs))
    assert int(new_state.env_state.time) == limit - 1


def test_gymnax_cartpole_termination_and_final_obs():
    env, params = envs.make("CartPole-v1")
    assert env.max_episode_steps(params) == 500
    _, state = env.reset(jax.random.key(0), params)
    state = state.replace(env_state=state.env_state.replace(theta=0.2, theta_dot=2.0, time=3))
    obs, new_state, reward, term, trunc, info = jax.jit(env.step)(
        jax.random.key(1), state, 1, params
    )
    assert bool(term) and not bool(trunc)
    assert float(info["final_obs"][2]) > 0.2 and float(jnp.abs(obs).max()) <= 0.05
    assert float(reward) == 1.0 and int(new_state.env_state.time) == 0

    # A balancing policy reaches the time limit: truncated, never terminated.
    @jax.jit
    def run(key):
        obs, state = env.reset(key, params)

        def body(carry, key):
            obs, state = carry
            action = (obs[2] + 0.5 * obs[3] > 0).astype(jnp.int32)
            obs, state, r, te, tr, _ = env.step(key, state, action, params)
            return (obs, state), (te, tr)

        return jax.lax.scan(body, (obs, state), jax.random.split(key, 500))[1]

    term, trunc = run(jax.random.key(2))
    assert not bool(term.any()) and bool(trunc[-1]) and not bool(trunc[:-1].any())


def test_gymnax_spaces_and_minatar_float_obs():
    env, params = envs.make("CartPole-v1")
    assert env.action_space(params) == envs.Discrete(2)
    box = env.observation_space(params)
    assert isinstance(box, envs.Box) and box.shape == (4,) and box.dtype == jnp.float32
    env, params = envs.make("Breakout-MinAtar")
    assert env.action_space(params) == envs.Discrete(3)
    obs, _ = env.reset(jax.random.key(0), params)
    assert obs.dtype == jnp.float32 and obs.shape == env.observation_space(params).shape
    assert set(np.unique(np.asarray(obs))) <= {0.0, 1.0}
    env, params = envs.make("Pendulum-v1")
    assert env.action_space(params) == envs.Box(-2.0, 2.0, (1,))
    acrobot = GymnaxEnv("Acrobot-v1")
    assert isinstance(acrobot.observation_space(acrobot.default_params), envs.Box)


def test_brax_adapter_truncates_and_resets():
    env, params = envs.make("brax:fast", episode_length=3)
    assert env.name == "brax:fast" and env.max_episode_steps(params) == 3
    space = env.action_space(params)
    assert isinstance(space, envs.Box) and (space.low == -1).all() and (space.high == 1).all()
    obs0, out = _jit_vmap_rollout(env, params, n_envs=2, n_steps=7)
    _check_outputs(env, params, obs0, out, n_envs=2, n_steps=7)
    trunc = np.asarray(out[4])[:, 0]
    np.testing.assert_array_equal(trunc, [0, 0, 1, 0, 0, 1, 0])
    assert not np.asarray(out[3]).any()
    assert (np.asarray(out[1].t)[:, 0] == [1, 2, 0, 1, 2, 0, 1]).all()


def test_brax_physics_env_steps():
    env, params = envs.make("brax:inverted_pendulum", backend="spring", episode_length=50)
    assert env.action_space(params).shape == (1,)
    obs0, out = _jit_vmap_rollout(env, params, n_envs=2, n_steps=2)
    _check_outputs(env, params, obs0, out, n_envs=2, n_steps=2)
    assert np.isfinite(np.asarray(out[0])).all()


class _BoxEnv:
    """A stub env with a given Box action space; step returns the action it received."""

    name = "stub"
    default_params = None

    def __init__(self, low, high, shape):
        self.space = envs.Box(low, high, shape)

    def action_space(self, params):
        return self.space

    def step(self, key, state, action, params):
        return action


def test_discretize_grid_values():
    env = envs.Discretize(_BoxEnv(-3.0, 3.0, (1,)), bins=5)
    assert env.action_space(None) == envs.Discrete(5)
    np.testing.assert_allclose(env.actions[:, 0], [-3.0, -1.5, 0.0, 1.5, 3.0])
    assert env.actions.shape == (5, 1)
    np.testing.assert_allclose(env.step(None, None, 4, None), [3.0])


def test_discretize_joint_grid_2d():
    env = envs.Discretize(_BoxEnv([-1.0, 0.0], [1.0, 10.0], (2,)), bins=3)
    assert env.action_space(None) == envs.Discrete(9)
    expected = [[x, y] for x in (-1.0, 0.0, 1.0) for y in (0.0, 5.0, 10.0)]
    np.testing.assert_allclose(env.actions, expected)
    assert len({tuple(a) for a in env.actions}) == 9
    out = jax.jit(jax.vmap(lambda a: env.step(None, None, a, None)))(jnp.arange(9))
    np.testing.assert_allclose(out, expected)


def test_discretize_errors():
    with pytest.raises(ValueError, match="bounded"):
        envs.Discretize(_BoxEnv(-np.inf, 1.0, (1,)), bins=3)
    with pytest.raises(ValueError, match="bins"):
        envs.Discretize(_BoxEnv(-1.0, 1.0, (1,)), bins=1)
    with pytest.raises(ValueError, match="max_actions"):
        envs.Discretize(_BoxEnv(-1.0, 1.0, (7,)), bins=5)
    assert envs.Discretize(_BoxEnv(-1.0, 1.0, (7,)), bins=5, max_actions=5**7).actions.shape == (
        5**7,
        7,
    )
    with pytest.raises(ValueError, match="Box"):
        envs.Discretize(envs.make("CartPole-v1")[0], bins=3)


def test_discretize_pendulum_delegates():
    env, params = envs.make("InvertedPendulum-v5")
    denv = envs.Discretize(env, bins=7)
    assert denv.max_episode_steps(params) == 1000 and denv.observation_space(params).shape == (4,)
    np.testing.assert_allclose(denv.actions[:, 0], np.linspace(-3, 3, 7))
    _, state = env.init_state(jnp.zeros(2), jnp.zeros(2), params)
    a = jax.jit(denv.step)(jax.random.key(0), state, 6, params)[5]["final_obs"]
    b = jax.jit(env.step)(jax.random.key(0), state, jnp.array([3.0]), params)[5]["final_obs"]
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_unknown_name_error():
    # The error names the closest known names (not all of them) and where to find the rest.
    with pytest.raises(ValueError) as info:
        envs.make("NoSuchEnv-v0")
    msg = str(info.value)
    assert "NoSuchEnv-v0" in msg and "purejaxdqn.envs.known_names()" in msg
    assert f"{len(envs.known_names())} known names" in msg
    assert "brax:<name>" in msg
    assert {"InvertedPendulum-v5", "CartPole-v1"} <= set(envs.known_names())
    for typo, closest in (
        ("InvertedPendulum-v6", "InvertedPendulum-v5"),
        ("CartPole-v2", "CartPole-v1"),
    ):
        with pytest.raises(ValueError, match=f"did you mean .*{closest}") as info:
            envs.make(typo)
        assert typo in str(info.value) and "brax:<name>" in str(info.value)


def test_register_rejects_taken_names():
    with pytest.raises(ValueError, match="taken"):
        envs.register("CartPole-v1", lambda: None)
    with pytest.raises(ValueError, match="taken"):
        envs.register("InvertedPendulum-v5", lambda: None)
