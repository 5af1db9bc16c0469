"""NumPy's functions and ufuncs on tensors keep the gradient (NEP 13/18), or refuse by name."""
from __future__ import annotations

import numpy as np
import pytest

import glassgrad as gg

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(3)
X = RNG.standard_normal((3, 4))
Y = RNG.standard_normal((3, 4))


def grads(f, *arrays):
    """Values and gradients of ⟨w, f(...)⟩ through glassgrad (f written with np.*) and through torch."""
    ts = [gg.tensor(a, requires_grad=True) for a in arrays]
    out = f(*ts)
    assert isinstance(out, gg.Tensor), f"got {type(out).__name__}, not a tensor"
    w = np.random.default_rng(0).standard_normal(out.shape)
    (out * w).sum().backward()
    return out.numpy(), [t.grad.numpy() for t in ts]


def torch_grads(f, *arrays):
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = f(*ts)
    w = torch.tensor(np.random.default_rng(0).standard_normal(tuple(out.shape)))
    (out * w).sum().backward()
    return out.detach().numpy(), [t.grad.numpy() for t in ts]


CASES = [
    ("np.exp", lambda x: np.exp(x), torch.exp),
    ("np.log(np.abs)", lambda x: np.log(np.abs(x)), lambda x: torch.log(torch.abs(x))),
    ("np.sqrt of square", lambda x: np.sqrt(np.multiply(x, x) + 1), lambda x: torch.sqrt(x * x + 1)),
    ("np.tanh, np.power", lambda x: np.power(np.tanh(x), 3), lambda x: torch.tanh(x) ** 3),
    ("np.sum axis", lambda x: np.sum(x, axis=0), lambda x: x.sum(dim=0)),
    ("np.sum positional axis keepdims", lambda x: np.sum(x, 1, keepdims=True), lambda x: x.sum(1, keepdim=True)),
    ("np.mean", lambda x: np.mean(x), torch.mean),
    ("np.prod", lambda x: np.prod(x, axis=1), lambda x: x.prod(dim=1)),
    ("np.max", lambda x: np.max(x, axis=1), lambda x: x.amax(dim=1)),
    ("np.amin", lambda x: np.amin(x, axis=0), lambda x: x.amin(dim=0)),
    ("np.var ddof", lambda x: np.var(x, axis=0, ddof=1), lambda x: x.var(dim=0, correction=1)),
    ("np.std", lambda x: np.std(x), lambda x: x.std(correction=0)),
    ("np.add.reduce", lambda x: np.add.reduce(x), lambda x: x.sum(dim=0)),
    ("np.maximum", lambda x: np.maximum(x, 0.2), lambda x: torch.clamp(x, min=0.2)),
    ("np.clip", lambda x: np.clip(x, -0.5, 0.5), lambda x: torch.clamp(x, -0.5, 0.5)),
    ("np.transpose @", lambda x: np.matmul(np.transpose(x), x), lambda x: x.T @ x),
    ("np.reshape ravel", lambda x: np.ravel(np.reshape(x, (4, 3))), lambda x: x.reshape(4, 3).reshape(-1)),
    ("np.expand_dims squeeze", lambda x: np.squeeze(np.expand_dims(x, 0)), lambda x: x.unsqueeze(0).squeeze()),
    ("np.pad", lambda x: np.pad(x, ((1, 0), (0, 2)), constant_values=0.5),
     lambda x: torch.nn.functional.pad(x, (0, 2, 1, 0), value=0.5)),
    ("np.copy", lambda x: np.copy(x) * 2, lambda x: x.clone() * 2),
]


@pytest.mark.parametrize("name, f, tf", CASES, ids=[c[0] for c in CASES])
def test_numpy_function_on_a_tensor_keeps_the_gradient(name, f, tf):
    value, (g,) = grads(f, X)
    tvalue, (tg,) = torch_grads(tf, X)
    np.testing.assert_allclose(value, tvalue, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(g, tg, rtol=1e-10, atol=1e-12)


def test_two_tensor_functions_keep_both_gradients():
    c = X > 0
    pairs = [
        (lambda x, y: np.concatenate([x, y, x]), lambda x, y: torch.cat([x, y, x])),
        (lambda x, y: np.concatenate([x, y], axis=None), lambda x, y: torch.cat([x.reshape(-1), y.reshape(-1)])),
        (lambda x, y: np.stack([x, y], axis=1), lambda x, y: torch.stack([x, y], dim=1)),
        (lambda x, y: np.where(c, x, y), lambda x, y: torch.where(torch.tensor(c), x, y)),
        (lambda x, y: np.subtract(np.divide(x, np.exp(y)), y), lambda x, y: x / torch.exp(y) - y),
    ]
    for f, tf in pairs:
        value, g = grads(f, X, Y)
        tvalue, tg = torch_grads(tf, X, Y)
        np.testing.assert_allclose(value, tvalue, rtol=1e-12)
        for a, b in zip(g, tg):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_numpy_style_code_differentiates_unchanged():
    def loss(w, x):                       # plain NumPy code
        h = np.tanh(x @ w)
        return np.mean(np.sum(h * h, axis=1))

    w, x = RNG.standard_normal((4, 2)), RNG.standard_normal((5, 4))
    ours = gg.grad(loss)(w, x)
    tw = torch.tensor(w, requires_grad=True)
    torch.mean(torch.sum(torch.tanh(torch.tensor(x) @ tw) ** 2, dim=1)).backward()
    np.testing.assert_allclose(ours, tw.grad.numpy(), rtol=1e-12)


def test_array_with_tensor_gives_a_tensor_in_the_graph():
    t = gg.tensor(X, requires_grad=True)
    for out in (Y + t, Y * t, Y - t, Y / (t * t + 1), Y @ t.T, Y ** 2 + t, np.float64(2.0) * t):
        assert isinstance(out, gg.Tensor) and out.requires_grad
    assert isinstance(Y < t, gg.Tensor)
    (Y * t).sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), Y)


def test_asarray_is_the_explicit_way_out():
    t = gg.tensor(X, requires_grad=True)
    a = np.asarray(t)
    assert type(a) is np.ndarray and np.shares_memory(a, t.data)
    assert type(np.array(t)) is np.ndarray
    assert type(np.sort(np.asarray(t))) is np.ndarray


@pytest.mark.parametrize("call", [lambda t: np.fft.fft(t), lambda t: np.unique(t), lambda t: np.histogram(t),
                                  lambda t: np.convolve(t[0], t[1])])
def test_a_function_without_a_gate_is_refused_by_name(call):
    t = gg.tensor(X, requires_grad=True)
    with pytest.raises(TypeError, match=r"numpy\.[\w.]+ has no glassgrad gate, so gradients cannot flow through it"):
        call(t)


def test_unknown_ufunc_and_ufunc_methods_are_refused_by_name():
    t = gg.tensor(X, requires_grad=True)
    with pytest.raises(TypeError, match=r"numpy\.fft\.fft has no glassgrad gate"):
        np.fft.fft(t)
    with pytest.raises(TypeError, match=r"numpy\.heaviside has no glassgrad gate"):
        np.heaviside(t, 0.5)
    with pytest.raises(TypeError, match=r"numpy\.add\.outer has no glassgrad gate"):
        np.add.outer(t, t)


def test_piecewise_constant_ufuncs_have_zero_gradient_as_in_torch():
    t = gg.tensor(X, requires_grad=True)
    (np.sign(t) + np.floor(t) + np.ceil(t) + np.trunc(t) + np.rint(t)).sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), np.zeros_like(X))


def test_out_arguments_are_refused():
    t = gg.tensor(X, requires_grad=True)
    buffer = np.empty_like(X)
    with pytest.raises(TypeError, match=r"np\.exp\(…, out=…\) on a tensor: writing into an array would drop"):
        np.exp(t, out=buffer)
    with pytest.raises(TypeError, match=r"np\.sum\(…, out=…\)"):
        np.sum(t, axis=0, out=buffer[0])
    with pytest.raises(TypeError, match=r"np\.sum\(…, where=…\) is not supported"):
        np.sum(t, where=X > 0)


def test_gradient_free_functions_run_on_the_values():
    t = gg.tensor(X, requires_grad=True)
    assert np.shape(t) == (3, 4) and np.ndim(t) == 2 and np.size(t) == 12
    assert np.argmax(t) == np.argmax(X)
    np.testing.assert_array_equal(np.argmax(t, axis=1).numpy(), np.argmax(X, axis=1))
    assert np.allclose(t, X) and np.array_equal(t, X)
    assert np.isfinite(t).dtype == np.bool_ and not np.isfinite(t).requires_grad
    np.testing.assert_array_equal(np.zeros_like(t).numpy(), np.zeros_like(X))


NEW_SURFACE = [
    ("np.einsum", lambda x: np.einsum("ij,kj->ik", x, x), lambda x: torch.einsum("ij,kj->ik", x, x)),
    ("np.linalg.norm", lambda x: np.linalg.norm(x, axis=1), lambda x: torch.linalg.vector_norm(x, dim=1)),
    ("np.linalg.norm nuc", lambda x: np.linalg.norm(x, "nuc"), lambda x: torch.linalg.matrix_norm(x, "nuc")),
    ("np.linalg.svd values", lambda x: np.linalg.svd(x, compute_uv=False), torch.linalg.svdvals),
    ("np.linalg.pinv", lambda x: np.linalg.pinv(x), torch.linalg.pinv),
    ("np.sin np.logaddexp", lambda x: np.logaddexp(np.sin(x), x), lambda x: torch.logaddexp(torch.sin(x), x)),
    ("np.cumsum", lambda x: np.cumsum(x, axis=1), lambda x: torch.cumsum(x, dim=1)),
    ("np.sort", lambda x: np.sort(x, axis=0), lambda x: torch.sort(x, dim=0).values),
    ("np.tril np.vstack", lambda x: np.vstack([np.tril(x), x]), lambda x: torch.vstack([torch.tril(x), x])),
    ("np.tensordot np.trace", lambda x: np.trace(np.tensordot(x, x, axes=([1], [1]))),
     lambda x: torch.trace(torch.tensordot(x, x, dims=([1], [1])))),
    ("np.dot np.outer", lambda x: np.dot(x, np.outer(x[0], x[1])), lambda x: x @ torch.outer(x[0], x[1])),
    ("np.diff np.roll np.flip", lambda x: np.flip(np.roll(np.diff(x, axis=1), 1, axis=0), 1),
     lambda x: torch.flip(torch.roll(torch.diff(x, dim=1), 1, 0), [1])),
]


@pytest.mark.parametrize("name, f, tf", NEW_SURFACE, ids=[c[0] for c in NEW_SURFACE])
def test_numpy_calls_reach_the_wider_surface_with_gradients(name, f, tf):
    x = RNG.standard_normal((4, 4)) + np.diag([1.0, 2.0, 3.0, 4.0]) * 2
    value, (g,) = grads(f, x)
    tvalue, (tg,) = torch_grads(tf, x)
    np.testing.assert_allclose(value, tvalue, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(g, tg, rtol=1e-9, atol=1e-12)
