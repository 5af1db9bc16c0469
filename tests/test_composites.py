"""The teaching versions of the fused gates (each built from elementary gates, in the library beside its
gate) compute the same values and gradients as the fused gates, in float64."""
from __future__ import annotations

import numpy as np
import pytest

import glassgrad as gg
from glassgrad import GATES
from glassgrad.ops import conv, fused, norm

rng = np.random.default_rng(7)


def values_and_grads(f, arrays, g):
    leaves = [gg.tensor(a, requires_grad=True) for a in arrays]
    out = f(*leaves)
    out.backward(g)
    return [out.numpy(), *(t.grad.numpy() for t in leaves)]


def assert_same(fused_fn, composite, arrays, tol=1e-10):
    out = fused_fn(*[gg.tensor(a) for a in arrays])
    g = rng.standard_normal(out.shape)
    for got, want in zip(values_and_grads(fused_fn, arrays, g), values_and_grads(composite, arrays, g)):
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(5, 3), (2, 4, 3)])
def test_linear_composite_is_linear(shape, bias):
    arrays = [rng.standard_normal(shape), rng.standard_normal((4, shape[-1]))]
    arrays += [rng.standard_normal(4)] if bias else []
    assert_same(fused.linear, fused.linear_composite, arrays)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("targets", ["labels", "distributions"])
def test_cross_entropy_composite_is_cross_entropy(reduction, targets):
    z = rng.standard_normal((6, 4)) * 3
    if targets == "labels":
        y = rng.integers(0, 4, 6)
        assert_same(lambda z: fused.cross_entropy(z, y, reduction=reduction),
                    lambda z: fused.cross_entropy_composite(z, y, reduction=reduction), [z])
    else:
        y = rng.dirichlet(np.ones(4), 6)
        assert_same(lambda z, y: fused.cross_entropy(z, y, reduction=reduction),
                    lambda z, y: fused.cross_entropy_composite(z, y, reduction=reduction), [z, y])


@pytest.mark.parametrize("xs, ws, stride, padding", [((2, 2, 5, 4), (3, 2, 3, 2), (1, 1), (0, 0)),
                                                     ((1, 3, 6, 5), (2, 3, 2, 3), (2, 1), (1, 2))])
@pytest.mark.parametrize("bias", [True, False])
def test_conv2d_composite_is_conv2d(xs, ws, stride, padding, bias):
    arrays = [rng.standard_normal(xs), rng.standard_normal(ws)] + ([rng.standard_normal(ws[0])] if bias else [])
    assert_same(lambda *a: conv.conv2d(*a, stride=stride, padding=padding),
                lambda *a: conv.conv2d_composite(*a, stride=stride, padding=padding), arrays)


@pytest.mark.parametrize("shape, k", [((2, 3, 4, 6), (2, 2)), ((1, 2, 5, 7), (2, 3))])
def test_max_pool2d_composite_is_max_pool2d_with_ties(shape, k):
    x = np.maximum(rng.integers(-3, 3, shape), 0).astype(np.float64)     # many tied maxima at 0
    assert_same(lambda t: conv.max_pool2d(t, kernel_size=k, stride=k), lambda t: conv.max_pool2d_composite(t, k), [x])


@pytest.mark.parametrize("shape", [(5, 3), (3, 2, 2, 3)])
def test_batch_norm_composite_is_batch_norm(shape):
    arrays = [rng.standard_normal(shape) * 3 + 1, rng.standard_normal(shape[1]), rng.standard_normal(shape[1])]
    assert_same(lambda x, w, b: norm.batch_norm(x, w, b, eps=1e-3),
                lambda x, w, b: norm.batch_norm_composite(x, w, b, eps=1e-3), arrays)


@pytest.mark.parametrize("name", ["linear", "cross_entropy", "conv2d", "max_pool2d", "batch_norm"])
def test_each_fused_gate_names_its_teaching_version(name):
    module = {"linear": fused, "cross_entropy": fused, "conv2d": conv, "max_pool2d": conv, "batch_norm": norm}[name]
    assert f"{module.__name__.removeprefix('glassgrad.')}.{name}_composite" in GATES[name].doc
    assert callable(getattr(module, f"{name}_composite"))
