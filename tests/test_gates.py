"""Every gate of ``glassgrad.engine.GATES`` against centred differences (gradcheck and gradgradcheck).

Each gate has a *case*: a hypothesis recipe that draws shapes, parameters and float64 values inside the
gate's valid domain (positive for log/sqrt, away from kinks and ties by far more than gradcheck's eps)
and returns ``(f, inputs)``. The case table must cover the registry, so a new gate without a test fails
``test_every_registered_gate_has_a_case``. Further tests pin down the documented subgradients at kinks,
indexing with repeated indices, the matmul shape cases and the shape gates.
"""
from __future__ import annotations

import math
import sys

import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import numpy as np
import numpy_gate_cases
import pytest
from devices import at
from hypothesis import given, settings

import glassgrad as gg
from glassgrad.engine import GATES
from glassgrad.ops import conv, fused, norm

# --------------------------------------------------------------------------------------------------
# Strategies
# --------------------------------------------------------------------------------------------------
MARGIN = 0.1      # distance from kinks and ties: 10^5 times gradcheck's eps of 1e-6


def reals(lo: float = -2.0, hi: float = 2.0, avoid: tuple = (), margin: float = MARGIN):
    """Floats in [lo, hi] at least ``margin`` away from every point in ``avoid``."""
    edges = [lo]
    for p in sorted(avoid):
        edges += [p - margin, p + margin]
    edges.append(hi)
    pieces = [st.floats(a, b, allow_nan=False, allow_infinity=False)
              for a, b in zip(edges[::2], edges[1::2]) if a < b]
    return st.one_of(*pieces)


def arrays(data, shape, elements=None) -> np.ndarray:
    return data.draw(hnp.arrays(np.float64, shape, elements=elements if elements is not None else reals()))


def distinct(data, shape, spacing: float = 0.25) -> np.ndarray:
    """Values all at least ``spacing`` apart (no ties for max/min), in a drawn order."""
    n = math.prod(shape)
    order = data.draw(st.permutations(range(n)))
    return (np.array(order, dtype=np.float64).reshape(shape) - n / 2) * spacing


SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3)
NONEMPTY_SHAPES = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3)


def pair_shapes(data) -> tuple[tuple, tuple]:
    """Two shapes that broadcast together: scalars, 0-d, (3, 1) with (3,) and so on."""
    return tuple(data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3))
                 .input_shapes)


def axes(data, ndim: int, tuples: bool = True):
    """An ``axis`` argument: None, an int (maybe negative) or a tuple of distinct axes (maybe negative)."""
    if ndim == 0:                     # a 0-d tensor accepts axis 0 or -1, as in PyTorch
        return data.draw(st.sampled_from([None, 0, -1] + [(0,)] * tuples))
    choices = [st.none(), st.integers(-ndim, ndim - 1)]
    if tuples:
        choices.append(st.lists(st.integers(0, ndim - 1), unique=True, min_size=1, max_size=ndim)
                       .flatmap(lambda ax: st.tuples(*[st.sampled_from([a, a - ndim]) for a in ax])))
    return data.draw(st.one_of(*choices))


def reduced_count(shape: tuple, axis) -> int:
    """How many entries go into each entry of a reduction over ``axis``."""
    if axis is None or not shape:
        return math.prod(shape)
    ax = {a % len(shape) for a in (axis if isinstance(axis, tuple) else (axis,))}
    return math.prod(n for i, n in enumerate(shape) if i in ax)


# --------------------------------------------------------------------------------------------------
# One case per gate: draw(data) -> (f, inputs)
# --------------------------------------------------------------------------------------------------
def binary(op, x_elements=None, y_elements=None):
    """A binary gate on two broadcastable float64 arrays, or one of them a Python scalar."""
    def case(data):
        sx, sy = pair_shapes(data)
        x = arrays(data, sx, x_elements)
        y = arrays(data, sy, y_elements)
        scalar = data.draw(st.sampled_from(["none", "left", "right"]))
        if scalar == "left":
            c = float(x.flat[0])
            return (lambda b: op(c, b)), [y]
        if scalar == "right":
            c = float(y.flat[0])
            return (lambda a: op(a, c)), [x]
        return op, [x, y]
    return case


def unary(op, elements=None):
    def case(data):
        return op, [arrays(data, data.draw(SHAPES), elements)]
    return case


def case_max_min(op):
    def case(data):
        shape = data.draw(SHAPES)
        axis, keepdims = axes(data, len(shape)), data.draw(st.booleans())
        return (lambda x: op(x, axis=axis, keepdims=keepdims)), [distinct(data, shape)]
    return case


def case_reduction(op, elements=None):
    def case(data):
        shape = data.draw(SHAPES)
        axis, keepdims = axes(data, len(shape)), data.draw(st.booleans())
        return (lambda x: op(x, axis=axis, keepdims=keepdims)), [arrays(data, shape, elements)]
    return case


def case_var(data):
    shape = data.draw(SHAPES)
    axis, keepdims = axes(data, len(shape)), data.draw(st.booleans())
    ddof = data.draw(st.sampled_from([0, 1])) if reduced_count(shape, axis) > 1 else 0
    return (lambda x: gg.var(x, axis=axis, ddof=ddof, keepdims=keepdims)), [arrays(data, shape)]


def case_std(data):
    """Values at least 0.25 apart: σ stays away from 0, where std has a kink (its gradient there is taken as 0)."""
    shape = data.draw(SHAPES)
    axis, keepdims = axes(data, len(shape)), data.draw(st.booleans())
    ddof = data.draw(st.sampled_from([0, 1])) if reduced_count(shape, axis) > 1 else 0
    return (lambda x: gg.std(x, axis=axis, ddof=ddof, keepdims=keepdims)), [distinct(data, shape)]


def case_along_axis(op):
    def case(data):
        shape = data.draw(NONEMPTY_SHAPES)
        axis = data.draw(st.integers(-len(shape), len(shape) - 1))
        return (lambda x: op(x, axis=axis)), [arrays(data, shape)]
    return case


def case_maximum_minimum(op):
    """x on the grid 0.2·k, y on the grid 0.2·k + 0.1: never closer than 0.1, so never tied."""
    def case(data):
        sx, sy = pair_shapes(data)
        grid = st.integers(-8, 8)
        x = 0.2 * data.draw(hnp.arrays(np.int64, sx, elements=grid)).astype(np.float64)
        y = 0.2 * data.draw(hnp.arrays(np.int64, sy, elements=grid)).astype(np.float64) + 0.1
        if data.draw(st.booleans()):
            x, y = y, x
        return op, [x, y]
    return case


def case_clip(data):
    lo, hi = data.draw(st.sampled_from([(-0.5, 0.5), (None, 0.5), (-0.5, None)]))
    x = arrays(data, data.draw(SHAPES), reals(avoid=(-0.5, 0.5)))
    return (lambda a: gg.clip(a, lo, hi)), [x]


def case_where(data):
    shapes = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, max_side=3))
    sc, sx, sy = shapes.input_shapes
    c = data.draw(hnp.arrays(np.bool_, sc))
    return (lambda x, y: gg.where(at(c, x), x, y)), [arrays(data, sx), arrays(data, sy)]


def case_pow(data):
    kind = data.draw(st.sampled_from(["tensors", "scalar exponent", "scalar base"]))
    base, exponent = reals(0.5, 2.0), reals(-2.0, 2.0)
    if kind == "scalar exponent":
        p = data.draw(st.sampled_from([2, 3, -1, 0.5, -1.5, 2.5]))
        return (lambda x: x ** p), [arrays(data, data.draw(SHAPES), base)]
    if kind == "scalar base":
        b = data.draw(st.sampled_from([2, 0.5, math.e]))
        return (lambda y: b ** y), [arrays(data, data.draw(SHAPES), exponent)]
    sx, sy = pair_shapes(data)
    return gg.pow, [arrays(data, sx, base), arrays(data, sy, exponent)]


def case_matmul(data):
    n, k, m, b, c = (data.draw(st.integers(1, 3)) for _ in range(5))
    sx, sy = data.draw(st.sampled_from([
        ((k,), (k,)),                      # 1-d @ 1-d: a dot product
        ((k,), (k, m)),                    # 1-d @ 2-d
        ((n, k), (k,)),                    # 2-d @ 1-d
        ((n, k), (k, m)),
        ((b, n, k), (k, m)),               # batched @ 2-d: y's gradient is summed over the batch
        ((k, m), (b, m, n)),
        ((b, n, k), (b, k, m)),            # 3-d @ 3-d
        ((b, 1, n, k), (c, k, m)),         # batch dims broadcast against each other
        ((1, n, k), (b, k, m)),
        ((b, n, k), (k,)),
        ((k,), (b, k, m)),
    ]))
    return gg.matmul, [arrays(data, sx), arrays(data, sy)]


def case_reshape(data):
    shape = data.draw(SHAPES)
    n = math.prod(shape)
    target = data.draw(st.sampled_from([(-1,), shape[::-1], (1,) + shape, (n, 1), ()] if n == 1 else
                                       [(-1,), shape[::-1], (1,) + shape, (n, 1), (1, -1)]))
    return (lambda x: gg.reshape(x, target)), [arrays(data, shape)]


def case_transpose(data):
    shape = data.draw(SHAPES)
    nd = len(shape)
    perm = data.draw(st.none() | st.permutations(range(nd)).flatmap(
        lambda p: st.tuples(*[st.sampled_from([a, a - nd]) for a in p])))
    return (lambda x: gg.transpose(x, perm)), [arrays(data, shape)]


def case_swapaxes(data):
    shape = data.draw(NONEMPTY_SHAPES)
    nd = len(shape)
    a1, a2 = data.draw(st.integers(-nd, nd - 1)), data.draw(st.integers(-nd, nd - 1))
    return (lambda x: gg.swapaxes(x, a1, a2)), [arrays(data, shape)]


def case_broadcast_to(data):
    shape = data.draw(SHAPES)
    other = data.draw(hnp.broadcastable_shapes(shape, min_dims=0, max_dims=4, max_side=3))
    target = np.broadcast_shapes(shape, other)
    return (lambda x: gg.broadcast_to(x, target)), [arrays(data, shape)]


def case_squeeze(data):
    shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=2))
    ones = [i for i, n in enumerate(shape) if n == 1]
    axis = None
    if ones and data.draw(st.booleans()):
        i = data.draw(st.sampled_from(ones))
        axis = data.draw(st.sampled_from([i, i - len(shape)]))
    return (lambda x: gg.squeeze(x, axis)), [arrays(data, shape)]


def case_unsqueeze(data):
    shape = data.draw(SHAPES)
    axis = data.draw(st.integers(-len(shape) - 1, len(shape)))
    return (lambda x: gg.unsqueeze(x, axis)), [arrays(data, shape)]


def case_concatenate(data):
    shape = list(data.draw(NONEMPTY_SHAPES))
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    count = data.draw(st.integers(1, 3))
    inputs = []
    for _ in range(count):
        shape[axis] = data.draw(st.integers(1, 3))
        inputs.append(arrays(data, tuple(shape)))
    return (lambda *xs: gg.concatenate(xs, axis=axis)), inputs


def case_stack(data):
    shape = data.draw(SHAPES)
    axis = data.draw(st.integers(-len(shape) - 1, len(shape)))
    inputs = [arrays(data, shape) for _ in range(data.draw(st.integers(1, 3)))]
    return (lambda *xs: gg.stack(xs, axis=axis)), inputs


def indices(data, shape):
    """Any index NumPy accepts: basic (slices with negative steps, ints, None, ...), a boolean mask,
    integer arrays (repeats likely), or a slice mixed with an integer array."""
    kind = data.draw(st.sampled_from(["basic", "mask", "integer arrays", "mixed"] if shape else ["basic"]))
    if kind == "basic":
        return data.draw(hnp.basic_indices(shape, allow_newaxis=True, allow_ellipsis=True))
    if kind == "mask":
        return data.draw(hnp.arrays(np.bool_, shape))
    if kind == "integer arrays":
        return data.draw(hnp.integer_array_indices(shape, result_shape=hnp.array_shapes(min_dims=1, max_dims=2,
                                                                                        max_side=4)))
    ints = data.draw(hnp.arrays(np.int64, data.draw(st.integers(1, 4)),
                                elements=st.integers(-shape[-1], shape[-1] - 1)))
    return (slice(None, None, data.draw(st.sampled_from([1, -1, 2]))),) * (len(shape) - 1) + (ints,)


def case_getitem(data):
    shape = data.draw(SHAPES)
    index = indices(data, shape)
    return (lambda x: x[index]), [arrays(data, shape)]


def case_unindex(data):
    shape = data.draw(SHAPES)
    index = indices(data, shape)
    h = arrays(data, np.empty(shape)[index].shape)
    return (lambda t: GATES["unindex"](t, index=at(index, t), shape=shape)), [h]


def case_pad(data):
    shape = data.draw(NONEMPTY_SHAPES)
    widths = tuple((data.draw(st.integers(0, 2)), data.draw(st.integers(0, 2))) for _ in shape)
    value = data.draw(st.sampled_from([0.0, -1.5]))
    return (lambda x: gg.pad(x, widths, value)), [arrays(data, shape)]


def case_astype(data):
    # float64 -> float64 is a copy; float64 -> float32 -> float64 rounds, so this case uses a larger eps.
    return (lambda x: x.astype(gg.float32).astype(gg.float64) * 1.5), [arrays(data, data.draw(SHAPES))]


def case_linear(data):
    """z = x Wᵀ + b: x with 0 to 2 leading (batch) axes, W of shape (out, in), with or without a bias."""
    lead = data.draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=3))
    n, m = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    x, w = arrays(data, lead + (n,)), arrays(data, (m, n))
    if data.draw(st.booleans()):
        return fused.linear, [x, w, arrays(data, (m,))]
    return fused.linear, [x, w]


def case_cross_entropy(data):
    """Logits (N, C) with integer labels (N,) or with target distributions (N, C) (differentiated too)."""
    n, c = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 4))
    z = arrays(data, (n, c), reals(-3.0, 3.0))
    reduction = data.draw(st.sampled_from(["mean", "sum", "none"]))
    if data.draw(st.booleans()):
        labels = data.draw(hnp.arrays(np.int64, n, elements=st.integers(0, c - 1)))
        return (lambda t, y: fused.cross_entropy(t, y, reduction=reduction)), [z, labels]
    y = arrays(data, (n, c), reals(0.0, 1.0))
    return (lambda t, u: fused.cross_entropy(t, u, reduction=reduction)), [z, y]


def conv_geometry(data):
    """x (N, C, H, W), W (O, C, kh, kw), stride and padding pairs, and the output's spatial size."""
    n, c, o = (data.draw(st.integers(1, 2)) for _ in range(3))
    h, w = data.draw(st.integers(2, 5)), data.draw(st.integers(2, 5))
    stride = (data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2)))
    padding = (data.draw(st.integers(0, 1)), data.draw(st.integers(0, 1)))
    kh, kw = data.draw(st.integers(1, h + 2 * padding[0])), data.draw(st.integers(1, w + 2 * padding[1]))
    kh, kw = min(kh, 3), min(kw, 3)
    oh, ow = (h + 2 * padding[0] - kh) // stride[0] + 1, (w + 2 * padding[1] - kw) // stride[1] + 1
    return (n, c, h, w), (o, c, kh, kw), stride, padding, (n, o, oh, ow)


def case_conv2d(data):
    sx, sw, stride, padding, _ = conv_geometry(data)
    x, w = arrays(data, sx), arrays(data, sw)
    if data.draw(st.booleans()):
        return (lambda a, k, b: conv.conv2d(a, k, b, stride=stride, padding=padding)), [x, w, arrays(data, sw[:1])]
    return (lambda a, k: conv.conv2d(a, k, stride=stride, padding=padding)), [x, w]


def case_conv2d_input_grad(data):
    sx, sw, stride, padding, sout = conv_geometry(data)
    return (lambda g, k: conv.conv2d_input_grad(g, k, input_shape=sx, stride=stride, padding=padding)), \
        [arrays(data, sout), arrays(data, sw)]


def case_conv2d_weight_grad(data):
    sx, sw, stride, padding, sout = conv_geometry(data)
    return (lambda x, g: conv.conv2d_weight_grad(x, g, kernel_size=sw[2:], stride=stride, padding=padding)), \
        [arrays(data, sx), arrays(data, sout)]


def pool_geometry(data):
    shape = (data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2)), data.draw(st.integers(1, 4)),
             data.draw(st.integers(1, 4)))
    kernel = (data.draw(st.integers(1, shape[2])), data.draw(st.integers(1, shape[3])))
    stride = (data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3)))     # overlapping windows too
    return shape, kernel, stride


def case_max_pool2d(data):
    shape, kernel, stride = pool_geometry(data)
    return (lambda x: conv.max_pool2d(x, kernel_size=kernel, stride=stride)), [distinct(data, shape)]


def pool_routing(data):
    """The constants of a max_pool2d backward: x (values that may tie: shared gradients) and its pooling."""
    shape, kernel, stride = pool_geometry(data)
    x = 0.5 * data.draw(hnp.arrays(np.int64, shape, elements=st.integers(-2, 2))).astype(np.float64)
    return x, conv.max_pool2d(x, kernel_size=kernel, stride=stride), dict(kernel_size=kernel, stride=stride)


def case_max_pool2d_scatter(data):
    x, out, pool = pool_routing(data)
    return (lambda g: conv.max_pool2d_scatter(g, x=at(x, g), out=at(out, g), **pool)), [arrays(data, out.shape)]


def case_max_pool2d_gather(data):
    x, out, pool = pool_routing(data)
    return (lambda h: conv.max_pool2d_gather(h, x=at(x, h), out=at(out, h), **pool)), [arrays(data, x.shape)]


def case_batch_norm(data):
    """x (N, F, …) with at least two values per feature, spread out so that the variance is not tiny."""
    shape = (data.draw(st.integers(2, 3)), data.draw(st.integers(1, 3))) + \
        data.draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=2))
    x = distinct(data, shape, spacing=0.3) + arrays(data, shape, reals(-0.05, 0.05))
    eps = data.draw(st.sampled_from([1e-5, 0.1]))
    return (lambda a, w, b: norm.batch_norm(a, w, b, eps=eps)), \
        [x, arrays(data, shape[1:2]), arrays(data, shape[1:2])]


POSITIVE = reals(0.3, 3.0)
NONZERO = reals(-2.0, 2.0, avoid=(0.0,), margin=0.3)
AWAY_FROM_0 = reals(avoid=(0.0,))

CASES = {
    "add": binary(gg.add),
    "sub": binary(gg.sub),
    "mul": binary(gg.mul),
    "div": binary(gg.div, y_elements=NONZERO),
    "neg": unary(gg.neg),
    "pow": case_pow,
    "exp": unary(gg.exp),
    "log": unary(gg.log, POSITIVE),
    "sqrt": unary(gg.sqrt, POSITIVE),
    "reciprocal": unary(gg.reciprocal, NONZERO),
    "abs": unary(gg.abs, AWAY_FROM_0),
    "tanh": unary(gg.tanh),
    "sigmoid": unary(gg.sigmoid, reals(-6.0, 6.0)),
    "relu": unary(gg.relu, AWAY_FROM_0),
    "leaky_relu": unary(lambda x: gg.leaky_relu(x, negative_slope=0.2), AWAY_FROM_0),
    "elu": unary(lambda x: gg.elu(x, alpha=0.7), AWAY_FROM_0),
    "softplus": unary(gg.softplus, reals(-6.0, 6.0)),
    "maximum": case_maximum_minimum(gg.maximum),
    "minimum": case_maximum_minimum(gg.minimum),
    "clip": case_clip,
    "where": case_where,
    "sum": case_reduction(gg.sum),
    "mean": case_reduction(gg.mean),
    "max": case_max_min(gg.max),
    "min": case_max_min(gg.min),
    "prod": case_reduction(gg.prod, reals(0.5, 1.5)),
    "var": case_var,
    "std": case_std,
    "logsumexp": case_reduction(gg.logsumexp),
    "softmax": case_along_axis(gg.softmax),
    "log_softmax": case_along_axis(gg.log_softmax),
    "matmul": case_matmul,
    "reshape": case_reshape,
    "transpose": case_transpose,
    "swapaxes": case_swapaxes,
    "broadcast_to": case_broadcast_to,
    "squeeze": case_squeeze,
    "unsqueeze": case_unsqueeze,
    "concatenate": case_concatenate,
    "stack": case_stack,
    "getitem": case_getitem,
    "unindex": case_unindex,
    "pad": case_pad,
    "astype": case_astype,
    "to_device": unary(lambda x: gg.ops.to_device(x, device=gg.device("cpu"))),   # other devices: test_devices.py
    "linear": case_linear,
    "cross_entropy": case_cross_entropy,
    "conv2d": case_conv2d,
    "conv2d_input_grad": case_conv2d_input_grad,
    "conv2d_weight_grad": case_conv2d_weight_grad,
    "max_pool2d": case_max_pool2d,
    "max_pool2d_scatter": case_max_pool2d_scatter,
    "max_pool2d_gather": case_max_pool2d_gather,
    "batch_norm": case_batch_norm,
}
CASES.update(numpy_gate_cases.gradcheck_cases(sys.modules[__name__]))   # NumPy's wider surface
EPS = {"astype": 1e-3}          # float32 rounding (~1e-7 relative) must be small against eps


def gate_names(out: gg.Tensor) -> set[str]:
    """The names of all gates in the graph behind ``out``."""
    names, seen, stack = set(), set(), [out.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        names.add(node.gate.name)
        stack.extend(t.grad_fn for t in node.inputs if isinstance(t, gg.Tensor))
    return names


def check_case(name: str, data, second: bool = False) -> None:
    f, inputs = CASES[name](data)
    out = f(*[gg.tensor(a, requires_grad=a.dtype.kind == "f") for a in inputs])
    assert name in gate_names(out), f"the case for {name!r} does not apply that gate"
    assert out.dtype == np.float64
    check = gg.gradgradcheck if second else gg.gradcheck
    assert check(f, inputs, eps=EPS.get(name, 1e-6)) is True


# --------------------------------------------------------------------------------------------------
# Every gate: first and second derivatives against centred differences
# --------------------------------------------------------------------------------------------------
def test_every_registered_gate_has_a_case():
    assert set(CASES) == set(GATES), (f"gates without a test: {sorted(set(GATES) - set(CASES))}; "
                                      f"cases for unknown gates: {sorted(set(CASES) - set(GATES))}")


@pytest.mark.parametrize("name", sorted(CASES))
@settings(max_examples=20)
@given(data=st.data())
def test_gradcheck(name, data):
    check_case(name, data)


@pytest.mark.parametrize("name", sorted(n for n in CASES if GATES[n].twice_differentiable))
@settings(max_examples=15)
@given(data=st.data())
def test_gradgradcheck(name, data):
    check_case(name, data, second=True)


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradcheck_fast_mode(name, device):
    """The same cases in fast mode (one random direction), on three drawn examples, on every device (the
    function runs there, gradcheck takes the differences on the host)."""
    @settings(max_examples=3)
    @given(data=st.data())
    def run(data):
        f, inputs = CASES[name](data)
        on_device = [gg.tensor(a, device=device, requires_grad=a.dtype.kind == "f") for a in inputs]
        assert gg.gradcheck(f, on_device, eps=EPS.get(name, 1e-6), mode="fast") is True
    run()


BINARY = {"add": gg.add, "sub": gg.sub, "mul": gg.mul, "div": gg.div, "pow": gg.pow,
          "maximum": gg.maximum, "minimum": gg.minimum}


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("sx, sy", [((3, 1), (4,)), ((4,), (3, 1)), ((), (2, 3)), ((2, 1, 3), (4, 1))])
def test_binary_broadcasting(name, sx, sy):
    """Both inputs get gradients of their own shape: the broadcast axes are summed back."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0.5, 2.0, sx)
    y = rng.uniform(0.5, 2.0, sy) + 0.05    # never equal to x: maximum/minimum stay away from ties
    assert gg.gradcheck(BINARY[name], [x, y])
    tx, ty = gg.tensor(x, requires_grad=True), gg.tensor(y, requires_grad=True)
    BINARY[name](tx, ty).sum().backward()
    assert tx.grad.shape == sx and ty.grad.shape == sy


ELEMENTWISE = sorted(n for n in GATES if GATES[n].elementwise)


def test_the_hot_activations_are_declared_elementwise():
    assert {"neg", "exp", "log", "tanh", "sigmoid", "relu", "sqrt", "abs", "sin", "square"} <= set(ELEMENTWISE)


@pytest.mark.parametrize("name", ELEMENTWISE)
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("shape", [(), (3,), (2, 3)])
def test_elementwise_gates_keep_the_shape_and_dtype_of_their_input(name, dtype, shape):
    """Backward does not check the gradient of an elementwise gate (engine.Gate): its output and its VJP's
    result must have the input's shape and dtype, in every float dtype and for 0-d inputs too."""
    gate = GATES[name]
    x = np.full(shape, 1.25, dtype)                 # inside every domain (arccosh needs ≥ 1, arcsin ≤ 1 …)
    if name in ("arcsin", "arccos", "arctanh"):
        x = np.full(shape, 0.5, dtype)
    with np.errstate(all="ignore"):
        out = np.asarray(gate.forward(x))
        grad = np.asarray(gate.vjps[0](np.ones_like(out), out, x))
    assert (out.shape, out.dtype, grad.shape, grad.dtype) == (shape, dtype, shape, dtype)
    t = gg.tensor(x, requires_grad=True)
    with np.errstate(all="ignore"):
        getattr(gg, name)(t).sum().backward()
    assert (t.grad.shape, t.grad.dtype) == (shape, dtype)


def test_add_broadcast_gradient_counts_the_copies():
    """(3,1) + (4,): each entry of x is used 4 times, each entry of y 3 times."""
    x = gg.zeros(3, 1, dtype=gg.float64, requires_grad=True)
    y = gg.zeros(4, dtype=gg.float64, requires_grad=True)
    (x + y).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full((3, 1), 4.0))
    np.testing.assert_array_equal(y.grad.numpy(), np.full(4, 3.0))


# --------------------------------------------------------------------------------------------------
# Subgradients at kinks: the choices documented in the gate table
# --------------------------------------------------------------------------------------------------
def grad_of(f, *values):
    ts = [gg.tensor(np.asarray(v, dtype=np.float64), requires_grad=True) for v in values]
    f(*ts).sum().backward()
    return [t.grad.numpy() for t in ts]


def test_relu_at_zero_has_gradient_zero():
    np.testing.assert_array_equal(grad_of(gg.relu, [-1.0, 0.0, 2.0])[0], [0.0, 0.0, 1.0])


def test_abs_at_zero_has_gradient_zero():
    np.testing.assert_array_equal(grad_of(gg.abs, [-1.0, 0.0, 2.0])[0], [-1.0, 0.0, 1.0])


def test_leaky_relu_and_elu_at_zero_use_the_left_slope():
    np.testing.assert_allclose(grad_of(lambda x: gg.leaky_relu(x, negative_slope=0.1), [0.0, 1.0])[0], [0.1, 1.0])
    np.testing.assert_allclose(grad_of(lambda x: gg.elu(x, alpha=0.5), [0.0, 1.0])[0], [0.5, 1.0])


def test_clip_passes_the_gradient_on_its_boundaries():
    np.testing.assert_array_equal(grad_of(lambda x: gg.clip(x, -1.0, 1.0), [-2.0, -1.0, 0.0, 1.0, 2.0])[0],
                                  [0.0, 1.0, 1.0, 1.0, 0.0])


def test_max_ties_share_the_gradient_equally():
    np.testing.assert_allclose(grad_of(gg.max, [1.0, 3.0, 3.0, 2.0])[0], [0.0, 0.5, 0.5, 0.0])
    np.testing.assert_allclose(grad_of(gg.min, [1.0, 1.0, 1.0, 2.0])[0], [1 / 3, 1 / 3, 1 / 3, 0.0])
    # along an axis, each row shares its own gradient
    got = grad_of(lambda x: gg.max(x, axis=1), [[5.0, 5.0, 1.0], [0.0, 2.0, 1.0]])[0]
    np.testing.assert_allclose(got, [[0.5, 0.5, 0.0], [0.0, 1.0, 0.0]])
    got = grad_of(lambda x: gg.max(x, axis=0, keepdims=True), [[5.0, 2.0], [5.0, 1.0]])[0]
    np.testing.assert_allclose(got, [[0.5, 1.0], [0.5, 0.0]])


def test_max_pool2d_ties_share_the_gradient_equally():
    x = np.array([[[[1.0, 3.0, 3.0], [3.0, 0.0, 2.0]]]])            # (1, 1, 2, 3)
    (g,) = grad_of(lambda t: conv.max_pool2d(t, kernel_size=(2, 2), stride=(1, 1)), x)
    # window 0 has two maxima, at (0, 1) and (1, 0); window 1 has two, at (0, 1) and (0, 2)
    np.testing.assert_allclose(g, [[[[0.0, 0.5 + 0.5, 0.5], [0.5, 0.0, 0.0]]]])


def test_maximum_and_minimum_ties_go_to_the_first_input():
    gx, gy = grad_of(gg.maximum, [1.0, 2.0, 3.0], [1.0, 5.0, 3.0])
    np.testing.assert_array_equal(gx, [1.0, 0.0, 1.0])
    np.testing.assert_array_equal(gy, [0.0, 1.0, 0.0])
    gx, gy = grad_of(gg.minimum, [1.0, 2.0, 3.0], [1.0, 5.0, 0.0])
    np.testing.assert_array_equal(gx, [1.0, 1.0, 0.0])
    np.testing.assert_array_equal(gy, [0.0, 0.0, 1.0])


def test_prod_gradient_is_exact_with_zeros():
    """∂Π/∂x_i is the product of the others, also where x_i or another entry is 0."""
    np.testing.assert_array_equal(grad_of(gg.prod, [2.0, 0.0, 3.0])[0], [0.0, 6.0, 0.0])
    np.testing.assert_array_equal(grad_of(gg.prod, [0.0, 0.0, 3.0])[0], [0.0, 0.0, 0.0])
    x = np.array([[[2.0, 0.0], [1.0, 4.0]], [[3.0, 5.0], [2.0, 2.0]]])
    got = grad_of(lambda t: gg.prod(t, axis=(0, -1)), x)[0]
    expected = np.zeros_like(x)
    for j in range(2):               # axis 1 is kept: each x[:, j, :] is one product of four entries
        block = x[:, j, :].ravel()
        for i in range(4):
            expected[i // 2, j, i % 2] = np.prod(np.delete(block, i))
    np.testing.assert_allclose(got, expected)
    assert gg.gradcheck(lambda t: gg.prod(t, axis=1), [np.array([[0.0, 2.0, 3.0], [1.5, 0.0, 0.0]])])


# --------------------------------------------------------------------------------------------------
# Indexing
# --------------------------------------------------------------------------------------------------
def test_getitem_repeated_indices_scatter_add():
    """An entry selected k times receives k times the gradient (np.add.at, not assignment)."""
    idx = np.array([0, 0, 2, 0, 3, 3])
    (g,) = grad_of(lambda x: x[idx], np.arange(5.0))
    np.testing.assert_array_equal(g, np.bincount(idx, minlength=5))
    rows, cols = np.array([1, 1, 0, 1]), np.array([2, 2, 2, 0])
    (g,) = grad_of(lambda x: x[rows, cols], np.ones((2, 3)))
    expected = np.zeros((2, 3))
    np.add.at(expected, (rows, cols), 1.0)
    np.testing.assert_array_equal(g, expected)
    assert expected[1, 2] == 2.0
    # weighted: the gradients of the repeats add up, not just count
    w = np.array([1.0, 10.0, 100.0])
    x = gg.tensor(np.zeros(2), requires_grad=True)
    (x[np.array([1, 1, 0])] * gg.tensor(w)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [100.0, 11.0])


@pytest.mark.parametrize("index", [
    slice(None, None, -1), slice(None, None, -2), slice(3, 0, -2), (slice(None), -1), -2, (1, 2),
    (Ellipsis, None, 0), (slice(None, None, -1), np.array([2, 0, 2])),
], ids=repr)
def test_getitem_examples(index):
    x = np.arange(20.0).reshape(4, 5) / 7
    assert gg.gradcheck(lambda t: t[index], [x])
    t = gg.tensor(x, requires_grad=True)
    np.testing.assert_array_equal(t[index].numpy(), x[index])


def test_getitem_boolean_mask_and_tensor_index():
    x = np.arange(6.0).reshape(2, 3)
    mask = x > 2.5
    (g,) = grad_of(lambda t: t[mask], x)
    np.testing.assert_array_equal(g, mask.astype(float))
    (g,) = grad_of(lambda t: t[gg.tensor(mask)], x)          # a bool tensor works as a mask
    np.testing.assert_array_equal(g, mask.astype(float))
    (g,) = grad_of(lambda t: t[gg.tensor([1, 1])], x)       # an int tensor as an index
    np.testing.assert_array_equal(g, [[0, 0, 0], [2, 2, 2]])


# --------------------------------------------------------------------------------------------------
# Shape gates and the functions built from them
# --------------------------------------------------------------------------------------------------
def test_split_concatenate_roundtrip_and_gradients():
    x = np.arange(12.0).reshape(3, 4) / 5
    for sections, axis in [(2, 1), ([1, 3], 1), (3, 0), ([2], -2)]:
        pieces = gg.split(gg.tensor(x), sections, axis=axis)
        np.testing.assert_array_equal(gg.concatenate(pieces, axis=axis).numpy(), x)
        for a, b in zip(pieces, np.split(x, sections, axis=axis)):
            np.testing.assert_array_equal(a.numpy(), b)
        assert gg.gradcheck(lambda t, sections=sections, axis=axis: gg.concatenate(
            [p * (k + 1) for k, p in enumerate(gg.split(t, sections, axis))], axis=axis), [x])
    with pytest.raises(ValueError, match="equal"):
        gg.split(gg.tensor(x), 3, axis=1)


def test_concatenate_and_stack_give_each_input_its_slice():
    a = gg.tensor(np.ones((2, 1)), requires_grad=True)
    b = gg.tensor(np.ones((2, 3)), requires_grad=True)
    w = gg.tensor(np.arange(8.0).reshape(2, 4))
    (gg.concatenate([a, b], axis=-1) * w).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [[0.0], [4.0]])
    np.testing.assert_array_equal(b.grad.numpy(), [[1.0, 2.0, 3.0], [5.0, 6.0, 7.0]])
    c = gg.tensor(np.ones(3), requires_grad=True)
    d = gg.tensor(np.ones(3), requires_grad=True)
    (gg.stack([c, d], axis=1) * gg.tensor(np.arange(6.0).reshape(3, 2))).sum().backward()
    np.testing.assert_array_equal(c.grad.numpy(), [0.0, 2.0, 4.0])
    np.testing.assert_array_equal(d.grad.numpy(), [1.0, 3.0, 5.0])


@pytest.mark.parametrize("f", [
    lambda t: t.transpose(), lambda t: t.T, lambda t: t.permute(2, 0, 1), lambda t: t.permute((-1, 0, 1)),
    lambda t: gg.permute(t, 1, 2, 0), lambda t: t.swapaxes(0, -1), lambda t: t.reshape(6, 4),
    lambda t: t.reshape(-1), lambda t: t.view(4, 6), lambda t: t.flatten(1), lambda t: gg.flatten(t),
    lambda t: t.unsqueeze(0).unsqueeze(-1).squeeze(), lambda t: gg.expand_dims(t, 1),
    lambda t: t[:, :1].broadcast_to((3, 2, 5, 4)), lambda t: t[:1].expand((2, 2, 3, 4)),
    lambda t: t.pad(1), lambda t: t.pad(((0, 0), (1, 0), (2, 3)), value=2.0), lambda t: gg.cat([t, t * 2], axis=1),
])
def test_shape_functions(f):
    x = np.arange(24.0).reshape(2, 3, 4) / 10
    assert gg.gradcheck(f, [x])


def test_shape_functions_match_numpy():
    x = np.arange(24.0).reshape(2, 3, 4)
    t = gg.tensor(x)
    np.testing.assert_array_equal(t.permute(2, 0, 1).numpy(), x.transpose(2, 0, 1))
    np.testing.assert_array_equal(t.T.numpy(), x.T)
    np.testing.assert_array_equal(t.pad(((0, 0), (1, 0), (2, 3)), value=2.0).numpy(),
                                  np.pad(x, ((0, 0), (1, 0), (2, 3)), constant_values=2.0))
    np.testing.assert_array_equal(t.pad(1).numpy(), np.pad(x, 1))
    np.testing.assert_array_equal(gg.unsqueeze(t, -1).numpy(), x[..., None])
    np.testing.assert_array_equal(gg.squeeze(gg.tensor(np.ones((1, 3, 1))), -1).numpy(), np.ones((1, 3)))
    assert gg.broadcast_to(gg.tensor(np.ones((3, 1))), (2, 3, 4)).shape == (2, 3, 4)


def test_pad_gradient_is_the_crop():
    x = gg.tensor(np.ones((2, 2)), requires_grad=True)
    w = gg.tensor(np.arange(20.0).reshape(4, 5))
    (x.pad(((1, 1), (2, 1))) * w).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.arange(20.0).reshape(4, 5)[1:3, 2:4])


# --------------------------------------------------------------------------------------------------
# matmul: every NumPy shape rule, values and gradients
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("sx, sy", [
    ((3,), (3,)), ((3,), (3, 2)), ((2, 3), (3,)), ((2, 3), (3, 4)), ((5, 2, 3), (3, 4)),
    ((5, 2, 3), (5, 3, 4)), ((5, 1, 2, 3), (4, 3, 2)), ((1, 2, 3), (5, 3, 4)), ((5, 2, 3), (3,)), ((3,), (5, 3, 2)),
])
def test_matmul_shapes(sx, sy):
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal(sx), rng.standard_normal(sy)
    out = gg.tensor(x) @ gg.tensor(y)
    np.testing.assert_allclose(out.numpy(), x @ y)
    assert gg.gradcheck(gg.matmul, [x, y])
    tx, ty = gg.tensor(x, requires_grad=True), gg.tensor(y, requires_grad=True)
    (tx @ ty).sum().backward()
    assert tx.grad.shape == sx and ty.grad.shape == sy


def test_matmul_gradients_are_the_textbook_ones():
    """For out = x @ y: ∂C/∂x = g @ yᵀ and ∂C/∂y = xᵀ @ g (BP4: activation in times error out)."""
    rng = np.random.default_rng(2)
    x, y, g = rng.standard_normal((4, 3)), rng.standard_normal((3, 2)), rng.standard_normal((4, 2))
    tx, ty = gg.tensor(x, requires_grad=True), gg.tensor(y, requires_grad=True)
    (tx @ ty).backward(g)
    np.testing.assert_allclose(tx.grad.numpy(), g @ y.T)
    np.testing.assert_allclose(ty.grad.numpy(), x.T @ g)
