"""The InvertedPendulum port against gymnasium's C MuJoCo env, and its episode semantics.

The float64 comparisons run in a subprocess (``tests/pendulum_x64_worker.py``) so that
``jax_enable_x64`` does not leak into the rest of the suite; everything else runs here in
float32.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest

from purejaxdqn import envs
from purejaxdqn.envs.pendulum import InvertedPendulum, load_model

gymnasium = pytest.importorskip("gymnasium")

GOLDEN_ACTION = 0.5
GOLDEN_OBS = np.array(
    [0.00570407024938122, -0.01273087799106029, 0.15698285583225108, -0.39288807036973566]
)
# u = gain @ obs. The first (an LQR gain, rounded) balances the pole for a whole episode;
# the second tips it over in about a dozen steps.
STABILIZING_GAIN = (0.7, 6.8, 0.9, 1.1)
DESTABILIZING_GAIN = (0.0, -1.0, 0.0, -0.2)


def sample_cases(rng: np.random.Generator, n: int, hinge_violations: bool = False):
    """Widely drawn states and actions: ``qpos [n, 2], qvel [n, 2], acts [n]``.

    Cart positions cover [-1.1, 1.1] (so some start past a slider limit, with extra mass
    right at the limits), angles up to the termination bound +-0.2 (and, with
    ``hinge_violations``, a few past the +-90 degree hinge limit), velocities up to ~10,
    and actions in range, out of range (up to +-50, +-inf, 1e11) and NaN.
    """
    x = rng.uniform(-1.1, 1.1, n)
    x[: n // 8] = rng.choice([-1, 1], n // 8) * rng.uniform(0.97, 1.03, n // 8)
    theta = rng.uniform(-0.2, 0.2, n)
    theta[n // 8 : n // 4] = rng.choice([-0.2, 0.2], n // 8) * rng.uniform(0.95, 1.0, n // 8)
    if hinge_violations:
        theta[-10:] = rng.choice([-1, 1], 10) * rng.uniform(1.55, 1.65, 10)
    qvel = rng.normal(0, 2.0, (n, 2))
    qvel[: n // 10] *= 5
    acts = rng.uniform(-3, 3, n)
    m = n // 10
    acts[m : 2 * m] = rng.uniform(-50, 50, m)
    acts[2 * m : 2 * m + 5] = np.inf
    acts[2 * m + 5 : 2 * m + 10] = -np.inf
    acts[2 * m + 10 : 2 * m + 15] = 1e11
    acts[3 * m : 4 * m] = np.nan
    rng.shuffle(acts)
    return np.stack([x, theta], 1), qvel, acts


def gym_step_from(genv, qpos, qvel, action):
    """Sets gymnasium's state and steps it once: ``(obs, reward, terminated)``."""
    base = genv.unwrapped
    base.set_state(np.asarray(qpos, np.float64), np.asarray(qvel, np.float64))
    obs, reward, terminated, _, _ = base.step(np.array([action], np.float64))
    return obs, float(reward), bool(terminated)


# --------------------------------------------------------------------------- the model


def test_model_matches_gymnasium_field_by_field():
    ours = load_model()
    ref = gymnasium.make("InvertedPendulum-v5").unwrapped.model
    fields = [
        "body_mass", "body_inertia", "body_pos", "body_quat", "body_ipos", "body_iquat",
        "jnt_type", "jnt_axis", "jnt_pos", "jnt_range", "jnt_limited", "jnt_solref",
        "jnt_solimp", "jnt_margin", "dof_damping", "dof_armature", "dof_frictionloss",
        "dof_invweight0", "actuator_gear", "actuator_ctrlrange", "actuator_ctrllimited",
        "actuator_gainprm", "actuator_biasprm", "geom_type", "geom_size", "geom_pos",
        "geom_quat", "geom_contype", "geom_conaffinity", "qpos0",
    ]  # fmt: skip
    for f in fields:
        np.testing.assert_allclose(getattr(ours, f), getattr(ref, f), atol=1e-12, err_msg=f)
    assert ours.opt.timestep == ref.opt.timestep == 0.02
    assert ours.opt.integrator == ref.opt.integrator == mujoco.mjtIntegrator.mjINT_RK4
    np.testing.assert_array_equal(ours.opt.gravity, ref.opt.gravity)
    assert (ours.nq, ours.nv, ours.nu) == (ref.nq, ref.nv, ref.nu) == (2, 2, 1)
    # Every other numeric field, too.
    for f in dir(ours):
        a = getattr(ours, f, None)
        if f.startswith(("_", "name_", "narena", "nnames", "nbuffer")) or not isinstance(
            a, np.ndarray
        ):
            continue
        b = getattr(ref, f)
        assert a.shape == b.shape, f
        if a.dtype.kind in "fiu":
            np.testing.assert_allclose(a, b, atol=1e-12, err_msg=f)


# --------------------------------------------------------------------------- float64


@pytest.fixture(scope="module")
def x64_results():
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([root, env.get("PYTHONPATH", "")])
    worker = Path(__file__).with_name("pendulum_x64_worker.py")
    proc = subprocess.run(
        [sys.executable, str(worker)], capture_output=True, text=True, env=env, timeout=600
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT ") :])


def test_x64_per_step_matches_gymnasium(x64_results):
    r = x64_results["per_step"]
    assert x64_results["x64"] and x64_results["obs_dtype"] == "float64"
    assert r["n"] >= 200 and r["n_nan_actions"] > 0 and r["n_past_slider"] > 0
    assert r["n_past_hinge"] > 0
    assert r["max_err"] <= 1e-12, r
    assert r["reward_equal"] and r["term_equal"], r


def test_x64_mjx_backend_matches_gymnasium(x64_results):
    r = x64_results["per_step_mjx"]
    assert r["n"] >= 200 and r["n_nan_actions"] > 0 and r["n_past_slider"] > 0
    assert r["max_err"] <= 1e-12, r
    assert r["reward_equal"] and r["term_equal"], r


def test_x64_golden_values(x64_results):
    assert x64_results["golden_gym_err"] <= 1e-12
    assert x64_results["golden_port_err"] <= 1e-12


@pytest.mark.parametrize("case", ["stable_v4", "stable_v5", "unstable_v4", "unstable_v5"])
def test_x64_closed_loop_episode_matches_gymnasium(x64_results, case):
    r = x64_results["closed_loop"][case]
    g_ret, g_len, g_term, g_trunc = r["gym"]
    p_ret, p_len, p_term, p_trunc = r["port"]
    assert (p_len, p_term, p_trunc) == (g_len, g_term, g_trunc), r
    assert p_ret == g_ret, r
    if case.startswith("stable"):
        assert g_len == 1000 and g_trunc and not g_term
        assert g_ret == 1000
    else:
        assert g_len < 100 and g_term and not g_trunc
        # v4 pays the terminal step, v5 does not.
        assert g_ret == (g_len if case.endswith("v4") else g_len - 1)


# --------------------------------------------------------------------------- float32


@pytest.fixture(scope="module")
def env5():
    return InvertedPendulum(version=5)


@pytest.fixture(scope="module")
def env4():
    return InvertedPendulum(version=4)


@pytest.fixture(scope="module")
def one_step(env5):
    params = env5.default_params

    def one(q, v, a):
        _, state = env5.init_state(q, v, params)
        _, _, reward, term, trunc, info = env5.step(jax.random.key(0), state, a, params)
        return info["final_obs"], reward, term

    return jax.jit(jax.vmap(one))


def test_float32_per_step_matches_gymnasium(one_step):
    assert not jax.config.x64_enabled
    qpos, qvel, acts = sample_cases(np.random.default_rng(1), 256)
    obs, reward, term = one_step(
        jnp.asarray(qpos, jnp.float32), jnp.asarray(qvel, jnp.float32), jnp.asarray(acts[:, None])
    )
    assert obs.dtype == jnp.float32
    genv = gymnasium.make("InvertedPendulum-v5")
    genv.reset(seed=0)
    # gymnasium starts from the float32-rounded state the port sees.
    q32, v32 = np.asarray(qpos, np.float32), np.asarray(qvel, np.float32)
    ref = [gym_step_from(genv, q32[i], v32[i], acts[i]) for i in range(len(acts))]
    err = np.abs(np.asarray(obs, np.float64) - np.stack([r[0] for r in ref])).max(axis=1)
    inside = np.abs(qpos[:, 0]) <= 1.0
    assert inside.sum() > 100 and (~inside).sum() > 10
    assert err[inside].max() <= 1e-5
    assert err[~inside].max() <= 2e-4
    np.testing.assert_array_equal(np.asarray(reward), [r[1] for r in ref])
    np.testing.assert_array_equal(np.asarray(term), [r[2] for r in ref])


def test_nan_and_huge_actions_follow_mujoco(env5):
    """NaN pushes with 0 (MuJoCo zeroes bad controls); +-inf and 1e11 clamp to +-3."""
    q, v = jnp.array([0.1, 0.05]), jnp.array([0.3, -0.2])
    step = jax.jit(env5.physics_step)
    zero = np.concatenate(step(q, v, jnp.array([0.0])))
    three = np.concatenate(step(q, v, jnp.array([3.0])))
    np.testing.assert_array_equal(np.concatenate(step(q, v, jnp.array([jnp.nan]))), zero)
    np.testing.assert_array_equal(np.concatenate(step(q, v, jnp.array([jnp.inf]))), three)
    np.testing.assert_array_equal(np.concatenate(step(q, v, jnp.array([1e11]))), three)
    np.testing.assert_array_equal(np.concatenate(step(q, v, jnp.array([7.0]))), three)


# --------------------------------------------------------------------------- semantics


def test_v4_v5_reward_on_terminal_step(env4, env5):
    for env, terminal_reward in ((env4, 1.0), (env5, 0.0)):
        params = env.default_params
        step = jax.jit(env.step)
        _, state = env.init_state(jnp.array([0.0, 0.199]), jnp.array([0.0, 2.0]), params)
        obs, state2, reward, term, trunc, info = step(
            jax.random.key(0), state, jnp.array([0.0]), params
        )
        assert bool(term) and not bool(trunc)
        assert float(reward) == terminal_reward and reward.dtype == jnp.float32
        assert float(info["final_obs"][1]) > 0.2
        assert int(state2.t) == 0 and float(jnp.abs(obs).max()) <= 0.01
        _, state = env.init_state(jnp.zeros(2), jnp.zeros(2), params)
        reward = step(jax.random.key(0), state, jnp.array([0.0]), params)[2]
        assert float(reward) == 1.0


def test_truncation_at_1000_and_not_before(env5):
    params = env5.default_params
    assert env5.max_episode_steps(params) == 1000
    assert isinstance(env5.max_episode_steps(params), int)
    gain = jnp.asarray(STABILIZING_GAIN, jnp.float32)

    @jax.jit
    def run(key):
        obs, state = env5.reset(key, params)

        def body(carry, key):
            obs, state = carry
            obs, state, r, te, tr, info = env5.step(key, state, (gain @ obs)[None], params)
            return (obs, state), (te, tr, state.t)

        _, out = jax.lax.scan(body, (obs, state), jax.random.split(key, 1001))
        return out

    term, trunc, t = run(jax.random.key(3))
    assert not bool(term.any())
    assert not bool(trunc[:999].any()) and bool(trunc[999]) and not bool(trunc[1000])
    assert int(t[998]) == 999 and int(t[999]) == 0 and int(t[1000]) == 1


def test_reset_distribution(env5):
    params = env5.default_params
    obs, state = jax.jit(jax.vmap(env5.reset, (0, None)))(
        jax.random.split(jax.random.key(0), 4096), params
    )
    obs = np.asarray(obs)
    assert obs.shape == (4096, 4) and obs.dtype == np.float32
    assert np.abs(obs).max() <= 0.01
    np.testing.assert_allclose(obs.std(axis=0), 0.01 / np.sqrt(3), rtol=0.05)
    np.testing.assert_allclose(obs.mean(axis=0), 0.0, atol=5e-4)
    assert (np.asarray(state.t) == 0).all()
    # reset_noise_scale is a traced parameter
    obs = jax.jit(env5.reset)(jax.random.key(1), params.replace(reset_noise_scale=0.0))[0]
    assert float(jnp.abs(obs).max()) == 0.0


def test_auto_reset_final_obs_and_vmapped_starts(env5):
    params = env5.default_params
    keys = jax.random.split(jax.random.key(0), 64)
    obs, state = jax.vmap(env5.reset, (0, None))(keys, params)
    assert len(np.unique(np.asarray(obs[:, 0]))) == 64
    # Half the envs start about to fall over.
    qpos = state.qpos.at[:32, 1].set(0.1995)
    qvel = state.qvel.at[:32, 1].set(3.0)
    state = state.replace(qpos=qpos, qvel=qvel)
    step = jax.jit(jax.vmap(env5.step, (0, 0, 0, None)))
    obs, state, reward, term, trunc, info = step(keys, state, jnp.zeros((64, 1)), params)
    term = np.asarray(term)
    assert term[:32].all() and not term[32:].any() and not np.asarray(trunc).any()
    final = np.asarray(info["final_obs"])
    obs = np.asarray(obs)
    np.testing.assert_array_equal(obs[32:], final[32:])
    assert (np.abs(final[:32, 1]) > 0.2).all() and (np.abs(obs[:32]) <= 0.01).all()
    assert (np.asarray(state.t)[:32] == 0).all() and (np.asarray(state.t)[32:] == 1).all()
    assert list(info) == ["final_obs"]


def test_make_pendulum_kwargs():
    env, params = envs.make("InvertedPendulum-v4", reset_noise_scale=0.1, max_episode_steps=7)
    assert isinstance(env, InvertedPendulum) and env.version == 4
    assert env.max_episode_steps(params) == 7 and params.reset_noise_scale == 0.1
    assert env.action_space(params) == envs.Box(-3.0, 3.0, (1,))
    assert env.observation_space(params).shape == (4,)
    assert isinstance(env, envs.Environment)
