"""``purejaxdqn.losses`` against rlax as an independent reference.

Each per-transition function is vmapped over a random batch (several seeds, a quarter of the
transitions terminal, i.e. ``discount_t = 0``) and compared with the rlax function it is
named after; the batch losses ``td_loss`` and ``categorical_td_loss`` are compared with a
batch mean assembled from rlax's per-transition functions; gradients are compared where
they matter (the online values get rlax's gradient, the target none). Inputs are float32
on both sides and the tolerance a few float32 ulps (1e-6), except for the C51 projection on
a float32 ``linspace`` support, whose uneven spacing the two treat differently (see
``_support``); that formula is also compared in float64.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purejaxdqn import losses

rlax = pytest.importorskip("rlax")

# rlax.categorical_cross_entropy warns that it will be deprecated (in favour of distrax).
pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")

SEEDS = (0, 1, 2, 3, 4)
B, A, K = 64, 5, 41
V_MAX = 10.0
RTOL, ATOL = 1e-6, 1e-6


def _close(actual, expected, rtol=RTOL, atol=ATOL):
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=rtol, atol=atol)


def _batch(seed: int, *, atoms: int | None = None, r_scale: float = 3.0) -> dict:
    """A random batch of transitions; ``discount_t`` is 0 for about a quarter of them."""
    keys = jax.random.split(jax.random.key(seed), 8)
    shape = (B, A) if atoms is None else (B, A, atoms)
    gamma = jax.random.uniform(keys[0], (B,), minval=0.5, maxval=1.0)
    terminal = jax.random.bernoulli(keys[1], 0.25, (B,))
    discount_t = jnp.where(terminal, 0.0, gamma)
    batch = {
        "q_tm1": 2.0 * jax.random.normal(keys[2], shape),
        "a_tm1": jax.random.randint(keys[3], (B,), 0, A),
        "r_t": r_scale * jax.random.normal(keys[4], (B,)),
        "discount_t": discount_t,
        "q_t": 2.0 * jax.random.normal(keys[5], shape),
        "q_t_selector": 2.0 * jax.random.normal(keys[6], shape),
        "weights": jax.random.uniform(keys[7], (B,), minval=0.1, maxval=1.0),
    }
    assert bool(jnp.any(terminal)) and not bool(jnp.all(terminal))
    return batch


def _support(k: int = K) -> jax.Array:
    """``k`` atoms on ``[-V_MAX, V_MAX]`` whose spacing is exactly one float32 number.

    ``jnp.linspace`` in float32 is not exactly even: its spacings differ by a few ulps. Ours
    assumes one spacing ``z[1] - z[0]`` where rlax uses each interval's own, so on a linspace
    support the two differ by about ``ulp(V_MAX) / dz`` (see
    ``test_categorical_projection_linspace_support``). With ``V_MAX = 10`` and ``k`` 11, 21,
    41 or 81 the spacing is a power of two, every atom is exact, and the two agree to
    float32 rounding.
    """
    dz = 2 * V_MAX / (k - 1)
    z = jnp.arange(k, dtype=jnp.float32) * dz - V_MAX
    assert len(set(np.diff(np.asarray(z)).tolist())) == 1, "support not exactly even"
    return z


# ------------------------------------------------------------------------------------------
# Per-transition TD errors and losses.
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_q_learning_td_error(seed):
    b = _batch(seed)
    args = (b["q_tm1"], b["a_tm1"], b["r_t"], b["discount_t"], b["q_t"])
    ours = jax.jit(jax.vmap(losses.q_learning_td_error))(*args)
    ref = jax.jit(jax.vmap(rlax.q_learning))(*args)
    _close(ours, ref)

    # Same gradient with respect to q_tm1; the target carries none (d/dq_t is zero) in both.
    def grads(f):
        loss = lambda q, qt: jnp.sum(jax.vmap(f)(q, *args[1:4], qt) ** 2)
        return jax.grad(loss, (0, 1))(b["q_tm1"], b["q_t"])

    (g_ours, g_ours_t), (g_ref, g_ref_t) = grads(losses.q_learning_td_error), grads(rlax.q_learning)
    _close(g_ours, g_ref)
    assert bool(jnp.any(g_ours != 0))
    _close(g_ours_t, 0.0, atol=0.0)
    _close(g_ref_t, 0.0, atol=0.0)


@pytest.mark.parametrize("seed", SEEDS)
def test_double_q_learning_td_error(seed):
    b = _batch(seed)
    args = (b["q_tm1"], b["a_tm1"], b["r_t"], b["discount_t"], b["q_t"], b["q_t_selector"])
    ours = jax.jit(jax.vmap(losses.double_q_learning_td_error))(*args)
    ref = jax.jit(jax.vmap(rlax.double_q_learning))(*args)
    _close(ours, ref)
    # The selector must matter: Double differs from plain Q-learning on this batch.
    plain = jax.vmap(rlax.q_learning)(*args[:5])
    assert not np.allclose(np.asarray(ours), np.asarray(plain))


@pytest.mark.parametrize("delta", [0.5, 1.0, 2.5])
@pytest.mark.parametrize("seed", SEEDS)
def test_huber_loss(seed, delta):
    x = 3.0 * jax.random.normal(jax.random.key(seed), (1000,))
    x = jnp.concatenate([x, jnp.array([0.0, delta, -delta])])  # the kink, exactly
    assert bool(jnp.any(jnp.abs(x) < delta)) and bool(jnp.any(jnp.abs(x) > delta))
    _close(jax.jit(losses.huber_loss)(x, delta), rlax.huber_loss(x, delta))
    g_ours = jax.grad(lambda v: jnp.sum(losses.huber_loss(v, delta)))(x)
    g_ref = jax.grad(lambda v: jnp.sum(rlax.huber_loss(v, delta)))(x)
    _close(g_ours, g_ref)


def test_huber_loss_default_delta_is_rlax_default():
    x = 3.0 * jax.random.normal(jax.random.key(7), (100,))
    _close(losses.huber_loss(x), rlax.huber_loss(x))


@pytest.mark.parametrize("seed", SEEDS)
def test_l2_loss(seed):
    x = 3.0 * jax.random.normal(jax.random.key(seed), (1000,))
    _close(jax.jit(losses.l2_loss)(x), rlax.l2_loss(x))


# ------------------------------------------------------------------------------------------
# C51: projection and loss.
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("k_p", [K, 11])  # source atoms: as many as the support, or fewer
@pytest.mark.parametrize("seed", SEEDS)
def test_categorical_projection(seed, k_p):
    keys = jax.random.split(jax.random.key(seed), 3)
    z_q = _support()
    # r + discount * z with rewards large enough that some atoms are clipped to the support.
    r = 6.0 * jax.random.normal(keys[0], (B,))
    discount = jnp.where(jnp.arange(B) % 4 == 0, 0.0, jax.random.uniform(keys[1], (B,)))
    z_p = r[:, None] + discount[:, None] * jnp.linspace(-V_MAX, V_MAX, k_p)[None, :]
    assert bool(jnp.any(jnp.abs(z_p) > V_MAX)) and bool(jnp.any(jnp.abs(z_p) < V_MAX))
    probs = jax.nn.softmax(jax.random.normal(keys[2], (B, k_p)))
    project = jax.vmap(losses.categorical_projection, in_axes=(0, 0, None))
    reference = jax.vmap(rlax.categorical_l2_project, in_axes=(0, 0, None))
    ours = jax.jit(project)(z_p, probs, z_q)
    _close(ours, jax.jit(reference)(z_p, probs, z_q))
    _close(jnp.sum(ours, axis=-1), 1.0)


def test_categorical_projection_on_grid_and_outside():
    """Atoms exactly on support points (the identity, and a point mass), and all outside."""
    z = _support(11)
    probs = jax.nn.softmax(jax.random.normal(jax.random.key(0), (11,)))
    cases = [
        z,  # r = 0, discount = 1: the projection is the identity
        jnp.full((11,), z[3]),  # discount = 0, r on a support point
        jnp.full((11,), 0.3),  # discount = 0, r between two support points
        z + 100.0,  # everything above the support
        z - 100.0,  # everything below
    ]
    for z_p in cases:
        _close(
            losses.categorical_projection(z_p, probs, z), rlax.categorical_l2_project(z_p, probs, z)
        )
    _close(losses.categorical_projection(z, probs, z), probs)


def _projection_inputs(seed: int, z_q: jax.Array) -> tuple[jax.Array, jax.Array]:
    keys = jax.random.split(jax.random.key(seed), 3)
    dtype = z_q.dtype
    r = 6.0 * jax.random.normal(keys[0], (B,), dtype)
    discount = jax.random.uniform(keys[1], (B,), dtype)
    z_p = r[:, None] + discount[:, None] * z_q[None, :]
    return z_p, jax.nn.softmax(jax.random.normal(keys[2], z_p.shape, dtype))


@pytest.mark.parametrize("seed", SEEDS)
def test_categorical_projection_float64_linspace(seed):
    """In float64 the formulas agree on the usual ``linspace(-10, 10, 51)`` support."""
    with jax.enable_x64(True):
        z_q = jnp.linspace(-V_MAX, V_MAX, 51, dtype=jnp.float64)
        z_p, probs = _projection_inputs(seed, z_q)
        ours = jax.vmap(losses.categorical_projection, in_axes=(0, 0, None))(z_p, probs, z_q)
        ref = jax.vmap(rlax.categorical_l2_project, in_axes=(0, 0, None))(z_p, probs, z_q)
        assert ours.dtype == jnp.float64
        _close(ours, ref, rtol=1e-12, atol=1e-14)


def test_categorical_projection_linspace_support():
    """float32 ``linspace(-10, 10, 51)``: spacings differ by up to 1.2e-6 (a few ulps of 10),
    ours divides by ``z[1] - z[0]`` everywhere, rlax by each interval's own spacing. The
    difference stays below ``4 ulp(V_MAX) / dz`` (measured 2.4e-6), and ours then conserves
    mass only to that order."""
    z_q = jnp.linspace(-V_MAX, V_MAX, 51)
    bound = 4 * float(np.spacing(np.float32(V_MAX))) / 0.4
    for seed in SEEDS:
        z_p, probs = _projection_inputs(seed, z_q)
        ours = jax.vmap(losses.categorical_projection, in_axes=(0, 0, None))(z_p, probs, z_q)
        ref = jax.vmap(rlax.categorical_l2_project, in_axes=(0, 0, None))(z_p, probs, z_q)
        _close(ours, ref, rtol=0.0, atol=bound)
        _close(jnp.sum(ours, axis=-1), 1.0, rtol=0.0, atol=bound)


def _greedy_by_mean(logits_t: jax.Array, z: jax.Array) -> jax.Array:
    """The action rlax.categorical_q_learning bootstraps from: argmax of the mean under
    ``softmax(logits_t)``, per item. ``logits_t`` is ``[B, A, K]``."""
    return jnp.argmax(jnp.sum(jax.nn.softmax(logits_t, axis=-1) * z, axis=-1), axis=-1)


@pytest.mark.parametrize("seed", SEEDS)
def test_categorical_q_learning_loss(seed):
    """Ours takes the bootstrap action ``a_t``; rlax picks the target's greedy action (by the
    mean of its distribution) itself, so ``a_t`` is that action and the atoms are ``z`` on
    both time steps."""
    b = _batch(seed, atoms=K)
    z = _support()
    a_t = _greedy_by_mean(b["q_t"], z)
    ours = jax.jit(jax.vmap(losses.categorical_q_learning_loss, in_axes=(0,) * 6 + (None,)))(
        b["q_tm1"], b["a_tm1"], b["r_t"], b["discount_t"], b["q_t"], a_t, z
    )

    def reference(logits_tm1, a_tm1, r_t, discount_t, logits_t):
        return rlax.categorical_q_learning(z, logits_tm1, a_tm1, r_t, discount_t, z, logits_t)

    ref = jax.jit(jax.vmap(reference))(b["q_tm1"], b["a_tm1"], b["r_t"], b["discount_t"], b["q_t"])
    _close(ours, ref)

    # Gradients with respect to the online logits agree; the target carries none.
    def grads(f, *args):
        return jax.grad(lambda lt, lt1: jnp.sum(f(lt, *args, lt1)), (0, 1))

    def ours_fn(lt, a, r, d, lt1):
        loss = jax.vmap(losses.categorical_q_learning_loss, in_axes=(0,) * 6 + (None,))
        return loss(lt, a, r, d, lt1, a_t, z)

    g_ours = grads(ours_fn, b["a_tm1"], b["r_t"], b["discount_t"])(b["q_tm1"], b["q_t"])
    g_ref = grads(jax.vmap(reference), b["a_tm1"], b["r_t"], b["discount_t"])(b["q_tm1"], b["q_t"])
    _close(g_ours[0], g_ref[0])
    _close(g_ours[1], 0.0, atol=0.0)


@pytest.mark.parametrize("seed", SEEDS)
def test_categorical_q_learning_loss_double(seed):
    """With ``a_t = argmax q_t_selector`` ours is rlax.categorical_double_q_learning."""
    b = _batch(seed, atoms=K)
    z = _support()
    selector = b["q_t_selector"][..., 0]  # [B, A]
    a_t = jnp.argmax(selector, axis=-1)
    assert bool(jnp.any(a_t != _greedy_by_mean(b["q_t"], z)))
    ours = jax.vmap(losses.categorical_q_learning_loss, in_axes=(0,) * 6 + (None,))(
        b["q_tm1"], b["a_tm1"], b["r_t"], b["discount_t"], b["q_t"], a_t, z
    )

    def reference(logits_tm1, a_tm1, r_t, discount_t, logits_t, sel):
        return rlax.categorical_double_q_learning(
            z, logits_tm1, a_tm1, r_t, discount_t, z, logits_t, sel
        )

    ref = jax.vmap(reference)(b["q_tm1"], b["a_tm1"], b["r_t"], b["discount_t"], b["q_t"], selector)
    _close(ours, ref)


# ------------------------------------------------------------------------------------------
# Batch losses against batches assembled from rlax.
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("double", [False, True])
@pytest.mark.parametrize("kind, delta", [("huber", 1.0), ("huber", 0.5), ("l2", 1.0)])
@pytest.mark.parametrize("seed", SEEDS[:3])
def test_td_loss(seed, kind, delta, double, weighted):
    b = _batch(seed)
    selector = b["q_t_selector"] if double else None
    weights = b["weights"] if weighted else None
    args = (b["q_tm1"], b["a_tm1"], b["r_t"], b["discount_t"], b["q_t"])

    @jax.jit
    def ours_fn(q_tm1, a_tm1, r_t, discount_t, q_t, selector, weights):
        return losses.td_loss(
            q_tm1,
            a_tm1,
            r_t,
            discount_t,
            q_t,
            selector,
            kind=kind,
            huber_delta=delta,
            weights=weights,
        )

    loss, td = ours_fn(*args, selector, weights)

    if double:
        td_ref = jax.vmap(rlax.double_q_learning)(*args, selector)
    else:
        td_ref = jax.vmap(rlax.q_learning)(*args)
    per_item = rlax.huber_loss(td_ref, delta) if kind == "huber" else rlax.l2_loss(td_ref)
    if weighted:
        per_item = weights * per_item
    _close(td, td_ref)
    _close(loss, jnp.mean(per_item))
    assert td.shape == (B,) and loss.shape == ()

    # Gradients of the loss with respect to the online Q-values agree.
    g_ours = jax.grad(lambda q: ours_fn(q, *args[1:], selector, weights)[0])(b["q_tm1"])

    def ref_loss(q):
        if double:
            t = jax.vmap(rlax.double_q_learning)(q, *args[1:], selector)
        else:
            t = jax.vmap(rlax.q_learning)(q, *args[1:])
        p = rlax.huber_loss(t, delta) if kind == "huber" else rlax.l2_loss(t)
        return jnp.mean(p if weights is None else weights * p)

    _close(g_ours, jax.grad(ref_loss)(b["q_tm1"]))


def test_td_loss_rejects_unknown_kind():
    b = _batch(0)
    with pytest.raises(ValueError, match="kind"):
        losses.td_loss(b["q_tm1"], b["a_tm1"], b["r_t"], b["discount_t"], b["q_t"], kind="mse")


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("double", [False, True])
@pytest.mark.parametrize("seed", SEEDS[:3])
def test_categorical_td_loss(seed, double, weighted):
    b = _batch(seed, atoms=K)
    z = _support()
    selector = b["q_t_selector"][..., 0]
    a_t = jnp.argmax(selector, axis=-1) if double else _greedy_by_mean(b["q_t"], z)
    weights = b["weights"] if weighted else None
    loss, per_item = jax.jit(losses.categorical_td_loss)(
        b["q_tm1"], b["a_tm1"], b["r_t"], b["discount_t"], b["q_t"], a_t, z, weights
    )

    if double:
        ref = jax.vmap(
            lambda lt, a, r, d, lt1, sel: rlax.categorical_double_q_learning(
                z, lt, a, r, d, z, lt1, sel
            )
        )(b["q_tm1"], b["a_tm1"], b["r_t"], b["discount_t"], b["q_t"], selector)
    else:
        ref = jax.vmap(
            lambda lt, a, r, d, lt1: rlax.categorical_q_learning(z, lt, a, r, d, z, lt1)
        )(b["q_tm1"], b["a_tm1"], b["r_t"], b["discount_t"], b["q_t"])
    _close(per_item, ref)  # unweighted per-item losses
    _close(loss, jnp.mean(ref if weights is None else weights * ref))
    assert per_item.shape == (B,) and loss.shape == ()
