"""``purejaxdqn.optimizers`` against optax and a NumPy transcription of PyTorch.

* ``scale_by_centered_rms(decay, eps, eps_in_sqrt)`` against
  ``optax.scale_by_stddev(decay, eps, initial_scale=0.0, eps_in_sqrt=..., bias_correction=
  False)``. In the installed optax (0.2.8) that transform keeps ``mu = decay mu + (1 - decay)
  g`` from zeros and ``nu = decay nu + (1 - decay) g^2`` from ``initial_scale`` (0 here, as
  ours starts from zeros), and scales ``g`` by ``rsqrt(nu - mu^2 + eps)`` (eps inside) or
  ``1 / (sqrt(nu - mu^2) + eps)`` (eps outside), without bias correction. Ours clamps
  ``nu - mu^2`` at 0 and optax does not, so they are compared where the variance is
  positive: random gradients with ``0 < decay < 1`` (the first step's variance is already
  ``decay (1 - decay) g^2 > 0``), which the test asserts from the state. Compared at every
  step: the scaled updates, and both running averages (``mean``/``mu``, ``mean_sq``/``nu``).
* ``make_optimizer('adam', ...)`` against ``optax.chain(optax.clip_by_global_norm(max_norm),
  optax.adam(optax.linear_schedule(lr, lr * lr_end_fraction, max(decay_steps, 1)),
  eps=adam_eps))``: the parameters after every step (ours on one raveled vector).
* ``make_optimizer('rmsprop_torch', ...)`` against PyTorch's ``RMSprop(centered=True,
  momentum=m)`` transcribed into NumPy: in float64 (the optimizer run under
  ``jax.enable_x64``, rates chosen exact in float32 because optax's schedule computes in
  float32 even then) to 1e-10, and in float32 (as training runs) to float32 accuracy,
  after optax-style global-norm clipping (``g * max_norm / ||g||`` when ``||g|| >= max_norm``)
  and with the linearly decaying rate ``lr_k`` multiplying the whole momentum buffer.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from purejaxdqn.optimizers import make_optimizer, scale_by_centered_rms

STEPS = 12


def _params(dtype=jnp.float32) -> dict:
    return {"w": jnp.zeros((4, 3), dtype), "b": jnp.zeros((3,), dtype)}


def _grads(seed: int, steps: int = STEPS, dtype=jnp.float32) -> list[dict]:
    """Random gradients with a nonzero mean per element, so the variance is not ~E[g^2]."""
    keys = jax.random.split(jax.random.key(seed), 4)
    offset_w = jax.random.normal(keys[0], (4, 3), dtype)
    offset_b = jax.random.normal(keys[1], (3,), dtype)
    noise_w = jax.random.normal(keys[2], (steps, 4, 3), dtype)
    noise_b = jax.random.normal(keys[3], (steps, 3), dtype)
    return [{"w": offset_w + noise_w[k], "b": offset_b + noise_b[k]} for k in range(steps)]


def _close(actual, expected, rtol, atol):
    jax.tree.map(
        lambda a, e: np.testing.assert_allclose(np.asarray(a), np.asarray(e), rtol, atol),
        actual,
        expected,
    )


# ------------------------------------------------------------------------------------------
# scale_by_centered_rms vs optax.scale_by_stddev.
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("eps_in_sqrt", [True, False])
@pytest.mark.parametrize("decay, eps", [(0.95, 0.01), (0.9, 1e-8), (0.99, 1e-5), (0.5, 0.1)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_scale_by_centered_rms_matches_optax_scale_by_stddev(seed, decay, eps, eps_in_sqrt):
    ours = scale_by_centered_rms(decay, eps, eps_in_sqrt=eps_in_sqrt)
    ref = optax.scale_by_stddev(
        decay=decay, eps=eps, initial_scale=0.0, eps_in_sqrt=eps_in_sqrt, bias_correction=False
    )
    params = _params()
    s_ours, s_ref = ours.init(params), ref.init(params)
    _close((s_ours.mean, s_ours.mean_sq), (s_ref.mu, s_ref.nu), 0.0, 0.0)
    update_ours, update_ref = jax.jit(ours.update), jax.jit(ref.update)
    for g in _grads(seed):
        u_ours, s_ours = update_ours(g, s_ours)
        u_ref, s_ref = update_ref(g, s_ref)
        variance = jax.tree.map(lambda m, v: v - m**2, s_ref.mu, s_ref.nu)
        assert all(bool(jnp.all(v > 0)) for v in jax.tree.leaves(variance))
        # Same running averages (same formulas, so to rounding) and same scaled updates; the
        # updates differ by the rounding of rsqrt against 1 / sqrt and of var near 0.
        _close(s_ours.mean, s_ref.mu, 1e-6, 1e-7)
        _close(s_ours.mean_sq, s_ref.nu, 1e-6, 1e-7)
        _close(u_ours, u_ref, 2e-6, 1e-7)


def test_scale_by_centered_rms_constant_gradient_is_finite():
    """Where optax's variance can round below 0 (a constant gradient), ours stays finite."""
    ours = scale_by_centered_rms(0.95, 1e-8, eps_in_sqrt=False)
    g = {"w": jnp.full((4, 3), 0.3), "b": jnp.full((3,), -7.0)}
    state = ours.init(g)
    update = jax.jit(ours.update)
    for _ in range(200):
        u, state = update(g, state)
        assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(u))


# ------------------------------------------------------------------------------------------
# make_optimizer('adam') vs optax.
# ------------------------------------------------------------------------------------------


def _run(opt: optax.GradientTransformation, params, grads):
    """The parameters after each step of ``opt``."""
    state = opt.init(params)

    @jax.jit
    def step(params, state, g):
        updates, state = opt.update(g, state, params)
        return optax.apply_updates(params, updates), state

    out = []
    for g in grads:
        params, state = step(params, state, g)
        out.append(params)
    return out


@pytest.mark.parametrize(
    "lr, lr_end_fraction, decay_steps, max_grad_norm, adam_eps",
    [
        (1e-3, 1.0, 100, float("inf"), 1e-8),  # constant rate, no clipping
        (1e-3, 0.1, 5, 1.0, 1e-8),  # the rate reaches its end within the run; clipping on
        (3e-4, 0.0, 8, 0.5, 1e-4),
        (1e-2, 0.5, 0, 5.0, 1e-8),  # decay_steps 0: one step is used
    ],
)
@pytest.mark.parametrize("seed", [0, 1])
def test_make_optimizer_adam_matches_optax(
    seed, lr, lr_end_fraction, decay_steps, max_grad_norm, adam_eps
):
    ours = make_optimizer(
        "adam",
        lr=lr,
        lr_end_fraction=lr_end_fraction,
        decay_steps=decay_steps,
        max_grad_norm=max_grad_norm,
        adam_eps=adam_eps,
    )
    ref = optax.chain(
        optax.clip_by_global_norm(max_grad_norm),
        optax.adam(
            optax.linear_schedule(lr, lr * lr_end_fraction, max(decay_steps, 1)), eps=adam_eps
        ),
    )
    grads = _grads(seed)
    if np.isfinite(max_grad_norm):  # the clipping must be exercised
        norms = [float(optax.global_norm(g)) for g in grads]
        assert max(norms) > max_grad_norm
    for p_ours, p_ref in zip(
        _run(ours, _params(), grads), _run(ref, _params(), grads), strict=True
    ):
        # Ours runs the chain on the leaves raveled into one vector, so the clipping norm is
        # summed in another order: the parameters agree to float32 rounding over 12 steps.
        _close(p_ours, p_ref, 1e-5, 1e-9)


# ------------------------------------------------------------------------------------------
# make_optimizer('rmsprop_torch') vs PyTorch's centered RMSprop with momentum, in NumPy.
# ------------------------------------------------------------------------------------------


def _np_torch_centered_rmsprop(
    grads: list[dict], *, lr, lr_end_fraction, decay_steps, max_grad_norm, alpha, eps, momentum
) -> list[dict]:
    """float64 transcription of ``torch.optim.RMSprop(centered=True)`` (weight_decay 0),
    one step per gradient, after global-norm clipping, with rate
    ``lr_k = lr (1 + (lr_end_fraction - 1) min(k, T) / T)`` at step ``k = 0, 1, ...``::

        square_avg = alpha square_avg + (1 - alpha) g^2
        grad_avg   = alpha grad_avg + (1 - alpha) g
        avg        = sqrt(square_avg - grad_avg^2) + eps
        buf        = momentum buf + g / avg          (momentum > 0)
        p         -= lr_k buf                        (lr_k g / avg without momentum)
    """
    names = sorted(grads[0])
    p = {n: np.zeros(np.shape(grads[0][n])) for n in names}
    square_avg = {n: np.zeros_like(p[n]) for n in names}
    grad_avg = {n: np.zeros_like(p[n]) for n in names}
    buf = {n: np.zeros_like(p[n]) for n in names}
    horizon = max(decay_steps, 1)
    out = []
    for k, g_tree in enumerate(grads):
        g = {n: np.asarray(g_tree[n], np.float64) for n in names}
        norm = np.sqrt(sum(np.sum(g[n] ** 2) for n in names))
        if not norm < max_grad_norm:
            g = {n: g[n] / norm * max_grad_norm for n in names}
        lr_k = lr * (1 + (lr_end_fraction - 1) * min(k, horizon) / horizon)
        for n in names:
            square_avg[n] = alpha * square_avg[n] + (1 - alpha) * g[n] ** 2
            grad_avg[n] = alpha * grad_avg[n] + (1 - alpha) * g[n]
            avg = np.sqrt(square_avg[n] - grad_avg[n] ** 2) + eps
            if momentum > 0:
                buf[n] = momentum * buf[n] + g[n] / avg
                p[n] = p[n] - lr_k * buf[n]
            else:
                p[n] = p[n] - lr_k * g[n] / avg
        out.append({n: p[n].copy() for n in names})
    return out


@pytest.mark.parametrize(
    "lr, lr_end_fraction, decay_steps, max_grad_norm, alpha, eps, momentum",
    # Rates and fractions are powers of two and decay_steps 0, 1 or a power of two: optax's
    # linear_schedule computes in float32 even under x64, and with these every lr_k is exact.
    [
        (2**-12, 1.0, 10, float("inf"), 0.95, 0.01, 0.0),  # MinAtar-like, no momentum
        (2**-12, 0.125, 8, float("inf"), 0.95, 0.01, 0.9),  # decaying rate scales the buffer
        (2**-7, 0.0, 16, 2.0, 0.99, 1e-8, 0.5),  # PyTorch's default alpha and eps; clipping
        (2**-10, 0.25, 0, 1.0, 0.9, 1e-3, 0.95),  # decay_steps 0 (one step is used)
    ],
)
@pytest.mark.parametrize("seed", [0, 1])
def test_make_optimizer_rmsprop_torch_matches_pytorch_reference(
    seed, lr, lr_end_fraction, decay_steps, max_grad_norm, alpha, eps, momentum
):
    kw = dict(lr=lr, lr_end_fraction=lr_end_fraction, decay_steps=decay_steps)
    expected = _np_torch_centered_rmsprop(
        [jax.tree.map(np.asarray, g) for g in _grads(seed)],
        **kw,
        max_grad_norm=max_grad_norm,
        alpha=alpha,
        eps=eps,
        momentum=momentum,
    )
    with jax.enable_x64(True):
        opt = make_optimizer(
            "rmsprop_torch",
            **kw,
            max_grad_norm=max_grad_norm,
            rms_decay=alpha,
            rms_eps=eps,
            rms_momentum=momentum,
        )
        grads = [jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), g) for g in _grads(seed)]
        if np.isfinite(max_grad_norm):
            assert max(float(optax.global_norm(g)) for g in grads) > max_grad_norm
        actual = _run(opt, _params(jnp.float64), grads)
        assert all(x.dtype == jnp.float64 for x in jax.tree.leaves(actual))
    for a, e in zip(actual, expected, strict=True):
        _close(a, e, 1e-10, 1e-15)


def test_make_optimizer_rmsprop_torch_float32_close_to_reference():
    """The same in float32 (as training runs it), to float32 accuracy over the run."""
    kw = dict(lr=2.5e-4, lr_end_fraction=0.1, decay_steps=6, max_grad_norm=1.0)
    opt = make_optimizer("rmsprop_torch", **kw, rms_decay=0.95, rms_eps=0.01, rms_momentum=0.9)
    grads = _grads(3)
    actual = _run(opt, _params(), grads)
    expected = _np_torch_centered_rmsprop(
        [jax.tree.map(np.asarray, g) for g in grads], **kw, alpha=0.95, eps=0.01, momentum=0.9
    )
    scale = max(float(np.max(np.abs(x))) for e in expected for x in e.values())
    for a, e in zip(actual, expected, strict=True):
        _close(a, e, 1e-5, 1e-5 * scale)


def test_make_optimizer_rejects_unknown_name():
    with pytest.raises(ValueError, match="optimizer must be one of"):
        make_optimizer("sgd", lr=1e-3, lr_end_fraction=1.0, decay_steps=1, max_grad_norm=1.0)
