"""InvertedPendulum-v4/-v5 in JAX: a port of gymnasium's MuJoCo env.

The physics is MuJoCo's, step for step, for the model in ``assets/inverted_pendulum.xml``
(identical, field by field, to gymnasium's compiled model): RK4 with a 0.02 s timestep, each
action held for ``frame_skip = 2`` timesteps, so one env step is 0.04 s.

Two interchangeable backends compute it:

* ``"analytic"`` (default): the same equations MuJoCo solves, written out for this two-joint
  model. Every constant (masses, inertias, damping, gear, joint ranges, constraint solver
  parameters, ``dof_invweight0``) is read from the compiled ``mujoco.MjModel``; the joint-limit
  constraint problem (MuJoCo's soft constraints, Newton solver) is solved exactly by
  enumerating the four possible active sets of the two limit rows. It agrees with C MuJoCo to
  ~1e-15 per step in float64 and is several times faster than the generic pipeline.
* ``"mjx"``: ``mujoco.mjx.step`` on the model, the generic pipeline, kept as a reference.

Both reproduce MuJoCo's control handling (``mj_fwdActuation``): a copy of ``ctrl`` is clamped
to ``ctrlrange`` ([-3, 3]) by the physics (actions are never rescaled), so +-inf and huge
actions push with +-3; if any clamped control is then "bad" (NaN; or beyond
``mujoco.mjMAXVAL`` = 1e10, possible only on unlimited actuators) all controls are zeroed, so
a NaN action applies no force. ``data.ctrl`` itself is never modified by MuJoCo.

The env state is lean: ``qpos [2]``, ``qvel [2]`` and the step count ``t``. The MuJoCo solver
warmstart (``qacc_warmstart``) is not carried: the analytic backend solves the constraint
problem exactly, so it needs none, and for this model MJX's Newton solver converges to the
same solution from a cold start.
"""

from __future__ import annotations

import importlib.resources
from typing import Any

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
from flax import struct

from purejaxdqn.envs.autoreset import select_reset
from purejaxdqn.envs.notes import quiet_third_party
from purejaxdqn.envs.pendulum_dynamics import Constants, is_bad, qacc_terms
from purejaxdqn.envs.spaces import Box

__all__ = ["InvertedPendulum", "PendulumParams", "PendulumState", "model_path", "load_model"]

_FRAME_SKIP = 2
_ANGLE_LIMIT = 0.2


def model_path() -> str:
    """The path of the packaged MuJoCo model description (``inverted_pendulum.xml``)."""
    return str(importlib.resources.files("purejaxdqn.envs") / "assets" / "inverted_pendulum.xml")


def load_model() -> mujoco.MjModel:
    """Compiles the packaged model with C MuJoCo."""
    return mujoco.MjModel.from_xml_path(model_path())


@struct.dataclass
class PendulumParams:
    """Parameters of :class:`InvertedPendulum`.

    Attributes:
      reset_noise_scale: half-width ``s`` of the uniform noise ``U(-s, s)`` added to each of
        ``qpos`` and ``qvel`` at reset (traced: may be vmapped).
      max_steps: the time limit in env steps (static: a Python int).
    """

    reset_noise_scale: Any = 0.01
    max_steps: int = struct.field(pytree_node=False, default=1000)


@struct.dataclass
class PendulumState:
    """The physical state and the step count.

    Attributes:
      qpos: ``[2]`` float, ``(x, theta)``: cart position (m) and pole angle (rad).
      qvel: ``[2]`` float, ``(x_dot, theta_dot)``.
      t: ``[]`` int32, env steps taken in this episode.
    """

    qpos: jax.Array
    qvel: jax.Array
    t: jax.Array


class InvertedPendulum:
    """Gymnasium's MuJoCo InvertedPendulum (v4 or v5) as a pure-JAX environment.

    Observation ``[4]``: ``(x, theta, x_dot, theta_dot)`` in the default float dtype (float32,
    or float64 under ``jax_enable_x64``). Action ``[1]``: the motor control, clamped to
    ``[-3, 3]`` by the physics. An episode terminates when an observation is non-finite or
    ``|theta| > 0.2`` and is truncated after ``params.max_steps`` (1000) steps; ``truncated``
    is True on the step that reaches the limit, even if it also terminates (gymnasium's
    ``TimeLimit``). Reward: v4 gives 1.0 on every step, the terminal one included; v5 gives
    1.0 unless the step terminates, then 0.0.

    Args:
      version: 4 or 5.
      backend: ``"analytic"`` (default, fastest) or ``"mjx"`` (``mujoco.mjx.step``).
      unroll: whether to unroll the frame-skip and RK4-stage loops. The default, loops,
        compiles faster and, on CPU, runs far faster: unrolled, XLA's fusion recomputes
        each stage's dynamics in every consumer (27x the time per step at 64 envs).

    Example:
      >>> env = InvertedPendulum(version=5)
      >>> params = env.default_params
      >>> obs, state = env.reset(jax.random.key(0), params)
      >>> obs, state, reward, terminated, truncated, info = env.step(
      ...     jax.random.key(1), state, jnp.array([0.5]), params)
    """

    def __init__(self, version: int = 5, backend: str = "analytic", unroll: bool = False) -> None:
        if version not in (4, 5):
            raise ValueError(f"InvertedPendulum: version must be 4 or 5, got {version!r}")
        if backend not in ("analytic", "mjx"):
            raise ValueError(
                f"InvertedPendulum: backend must be 'analytic' or 'mjx', got {backend!r}"
            )
        self.version = version
        self.backend = backend
        self.unroll = unroll
        self.name = f"InvertedPendulum-v{version}"
        self.mj_model = load_model()
        self.frame_skip = _FRAME_SKIP
        self.dt = float(self.mj_model.opt.timestep) * _FRAME_SKIP
        self._c = Constants(self.mj_model)
        self._init_qpos = np.array(self.mj_model.qpos0, np.float64)
        self._init_qvel = np.zeros(self.mj_model.nv, np.float64)
        if backend == "mjx":
            # Imported lazily, without its notes about optional packages (warp).
            with quiet_third_party():
                from mujoco import mjx

            self._mjx = mjx
            self._mjx_model = mjx.put_model(self.mj_model)
            self._mjx_data = mjx.make_data(self._mjx_model)

    # -- protocol -------------------------------------------------------------------------

    @property
    def default_params(self) -> PendulumParams:
        """``PendulumParams(reset_noise_scale=0.01, max_steps=1000)``."""
        return PendulumParams()

    def max_episode_steps(self, params: PendulumParams) -> int:
        """The time limit, ``params.max_steps`` (a Python int)."""
        return int(params.max_steps)

    def action_space(self, params: PendulumParams) -> Box:
        """``Box(-3, 3, (1,))``: the motor's control range."""
        lo, hi = self.mj_model.actuator_ctrlrange[0]
        return Box(float(lo), float(hi), (1,), jnp.float32)

    def observation_space(self, params: PendulumParams) -> Box:
        """``Box(-inf, inf, (4,))``."""
        return Box(-np.inf, np.inf, (4,), jnp.float32)

    def init_state(
        self, qpos: jax.Array, qvel: jax.Array, params: PendulumParams
    ) -> tuple[jax.Array, PendulumState]:
        """Starts an episode from a given physical state.

        Args:
          qpos: ``[2]``, ``(x, theta)``.
          qvel: ``[2]``, ``(x_dot, theta_dot)``.
          params: the env parameters.

        Returns:
          ``(obs [4], state)`` with the step count at 0.
        """
        dtype = jnp.result_type(float)
        qpos = jnp.asarray(qpos, dtype)
        qvel = jnp.asarray(qvel, dtype)
        state = PendulumState(qpos=qpos, qvel=qvel, t=jnp.zeros((), jnp.int32))
        return self._obs(state), state

    def reset(self, key: jax.Array, params: PendulumParams) -> tuple[jax.Array, PendulumState]:
        """Starts an episode: ``qpos`` and ``qvel`` each get ``U(-s, s)`` noise.

        Args:
          key: a PRNG key.
          params: the env parameters; ``s = params.reset_noise_scale``.

        Returns:
          ``(obs [4], state)``.
        """
        dtype = jnp.result_type(float)
        s = jnp.asarray(params.reset_noise_scale, dtype)
        noise = jax.random.uniform(key, (4,), dtype, minval=-1.0, maxval=1.0) * s
        qpos = jnp.asarray(self._init_qpos, dtype) + noise[:2]
        qvel = jnp.asarray(self._init_qvel, dtype) + noise[2:]
        return self.init_state(qpos, qvel, params)

    def step(
        self,
        key: jax.Array,
        state: PendulumState,
        action: jax.Array,
        params: PendulumParams,
    ) -> tuple[jax.Array, PendulumState, jax.Array, jax.Array, jax.Array, dict[str, jax.Array]]:
        """One env step (``frame_skip`` physics steps), resetting when the episode ends.

        Args:
          key: a PRNG key, used only by the automatic reset.
          state: the current state.
          action: ``[1]`` (or a scalar) motor control; any float, NaN included.
          params: the env parameters.

        Returns:
          ``(obs [4], state, reward [], terminated [] bool, truncated [] bool, info)`` with
          ``info["final_obs"] [4]`` the observation reached before any reset.
        """
        qpos, qvel = self.physics_step(state.qpos, state.qvel, action)
        t = state.t + 1
        nxt = PendulumState(qpos=qpos, qvel=qvel, t=t)
        final_obs = self._obs(nxt)
        terminated = jnp.logical_not(jnp.all(jnp.isfinite(final_obs))) | (
            jnp.abs(final_obs[1]) > _ANGLE_LIMIT
        )
        truncated = t >= params.max_steps
        if self.version == 4:
            reward = jnp.ones((), final_obs.dtype)
        else:
            reward = jnp.where(terminated, 0.0, 1.0).astype(final_obs.dtype)
        reset_obs, reset_state = self.reset(key, params)
        obs, new_state = select_reset(
            terminated | truncated, reset_obs, reset_state, final_obs, nxt
        )
        return obs, new_state, reward, terminated, truncated, {"final_obs": final_obs}

    # -- physics --------------------------------------------------------------------------

    def _obs(self, state: PendulumState) -> jax.Array:
        return jnp.concatenate([state.qpos, state.qvel])

    def _force(self, action: jax.Array, dtype: Any) -> jax.Array:
        """The actuator force MuJoCo applies for ``action`` (before the gear)."""
        ctrl = jnp.reshape(jnp.asarray(action, dtype), (-1,))
        # MuJoCo's mj_fwdActuation: clamp a local copy of ctrl to ctrlrange, then, if any
        # clamped value is bad (NaN, or beyond 1e10 on an unlimited actuator), zero them all.
        if self._c.ctrl_limited:
            ctrl = jnp.clip(ctrl, self._c.ctrl_range[0], self._c.ctrl_range[1])
        return jnp.where(jnp.any(is_bad(ctrl)), jnp.zeros_like(ctrl), ctrl)

    def physics_step(
        self, qpos: jax.Array, qvel: jax.Array, action: jax.Array
    ) -> tuple[jax.Array, jax.Array]:
        """``frame_skip`` MuJoCo steps with the control held: ``(qpos [2], qvel [2])``."""
        dtype = qpos.dtype
        ctrl = self._force(action, dtype)
        if self.backend == "mjx":
            return self._mjx_step(qpos, qvel, ctrl)
        c = self._c
        dt = jnp.asarray(c.dt, dtype)
        f = ctrl[0]
        # RK4 on the coordinates one by one (no [2] vectors), with its four stages in a loop:
        # the loop stores each stage's derivatives, which XLA:CPU's fusion would otherwise
        # recompute in every consumer (2.4x the time of the whole step).
        # Stage k evaluates the dynamics at (q0 + h_k v_{k-1}, v0 + h_k a_{k-1}) and adds the
        # previous stage's derivatives to the sums (weights 1/6, 1/3, 1/3, then 1/6 after).
        h = jnp.stack([0 * dt, 0.5 * dt, 0.5 * dt, dt])

        def stage(carry: tuple, k: jax.Array) -> tuple[tuple, None]:
            """RK4 stage ``k``: ``(y0, dy_k, sums)`` from those of stage ``k - 1``."""
            y0, dy_prev, sums = carry
            y = tuple(jnp.where(k == 0, a, a + h[k] * d) for a, d in zip(y0, dy_prev, strict=True))
            sums = tuple(
                jnp.where(k == 1, d / 6, s + d / 3) for s, d in zip(sums, dy_prev, strict=True)
            )
            a_x, a_th = qacc_terms(c, y[0], y[1], y[2], y[3], f)
            return (y0, (y[2], y[3], a_x, a_th), sums), None

        def rk4(y0: tuple, unused: None) -> tuple[tuple, None]:
            """One RK4 step of ``y = (x, theta, x_dot, theta_dot)``."""
            zero = (jnp.zeros_like(y0[0]),) * 4
            out, _ = jax.lax.scan(stage, (y0, zero, zero), jnp.arange(4), unroll=self.unroll)
            _, dy4, sums = out
            return tuple(a + dt * (s + d / 6) for a, s, d in zip(y0, sums, dy4, strict=True)), None

        y0 = (qpos[0], qpos[1], qvel[0], qvel[1])
        y, _ = jax.lax.scan(rk4, y0, None, length=self.frame_skip, unroll=self.unroll)
        return jnp.stack(y[:2]), jnp.stack(y[2:])

    def _mjx_step(self, qpos, qvel, ctrl):
        mjx = self._mjx
        d = self._mjx_data.replace(
            qpos=qpos, qvel=qvel, ctrl=ctrl.astype(self._mjx_data.ctrl.dtype)
        )

        def body(d, _):
            return mjx.step(self._mjx_model, d), None

        d, _ = jax.lax.scan(body, d, None, length=self.frame_skip, unroll=self.unroll)
        return d.qpos.astype(qpos.dtype), d.qvel.astype(qvel.dtype)
