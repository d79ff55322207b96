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


def _is_bad(x: jax.Array) -> jax.Array:
    """MuJoCo's ``mju_isBad``: NaN or magnitude above ``mjMAXVAL``."""
    return jnp.isnan(x) | (x > mujoco.mjMAXVAL) | (x < -mujoco.mjMAXVAL)


class _Constants:
    """Everything the analytic dynamics needs, read from the compiled model (float64)."""

    def __init__(self, m: mujoco.MjModel) -> None:
        if m.nq != 2 or m.nv != 2 or m.nu != 1 or m.nbody != 3:
            raise ValueError("the analytic backend only handles the cart-pole model")
        types = list(m.jnt_type)
        if types != [mujoco.mjtJoint.mjJNT_SLIDE, mujoco.mjtJoint.mjJNT_HINGE]:
            raise ValueError("expected a slide joint then a hinge joint")
        if not (np.allclose(m.jnt_axis[0], [1, 0, 0]) and np.allclose(m.jnt_axis[1], [0, 1, 0])):
            raise ValueError("expected a slide along x and a hinge about y")
        if np.any(m.jnt_pos) or np.any(m.body_pos[2]) or np.any(m.body_quat[2] != [1, 0, 0, 0]):
            raise ValueError("expected the hinge at the cart origin")
        if np.any(m.dof_armature) or np.any(m.dof_frictionloss) or np.any(m.jnt_margin):
            raise ValueError("armature, frictionloss and joint margins are not supported")
        if m.actuator_gaintype[0] != mujoco.mjtGain.mjGAIN_FIXED or m.actuator_biastype[0] != 0:
            raise ValueError("expected a plain motor")
        if m.opt.integrator != mujoco.mjtIntegrator.mjINT_RK4:
            raise ValueError("expected the RK4 integrator")
        self.dt = float(m.opt.timestep)
        self.m_total = float(m.body_mass[1] + m.body_mass[2])
        self.m_pole = float(m.body_mass[2])
        self.cx, _, self.cz = (float(v) for v in m.body_ipos[2])
        rot = np.zeros(9)
        mujoco.mju_quat2Mat(rot, m.body_iquat[2])
        rot = rot.reshape(3, 3)
        inertia = rot @ np.diag(m.body_inertia[2]) @ rot.T
        self.i_hinge = float(inertia[1, 1] + self.m_pole * (self.cx**2 + self.cz**2))
        self.gx, _, self.gz = (float(v) for v in m.opt.gravity)
        self.damping = np.array(m.dof_damping, np.float64)
        self.gear = float(m.actuator_gear[0, 0] * m.actuator_gainprm[0, 0])
        self.ctrl_limited = bool(m.actuator_ctrllimited[0])
        self.ctrl_range = np.array(m.actuator_ctrlrange[0], np.float64)
        self.jnt_limited = np.array(m.jnt_limited, bool)
        self.jnt_range = np.array(m.jnt_range, np.float64)
        self.invweight = np.array(m.dof_invweight0, np.float64)
        # Stiffness and damping of the limit constraints (MuJoCo's solref semantics, with
        # the "refsafe" floor of two timesteps on the time constant).
        solref = np.array(m.jnt_solref, np.float64)
        solimp = np.array(m.jnt_solimp, np.float64)
        dmin = np.clip(solimp[:, 0], mujoco.mjMINIMP, mujoco.mjMAXIMP)
        dmax = np.clip(solimp[:, 1], mujoco.mjMINIMP, mujoco.mjMAXIMP)
        timeconst = solref[:, 0]
        if not m.opt.disableflags & mujoco.mjtDisableBit.mjDSBL_REFSAFE:
            timeconst = np.maximum(timeconst, 2 * self.dt)
        dampratio = solref[:, 1]
        k = 1 / (dmax * dmax * timeconst * timeconst * dampratio * dampratio)
        b = 2 / (dmax * timeconst)
        self.k = np.where(solref[:, 0] <= 0, -solref[:, 0] / (dmax * dmax), k)
        self.b = np.where(solref[:, 1] <= 0, -solref[:, 1] / dmax, b)
        self.dmin, self.dmax = dmin, dmax
        self.width = np.maximum(mujoco.mjMINVAL, solimp[:, 2])
        self.mid = np.clip(solimp[:, 3], mujoco.mjMINIMP, mujoco.mjMAXIMP)
        self.power = np.maximum(1, solimp[:, 4])
        self.limits_enabled = not (
            m.opt.disableflags
            & (mujoco.mjtDisableBit.mjDSBL_LIMIT | mujoco.mjtDisableBit.mjDSBL_CONSTRAINT)
        )


def _analytic_qacc(c: _Constants, qpos: jax.Array, qvel: jax.Array, force: jax.Array):
    """MuJoCo's forward dynamics for the cart-pole: ``qacc [2]`` from ``qpos, qvel [2]``.

    ``force`` is the (already clamped) actuator force on the slider, before the gear.
    """
    dtype = qpos.dtype
    arr = lambda v: jnp.asarray(v, dtype)
    x_dot, th_dot = qvel[0], qvel[1]
    cos, sin = jnp.cos(qpos[1]), jnp.sin(qpos[1])
    # Pole centre of mass relative to the hinge, in the world frame.
    px = c.cx * cos + c.cz * sin
    pz = c.cz * cos - c.cx * sin
    # Mass matrix [[m11, m12], [m12, m22]].
    m11 = jnp.asarray(c.m_total, dtype)
    m12 = c.m_pole * pz
    m22 = jnp.asarray(c.i_hinge, dtype)
    # Bias (Coriolis, centrifugal, gravity), passive damping and actuation.
    bias_x = -c.m_pole * px * th_dot * th_dot - c.m_total * c.gx
    bias_th = -c.m_pole * (c.gx * pz - c.gz * px)
    f_x = c.gear * force - float(c.damping[0]) * x_dot - bias_x
    f_th = -float(c.damping[1]) * th_dot - bias_th
    det = m11 * m22 - m12 * m12
    a_x = (m22 * f_x - m12 * f_th) / det
    a_th = (m11 * f_th - m12 * f_x) / det
    if not (c.limits_enabled and c.jnt_limited.any()):
        return jnp.stack([a_x, a_th])

    # Joint limits: one soft constraint row per joint, J = sign * e_j, active when the
    # joint is past a limit. Constraint force = -D * min(J qacc - aref, 0).
    lo, hi = jnp.asarray(c.jnt_range[:, 0], dtype), jnp.asarray(c.jnt_range[:, 1], dtype)
    dist_min, dist_max = qpos - lo, hi - qpos
    pos = jnp.minimum(dist_min, dist_max)
    active = (pos < 0) & jnp.asarray(c.jnt_limited)
    sign = jnp.where(dist_min < dist_max, 1.0, -1.0).astype(dtype)
    mid, power, dmin, dmax = arr(c.mid), arr(c.power), arr(c.dmin), arr(c.dmax)
    imp_x = jnp.abs(pos) / arr(c.width)
    imp_a = arr(1.0 / np.power(c.mid, c.power - 1)) * jnp.power(imp_x, power)
    imp_b = 1 - arr(1.0 / np.power(1 - c.mid, c.power - 1)) * jnp.power(1 - imp_x, power)
    imp = dmin + jnp.where(imp_x < mid, imp_a, imp_b) * (dmax - dmin)
    imp = jnp.clip(imp, dmin, dmax)
    imp = jnp.where(imp_x > 1.0, dmax, imp)
    r = jnp.maximum(arr(c.invweight) * (1 - imp) / imp, mujoco.mjMINVAL)
    d = jnp.where(active, 1 / r, 0.0).astype(dtype)
    aref = -arr(c.b) * (sign * qvel) - arr(c.k) * imp * pos

    # The constrained qacc minimises the convex, piecewise-quadratic cost
    #   0.5 (a - a0)' M (a - a0) + sum_j 0.5 d_j min(sign_j a_j - aref_j, 0)^2.
    # Its minimiser solves the linear system of one of the four active sets: solve all four
    # and keep the one of least cost (what MuJoCo's Newton solver converges to).
    sets = jnp.asarray([[0, 0], [1, 0], [0, 1], [1, 1]], dtype)  # [4, 2]
    dm = sets * d  # [4, 2]
    a0 = jnp.stack([a_x, a_th])
    rhs0 = jnp.stack([f_x, f_th]) + dm * (sign * aref)  # M a0 = f
    b11, b22 = m11 + dm[:, 0], m22 + dm[:, 1]
    det_s = b11 * b22 - m12 * m12
    cand = jnp.stack(
        [
            (b22 * rhs0[:, 0] - m12 * rhs0[:, 1]) / det_s,
            (b11 * rhs0[:, 1] - m12 * rhs0[:, 0]) / det_s,
        ],
        axis=-1,
    )  # [4, 2]
    e = cand - a0
    quad = m11 * e[:, 0] ** 2 + 2 * m12 * e[:, 0] * e[:, 1] + m22 * e[:, 1] ** 2
    viol = jnp.minimum(sign * cand - aref, 0.0)
    cost = 0.5 * quad + 0.5 * jnp.sum(d * viol * viol, axis=-1)
    # Pick the least-cost candidate with selects (cheaper than a gather under vmap).
    best, best_cost = cand[0], cost[0]
    for i in range(1, 4):
        better = cost[i] < best_cost
        best = jnp.where(better, cand[i], best)
        best_cost = jnp.where(better, cost[i], best_cost)
    return best


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
      unroll: whether to unroll the frame-skip loop; the default, a ``lax.scan``, compiles
        faster inside the training program and runs as fast there.

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
        self._c = _Constants(self.mj_model)
        self._init_qpos = np.array(self.mj_model.qpos0, np.float64)
        self._init_qvel = np.zeros(self.mj_model.nv, np.float64)
        if backend == "mjx":
            from mujoco import mjx  # imported lazily: it warns about optional warp on import

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
        return jnp.where(jnp.any(_is_bad(ctrl)), jnp.zeros_like(ctrl), ctrl)

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
        fwd = lambda q, v: _analytic_qacc(c, q, v, f)

        def rk4(carry, _):
            q0, v0 = carry
            a1 = fwd(q0, v0)
            v2 = v0 + 0.5 * dt * a1
            q2 = q0 + 0.5 * dt * v0
            a2 = fwd(q2, v2)
            v3 = v0 + 0.5 * dt * a2
            q3 = q0 + 0.5 * dt * v2
            a3 = fwd(q3, v3)
            v4 = v0 + dt * a3
            q4 = q0 + dt * v3
            a4 = fwd(q4, v4)
            v_sum = v0 / 6 + v2 / 3 + v3 / 3 + v4 / 6
            a_sum = a1 / 6 + a2 / 3 + a3 / 3 + a4 / 6
            return (q0 + dt * v_sum, v0 + dt * a_sum), None

        (qpos, qvel), _ = jax.lax.scan(
            rk4, (qpos, qvel), None, length=self.frame_skip, unroll=self.unroll
        )
        return qpos, qvel

    def _mjx_step(self, qpos, qvel, ctrl):
        mjx = self._mjx
        d = self._mjx_data.replace(
            qpos=qpos, qvel=qvel, ctrl=ctrl.astype(self._mjx_data.ctrl.dtype)
        )

        def body(d, _):
            return mjx.step(self._mjx_model, d), None

        d, _ = jax.lax.scan(body, d, None, length=self.frame_skip, unroll=self.unroll)
        return d.qpos.astype(qpos.dtype), d.qvel.astype(qvel.dtype)
