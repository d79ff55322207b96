"""Float64 checks of the InvertedPendulum port against gymnasium, run in a subprocess.

``tests/test_pendulum.py`` runs this file with ``python tests/pendulum_x64_worker.py`` so
that ``jax_enable_x64`` never leaks into the other tests; it prints one JSON object.
"""

from __future__ import annotations

import json
import sys

import jax

jax.config.update("jax_enable_x64", True)

import gymnasium  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from test_pendulum import (  # noqa: E402
    DESTABILIZING_GAIN,
    GOLDEN_ACTION,
    GOLDEN_OBS,
    STABILIZING_GAIN,
    gym_step_from,
    sample_cases,
)

from purejaxdqn.envs.pendulum import InvertedPendulum  # noqa: E402


def per_step(env, genv):
    """Max abs obs error, and reward/termination agreement, over the sampled cases."""
    qpos, qvel, acts = sample_cases(np.random.default_rng(0), 400, hinge_violations=True)
    params = env.default_params

    def one(q, v, a):
        _, state = env.init_state(q, v, params)
        _, _, reward, term, trunc, info = env.step(jax.random.key(0), state, a, params)
        return info["final_obs"], reward, term

    obs, reward, term = jax.jit(jax.vmap(one))(qpos, qvel, acts[:, None])
    ref = [gym_step_from(genv, qpos[i], qvel[i], acts[i]) for i in range(len(acts))]
    ref_obs = np.stack([r[0] for r in ref])
    err = np.abs(np.asarray(obs) - ref_obs).max(axis=1)
    return {
        "max_err": float(err.max()),
        "n": len(acts),
        "n_nan_actions": int(np.isnan(acts).sum()),
        "n_past_slider": int((np.abs(qpos[:, 0]) > 1).sum()),
        "n_past_hinge": int((np.abs(qpos[:, 1]) > np.pi / 2).sum()),
        "reward_equal": bool(np.array_equal(np.asarray(reward), [r[1] for r in ref])),
        "term_equal": bool(np.array_equal(np.asarray(term), [r[2] for r in ref])),
    }


def closed_loop(version, gain):
    """Runs ``u = gain @ obs`` for one episode in gymnasium and in the port."""
    genv = gymnasium.make(f"InvertedPendulum-v{version}")
    obs0, _ = genv.reset(seed=123)
    q0, v0 = obs0[:2].copy(), obs0[2:].copy()
    g_ret, g_len, g_term, g_trunc = 0.0, 0, False, False
    obs = obs0
    while not (g_term or g_trunc):
        obs, r, g_term, g_trunc, _ = genv.step(np.array([gain @ obs]))
        g_ret += r
        g_len += 1

    env = InvertedPendulum(version=version)
    params = env.default_params
    k = jnp.asarray(gain)

    @jax.jit
    def run(q, v):
        obs, state = env.init_state(q, v, params)

        def body(carry, key):
            obs, state, alive, ret, length, term, trunc = carry
            obs, state, r, te, tr, _ = env.step(key, state, (k @ obs)[None], params)
            ret = ret + jnp.where(alive, r, 0.0)
            length = length + alive
            term = term | (alive & te)
            trunc = trunc | (alive & tr)
            alive = alive & ~(te | tr)
            return (obs, state, alive, ret, length, term, trunc), None

        init = (obs, state, True, 0.0, 0, False, False)
        keys = jax.random.split(jax.random.key(0), 1001)
        out, _ = jax.lax.scan(body, init, keys)
        return out[3:]

    ret, length, term, trunc = run(jnp.asarray(q0), jnp.asarray(v0))
    return {
        "gym": [float(g_ret), g_len, bool(g_term), bool(g_trunc)],
        "port": [float(ret), int(length), bool(term), bool(trunc)],
    }


def main() -> None:
    out = {"x64": bool(jax.config.x64_enabled)}
    genv = gymnasium.make("InvertedPendulum-v5")
    genv.reset(seed=0)
    out["per_step"] = per_step(InvertedPendulum(version=5), genv)
    # The generic MuJoCo MJX pipeline on the same model and cases.
    out["per_step_mjx"] = per_step(InvertedPendulum(version=5, backend="mjx"), genv)

    # Golden: gymnasium's reset(seed=0) state, then action 0.5.
    genv.reset(seed=0)
    data = genv.unwrapped.data
    q0, v0 = data.qpos.copy(), data.qvel.copy()
    gym_obs = genv.step(np.array([GOLDEN_ACTION]))[0]
    env = InvertedPendulum(version=5)
    params = env.default_params
    _, state = env.init_state(jnp.asarray(q0), jnp.asarray(v0), params)
    port_obs = env.step(jax.random.key(0), state, jnp.array([GOLDEN_ACTION]), params)[5]
    out["golden_port_err"] = float(np.abs(np.asarray(port_obs["final_obs"]) - GOLDEN_OBS).max())
    out["golden_gym_err"] = float(np.abs(gym_obs - GOLDEN_OBS).max())
    out["obs_dtype"] = str(port_obs["final_obs"].dtype)

    out["closed_loop"] = {
        f"{kind}_v{v}": closed_loop(v, np.asarray(gain))
        for kind, gain in (("stable", STABILIZING_GAIN), ("unstable", DESTABILIZING_GAIN))
        for v in (4, 5)
    }
    print("RESULT " + json.dumps(out))


if __name__ == "__main__":
    main()
