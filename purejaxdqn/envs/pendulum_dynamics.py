"""The analytic dynamics of the cart-pole model: the equations MuJoCo solves, written out.

Every constant is read from the compiled ``mujoco.MjModel`` (:class:`Constants`); the
joint-limit constraint problem (MuJoCo's soft constraints, Newton solver) is solved exactly by
enumerating the four possible active sets of the two limit rows (:func:`qacc_terms`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import mujoco
import numpy as np


def is_bad(x: jax.Array) -> jax.Array:
    """MuJoCo's ``mju_isBad``: NaN or magnitude above ``mjMAXVAL``."""
    return jnp.isnan(x) | (x > mujoco.mjMAXVAL) | (x < -mujoco.mjMAXVAL)


class Constants:
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
        rot: np.ndarray = np.zeros(9)
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


def qacc_terms(
    c: Constants, x: jax.Array, th: jax.Array, x_dot: jax.Array, th_dot: jax.Array, f: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """MuJoCo's forward dynamics for the cart-pole: ``(x_ddot, th_ddot)``.

    Args:
      c: the model's constants.
      x: the slider's position.
      th: the hinge's angle.
      x_dot: the slider's velocity.
      th_dot: the hinge's angular velocity.
      f: the (already clamped) actuator force on the slider, before the gear.

    All arguments have the same shape (``[]``, or a batch ``[N]``), and so do the results.
    Written coordinate by coordinate, with no ``[2]`` or ``[4, 2]`` intermediate, so that
    under ``vmap`` every operation is elementwise over the batch (on XLA:CPU the vector form
    made the pendulum's step 1.5x slower).
    """
    dtype = x.dtype
    arr = lambda v: jnp.asarray(v, dtype)
    cos, sin = jnp.cos(th), jnp.sin(th)
    # Pole centre of mass relative to the hinge, in the world frame.
    px = c.cx * cos + c.cz * sin
    pz = c.cz * cos - c.cx * sin
    # Mass matrix [[m11, m12], [m12, m22]].
    m11 = arr(c.m_total)
    m12 = c.m_pole * pz
    m22 = arr(c.i_hinge)
    # Bias (Coriolis, centrifugal, gravity), passive damping and actuation.
    bias_x = -c.m_pole * px * th_dot * th_dot - c.m_total * c.gx
    bias_th = -c.m_pole * (c.gx * pz - c.gz * px)
    f_x = c.gear * f - float(c.damping[0]) * x_dot - bias_x
    f_th = -float(c.damping[1]) * th_dot - bias_th
    det = m11 * m22 - m12 * m12
    a_x = (m22 * f_x - m12 * f_th) / det
    a_th = (m11 * f_th - m12 * f_x) / det
    if not (c.limits_enabled and c.jnt_limited.any()):
        return a_x, a_th

    # Joint limits: one soft constraint row per joint, J = sign * e_j, active when the
    # joint is past a limit. Constraint force = -D * min(J qacc - aref, 0).
    def limit_row(j: int, q: jax.Array, v: jax.Array) -> tuple[jax.Array, ...]:
        """``(d, sign, aref)`` of joint ``j``'s limit row (``d = 0`` where inactive)."""
        lo, hi = arr(c.jnt_range[j, 0]), arr(c.jnt_range[j, 1])
        dist_min, dist_max = q - lo, hi - q
        pos = jnp.minimum(dist_min, dist_max)
        active = (pos < 0) & bool(c.jnt_limited[j])
        sign = jnp.where(dist_min < dist_max, 1.0, -1.0).astype(dtype)
        mid, power = arr(c.mid[j]), arr(c.power[j])
        dmin, dmax = arr(c.dmin[j]), arr(c.dmax[j])
        imp_x = jnp.abs(pos) / arr(c.width[j])
        imp_a = arr(1.0 / np.power(c.mid[j], c.power[j] - 1)) * jnp.power(imp_x, power)
        imp_b = 1 - arr(1.0 / np.power(1 - c.mid[j], c.power[j] - 1)) * jnp.power(1 - imp_x, power)
        imp = dmin + jnp.where(imp_x < mid, imp_a, imp_b) * (dmax - dmin)
        imp = jnp.clip(imp, dmin, dmax)
        imp = jnp.where(imp_x > 1.0, dmax, imp)
        r = jnp.maximum(arr(c.invweight[j]) * (1 - imp) / imp, mujoco.mjMINVAL)
        d = jnp.where(active, 1 / r, 0.0).astype(dtype)
        aref = -arr(c.b[j]) * (sign * v) - arr(c.k[j]) * imp * pos
        return d, sign, aref

    d_x, sign_x, aref_x = limit_row(0, x, x_dot)
    d_th, sign_th, aref_th = limit_row(1, th, th_dot)

    # The constrained qacc minimises the convex, piecewise-quadratic cost
    #   0.5 (a - a0)' M (a - a0) + sum_j 0.5 d_j min(sign_j a_j - aref_j, 0)^2.
    # Its minimiser solves the linear system of one of the four active sets: solve all four
    # and keep the one of least cost (what MuJoCo's Newton solver converges to).
    def candidate(on_x: float, on_th: float) -> tuple[jax.Array, jax.Array, jax.Array]:
        """``(cost, x_ddot, th_ddot)`` of the active set ``(on_x, on_th)``."""
        dm_x, dm_th = on_x * d_x, on_th * d_th
        rhs_x = f_x + dm_x * (sign_x * aref_x)  # M a0 = f
        rhs_th = f_th + dm_th * (sign_th * aref_th)
        b11, b22 = m11 + dm_x, m22 + dm_th
        det_s = b11 * b22 - m12 * m12
        c_x = (b22 * rhs_x - m12 * rhs_th) / det_s
        c_th = (b11 * rhs_th - m12 * rhs_x) / det_s
        e_x, e_th = c_x - a_x, c_th - a_th
        quad = m11 * e_x**2 + 2 * m12 * e_x * e_th + m22 * e_th**2
        viol_x = jnp.minimum(sign_x * c_x - aref_x, 0.0)
        viol_th = jnp.minimum(sign_th * c_th - aref_th, 0.0)
        cost = 0.5 * quad + 0.5 * (d_x * viol_x * viol_x + d_th * viol_th * viol_th)
        return cost, c_x, c_th

    # Pick the least-cost candidate with selects (cheaper than a gather under vmap).
    best_cost, best_x, best_th = candidate(0.0, 0.0)
    for on_x, on_th in ((1.0, 0.0), (0.0, 1.0), (1.0, 1.0)):
        cost, c_x, c_th = candidate(on_x, on_th)
        better = cost < best_cost
        best_x = jnp.where(better, c_x, best_x)
        best_th = jnp.where(better, c_th, best_th)
        best_cost = jnp.where(better, cost, best_cost)
    return best_x, best_th
