"""Gradients at the edges where a textbook formula reads 0·∞ or 0/0, each against PyTorch CPU and against
centred differences in float64 (regressions found by running another autodiff project's tests).

* ``pow`` at a zero base: ∂(x^y)/∂x is 0 where y = 0 (x^0 = 1 is constant), and ∂(x^y)/∂y is 0 where x = 0
  and y ≥ 0; elsewhere at x = 0 the infinities PyTorch gives.
* ``std`` of constant data: gradient 0 (σ = 0), as PyTorch; ``var`` there is 0 by its formula.
* Every reduction of a 0-d tensor over axis 0 or -1, forward and backward, as PyTorch (NumPy's sum does
  the same; its mean and var refuse the axis, glassgrad accepts it for all alike).
"""
from __future__ import annotations

import functools
import warnings

import numpy as np
import pytest

import glassgrad as gg

torch = pytest.importorskip("torch")


def grads_both(gg_fn, torch_fn, *values):
    """Value and input gradients of f(*values) in glassgrad and in torch, float64, with the cotangent 1."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)    # 0 ** -1 = inf is the expected value here
        gts = [gg.tensor(np.asarray(v, dtype=np.float64), requires_grad=True) for v in values]
        tts = [torch.tensor(np.asarray(v, dtype=np.float64), requires_grad=True) for v in values]
        out, tout = gg_fn(*gts), torch_fn(*tts)
        out.sum().backward()
        tout.sum().backward()
    return (out.numpy(), [t.grad.numpy() for t in gts]), (tout.detach().numpy(), [t.grad.numpy() for t in tts])


def assert_same(mine, theirs):
    (out, grads), (tout, tgrads) = mine, theirs
    np.testing.assert_allclose(out, tout, rtol=1e-12, atol=0)
    for k, (a, b) in enumerate(zip(grads, tgrads)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=0, err_msg=f"gradient of input {k}")  # inf == inf, nan == nan


# ---- pow at a zero base ----------------------------------------------------------------------------
ZERO_BASE = [  # (y, ∂/∂x, ∂/∂y) of x ** y at x = 0, as torch 2.13 gives them
    (2.0, 0.0, 0.0), (1.0, 1.0, 0.0), (3.0, 0.0, 0.0), (0.5, np.inf, 0.0), (0.0, 0.0, 0.0),
    (-1.0, -np.inf, -np.inf), (-0.5, -np.inf, -np.inf)]


@pytest.mark.parametrize("y, dx, dy", ZERO_BASE)
def test_pow_at_zero_base_matches_torch_for_both_inputs(y, dx, dy):
    mine, theirs = grads_both(gg.pow, torch.pow, 0.0, y)
    assert_same(mine, theirs)
    assert mine[1][0] == dx and mine[1][1] == dy       # the table above is what torch gives: kept as a record


def test_pow_with_a_number_exponent_or_base_at_zero_matches_torch():
    x = np.array([0.0, 0.0, 2.0, -1.5])
    for exponent in (0, 0.0, 1, 2, 3.0):
        assert_same(*grads_both(lambda t, e=exponent: t ** e, lambda t, e=exponent: t ** e, x))
    y = np.array([0.0, 1.0, 2.5])
    assert_same(*grads_both(lambda t: 0.0 ** t, lambda t: 0.0 ** t, y))


def test_pow_at_zero_base_agrees_with_centred_differences_where_they_exist():
    """x^0 at x = 0 (∂/∂x = 0) and 0^y for y > 0 (∂/∂y = 0): both sides of the difference are defined."""
    assert gg.gradcheck(lambda x: x ** 0.0, [np.zeros(3)])
    assert gg.gradcheck(lambda x: x ** np.zeros(3), [np.zeros(3)])
    assert gg.gradcheck(lambda y: np.zeros(3) ** y, [np.array([1.0, 2.0, 3.5])])
    assert gg.gradcheck(lambda x: x ** 2.0, [np.array([0.0, 1.5])])


def test_pow_second_derivative_at_zero_base_is_finite_where_torch_is():
    """d²/dx² x² = 2 at x = 0: the masked branch does not leak NaN into the graph of the gradient."""
    second = gg.grad(lambda t: gg.grad(lambda u: (u ** 2.0).sum())(t).sum())
    h = second(gg.tensor([0.0, 1.0], dtype=gg.float64))
    tx = torch.tensor([0.0, 1.0], dtype=torch.float64, requires_grad=True)
    (tg,) = torch.autograd.grad((tx ** 2.0).sum(), tx, create_graph=True)
    (th,) = torch.autograd.grad(tg.sum(), tx)
    np.testing.assert_allclose(np.asarray(h), th.numpy())
    assert gg.gradgradcheck(lambda t: t ** 2.0, [np.array([0.0, 1.0])])


# ---- std and var of constant data ----------------------------------------------------------------
CONSTANT = np.array([[3.0, 3.0, 3.0], [1.0, 2.0, 4.0], [-0.5, -0.5, -0.5]])


@pytest.mark.parametrize("ddof", [0, 1])
@pytest.mark.parametrize("axis", [None, 1, -1])
def test_std_and_var_of_constant_data_have_gradient_zero_as_torch(axis, ddof):
    dims = {} if axis is None else {"dim": axis}
    data = CONSTANT[0] if axis is None else CONSTANT
    for ours, theirs in ((gg.std, torch.std), (gg.var, torch.var)):
        mine = grads_both(functools.partial(ours, axis=axis, ddof=ddof),
                          functools.partial(theirs, **dims, correction=ddof), data)
        assert_same(mine[0], mine[1])
        assert np.all(np.isfinite(mine[0][1][0]))
        assert gg.gradcheck(functools.partial(ours, axis=axis, ddof=ddof), [data])


def test_std_keeps_float32_and_single_entries_give_zero():
    x = gg.tensor([[2.0], [5.0]], requires_grad=True)       # one entry per row: σ = 0
    gg.std(x, axis=1).sum().backward()
    assert x.grad.dtype == np.float32 and np.all(x.grad.numpy() == 0)


def test_var_with_no_degree_of_freedom_left_gives_nan_as_torch_not_a_crash():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")             # both warn that no degree of freedom is left
        mine, theirs = grads_both(lambda t: gg.var(t, ddof=1), lambda t: torch.var(t, correction=1), [2.0])
    assert np.isnan(mine[0]) and np.isnan(mine[1][0]).all()
    assert np.isnan(theirs[0]) and np.isnan(theirs[1][0]).all()


# ---- reductions of a 0-d tensor over axis 0 / -1 ------------------------------------------------
REDUCTIONS = {   # glassgrad reduction(x, axis) -> the torch call
    "sum": lambda t, d: torch.sum(t, dim=d),
    "mean": lambda t, d: torch.mean(t, dim=d),
    "max": lambda t, d: torch.amax(t, dim=d),
    "min": lambda t, d: torch.amin(t, dim=d),
    "prod": lambda t, d: torch.prod(t, d),
    "logsumexp": lambda t, d: torch.logsumexp(t, d),
    "var": lambda t, d: torch.var(t, dim=d, correction=0),
    "std": lambda t, d: torch.std(t, dim=d, correction=0),
    "softmax": lambda t, d: torch.softmax(t, d),
    "log_softmax": lambda t, d: torch.log_softmax(t, d),
}


@pytest.mark.parametrize("axis", [0, -1])
@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_reductions_of_a_0d_tensor_over_axis_0_or_minus_1_match_torch(name, axis):
    mine, theirs = grads_both(lambda t: getattr(gg, name)(t, axis=axis), lambda t: REDUCTIONS[name](t, axis), 1.5)
    assert mine[0].shape == theirs[0].shape == ()
    assert_same(mine, theirs)
    assert gg.gradcheck(lambda t: getattr(gg, name)(t, axis=axis), [np.array(1.5)])


@pytest.mark.parametrize("name", ["sum", "mean", "max", "min", "prod", "logsumexp", "var", "std"])
def test_0d_reductions_keepdims_and_tuple_axis(name):
    x = gg.tensor(2.0, dtype=gg.float64, requires_grad=True)
    for axis in ((0,), (-1,), [0]):
        out = getattr(gg, name)(x, axis=axis, keepdims=True)
        assert out.shape == ()
        out.backward()
    assert x.grad.shape == ()


@pytest.mark.parametrize("shape, axis, message", [
    ((), 1, r"sum: .*axis 1 is out of range for a tensor with 0 dimension\(s\): allowed -1\.\.0 or None"),
    ((), -2, r"sum: .*axis -2 is out of range"),
    ((3,), 1, r"sum: .*axis 1 is out of range for a tensor with 1 dimension\(s\): allowed -1\.\.0 or None"),
    ((2, 3), (0, -2), r"sum: .*names the same axis twice"),
    ((3,), 1.0, r"sum: .*axis must be an int, a tuple of ints or None, not 1\.0"),
])
def test_bad_axes_are_refused_naming_the_gate_and_what_is_allowed(shape, axis, message):
    with pytest.raises(gg.ShapeError, match=message):
        gg.sum(gg.tensor(np.ones(shape), requires_grad=True), axis=axis)


def test_softmax_takes_one_int_axis():
    with pytest.raises(gg.ShapeError, match=r"softmax: .*axis must be a single int"):
        gg.softmax(gg.tensor(np.ones((2, 3)), requires_grad=True), axis=(0, 1))
