"""Tensor: creation, dtypes, seeding, NumPy interop, conversion, repr, comparisons, indexing, setitem, detach."""
from __future__ import annotations

import numpy as np
import pytest

import glassgrad as gg


# --------------------------------------------------------------------------------------------------
# Creation
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("make, fill", [(gg.zeros, 0.0), (gg.ones, 1.0)])
def test_zeros_and_ones(make, fill):
    for args in [(2, 3), ((2, 3),), ([2, 3],), (4,), ((),)]:
        t = make(*args)
        shape = args[0] if len(args) == 1 and not isinstance(args[0], int) else args
        assert t.shape == tuple(shape)
        assert t.dtype == np.float32
        assert np.all(t.numpy() == fill)
        assert not t.requires_grad and t.grad is None and t.is_leaf
    assert make(2, dtype=gg.float64).dtype == np.float64
    assert make(2, dtype=gg.int64).dtype == np.int64
    assert make(2, requires_grad=True).requires_grad


def test_full_eye_arange():
    t = gg.full((2, 3), 7.0)
    assert t.shape == (2, 3) and t.dtype == np.float32 and np.all(t.numpy() == 7.0)
    assert gg.full(3, 2).shape == (3,) and gg.full(3, 2).dtype == np.float32
    assert gg.full((2,), 1, dtype=gg.int64).dtype == np.int64
    np.testing.assert_array_equal(gg.eye(3).numpy(), np.eye(3))
    assert gg.eye(2, 3).shape == (2, 3) and gg.eye(2).dtype == np.float32
    np.testing.assert_array_equal(gg.arange(5).numpy(), np.arange(5))
    assert gg.arange(5).dtype == np.int64
    np.testing.assert_array_equal(gg.arange(2, 8, 2).numpy(), [2, 4, 6])
    np.testing.assert_array_equal(gg.arange(10, step=3).numpy(), np.arange(10, step=3))
    np.testing.assert_allclose(gg.arange(0, 1, 0.25).numpy(), [0, 0.25, 0.5, 0.75])
    assert gg.arange(0, 1, 0.25).dtype == np.float32
    assert gg.arange(3, dtype=gg.float64).dtype == np.float64
    assert gg.arange(3.0, requires_grad=True).requires_grad


def test_like_functions_keep_shape_and_dtype():
    base = gg.tensor(np.ones((2, 3), dtype=np.float64))
    for t in (gg.zeros_like(base), gg.ones_like(base), gg.full_like(base, 4.0), gg.rand_like(base),
              gg.randn_like(base)):
        assert t.shape == (2, 3) and t.dtype == np.float64 and not t.requires_grad
    assert np.all(gg.full_like(base, 4.0).numpy() == 4.0)
    assert np.all(gg.zeros_like(base).numpy() == 0.0) and np.all(gg.ones_like(base).numpy() == 1.0)
    assert gg.zeros_like(base, dtype=gg.float32).dtype == np.float32
    assert gg.ones_like(gg.tensor([1, 2])).dtype == np.int64
    assert gg.zeros_like(np.ones((4, 1))).shape == (4, 1)           # arrays work as templates too
    assert gg.ones_like(base, requires_grad=True).requires_grad


def test_tensor_copies_and_as_tensor_shares():
    a = np.array([1.0, 2.0])
    t = gg.tensor(a)
    a[0] = 9.0
    assert t.numpy()[0] == 1.0
    s = gg.as_tensor(a)
    a[1] = 8.0
    assert s.numpy()[1] == 8.0
    assert gg.as_tensor(s) is s
    assert gg.as_tensor(s, dtype=gg.float32).dtype == np.float32
    assert gg.tensor(t).dtype == np.float64 and gg.tensor(t) is not t


def test_unsupported_data_is_rejected():
    with pytest.raises(TypeError, match="dtype"):
        gg.tensor(["a", "b"])
    with pytest.raises(TypeError, match="dtype"):
        gg.tensor(np.array([1 + 2j]))


# --------------------------------------------------------------------------------------------------
# Random tensors and seeding
# --------------------------------------------------------------------------------------------------
def test_manual_seed_makes_rand_and_randn_reproducible():
    gg.manual_seed(123)
    a, b = gg.rand(3, 4), gg.randn(5)
    gg.manual_seed(123)
    c, d = gg.rand(3, 4), gg.randn(5)
    np.testing.assert_array_equal(a.numpy(), c.numpy())
    np.testing.assert_array_equal(b.numpy(), d.numpy())
    e = gg.rand(3, 4)                                     # the stream moves on
    assert not np.array_equal(a.numpy(), e.numpy())
    gg.manual_seed(124)
    assert not np.array_equal(gg.rand(3, 4).numpy(), a.numpy())


def test_generators_are_independent_of_the_default_one():
    g1, g2 = gg.Generator(7), gg.Generator(7)
    gg.manual_seed(0)
    x = gg.randn(4, generator=g1)
    gg.randn(10)                                          # draws from the default generator in between
    y = gg.randn(4, generator=g2)
    np.testing.assert_array_equal(x.numpy(), y.numpy())
    state = g1.get_state()
    u = gg.rand(3, generator=g1)
    g1.set_state(state)
    np.testing.assert_array_equal(gg.rand(3, generator=g1).numpy(), u.numpy())
    g1.manual_seed(7)
    np.testing.assert_array_equal(gg.randn(4, generator=g1).numpy(), x.numpy())
    a = gg.randint(0, 5, (3, 2), generator=gg.Generator(1))
    b = gg.randint(0, 5, (3, 2), generator=gg.Generator(1))
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_random_shapes_dtypes_and_ranges():
    u = gg.rand(1000, generator=gg.Generator(0))
    assert u.dtype == np.float32 and u.shape == (1000,)
    assert 0.0 <= u.numpy().min() and u.numpy().max() < 1.0
    n = gg.randn((200, 5), dtype=gg.float64, generator=gg.Generator(0))
    assert n.dtype == np.float64 and n.shape == (200, 5)
    assert abs(n.numpy().mean()) < 0.2 and 0.8 < n.numpy().std() < 1.2
    r = gg.randint(2, 5, 100, generator=gg.Generator(0))
    assert r.dtype == np.int64 and r.numpy().min() >= 2 and r.numpy().max() <= 4
    assert gg.randn(2, requires_grad=True).requires_grad


# --------------------------------------------------------------------------------------------------
# NumPy interop and conversion
# --------------------------------------------------------------------------------------------------
def test_numpy_asarray_item_tolist():
    t = gg.tensor(np.arange(6.0).reshape(2, 3))
    assert t.numpy() is t.data
    a = np.asarray(t)
    assert isinstance(a, np.ndarray) and a.dtype == np.float64
    np.testing.assert_array_equal(a, np.arange(6.0).reshape(2, 3))
    assert np.asarray(t, dtype=np.float32).dtype == np.float32
    assert np.array(t) is not t.data                                # np.array copies
    assert t.tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    s = gg.tensor(2.5)
    assert s.item() == 2.5 and isinstance(s.item(), float)
    assert float(s) == 2.5 and int(gg.tensor(3)) == 3 and bool(gg.tensor(1.0))
    assert gg.tensor([[7]]).item() == 7
    with pytest.raises(ValueError):
        t.item()
    assert len(t) == 2 and t.ndim == 2 and t.numel() == 6
    assert t.size() == (2, 3) and t.size(-1) == 3 and t.shape == (2, 3)
    assert [r.tolist() for r in t] == t.tolist()


def test_ndarray_and_tensor_give_a_tensor():
    a = np.ones(3)
    t = gg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    for out in (a + t, a * t, a - t, a / t, a @ t):
        assert isinstance(out, gg.Tensor) and out.requires_grad
    np.testing.assert_allclose((a - t).numpy(), [0.0, -1.0, -2.0])
    (np.array([1.0, 2.0, 3.0]) * t).sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), [1.0, 2.0, 3.0])
    assert isinstance(a < t, gg.Tensor)


def test_transpose_property():
    x = gg.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    np.testing.assert_array_equal(x.T.numpy(), np.arange(6.0).reshape(2, 3).T)
    assert gg.tensor([1.0, 2.0]).T.shape == (2,)
    (x.T * gg.tensor(np.arange(6.0).reshape(3, 2))).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.arange(6.0).reshape(3, 2).T)


def test_repr():
    assert repr(gg.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert repr(gg.tensor([1.0, 2.0], requires_grad=True)) == "tensor([1., 2.], requires_grad=True)"
    assert repr(gg.tensor(np.array([0.5]))) == "tensor([0.5], dtype=float64)"
    x = gg.tensor([1.0], requires_grad=True)
    assert repr(x * 2) == "tensor([2.], grad_fn=<mul>)"
    assert repr(gg.tensor([1, 2])) == "tensor([1, 2], dtype=int64)"
    assert "name='w'" in repr(gg.Tensor([1.0], name="w"))
    assert repr(gg.tensor(np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32))) == (
        "tensor([[1., 2.],\n        [3., 4.]])")


# --------------------------------------------------------------------------------------------------
# Comparisons and non-differentiable functions
# --------------------------------------------------------------------------------------------------
def test_comparisons_give_bool_tensors_without_grad():
    x = gg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = gg.tensor([3.0, 2.0, 1.0])
    cases = {
        "==": (x == y, [False, True, False]), "!=": (x != y, [True, False, True]),
        "<": (x < y, [True, False, False]), "<=": (x <= y, [True, True, False]),
        ">": (x > 2, [False, False, True]), ">=": (x >= 2, [False, True, True]),
        "&": ((x > 1) & (x < 3), [False, True, False]), "|": ((x < 2) | (x > 2), [True, False, True]),
        "~": (~(x > 1), [True, False, False]),
    }
    for op, (out, expected) in cases.items():
        assert isinstance(out, gg.Tensor), op
        assert out.dtype == np.bool_, op
        assert not out.requires_grad and out.grad_fn is None, op
        np.testing.assert_array_equal(out.numpy(), expected, err_msg=op)
    for f in (gg.argmax, gg.argmin, gg.isfinite, gg.isnan):
        assert not f(x).requires_grad
    assert gg.sign(x).requires_grad and gg.sign(x).grad_fn.gate.name == "sign"     # gradient 0, as in PyTorch
    assert gg.argmax(gg.tensor([[1.0, 5.0], [7.0, 0.0]]), axis=1).tolist() == [1, 0]
    assert x.argmax().item() == 2


def test_tensors_are_hashable_by_identity():
    a, b = gg.tensor([1.0]), gg.tensor([1.0])
    assert len({a, b}) == 2 and {a: 1}[a] == 1


# --------------------------------------------------------------------------------------------------
# Indexing, setitem, detach
# --------------------------------------------------------------------------------------------------
def test_indexing_matches_numpy():
    a = np.arange(24.0).reshape(2, 3, 4)
    t = gg.tensor(a)
    for index in [0, -1, (1, 2), (slice(None), 1), (Ellipsis, -1), (None, 0), slice(None, None, -1),
                  (0, slice(3, None, -2)), np.array([1, 1, 0]), a > 10, (0, np.array([0, 2]), np.array([1, 3])),
                  (slice(None), [2, 0])]:
        np.testing.assert_array_equal(t[index].numpy(), a[index])
    np.testing.assert_array_equal(t[gg.tensor([1, 0])].numpy(), a[[1, 0]])
    np.testing.assert_array_equal(t[gg.tensor(a > 10)].numpy(), a[a > 10])
    np.testing.assert_array_equal(t[0, gg.tensor([0, 2])].numpy(), a[0, [0, 2]])


def test_setitem_rules():
    t = gg.zeros(3)
    t[1] = 5.0
    t[gg.tensor([0, 2])] = gg.tensor([1.0, 2.0])
    np.testing.assert_array_equal(t.numpy(), [1.0, 5.0, 2.0])
    t[t.numpy() > 1.5] = 0.0
    np.testing.assert_array_equal(t.numpy(), [1.0, 0.0, 0.0])

    w = gg.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="no_grad"):
        w[0] = 1.0
    y = w * 2
    with pytest.raises(RuntimeError, match="requires grad"):
        y[0] = 1.0
    with gg.no_grad():
        w[0] = 1.0                                       # allowed: e.g. a parameter update
    assert w.numpy()[0] == 1.0 and w.requires_grad
    w.detach()[1] = 2.0                                  # detach shares memory
    np.testing.assert_array_equal(w.numpy(), [1.0, 2.0, 0.0])


def test_detach():
    x = gg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    d = y.detach()
    assert d.grad_fn is None and not d.requires_grad and d.is_leaf
    assert np.shares_memory(d.numpy(), y.numpy())
    (x * d).sum().backward()                             # d is a constant: no gradient through it
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 6.0])


def test_requires_grad_and_leaf_flags():
    x = gg.tensor([1.0])
    assert not x.requires_grad and x.is_leaf
    assert x.requires_grad_() is x and x.requires_grad
    x.requires_grad = False
    assert not x.requires_grad
    x.requires_grad_(True)
    y = x * 2
    assert y.requires_grad and not y.is_leaf and y.grad_fn.gate.name == "mul"
    z = gg.tensor([1.0]) * 2
    assert not z.requires_grad and z.is_leaf


def test_methods_match_the_functions():
    rng = np.random.default_rng(0)
    a = rng.uniform(0.5, 2.0, (3, 4))
    t = gg.tensor(a)
    checks = {
        "exp": np.exp(a), "log": np.log(a), "sqrt": np.sqrt(a), "abs": np.abs(a), "reciprocal": 1 / a,
        "tanh": np.tanh(a), "sigmoid": 1 / (1 + np.exp(-a)), "relu": a, "neg": -a,
    }
    for name, expected in checks.items():
        np.testing.assert_allclose(getattr(t, name)().numpy(), expected, err_msg=name)
    np.testing.assert_allclose(t.sum(axis=0).numpy(), a.sum(0))
    np.testing.assert_allclose(t.mean(axis=-1, keepdims=True).numpy(), a.mean(-1, keepdims=True))
    np.testing.assert_allclose(t.var(ddof=1).numpy(), a.var(ddof=1))
    np.testing.assert_allclose(t.std(axis=0).numpy(), a.std(0))
    np.testing.assert_allclose(t.prod(axis=1).numpy(), a.prod(1))
    np.testing.assert_allclose(t.max(axis=1).numpy(), a.max(1))
    np.testing.assert_allclose(t.min().numpy(), a.min())
    np.testing.assert_allclose(t.clip(0.8, 1.2).numpy(), np.clip(a, 0.8, 1.2))
    np.testing.assert_allclose(t.clamp(min=1.0).numpy(), np.maximum(a, 1.0))
    np.testing.assert_allclose(t.pow(2).numpy(), a ** 2)
    np.testing.assert_allclose(t.maximum(1.0).numpy(), np.maximum(a, 1.0))
    np.testing.assert_allclose(t.minimum(gg.tensor(1.0)).numpy(), np.minimum(a, 1.0))
    np.testing.assert_allclose(t.dot(gg.tensor(np.ones(4))).numpy(), a.sum(1))
    np.testing.assert_allclose(t.logsumexp(axis=1).numpy(), np.log(np.exp(a).sum(1)))
    sm = np.exp(a) / np.exp(a).sum(-1, keepdims=True)
    np.testing.assert_allclose(t.softmax().numpy(), sm)
    np.testing.assert_allclose(t.log_softmax().numpy(), np.log(sm))
    with pytest.raises(ValueError, match="min, max"):
        t.clip()


def test_blas_threads_limits_inside_the_block_only():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    before = [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
    with gg.blas_threads(1):
        assert all(i["num_threads"] == 1 for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas")
    assert [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"] == before
    with gg.blas_threads(0):     # 0 leaves the setting alone
        assert [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"] == before
