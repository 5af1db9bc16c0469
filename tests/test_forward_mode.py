"""Forward mode and Jacobians (gg.jvp, jacfwd, jacrev, jacobian, hessian, hvp) against torch.func and
torch.autograd.functional, in float64, and composed with gg.grad."""
from __future__ import annotations

import numpy as np
import pytest

import glassgrad as gg

torch = pytest.importorskip("torch")
from torch.autograd import functional as TF  # noqa: E402

RNG = np.random.default_rng(7)
A = RNG.standard_normal((3, 4))
B = RNG.standard_normal((4, 2))
TOL = dict(rtol=1e-10, atol=1e-12)


def mlp(x, w):
    """Both libraries: a tanh layer then a softmax-ish output (uses matmul, tanh, exp, sum, div)."""
    lib = torch if isinstance(x, torch.Tensor) or isinstance(w, torch.Tensor) else gg
    h = lib.tanh(x @ w)
    e = lib.exp(h)
    return e / e.sum()


def torch_args(*arrays):
    return tuple(torch.tensor(a) for a in arrays)


def test_jvp_matches_torch_func():
    x, w = A, B
    vx, vw = RNG.standard_normal(x.shape), RNG.standard_normal(w.shape)
    out, tangent = gg.jvp(mlp, (x, w), (vx, vw))
    tout, ttangent = torch.func.jvp(mlp, torch_args(x, w), torch_args(vx, vw))
    assert type(out) is np.ndarray and type(tangent) is np.ndarray
    np.testing.assert_allclose(out, tout.numpy(), **TOL)
    np.testing.assert_allclose(tangent, ttangent.numpy(), **TOL)


def test_jvp_of_a_function_with_two_outputs():
    def f(x):
        return gg.exp(x) * x, (x ** 2).sum()

    def tf(x):
        return torch.exp(x) * x, (x ** 2).sum()

    x, v = A, RNG.standard_normal(A.shape)
    (o1, o2), (t1, t2) = gg.jvp(f, (x,), (v,))
    (u1, u2), (s1, s2) = torch.func.jvp(tf, (torch.tensor(x),), (torch.tensor(v),))
    for a, b in ((o1, u1), (o2, u2), (t1, s1), (t2, s2)):
        np.testing.assert_allclose(a, b.numpy(), **TOL)


@pytest.mark.parametrize("argnums", [0, 1, (0, 1)])
def test_jacfwd_and_jacrev_agree_with_torch(argnums):
    ours_r = gg.jacrev(mlp, argnums)(A, B)
    ours_f = gg.jacfwd(mlp, argnums)(A, B)
    theirs = TF.jacobian(mlp, torch_args(A, B))
    nums = (argnums,) if isinstance(argnums, int) else argnums
    rs = (ours_r,) if isinstance(argnums, int) else ours_r
    fs = (ours_f,) if isinstance(argnums, int) else ours_f
    for i, r, f in zip(nums, rs, fs):
        assert r.shape == (3, 2) + (A, B)[i].shape
        np.testing.assert_allclose(r, theirs[i].numpy(), **TOL)
        np.testing.assert_allclose(f, theirs[i].numpy(), **TOL)
    assert np.array_equal(gg.jacobian(mlp, argnums)(A, B)[0] if not isinstance(argnums, int) else
                          gg.jacobian(mlp, argnums)(A, B), rs[0])


def loss(w, x):
    lib = torch if isinstance(w, torch.Tensor) or isinstance(x, torch.Tensor) else gg
    return (lib.tanh(x @ w) ** 2).sum() + (w * w * w).sum()


def test_hessian_matches_torch():
    ours = gg.hessian(loss)(B, A)
    theirs = TF.hessian(lambda w: loss(w, torch.tensor(A)), torch.tensor(B))
    assert ours.shape == B.shape + B.shape
    np.testing.assert_allclose(ours, theirs.numpy(), **TOL)
    np.testing.assert_allclose(ours, gg.jacrev(gg.jacrev(loss))(B, A), **TOL)


def test_hvp_matches_torch_and_the_hessian():
    v = RNG.standard_normal(B.shape)
    ours = gg.hvp(lambda w: loss(w, gg.tensor(A)), (B,), (v,))
    _, theirs = TF.hvp(lambda w: loss(w, torch.tensor(A)), torch.tensor(B), torch.tensor(v))
    np.testing.assert_allclose(ours, theirs.numpy(), **TOL)
    H = gg.hessian(loss)(B, A).reshape(B.size, B.size)
    np.testing.assert_allclose(ours.reshape(-1), H @ v.reshape(-1), **TOL)


def test_forward_and_reverse_compose_like_jax():
    """grad of a jvp, jvp of a grad, and a jvp nested in a jvp, against torch.func."""
    x, v = RNG.standard_normal(4), RNG.standard_normal(4)
    f = lambda x: (torch.tanh(x) * x).sum() if isinstance(x, torch.Tensor) else (gg.tanh(x) * x).sum()  # noqa: E731
    ours = gg.grad(lambda x: gg.jvp(f, (x,), (gg.tensor(v),))[1])(x)
    theirs = torch.func.grad(lambda x: torch.func.jvp(f, (x,), (torch.tensor(v),))[1])(torch.tensor(x))
    np.testing.assert_allclose(ours, theirs.numpy(), **TOL)
    _, ours = gg.jvp(gg.grad(f), (x,), (v,))
    _, theirs = torch.func.jvp(torch.func.grad(f), (torch.tensor(x),), (torch.tensor(v),))
    np.testing.assert_allclose(ours, theirs.numpy(), **TOL)
    third = gg.jvp(lambda y: gg.jvp(gg.grad(f), (y,), (gg.tensor(v),))[1], (x,), (v,))[1]
    tthird = torch.func.jvp(lambda y: torch.func.jvp(torch.func.grad(f), (y,), (torch.tensor(v),))[1],
                            (torch.tensor(x),), (torch.tensor(v),))[1]
    np.testing.assert_allclose(third, tthird.numpy(), **TOL)


def test_tensors_in_give_tensors_out_and_arrays_give_arrays():
    out, tangent = gg.jvp(mlp, (gg.tensor(A), gg.tensor(B)), (np.ones_like(A), np.zeros_like(B)))
    assert isinstance(out, gg.Tensor) and isinstance(tangent, gg.Tensor)
    assert type(gg.jacfwd(mlp)(A, B)) is np.ndarray and type(gg.hessian(loss)(B, A)) is np.ndarray


def test_a_constant_function_has_zero_derivatives():
    const = lambda x: gg.tensor(A).sum() * 1.0  # noqa: E731
    out, tangent = gg.jvp(const, (B,), (B,))
    assert tangent == 0.0
    np.testing.assert_array_equal(gg.jacfwd(const)(B), np.zeros(B.shape))
    np.testing.assert_array_equal(gg.jacrev(const)(B), np.zeros(B.shape))


def test_bad_tangents_are_refused_by_shape_and_count():
    with pytest.raises(ValueError, match=r"tangent 0 has shape \(2,\) but its primal has shape \(3, 4\)"):
        gg.jvp(mlp, (A, B), (np.ones(2), B))
    with pytest.raises(ValueError, match="2 primals but 1 tangents"):
        gg.jvp(mlp, (A, B), (A,))


def test_a_gate_without_a_second_derivative_says_so():
    from test_functional import Cube  # a gg.Function: differentiated once only

    with pytest.raises(RuntimeError, match="cannot be differentiated again"):
        gg.jvp(lambda x: Cube.apply(x), (A,), (A,))
