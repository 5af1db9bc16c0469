"""gradcheck, gradgradcheck and numerical_grad: they pass on correct gates and catch wrong ones."""
from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

import glassgrad as gg

RNG = np.random.default_rng(0)


class WrongCube(gg.Function):
    """x³ with a backward off by a factor of 1.5 (4.5x² instead of 3x²)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 4.5 * x ** 2


class WrongSecondInput(gg.Function):
    """x · y whose y-gradient is wrong (it returns g · y)."""

    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return x * y

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        return g * y, g * y


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_passes_on_correct_gates(mode):
    x, y = RNG.standard_normal((3, 2)), RNG.standard_normal((2, 4))
    assert gg.gradcheck(lambda a, b: (a @ b).tanh(), [x, y], mode=mode) is True
    assert gg.gradcheck(lambda a: a.softmax(axis=0), [x], mode=mode) is True
    assert gg.gradcheck(lambda a: (a.exp() * a).sum(), x, mode=mode) is True         # a single array input
    assert gg.gradcheck(lambda a: a ** 2, gg.tensor(x), mode=mode) is True           # a single tensor input
    assert gg.gradcheck(lambda a: a.sigmoid(), [np.array(0.3)], mode=mode) is True   # 0-d


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_catches_a_wrong_backward(mode):
    x = np.array([0.5, -1.0, 2.0])
    with pytest.raises(gg.GradcheckError):
        gg.gradcheck(WrongCube.apply, [x], mode=mode)


def test_error_message_names_input_index_values_and_relative_error():
    x = np.array([[0.5, -1.0], [2.0, 1.5]])
    with pytest.raises(gg.GradcheckError) as info:
        gg.gradcheck(lambda t: WrongCube.apply(t).sum(), [x])
    message = str(info.value)
    assert "full mode" in message
    line = message.splitlines()[1]                     # the worst entry (all are off by the same factor)
    found = re.search(r"input (\d+), index \((\d+), (\d+)\): numerical ([-\d.e+]+), analytical ([-\d.e+]+), "
                      r"relative error ([-\d.e+]+)", line)
    assert found, line
    k, i, j = (int(found.group(n)) for n in (1, 2, 3))
    numerical, analytical, error = (float(found.group(n)) for n in (4, 5, 6))
    assert k == 0
    assert numerical == pytest.approx(3 * x[i, j] ** 2, rel=1e-6)
    assert analytical == pytest.approx(4.5 * x[i, j] ** 2, rel=1e-6)
    assert error == pytest.approx(1 / 3, rel=1e-2)
    assert "4 of 4" in message                         # every entry is wrong


def test_error_names_the_wrong_input_and_output_entry():
    x, y = np.array([1.0, 2.0]), np.array([3.0, -4.0])
    with pytest.raises(gg.GradcheckError) as info:
        gg.gradcheck(WrongSecondInput.apply, [x, y])
    message = str(info.value)
    assert "input 1" in message and "input 0" not in message
    assert "output (0,)" in message or "output (1,)" in message


def test_raise_exception_false_returns_a_falsy_report():
    report = gg.gradcheck(WrongCube.apply, [np.array([1.0, 2.0])], raise_exception=False)
    assert not report
    assert report is not False                        # a report, not a bare bool
    assert "input 0" in str(report) and "numerical" in str(report)
    assert len(report.mismatches) == 2 and report.checked == 4
    assert all(m.error == pytest.approx(1 / 3, rel=1e-3) for m in report.mismatches)
    fast = gg.gradcheck(WrongCube.apply, [np.array([1.0, 2.0])], mode="fast", raise_exception=False)
    assert not fast and "fast mode" in str(fast)
    assert gg.gradcheck(lambda t: t * 2, [np.ones(2)], raise_exception=False) is True


def test_only_the_inputs_that_ask_are_checked():
    """With tensors, only those with requires_grad=True are differentiated: a wrong gradient for the
    other input goes unnoticed, by request."""
    x = gg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = gg.tensor(np.array([3.0, -4.0]))
    assert gg.gradcheck(WrongSecondInput.apply, [x, y]) is True
    with pytest.raises(gg.GradcheckError):
        gg.gradcheck(WrongSecondInput.apply, [x, y.detach().requires_grad_()])


def test_integer_inputs_are_constants():
    z = RNG.standard_normal((3, 4))
    labels = np.array([0, 3, 1])
    assert gg.gradcheck(lambda t, y: -t.log_softmax()[np.arange(3), y.numpy()].mean(), [z, labels])


def test_float32_inputs_warn():
    with pytest.warns(UserWarning, match="float32"):
        gg.gradcheck(lambda t: t * 2, [np.ones(2, dtype=np.float32)], eps=1e-2, atol=1e-2)
    with pytest.warns(UserWarning, match="float64"):
        gg.gradcheck(lambda t: t * 2, [[1.0, 2.0]], eps=1e-2, atol=1e-2)       # Python floats: float32
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gg.gradcheck(lambda t: t * 2, [np.ones(2)])                           # float64: silent


def test_bad_mode_and_non_tensor_output():
    with pytest.raises(ValueError, match="mode"):
        gg.gradcheck(lambda t: t, [np.ones(2)], mode="quick")
    with pytest.raises(TypeError, match="tensor"):
        gg.gradcheck(lambda t: 3.0, [np.ones(2)])


def test_constant_output_has_zero_gradient():
    assert gg.gradcheck(lambda t: gg.tensor(np.ones(2)) * 3, [np.ones(2)])


def test_gradcheck_leaves_the_inputs_unchanged():
    x = np.array([0.5, 1.5])
    copy = x.copy()
    gg.gradcheck(lambda t: t.exp(), [x])
    np.testing.assert_array_equal(x, copy)


# --------------------------------------------------------------------------------------------------
# gradgradcheck
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["full", "fast"])
def test_gradgradcheck_passes_on_correct_gates(mode):
    x, y = RNG.standard_normal((2, 3)), RNG.standard_normal(3)
    assert gg.gradgradcheck(lambda a, b: (a * b).tanh() * a, [x, y], mode=mode) is True
    assert gg.gradgradcheck(lambda a: a.logsumexp(axis=1), [x], mode=mode) is True


def test_gradgradcheck_catches_a_wrong_second_derivative():
    """A VJP that uses the saved output as a plain array has the right first derivative but loses the
    second: gradgradcheck must notice. (A Gate made directly is not registered in GATES.)"""
    leaky = gg.Gate("detached_tanh", np.tanh, [lambda g, out, x: g * (1 - np.asarray(out) ** 2)])
    x = np.array([0.3, -0.8])
    assert gg.gradcheck(leaky, [x])                                # first derivative right
    with pytest.raises(gg.GradcheckError):
        gg.gradgradcheck(leaky, [x])                               # second derivative lost
    assert gg.gradgradcheck(gg.tanh, [x])


# --------------------------------------------------------------------------------------------------
# numerical_grad
# --------------------------------------------------------------------------------------------------
def test_numerical_grad_on_a_known_function():
    x, y = np.array([1.0, -2.0, 0.5]), np.array([3.0])
    gx, gy = gg.numerical_grad(lambda a, b: (a ** 2 * b).sum() + b.exp().sum(), [x, y])
    np.testing.assert_allclose(gx, 2 * x * 3.0, rtol=1e-7)
    np.testing.assert_allclose(gy, (x ** 2).sum() + np.exp(3.0), rtol=1e-7)
    (g,) = gg.numerical_grad(lambda a: (a * a).sum(), np.array([[1.0, 2.0]]))
    np.testing.assert_allclose(g, [[2.0, 4.0]], rtol=1e-7)


def test_numerical_grad_agrees_with_backprop():
    x = RNG.standard_normal((2, 3))

    def f(t):
        return (t.tanh() @ t.T).sum()

    t = gg.tensor(x, requires_grad=True)
    f(t).backward()
    (numerical,) = gg.numerical_grad(f, [x])
    np.testing.assert_allclose(numerical, t.grad.numpy(), rtol=1e-6, atol=1e-8)
