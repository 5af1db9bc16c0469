"""glassgrad against PyTorch: the same float64 inputs through both, values and gradients to 1e-6.

Known differences, handled in the mapping: ``var`` uses ddof=0 by default as NumPy does (torch's
``correction`` is given explicitly), ``max``/``min`` without indices are ``torch.amax``/``torch.amin``,
``softmax`` takes ``axis`` (default -1) where torch needs ``dim``, and negative-step slices are
``torch.flip`` because torch has no negative steps.
"""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

import numpy_gate_cases  # noqa: E402
from devices import at  # noqa: E402

import glassgrad as gg  # noqa: E402
from glassgrad.device import to_host  # noqa: E402
from glassgrad.engine import GATES  # noqa: E402
from glassgrad.ops import conv, fused, norm  # noqa: E402

TOL = dict(rtol=1e-6, atol=1e-6)


# --------------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------------
def draw(spec, rng):
    """An input from a spec: an array (used as is) or (shape, domain)."""
    if isinstance(spec, np.ndarray):
        return spec
    shape, domain = spec
    if domain == "any":
        return rng.standard_normal(shape)
    if domain == "pos":
        return rng.uniform(0.5, 2.0, shape)
    if domain == "nonzero":          # |x| ≥ 0.3: away from the kinks of relu, abs and from poles
        return rng.choice([-1.0, 1.0], shape) * rng.uniform(0.3, 2.0, shape)
    if domain == "distinct":         # no ties, so max/min/maximum have one answer
        n = int(np.prod(shape))
        return (rng.permutation(n).reshape(shape) - n / 2) * 0.25
    raise ValueError(domain)


def run_both(gg_fn, torch_fn, inputs, seed=0, device="cpu"):
    """Values and gradients of ⟨w, f(inputs)⟩ for a random w, in glassgrad (its tensors on ``device``) and in
    torch (on the CPU)."""
    differentiable = [a.dtype.kind == "f" for a in inputs]
    gts = [gg.tensor(a, requires_grad=d, device=device) for a, d in zip(inputs, differentiable)]
    tts = [torch.tensor(a, requires_grad=d) for a, d in zip(inputs, differentiable)]
    out, tout = gg_fn(*gts), torch_fn(*tts)
    assert out.shape == tuple(tout.shape), f"shapes differ: glassgrad {out.shape}, torch {tuple(tout.shape)}"
    assert out.dtype == np.dtype(str(tout.dtype).removeprefix("torch."))
    np.testing.assert_allclose(to_host(out), tout.detach().numpy(), **TOL)
    w = np.random.default_rng(seed + 1).standard_normal(out.shape)
    (out * gg.tensor(w, device=out.device)).sum().backward()
    (tout * torch.tensor(w, dtype=tout.dtype)).sum().backward()
    for k, (a, b) in enumerate(zip(gts, tts)):
        if differentiable[k]:
            assert a.grad is not None, f"input {k} got no gradient"
            assert a.grad.dtype == a.dtype
            assert a.grad.device == a.device, f"gradient of input {k} on {a.grad.device}, input on {a.device}"
            np.testing.assert_allclose(to_host(a.grad), b.grad.numpy(), err_msg=f"gradient of input {k}", **TOL)


# --------------------------------------------------------------------------------------------------
# torch spellings of NumPy-style reductions
# --------------------------------------------------------------------------------------------------
def dims(axis, ndim):
    return tuple(range(ndim)) if axis is None else axis


def t_reduce(fn, axis=None, keepdims=False, **kw):
    return lambda x: fn(x, dim=dims(axis, x.ndim), keepdim=keepdims, **kw)


def t_prod(axis=None, keepdims=False):
    """torch.prod reduces one dim at a time."""
    def f(x):
        reduced = {a % x.ndim for a in ((axis,) if isinstance(axis, int) else dims(axis, x.ndim))}
        for d in reduced:
            x = torch.prod(x, dim=d, keepdim=True)
        return x if keepdims else x.reshape([n for i, n in enumerate(x.shape) if i not in reduced])
    return f


def torch_index(index):
    """A NumPy index in torch's spelling (arrays become tensors)."""
    if isinstance(index, tuple):
        return tuple(torch_index(i) for i in index)
    return torch.as_tensor(index) if isinstance(index, np.ndarray) else index


def t_unindex(index, shape):
    def f(h):
        idx = index if isinstance(index, tuple) else (index,)
        return torch.zeros(shape, dtype=h.dtype).index_put(tuple(torch.as_tensor(i) for i in idx), h,
                                                           accumulate=True)
    return f


def flat_pad(widths):
    return [w for pair in reversed(widths) for w in pair]


def t_conv_input_grad(input_shape, stride, padding):
    """torch's x-gradient of conv2d as a differentiable function of (g, W): autograd with create_graph."""
    def f(g, w):
        x = torch.zeros(input_shape, dtype=g.dtype, requires_grad=True)
        (dx,) = torch.autograd.grad(F.conv2d(x, w, stride=stride, padding=padding), x, g, create_graph=True)
        return dx
    return f


def t_conv_weight_grad(weight_shape, stride, padding):
    def f(x, g):
        w = torch.zeros(weight_shape, dtype=x.dtype, requires_grad=True)
        (dw,) = torch.autograd.grad(F.conv2d(x, w, stride=stride, padding=padding), w, g, create_graph=True)
        return dw
    return f


POOL_X = (np.random.default_rng(8).permutation(2 * 3 * 5 * 4).reshape(2, 3, 5, 4) - 60) * 0.25   # no ties
POOL = dict(kernel_size=(2, 3), stride=(1, 2))          # overlapping windows along H
POOL_OUT = conv.max_pool2d(POOL_X, **POOL)             # a gate on arrays is plain NumPy


def t_pool_scatter(g):
    """torch's gradient of max_pool2d at POOL_X for the cotangent g (linear in g)."""
    x = torch.tensor(POOL_X, requires_grad=True)
    (dx,) = torch.autograd.grad(F.max_pool2d(x, POOL["kernel_size"], POOL["stride"]), x, g, create_graph=True)
    return dx


def t_pool_gather(h):
    """Each window's maximum position of POOL_X, read from h."""
    _, idx = F.max_pool2d(torch.tensor(POOL_X), POOL["kernel_size"], POOL["stride"], return_indices=True)
    return h.flatten(2).gather(2, idx.flatten(2)).view(idx.shape)


UNINDEX = GATES["unindex"]


IDX = np.array([0, 2, 2, 0, 0])
ROWS, COLS = np.array([1, 1, 0]), np.array([2, 2, -1])
MASK = np.array([[True, False, True, True], [False, False, True, False], [True, True, False, True]])
LABELS = np.array([2, 0, 1, 2])
CLIP_X = np.array([-2.0, -0.5, -0.1, 0.0, 0.3, 0.5, 1.7])    # includes both boundaries


# (gate, id, glassgrad function, torch function, input specs)
CASES = [
    ("add", "broadcast", gg.add, torch.add, [((3, 1), "any"), ((4,), "any")]),
    ("add", "0-d", gg.add, torch.add, [((), "any"), ((2, 3), "any")]),
    ("add", "scalar", lambda x: 2.5 + x, lambda x: 2.5 + x, [((3,), "any")]),
    ("sub", "broadcast", gg.sub, torch.sub, [((2, 3), "any"), ((3,), "any")]),
    ("sub", "scalar", lambda x: 1.5 - x, lambda x: 1.5 - x, [((2, 2), "any")]),
    ("mul", "broadcast", gg.mul, torch.mul, [((3, 1), "any"), ((4,), "any")]),
    ("mul", "scalar", lambda x: x * 0.5, lambda x: x * 0.5, [((3,), "any")]),
    ("div", "broadcast", gg.div, torch.div, [((2, 3), "any"), ((2, 1), "nonzero")]),
    ("div", "scalar over x", lambda x: 2 / x, lambda x: 2 / x, [((3,), "nonzero")]),
    ("neg", "", gg.neg, torch.neg, [((2, 3), "any")]),
    ("pow", "tensors", gg.pow, torch.pow, [((2, 3), "pos"), ((3,), "any")]),
    ("pow", "x**3", lambda x: x ** 3, lambda x: x ** 3, [((4,), "any")]),
    ("pow", "x**-1.5", lambda x: x ** -1.5, lambda x: x ** -1.5, [((4,), "pos")]),
    ("pow", "2**x", lambda x: 2 ** x, lambda x: 2 ** x, [((4,), "any")]),
    ("exp", "", gg.exp, torch.exp, [((2, 3), "any")]),
    ("log", "", gg.log, torch.log, [((2, 3), "pos")]),
    ("sqrt", "", gg.sqrt, torch.sqrt, [((2, 3), "pos")]),
    ("abs", "", gg.abs, torch.abs, [((2, 3), "nonzero")]),
    ("abs", "at 0", gg.abs, torch.abs, [np.array([-1.0, 0.0, 2.0])]),
    ("reciprocal", "", gg.reciprocal, torch.reciprocal, [((2, 3), "nonzero")]),
    ("tanh", "", gg.tanh, torch.tanh, [((2, 3), "any")]),
    ("sigmoid", "", gg.sigmoid, torch.sigmoid, [((2, 3), "any")]),
    ("sigmoid", "large", gg.sigmoid, torch.sigmoid, [np.array([-800.0, -30.0, 0.0, 30.0, 800.0])]),
    ("relu", "", gg.relu, torch.relu, [((2, 3), "nonzero")]),
    ("relu", "at 0", gg.relu, torch.relu, [np.array([-1.0, 0.0, 2.0])]),
    ("leaky_relu", "", lambda x: gg.leaky_relu(x, negative_slope=0.2), lambda x: F.leaky_relu(x, 0.2),
     [((2, 3), "nonzero")]),
    ("leaky_relu", "default slope", gg.leaky_relu, F.leaky_relu, [((5,), "nonzero")]),
    ("elu", "", lambda x: gg.elu(x, alpha=0.7), lambda x: F.elu(x, alpha=0.7), [((2, 3), "nonzero")]),
    ("softplus", "", gg.softplus, F.softplus, [((2, 3), "any")]),
    ("maximum", "", gg.maximum, torch.maximum, [((3, 1), "distinct"), ((4,), "distinct")]),
    ("minimum", "", gg.minimum, torch.minimum, [((2, 3), "distinct"), ((3,), "distinct")]),
    ("clip", "both", lambda x: gg.clip(x, -0.5, 0.5), lambda x: torch.clamp(x, -0.5, 0.5), [CLIP_X]),
    ("clip", "min only", lambda x: gg.clip(x, min=-0.5), lambda x: torch.clamp(x, min=-0.5), [CLIP_X]),
    ("clip", "max only", lambda x: x.clamp(max=0.5), lambda x: torch.clamp(x, max=0.5), [CLIP_X]),
    ("where", "broadcast", lambda x, y: gg.where(at(MASK[:, :1], x), x, y), lambda x, y: torch.where(
        torch.tensor(MASK[:, :1]), x, y), [((3, 4), "any"), ((4,), "any")]),
    ("sum", "all", gg.sum, t_reduce(torch.sum), [((2, 3, 4), "any")]),
    ("sum", "axis=-1 keepdims", lambda x: x.sum(axis=-1, keepdims=True), t_reduce(torch.sum, -1, True),
     [((2, 3, 4), "any")]),
    ("sum", "axis=(0, 2)", lambda x: x.sum(axis=(0, 2)), t_reduce(torch.sum, (0, 2)), [((2, 3, 4), "any")]),
    ("mean", "all keepdims", lambda x: x.mean(keepdims=True), t_reduce(torch.mean, None, True),
     [((2, 3), "any")]),
    ("mean", "axis=(-1, 0)", lambda x: x.mean(axis=(-1, 0)), t_reduce(torch.mean, (-1, 0)), [((2, 3, 4), "any")]),
    ("max", "all", gg.max, t_reduce(torch.amax), [((3, 4), "distinct")]),
    ("max", "axis=1", lambda x: x.max(axis=1), t_reduce(torch.amax, 1), [((3, 4), "distinct")]),
    ("max", "ties", lambda x: x.max(axis=0), t_reduce(torch.amax, 0),       # both share ties equally
     [np.array([[1.0, 5.0, 2.0], [1.0, 5.0, 3.0], [0.0, 5.0, 3.0]])]),
    ("min", "axis=(0, 1) keepdims", lambda x: x.min(axis=(0, 1), keepdims=True),
     t_reduce(torch.amin, (0, 1), True), [((2, 3, 2), "distinct")]),
    ("min", "ties", gg.min, t_reduce(torch.amin), [np.array([0.0, 1.0, 0.0])]),
    ("prod", "all", gg.prod, t_prod(), [((2, 3), "pos")]),
    ("prod", "axis=-1", lambda x: x.prod(axis=-1), t_prod(-1), [((2, 3), "any")]),
    ("prod", "axis=(0, 2) keepdims", lambda x: x.prod(axis=(0, 2), keepdims=True), t_prod((0, 2), True),
     [((2, 3, 2), "any")]),
    ("prod", "zeros", lambda x: x.prod(axis=1), t_prod(1),
     [np.array([[0.0, 2.0, 3.0], [0.0, 0.0, 4.0], [1.0, 2.0, 3.0]])]),
    ("var", "ddof=0 default", gg.var, lambda x: torch.var(x, correction=0), [((2, 3), "any")]),
    ("var", "axis=0 ddof=1", lambda x: x.var(axis=0, ddof=1), lambda x: torch.var(x, dim=0, correction=1),
     [((4, 3), "any")]),
    ("var", "axis=(0, 2) keepdims", lambda x: gg.var(x, axis=(0, 2), keepdims=True),
     lambda x: torch.var(x, dim=(0, 2), correction=0, keepdim=True), [((2, 3, 4), "any")]),
    ("std", "axis=1", lambda x: x.std(axis=1), lambda x: torch.std(x, dim=1, correction=0), [((3, 4), "any")]),
    ("logsumexp", "all", gg.logsumexp, t_reduce(torch.logsumexp), [((2, 3), "any")]),
    ("logsumexp", "axis=-1 keepdims", lambda x: x.logsumexp(axis=-1, keepdims=True),
     t_reduce(torch.logsumexp, -1, True), [((2, 3), "any")]),
    ("logsumexp", "large", lambda x: x.logsumexp(axis=1), t_reduce(torch.logsumexp, 1),
     [np.array([[1000.0, 999.0, -5.0], [-1000.0, -1001.0, -999.5]])]),
    ("softmax", "default axis -1", gg.softmax, lambda x: torch.softmax(x, dim=-1), [((3, 4), "any")]),
    ("softmax", "axis=0", lambda x: x.softmax(axis=0), lambda x: torch.softmax(x, dim=0), [((3, 4), "any")]),
    ("log_softmax", "default axis -1", gg.log_softmax, lambda x: torch.log_softmax(x, dim=-1),
     [((3, 4), "any")]),
    ("log_softmax", "axis=1 of 3-d", lambda x: x.log_softmax(axis=1), lambda x: torch.log_softmax(x, dim=1),
     [((2, 3, 4), "any")]),
    ("matmul", "1-d @ 1-d", gg.matmul, torch.matmul, [((3,), "any"), ((3,), "any")]),
    ("matmul", "1-d @ 2-d", gg.matmul, torch.matmul, [((3,), "any"), ((3, 2), "any")]),
    ("matmul", "2-d @ 1-d", gg.matmul, torch.matmul, [((2, 3), "any"), ((3,), "any")]),
    ("matmul", "2-d @ 2-d", gg.matmul, torch.matmul, [((2, 3), "any"), ((3, 4), "any")]),
    ("matmul", "3-d @ 2-d", gg.matmul, torch.matmul, [((5, 2, 3), "any"), ((3, 4), "any")]),
    ("matmul", "3-d @ 3-d", gg.matmul, torch.matmul, [((5, 2, 3), "any"), ((5, 3, 4), "any")]),
    ("matmul", "batch broadcast", gg.matmul, torch.matmul, [((2, 1, 2, 3), "any"), ((4, 3, 2), "any")]),
    ("reshape", "", lambda x: x.reshape(4, -1), lambda x: x.reshape(4, -1), [((2, 3, 2), "any")]),
    ("transpose", "reverse", lambda x: x.transpose(), lambda x: x.permute(2, 1, 0), [((2, 3, 4), "any")]),
    ("transpose", "permute", lambda x: x.permute(1, -1, 0), lambda x: x.permute(1, -1, 0), [((2, 3, 4), "any")]),
    ("swapaxes", "", lambda x: x.swapaxes(0, -1), lambda x: x.swapaxes(0, -1), [((2, 3, 4), "any")]),
    ("broadcast_to", "", lambda x: x.broadcast_to((2, 3, 4)), lambda x: x.broadcast_to((2, 3, 4)),
     [((3, 1), "any")]),
    ("squeeze", "all", lambda x: x.squeeze(), lambda x: x.squeeze(), [((1, 3, 1), "any")]),
    ("squeeze", "axis=-1", lambda x: x.squeeze(-1), lambda x: x.squeeze(-1), [((1, 3, 1), "any")]),
    ("unsqueeze", "", lambda x: x.unsqueeze(-2), lambda x: x.unsqueeze(-2), [((2, 3), "any")]),
    ("concatenate", "", lambda x, y: gg.concatenate([x, y, x], axis=-1), lambda x, y: torch.cat([x, y, x], dim=-1),
     [((2, 1), "any"), ((2, 3), "any")]),
    ("stack", "", lambda x, y: gg.stack([x, y], axis=1), lambda x, y: torch.stack([x, y], dim=1),
     [((2, 3), "any"), ((2, 3), "any")]),
    ("getitem", "slices", lambda x: x[1:, ::2], lambda x: x[1:, ::2], [((3, 4), "any")]),
    ("getitem", "negative step", lambda x: x[::-1, 1], lambda x: torch.flip(x, [0])[:, 1], [((3, 4), "any")]),
    ("getitem", "repeated indices", lambda x: x[at(IDX, x)], lambda x: x[torch_index(IDX)], [((3, 2), "any")]),
    ("getitem", "index pairs", lambda x: x[at(ROWS, x), at(COLS, x)], lambda x: x[torch_index((ROWS, COLS))],
     [((2, 4), "any")]),
    ("getitem", "mask", lambda x: x[at(MASK, x)], lambda x: x[torch_index(MASK)], [((3, 4), "any")]),
    ("getitem", "int and None", lambda x: x[None, -1], lambda x: x[None, -1], [((3, 4), "any")]),
    ("unindex", "repeated", lambda h: UNINDEX(h, index=at(IDX, h), shape=(3, 2)), t_unindex(IDX, (3, 2)),
     [((5, 2), "any")]),
    ("pad", "", lambda x: x.pad(((1, 0), (2, 1)), value=0.5),
     lambda x: F.pad(x, flat_pad(((1, 0), (2, 1))), value=0.5), [((2, 3), "any")]),
    ("astype", "", lambda x: x.astype(gg.float32), lambda x: x.to(torch.float32), [((2, 3), "any")]),
    ("to_device", "to the CPU", lambda x: gg.ops.to_device(x, device=gg.device("cpu")), lambda x: x.to("cpu"),
     [((2, 3), "any")]),
    ("linear", "bias", fused.linear, F.linear, [((4, 3), "any"), ((2, 3), "any"), ((2,), "any")]),
    ("linear", "no bias, batch", fused.linear, F.linear, [((2, 4, 3), "any"), ((5, 3), "any")]),
    ("cross_entropy", "labels mean", fused.cross_entropy, F.cross_entropy, [((4, 3), "any"), LABELS]),
    ("cross_entropy", "labels sum", lambda z, y: fused.cross_entropy(z, y, reduction="sum"),
     lambda z, y: F.cross_entropy(z, y, reduction="sum"), [((4, 3), "any"), LABELS]),
    ("cross_entropy", "labels none", lambda z, y: fused.cross_entropy(z, y, reduction="none"),
     lambda z, y: F.cross_entropy(z, y, reduction="none"), [((4, 3), "any"), LABELS]),
    ("cross_entropy", "probabilities", fused.cross_entropy, F.cross_entropy, [((4, 3), "any"), ((4, 3), "pos")]),
    ("cross_entropy", "large logits", fused.cross_entropy, F.cross_entropy,
     [np.array([[1e4, -1e4, 0.0], [0.0, 3e3, -2e3]]), np.array([1, 1])]),
    ("conv2d", "bias", lambda x, w, b: conv.conv2d(x, w, b), F.conv2d,
     [((2, 3, 5, 4), "any"), ((4, 3, 3, 2), "any"), ((4,), "any")]),
    ("conv2d", "stride and padding", lambda x, w: conv.conv2d(x, w, stride=(2, 1), padding=(1, 2)),
     lambda x, w: F.conv2d(x, w, stride=(2, 1), padding=(1, 2)), [((2, 2, 5, 4), "any"), ((3, 2, 2, 3), "any")]),
    ("conv2d_input_grad", "", lambda g, w: conv.conv2d_input_grad(g, w, input_shape=(2, 2, 5, 4), stride=(2, 1),
                                                                  padding=(1, 0)),
     t_conv_input_grad((2, 2, 5, 4), (2, 1), (1, 0)), [((2, 3, 3, 2), "any"), ((3, 2, 3, 3), "any")]),
    ("conv2d_weight_grad", "", lambda x, g: conv.conv2d_weight_grad(x, g, kernel_size=(3, 3), stride=(2, 1),
                                                                    padding=(1, 0)),
     t_conv_weight_grad((3, 2, 3, 3), (2, 1), (1, 0)), [((2, 2, 5, 4), "any"), ((2, 3, 3, 2), "any")]),
    ("max_pool2d", "overlapping", lambda x: conv.max_pool2d(x, **POOL),
     lambda x: F.max_pool2d(x, POOL["kernel_size"], POOL["stride"]), [POOL_X]),
    ("max_pool2d", "disjoint", lambda x: conv.max_pool2d(x, kernel_size=(2, 2), stride=(2, 2)),
     lambda x: F.max_pool2d(x, 2), [POOL_X]),
    ("max_pool2d_scatter", "", lambda g: conv.max_pool2d_scatter(g, x=at(POOL_X, g), out=at(POOL_OUT, g), **POOL),
     t_pool_scatter, [(POOL_OUT.shape, "any")]),
    ("max_pool2d_gather", "", lambda h: conv.max_pool2d_gather(h, x=at(POOL_X, h), out=at(POOL_OUT, h), **POOL),
     t_pool_gather, [(POOL_X.shape, "any")]),
    ("batch_norm", "(N, F)", lambda x, w, b: norm.batch_norm(x, w, b),
     lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), [((5, 3), "any"), ((3,), "any"), ((3,), "any")]),
    ("batch_norm", "images", lambda x, w, b: norm.batch_norm(x, w, b, eps=0.1),
     lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True, eps=0.1),
     [((2, 3, 2, 3), "any"), ((3,), "any"), ((3,), "any")]),
]


CASES += numpy_gate_cases.parity_cases(torch)     # NumPy's wider surface


def test_every_registered_gate_is_compared_with_torch():
    covered = {name for name, *_ in CASES}
    assert covered == set(GATES), f"gates without a torch comparison: {sorted(set(GATES) - covered)}"


@pytest.mark.parametrize("name, case_id, gg_fn, torch_fn, specs", CASES,
                         ids=[f"{c[0]}-{c[1]}" if c[1] else c[0] for c in CASES])
def test_gate_matches_torch(name, case_id, gg_fn, torch_fn, specs, device):
    """Every case on every device (the CPU, the stand-in "cuda" of tests/devices.py, a real GPU when there is one):
    values and gradients against torch on the CPU, gradients on the inputs' own device."""
    inputs = [draw(s, np.random.default_rng(12345)) for s in specs]
    if name == "astype":      # float32 rounding of the value is the same in both; compare at float32 level
        out = gg_fn(gg.tensor(inputs[0]))
        assert out.dtype == np.float32
    run_both(gg_fn, torch_fn, inputs, device=device)


@pytest.mark.parametrize("seed", range(3))
def test_gates_match_torch_on_other_draws(seed):
    """The shape-generic cases again on other random inputs."""
    for _name, _case_id, gg_fn, torch_fn, specs in CASES:
        if all(not isinstance(s, np.ndarray) for s in specs):
            run_both(gg_fn, torch_fn, [draw(s, np.random.default_rng(100 + seed)) for s in specs], seed)


# --------------------------------------------------------------------------------------------------
# Composed graphs
# --------------------------------------------------------------------------------------------------
def params(rng, *shapes):
    return [rng.standard_normal(s) * 0.5 for s in shapes]


def test_mlp_with_softmax_cross_entropy_from_elementary_gates():
    """A 2-layer tanh/sigmoid MLP on a batch, cross-entropy written as −mean(log_softmax[label])."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 4))
    labels = rng.integers(0, 3, 6)
    w1, b1, w2, b2 = params(rng, (4, 5), (5,), (5, 3), (3,))

    g = [gg.tensor(a, requires_grad=True) for a in (w1, b1, w2, b2)]
    h = (gg.tensor(x) @ g[0] + g[1]).tanh()
    logits = h.sigmoid() @ g[2] + g[3]
    loss = -(logits.log_softmax(axis=-1)[np.arange(6), labels]).mean()

    t = [torch.tensor(a, requires_grad=True) for a in (w1, b1, w2, b2)]
    th = torch.tanh(torch.tensor(x) @ t[0] + t[1])
    tloss = F.cross_entropy(torch.sigmoid(th) @ t[2] + t[3], torch.tensor(labels))

    np.testing.assert_allclose(loss.item(), tloss.item(), **TOL)
    loss.backward()
    tloss.backward()
    for a, b in zip(g, t):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), **TOL)


def test_mlp_with_softmax_and_one_hot_cross_entropy():
    """The same loss spelled −Σ y·log(softmax(z)) / N with one-hot targets and a relu layer."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((5, 3))
    onehot = np.eye(4)[rng.integers(0, 4, 5)]
    w1, b1, w2, b2 = params(rng, (3, 6), (6,), (6, 4), (4,))
    g = [gg.tensor(a, requires_grad=True) for a in (w1, b1, w2, b2)]
    p = ((gg.tensor(x) @ g[0] + g[1]).relu() @ g[2] + g[3]).softmax()
    loss = -(gg.tensor(onehot) * p.log()).sum() / 5
    t = [torch.tensor(a, requires_grad=True) for a in (w1, b1, w2, b2)]
    tp = torch.softmax(torch.relu(torch.tensor(x) @ t[0] + t[1]) @ t[2] + t[3], dim=-1)
    tloss = -(torch.tensor(onehot) * tp.log()).sum() / 5
    np.testing.assert_allclose(loss.item(), tloss.item(), **TOL)
    loss.backward()
    tloss.backward()
    for a, b in zip(g, t):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), **TOL)


def test_tensor_reused_many_times():
    rng = np.random.default_rng(5)
    x0 = rng.uniform(0.5, 1.5, (3, 3))

    def f(x, lib):
        exp, tanh = (gg.exp, gg.tanh) if lib == "gg" else (torch.exp, torch.tanh)
        y = x * x + exp(x) * x
        z = tanh(x) @ x + y / x
        return (z * x).sum() + (x ** 3).mean() + (y @ x.T).sum()

    gx = gg.tensor(x0, requires_grad=True)
    tx = torch.tensor(x0, requires_grad=True)
    a, b = f(gx, "gg"), f(tx, "torch")
    np.testing.assert_allclose(a.item(), b.item(), **TOL)
    a.backward()
    b.backward()
    np.testing.assert_allclose(gx.grad.numpy(), tx.grad.numpy(), **TOL)


def test_broadcasting_biases():
    """Row bias (out,), column bias (N, 1) and a scalar bias, each summed back to its own shape."""
    rng = np.random.default_rng(6)
    x, w, b_row, b_col, b0 = rng.standard_normal((5, 3)), *params(rng, (3, 2), (2,), (5, 1), ())
    g = [gg.tensor(a, requires_grad=True) for a in (w, b_row, b_col, b0)]
    out = ((gg.tensor(x) @ g[0] + g[1] + g[2]) * g[3]).sigmoid()
    t = [torch.tensor(a, requires_grad=True) for a in (w, b_row, b_col, b0)]
    tout = torch.sigmoid((torch.tensor(x) @ t[0] + t[1] + t[2]) * t[3])
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), **TOL)
    weights = rng.standard_normal((5, 2))
    (out * gg.tensor(weights)).sum().backward()
    (tout * torch.tensor(weights)).sum().backward()
    for a, b in zip(g, t):
        assert a.grad.shape == a.shape
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), **TOL)


def test_second_derivatives_match_torch():
    """Hessian-vector products through create_graph agree with torch's double backward."""
    rng = np.random.default_rng(7)
    x0, v = rng.standard_normal(4), rng.standard_normal(4)

    def f(x, lib):
        s = gg if lib == "gg" else torch
        return (s.tanh(x) * s.sigmoid(x[::-1] if lib == "gg" else torch.flip(x, [0]))).sum() + (x ** 4).sum()

    gx = gg.tensor(x0, requires_grad=True)
    f(gx, "gg").backward(create_graph=True)
    (gg_grad,) = [gx.grad]
    gx.grad = None
    (gg_grad * gg.tensor(v)).sum().backward()

    tx = torch.tensor(x0, requires_grad=True)
    (tg,) = torch.autograd.grad(f(tx, "torch"), tx, create_graph=True)
    (thv,) = torch.autograd.grad((tg * torch.tensor(v)).sum(), tx)
    np.testing.assert_allclose(gg_grad.detach().numpy(), tg.detach().numpy(), **TOL)
    np.testing.assert_allclose(gx.grad.numpy(), thv.numpy(), **TOL)
