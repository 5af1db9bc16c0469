"""The functional API (grad, value_and_grad, vjp) and custom gates with gg.Function."""
from __future__ import annotations

import math

import numpy as np
import pytest

import glassgrad as gg


def loss(x, w):
    return ((x @ w) ** 2).sum()


X = np.array([[1.0, 2.0], [3.0, -1.0], [0.5, 0.0]])
W = np.array([0.3, -0.7])


def expected_grads():
    r = X @ W
    return 2 * np.outer(r, W), 2 * X.T @ r           # ∂/∂x, ∂/∂w


# --------------------------------------------------------------------------------------------------
# grad and value_and_grad
# --------------------------------------------------------------------------------------------------
def test_grad_argnums_int_and_tuple():
    dx, dw = expected_grads()
    np.testing.assert_allclose(gg.grad(loss)(X, W), dx)
    np.testing.assert_allclose(gg.grad(loss, argnums=1)(X, W), dw)
    np.testing.assert_allclose(gg.grad(loss, argnums=-1)(X, W), dw)
    both = gg.grad(loss, argnums=(0, 1))(X, W)
    assert isinstance(both, tuple) and len(both) == 2
    np.testing.assert_allclose(both[0], dx)
    np.testing.assert_allclose(both[1], dw)
    (only,) = gg.grad(loss, argnums=(1,))(X, W)
    np.testing.assert_allclose(only, dw)


def test_value_and_grad():
    value, dw = gg.value_and_grad(loss, argnums=1)(X, W)
    assert float(value) == pytest.approx(((X @ W) ** 2).sum())
    np.testing.assert_allclose(dw, expected_grads()[1])
    value, (dx, dw) = gg.value_and_grad(loss, argnums=[0, 1])(X, W)
    np.testing.assert_allclose(dx, expected_grads()[0])


def test_has_aux():
    def f(x, w):
        pred = x @ w
        return (pred ** 2).sum(), {"pred": pred}

    dw, aux = gg.grad(f, argnums=1, has_aux=True)(X, W)
    np.testing.assert_allclose(dw, expected_grads()[1])
    np.testing.assert_allclose(np.asarray(aux["pred"]), X @ W)
    (value, aux), dx = gg.value_and_grad(f, has_aux=True)(X, W)
    assert float(value) == pytest.approx(((X @ W) ** 2).sum())
    np.testing.assert_allclose(dx, expected_grads()[0])
    with pytest.raises(TypeError, match="pair"):
        gg.grad(lambda x: x.sum(), has_aux=True)(X)


def test_arrays_in_arrays_out():
    dx, dw = gg.grad(loss, argnums=(0, 1))(X, W)
    assert type(dx) is np.ndarray and type(dw) is np.ndarray
    assert dx.dtype == np.float64 and dx.shape == X.shape
    value, _ = gg.value_and_grad(loss)(X, W)
    assert not isinstance(value, gg.Tensor)
    g = gg.grad(lambda x: x ** 2)(3.0)                  # a Python float works too
    assert not isinstance(g, gg.Tensor) and float(g) == pytest.approx(6.0)


def test_tensors_in_tensors_out():
    x, w = gg.tensor(X), gg.tensor(W)
    dx, dw = gg.grad(loss, argnums=(0, 1))(x, w)
    assert isinstance(dx, gg.Tensor) and isinstance(dw, gg.Tensor)
    np.testing.assert_allclose(dw.numpy(), expected_grads()[1])
    assert x.grad is None and w.grad is None            # the functional API never touches .grad
    wg = gg.tensor(W, requires_grad=True)
    gg.grad(loss, argnums=1)(x, wg)
    assert wg.grad is None


def test_mixed_array_and_tensor_arguments():
    dx, dw = gg.grad(loss, argnums=(0, 1))(X, gg.tensor(W))
    assert isinstance(dw, gg.Tensor) and not isinstance(dx, gg.Tensor)
    np.testing.assert_allclose(np.asarray(dx), expected_grads()[0])


def test_unused_argument_gets_zeros():
    g = gg.grad(lambda x, y: (x * 2).sum(), argnums=(0, 1))(np.ones(2), np.ones(3))
    np.testing.assert_array_equal(g[1], np.zeros(3))
    g = gg.grad(lambda x: gg.tensor(5.0))(np.ones(2))   # output does not depend on x at all
    np.testing.assert_array_equal(g, np.zeros(2))


def test_nested_grad():
    d2 = gg.grad(gg.grad(lambda x: x ** 3))
    assert float(d2(2.0)) == pytest.approx(12.0)
    d2 = gg.grad(gg.grad(lambda x: gg.tanh(x)))
    t = math.tanh(0.4)
    assert float(d2(np.array(0.4))) == pytest.approx(-2 * t * (1 - t * t), rel=1e-12)
    # the mixed second derivative ∂²(x²y³)/∂x∂y = 6xy²
    dxy = gg.grad(lambda x, y: gg.grad(lambda a, b: a ** 2 * b ** 3)(x, y), argnums=1)
    assert float(dxy(np.array(1.5), np.array(2.0))) == pytest.approx(6 * 1.5 * 4.0)
    # the inner gradient depends on y although y is not what the inner grad differentiates:
    # d/dy [∂f/∂a(x, y) · y] = d/dy [2x y⁴] = 8x y³, not 2x y³ as if ∂f/∂a were a constant
    h = gg.grad(lambda x, y: gg.grad(lambda a, b: a ** 2 * b ** 3)(x, y) * y, argnums=1)
    assert float(h(np.array(1.5), np.array(2.0))) == pytest.approx(8 * 1.5 * 8.0)
    # and through vjp: d/dy ⟨1, ∂(a·b²)/∂a⟩ = d/dy Σ y² = 2y
    k = gg.grad(lambda y: gg.vjp(lambda a, b: a * b ** 2, np.ones(2), y)[1](np.ones(2))[0].sum())
    np.testing.assert_allclose(k(np.array([1.0, 3.0])), [2.0, 6.0])


def test_grad_errors():
    with pytest.raises(TypeError, match="one element"):
        gg.grad(lambda x: x * 2)(np.ones(3))
    with pytest.raises(TypeError, match="one element"):
        gg.grad(lambda x: 3.0)(np.ones(3))
    with pytest.raises(TypeError, match="int64"):
        gg.grad(lambda x: x * 2.0)(1)
    with pytest.raises(TypeError, match="dtype"):
        gg.grad(lambda x: x.sum())(np.array([1, 2]))
    with pytest.raises(ValueError, match="argnums"):
        gg.grad(loss, argnums=2)(X, W)


def test_grad_matches_backward():
    x = gg.tensor(X, requires_grad=True)
    w = gg.tensor(W, requires_grad=True)
    loss(x, w).backward()
    np.testing.assert_allclose(gg.grad(loss, argnums=1)(X, W), w.grad.numpy())


# --------------------------------------------------------------------------------------------------
# vjp
# --------------------------------------------------------------------------------------------------
def test_vjp_of_a_non_scalar_output():
    out, pullback = gg.vjp(lambda x, w: x @ w, X, W)
    np.testing.assert_allclose(out, X @ W)
    g = np.array([1.0, -2.0, 0.5])
    dx, dw = pullback(g)
    np.testing.assert_allclose(dx, np.outer(g, W))
    np.testing.assert_allclose(dw, X.T @ g)
    dx2, dw2 = pullback(2 * g)                         # the pullback can be called again
    np.testing.assert_allclose(dw2, 2 * X.T @ g)
    with pytest.raises(ValueError, match=r"\(3,\)"):
        pullback(np.ones(2))


def test_vjp_rows_of_the_jacobian():
    x0 = np.array([0.5, -1.0, 2.0])
    out, pullback = gg.vjp(lambda x: gg.tanh(x) * x[0], x0)
    jac = np.array([pullback(e)[0] for e in np.eye(3)])
    expected = np.diag((1 - np.tanh(x0) ** 2) * x0[0])
    expected[:, 0] += np.tanh(x0)
    np.testing.assert_allclose(jac, expected)


def test_vjp_with_tensors_and_aux():
    out, pullback, aux = gg.vjp(lambda x: (x * 2, "note"), gg.tensor(W), has_aux=True)
    assert aux == "note" and isinstance(out, gg.Tensor)
    (g,) = pullback(gg.tensor(np.ones(2)))
    assert isinstance(g, gg.Tensor)
    np.testing.assert_array_equal(g.numpy(), [2.0, 2.0])
    with pytest.raises(TypeError, match="tensor"):
        gg.vjp(lambda x: 3.0, W)


# --------------------------------------------------------------------------------------------------
# Custom functions
# --------------------------------------------------------------------------------------------------
class Cube(gg.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 3 * x ** 2


class ScaledProduct(gg.Function):
    """x * y * scale, two inputs and a keyword parameter."""

    @staticmethod
    def forward(ctx, x, y, scale=1.0):
        ctx.save_for_backward(x, y)
        ctx.scale = scale
        return x * y * scale

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        return g * y * ctx.scale, g * x * ctx.scale


def test_cube_forward_and_backward():
    x = gg.tensor(np.array([1.0, -2.0, 0.5]), requires_grad=True)
    y = Cube.apply(x)
    assert isinstance(y, gg.Tensor) and y.grad_fn is not None and y.grad_fn.gate.name == "Cube"
    np.testing.assert_allclose(y.numpy(), [1.0, -8.0, 0.125])
    (y * 2).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * 3 * np.array([1.0, 4.0, 0.25]))


def test_custom_function_composes_with_gates_and_is_gradchecked():
    rng = np.random.default_rng(0)
    assert gg.gradcheck(lambda x: Cube.apply(x.tanh()).sum() * 2, [rng.standard_normal((2, 3))])
    assert gg.gradcheck(lambda x, y: ScaledProduct.apply(x, y, scale=1.5), [rng.standard_normal(3),
                                                                            rng.standard_normal(3)])
    assert gg.gradcheck(Cube.apply, [rng.standard_normal(4)], mode="fast")


def test_custom_function_needs_input_grad_and_constants():
    seen = {}

    class Probe(gg.Function):
        @staticmethod
        def forward(ctx, x, y):
            seen["needs"] = ctx.needs_input_grad
            return x + y

        @staticmethod
        def backward(ctx, g):
            return g, g

    x = gg.tensor([1.0], requires_grad=True)
    Probe.apply(x, gg.tensor([2.0])).sum().backward()
    assert seen["needs"] == (True, False)
    assert x.grad.item() == 1.0
    out = Probe.apply(gg.tensor([1.0]), 2.0)           # nothing needs a gradient: not recorded
    assert out.grad_fn is None
    assert Probe.apply(np.ones(1), np.ones(1)).shape == (1,)    # arrays only: plain NumPy


def test_custom_function_with_wrong_number_of_gradients():
    class Bad(gg.Function):
        @staticmethod
        def forward(ctx, x, y):
            return x * y

        @staticmethod
        def backward(ctx, g):
            return g

    x = gg.tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match="1 gradients for 2 inputs"):
        Bad.apply(x, x).sum().backward()


def test_create_graph_through_a_custom_function_is_an_error():
    x = gg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    with pytest.raises(RuntimeError, match="create_graph"):
        Cube.apply(x).sum().backward(create_graph=True)
    with pytest.raises(RuntimeError, match="create_graph"):
        gg.grad(gg.grad(lambda t: Cube.apply(t).sum()))(np.array(1.0))
    with pytest.raises(RuntimeError, match="create_graph"):
        gg.gradgradcheck(lambda t: Cube.apply(t), [np.array([1.0, 2.0])])


def test_function_base_class_needs_forward_and_backward():
    class Empty(gg.Function):
        pass

    with pytest.raises(NotImplementedError):
        Empty.apply(gg.tensor([1.0], requires_grad=True))
