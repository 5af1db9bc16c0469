"""Benchmark workloads: hand-written NumPy against the autodiff libraries, on the same seeded weights.

A workload has a seeded ``setup`` (the same arrays for every implementation; each factory copies what it
mutates) and one factory per implementation, which returns an ``Impl``: ``step()`` runs one call of the
workload and returns the loss, and ``state()`` returns the parameters and their gradients after the last
step as NumPy arrays in the benchmark's layout, for ``run.py --check``.

The NumPy implementations write the backward pass by hand (``numpy_mlp``, ``numpy_convnet``,
``numpy_gates``). The autodiff libraries all run one description of the step, a ``Problem``, whose loss
is written once as ``loss(F, params, *data)`` in the vocabulary of ``torch.nn.functional`` (``F.linear``,
``F.conv2d``, ``F.relu``, ``F.cross_entropy`` ...); each library brings its own ``F``:

* ``torch``: PyTorch eager (``torch.nn.functional``), ``torch.optim.SGD``;
* ``glassgrad``, ``glassgrad compiled``: ``glassgrad.nn.functional`` and ``glassgrad.optim.SGD``, eager or
  through ``gg.compile``;
* ``jax jit`` (when JAX imports): ``jax.value_and_grad`` of the loss on ``jax.numpy`` arrays and the SGD
  update, in one ``jax.jit``-compiled function;
* ``autograd`` (when HIPS autograd imports): ``autograd.value_and_grad`` of the loss on ``autograd.numpy``
  arrays, and an in-place SGD update.

All arithmetic is float32.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from types import SimpleNamespace
from typing import Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

F32 = np.float32


@dataclass
class Impl:
    step: Callable[[], object]
    state: Callable[[], dict[str, list[np.ndarray]]]  # {"params": [...], "grads": [...]}


@dataclass(frozen=True)
class Workload:
    name: str
    description: str
    setup: Callable[[], tuple]            # seeded arguments shared by all implementations
    impls: dict[str, Callable[..., Impl]]  # implementation name -> factory(*setup())
    flops: float | None = None            # matmul FLOPs of one call
    per: int = 1                          # times are reported per this many units ...
    unit: str = "step"                    # ... of this name

    def build(self, impl: str) -> Impl:
        return self.impls[impl](*self.setup())


def as_numpy(x) -> np.ndarray:
    """A loss or array from any of the libraries as an ndarray."""
    if hasattr(x, "detach"):                       # torch.Tensor
        return x.detach().numpy()
    if isinstance(getattr(x, "data", None), np.ndarray):  # glassgrad Tensor
        return x.data
    return np.asarray(x)                           # NumPy, JAX, autograd


# ---------------------------------------------------------------------------
# The vocabulary the losses are written in: F.linear, F.conv2d, ... for each library.

def quadratic_cost(a, y):
    """The notes' quadratic cost ½‖a − y‖², summed over outputs and averaged over the batch."""
    diff = a - y
    return (diff * diff).sum() * (0.5 / a.shape[0])


def _tensor_methods(tensor_type) -> dict:
    """Elementwise functions as the tensor methods (``F.tanh(t)`` is ``t.tanh()``: in torch a method call
    is cheaper than ``torch.tanh(t)``, which the gate chain would notice)."""
    return {name: getattr(tensor_type, name) for name in ("relu", "sigmoid", "tanh", "exp")}


def torch_functional():
    import torch
    import torch.nn.functional as F

    return SimpleNamespace(linear=F.linear, conv2d=F.conv2d, max_pool2d=F.max_pool2d,
                           cross_entropy=F.cross_entropy, quadratic_cost=quadratic_cost,  # torch has none
                           **_tensor_methods(torch.Tensor))


def glassgrad_functional():
    import glassgrad as gg
    from glassgrad.nn import functional as F

    return SimpleNamespace(linear=F.linear, conv2d=F.conv2d, max_pool2d=F.max_pool2d,
                           cross_entropy=F.cross_entropy, quadratic_cost=F.quadratic_cost,
                           **_tensor_methods(gg.Tensor))


def array_functional(xnp, conv2d=None):
    """The same vocabulary on the arrays of a NumPy-like module (numpy, jax.numpy, autograd.numpy).

    Max pooling is a reshape into windows and a max over the window axes, so tied maxima share the
    gradient in JAX and autograd (as in glassgrad; torch gives it to one of them).
    """
    def log_softmax(z):
        shifted = z - z.max(axis=1, keepdims=True)
        return shifted - xnp.log(xnp.exp(shifted).sum(axis=1, keepdims=True))

    def cross_entropy(z, labels):
        return -log_softmax(z)[xnp.arange(z.shape[0]), labels].mean()

    def max_pool2d(x, k):
        n, c, h, w = x.shape
        return xnp.max(x.reshape(n, c, h // k, k, w // k, k), axis=(3, 5))

    return SimpleNamespace(linear=lambda x, w, b: x @ w.T + b, conv2d=conv2d, max_pool2d=max_pool2d,
                           log_softmax=log_softmax, cross_entropy=cross_entropy, quadratic_cost=quadratic_cost,
                           relu=lambda z: xnp.maximum(z, 0), sigmoid=lambda z: 1 / (1 + xnp.exp(-z)),
                           tanh=xnp.tanh, exp=xnp.exp)


NUMPY_F = array_functional(np)


def _stacked_conv2d(xnp):
    """conv2d (stride 1, no padding) for a library without one (autograd): im2col as the kh·kw shifted
    slices of x stacked, contracted with the weight in one tensordot (a GEMM)."""
    def conv2d(x, w, b):
        (o, c, kh, kw), (h, wd) = w.shape, x.shape[2:]
        oh, ow = h - kh + 1, wd - kw + 1
        cols = xnp.stack([x[:, :, i:i + oh, j:j + ow] for i in range(kh) for j in range(kw)], axis=2)
        out = xnp.tensordot(cols, w.reshape(o, c, kh * kw), axes=([1, 2], [1, 2]))    # (N, oh, ow, O)
        return xnp.transpose(out, (0, 3, 1, 2)) + b.reshape(o, 1, 1)

    return conv2d


def _jax_conv2d(x, w, b):
    from jax import lax

    return lax.conv_general_dilated(x, w, (1, 1), "VALID") + b.reshape(-1, 1, 1)   # NCHW, OIHW


# ---------------------------------------------------------------------------
# One step for the autodiff libraries

@dataclass
class Problem:
    """A workload's step as the autodiff libraries run it."""

    loss: Callable                      # loss(F, params, *data) -> scalar
    params: list[np.ndarray]            # initial parameters, in the layout ``loss`` expects
    data: tuple                         # the step's other inputs (arrays; no gradient)
    lr: float | None = 0.1              # SGD's; None: forward + backward only, no optimizer
    to_benchmark: Callable[[list], list] = list   # parameters or gradients back to the benchmark's layout

    def state(self, params, grads) -> dict[str, list[np.ndarray]]:
        return {"params": self.to_benchmark([as_numpy(p) for p in params]),
                "grads": self.to_benchmark([as_numpy(g) for g in grads])}


class _NoOptimizer:
    """For forward + backward only: clears the gradients (``p.grad = None``) and updates nothing."""

    def __init__(self, params):
        self.params = params

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        pass


def torch_impl(problem: Problem) -> Impl:
    import torch

    F = torch_functional()
    ps = [torch.tensor(p, requires_grad=True) for p in problem.params]
    data = [torch.from_numpy(d) for d in problem.data]
    opt = torch.optim.SGD(ps, lr=problem.lr) if problem.lr is not None else _NoOptimizer(ps)

    def step():
        opt.zero_grad()
        loss = problem.loss(F, ps, *data)
        loss.backward()
        opt.step()
        return loss

    return Impl(step, lambda: problem.state(ps, [p.grad for p in ps]))


def glassgrad_impl(problem: Problem, compiled: bool = False) -> Impl:
    import glassgrad as gg
    from glassgrad import optim

    F = glassgrad_functional()
    ps = [gg.tensor(p, requires_grad=True) for p in problem.params]   # gg.tensor copies
    data = [gg.tensor(d) for d in problem.data]
    opt = optim.SGD(ps, lr=problem.lr) if problem.lr is not None else _NoOptimizer(ps)

    def loss_of(*data):
        return problem.loss(F, ps, *data)

    forward_backward = gg.compile(loss_of) if compiled else None

    def step():
        opt.zero_grad()
        if compiled:
            loss = forward_backward(*data)
        else:
            loss = loss_of(*data)
            loss.backward()
        opt.step()
        return loss

    return Impl(step, lambda: problem.state(ps, [p.grad for p in ps]))


def jax_impl(problem: Problem) -> Impl:
    """The whole step (loss, gradients, update) is one jit-compiled function; compilation happens in the
    first call, which the harness's warm-up excludes. Each call waits for its result."""
    import jax
    import jax.numpy as jnp

    F = array_functional(jnp, _jax_conv2d)
    value_and_grad = jax.value_and_grad(partial(problem.loss, F))

    @jax.jit
    def train_step(params, *data):
        loss, grads = value_and_grad(params, *data)
        if problem.lr is not None:
            params = [p - problem.lr * g for p, g in zip(params, grads)]
        return loss, params, grads

    data = [jnp.asarray(d) for d in problem.data]   # labels become int32 (JAX's default integers)
    state = {"params": [jnp.asarray(p) for p in problem.params], "grads": []}

    def step():
        loss, state["params"], state["grads"] = jax.block_until_ready(train_step(state["params"], *data))
        return loss

    return Impl(step, lambda: problem.state(state["params"], state["grads"]))


def autograd_impl(problem: Problem) -> Impl:
    import autograd
    import autograd.numpy as anp

    value_and_grad = autograd.value_and_grad(partial(problem.loss, array_functional(anp, _stacked_conv2d(anp))))
    params, grads = [p.copy() for p in problem.params], []

    def step():
        loss, grads[:] = value_and_grad(params, *problem.data)
        if problem.lr is not None:
            for p, g in zip(params, grads):
                p -= problem.lr * g
        return loss

    return Impl(step, lambda: problem.state(params, grads))


def _implementations(numpy_impl: Callable[..., Impl], problem: Callable[..., Problem]) -> dict:
    """Every implementation of a workload: its NumPy one, and each library running ``problem(*setup())``."""
    def via(library):
        return lambda *setup: library(problem(*setup))

    return {"numpy": numpy_impl, "torch": via(torch_impl), "glassgrad": via(glassgrad_impl),
            "glassgrad compiled": via(partial(glassgrad_impl, compiled=True)),
            "jax jit": via(jax_impl), "autograd": via(autograd_impl)}


# ---------------------------------------------------------------------------
# MLP training step: layers z = a W + b, activation on hidden layers (and on the
# output for the quadratic cost), SGD update p -= lr * grad.

@dataclass(frozen=True)
class MLPSpec:
    sizes: tuple[int, ...]
    activation: str       # "sigmoid" | "relu"
    loss: str             # "quadratic" (1/2 |a - onehot|^2, batch mean) | "ce" (softmax CE on logits)
    batch: int
    update: bool = True   # False: forward + backward only
    lr: float = 0.1

    def matmul_flops(self) -> float:
        n, layers = self.batch, list(zip(self.sizes, self.sizes[1:]))
        fwd = sum(2 * n * i * o for i, o in layers)
        dw = fwd                                          # a_prev^T @ delta
        dx = sum(2 * n * i * o for i, o in layers[1:])    # delta @ W^T (not needed for the input)
        return fwd + dw + dx


def mlp_setup(spec: MLPSpec, seed: int = 0):
    """(spec, [W1, b1, W2, b2, ...], x, labels, onehot), all float32 except int64 labels."""
    rng = np.random.default_rng(seed)
    params = []
    for i, o in zip(spec.sizes, spec.sizes[1:]):
        params.append((rng.standard_normal((i, o), dtype=F32) / np.sqrt(i)).astype(F32))
        params.append(0.1 * rng.standard_normal(o, dtype=F32))
    x = rng.standard_normal((spec.batch, spec.sizes[0]), dtype=F32)
    labels = rng.integers(0, spec.sizes[-1], spec.batch)
    onehot = np.eye(spec.sizes[-1], dtype=F32)[labels]
    return spec, params, x, labels, onehot


# derivative of each activation, written in terms of the activation's output a
ACTIVATION_DERIVATIVES = {"sigmoid": lambda a: a * (1 - a), "relu": lambda a: a > 0}


def _softmax_ce_delta(logits, labels):
    """Softmax cross-entropy (batch mean) of logits and its gradient with respect to them, (softmax − y) / n."""
    n, rows = len(labels), np.arange(len(labels))
    logp = NUMPY_F.log_softmax(logits)
    delta = np.exp(logp)
    delta[rows, labels] -= 1
    delta /= n
    return -logp[rows, labels].mean(), delta


def numpy_mlp(spec: MLPSpec, params, x, labels, onehot) -> Impl:
    params = [p.copy() for p in params]
    grads = [np.empty_like(p) for p in params]
    act, dact = getattr(NUMPY_F, spec.activation), ACTIVATION_DERIVATIVES[spec.activation]
    n, nlayers = spec.batch, len(params) // 2

    def step():
        acts = [x]                                   # input of each layer, then the output
        for l in range(nlayers):
            z = acts[-1] @ params[2 * l] + params[2 * l + 1]
            acts.append(z if (l == nlayers - 1 and spec.loss == "ce") else act(z))
        out = acts.pop()
        if spec.loss == "ce":
            loss, delta = _softmax_ce_delta(out, labels)
        else:
            loss = quadratic_cost(out, onehot)
            delta = (out - onehot) * dact(out) / n
        for l in reversed(range(nlayers)):
            a = acts[l]
            grads[2 * l] = a.T @ delta
            grads[2 * l + 1] = delta.sum(axis=0)
            if l:
                delta = (delta @ params[2 * l].T) * dact(a)
        if spec.update:
            for p, g in zip(params, grads):
                p -= spec.lr * g
        return loss

    return Impl(step, lambda: {"params": params, "grads": grads})


def _autodiff_forward(F, params, x, spec: MLPSpec):
    """Forward pass with a library's fused linear layer (``F.linear``; weights stored (out, in) as Linear
    layers hold them): logits or output activations."""
    a, nlayers = x, len(params) // 2
    for l in range(nlayers):
        z = F.linear(a, params[2 * l], params[2 * l + 1])
        a = z if (l == nlayers - 1 and spec.loss == "ce") else getattr(F, spec.activation)(z)
    return a


def _mlp_loss(spec: MLPSpec, F, params, x, labels, onehot):
    out = _autodiff_forward(F, params, x, spec)
    return F.cross_entropy(out, labels) if spec.loss == "ce" else F.quadratic_cost(out, onehot)


def _as_layers(params):
    """The benchmark's (in, out) weights as (out, in) copies, as Linear layers store them."""
    return [p.T.copy() if p.ndim == 2 else p.copy() for p in params]


def _as_benchmark(arrays):
    return [a.T if a.ndim == 2 else a for a in arrays]


def mlp_problem(spec: MLPSpec, params, x, labels, onehot) -> Problem:
    return Problem(partial(_mlp_loss, spec), _as_layers(params), (x, labels, onehot),
                   spec.lr if spec.update else None, _as_benchmark)


# ---------------------------------------------------------------------------
# ConvNet training step: [conv k×k, ReLU, max-pool] per conv layer, flatten (C, H, W), linear,
# softmax cross-entropy with integer labels, SGD update. Weights (O, C, kh, kw) and (out, in), as torch.

@dataclass(frozen=True)
class ConvSpec:
    image: int = 28                      # square inputs, image × image pixels
    channels: tuple[int, ...] = (1, 8, 16)   # input channels, then each conv layer's output channels
    kernel: int = 5                      # k × k kernels, stride 1, no padding
    pool: int = 2                        # non-overlapping pool × pool max pooling
    classes: int = 10
    batch: int = 64
    lr: float = 0.1

    @property
    def nconv(self) -> int:
        return len(self.channels) - 1

    def sides(self) -> list[int]:
        """Side of each conv layer's input, then of the last pooled output."""
        sides = [self.image]
        for _ in range(self.nconv):
            conv = sides[-1] - self.kernel + 1
            assert conv % self.pool == 0, "the pooling windows must tile the convolution's output"
            sides.append(conv // self.pool)
        return sides

    @property
    def features(self) -> int:
        return self.channels[-1] * self.sides()[-1] ** 2

    def matmul_flops(self) -> float:
        n, k2, sides = self.batch, self.kernel ** 2, self.sides()
        convs = [2 * n * (s - self.kernel + 1) ** 2 * o * c * k2
                 for s, c, o in zip(sides, self.channels, self.channels[1:])]
        linear = 2 * n * self.features * self.classes
        fwd = sum(convs) + linear
        dw = fwd                                     # Σ delta colsᵀ; delta aᵀ
        dx = sum(convs[1:]) + linear                 # Wᵀ delta (then col2im); not needed for the input
        return fwd + dw + dx


def convnet_setup(spec: ConvSpec, seed: int = 0):
    """(spec, [W1, b1, W2, b2, ..., W, b], x (N, C, H, W), labels), all float32 except int64 labels."""
    rng = np.random.default_rng(seed)
    k = spec.kernel
    shapes = [(o, c, k, k) for c, o in zip(spec.channels, spec.channels[1:])] + [(spec.classes, spec.features)]
    params = []
    for shape in shapes:
        params.append((rng.standard_normal(shape, dtype=F32) / np.sqrt(math.prod(shape[1:]))).astype(F32))
        params.append(0.1 * rng.standard_normal(shape[0], dtype=F32))
    x = rng.standard_normal((spec.batch, spec.channels[0], spec.image, spec.image), dtype=F32)
    labels = rng.integers(0, spec.classes, spec.batch)
    return spec, params, x, labels


def numpy_convnet(spec: ConvSpec, params, x, labels) -> Impl:
    """Activations are laid out (C, H, W, N), the batch innermost, so that every im2col copy, pooling slice
    and col2im add moves long contiguous runs. im2col (``sliding_window_view``) gives cols (C·kh·kw, H·W·N);
    the convolution is W · cols, ∂C/∂W = delta · colsᵀ, and ∂C/∂x is Wᵀ · delta added back onto the input
    (col2im) one kernel offset at a time. Max pooling reshapes into windows; its gradient goes to each
    window's maxima (tied ones share it).

    The temporaries larger than ~100 KiB are written into arrays kept from step to step: fresh ones cost a
    page fault per 4 KiB whenever the allocator has handed the memory back to the system, which made the
    step take 4 to 12 ms depending on what ran before it (glassgrad's conv gates and torch reuse memory too).
    These 14 MiB are allocated in the first step, so the report's peak memory (during one step) leaves them out.
    """
    params = [p.copy() for p in params]
    grads = [np.empty_like(p) for p in params]
    n, k, s = spec.batch, spec.kernel, spec.pool
    offsets = [(i, j) for i in range(s) for j in range(s)]
    kept: dict = {}

    def buffer(name, shape, dtype=F32):
        if name not in kept:
            kept[name] = np.empty(shape, dtype)
        return kept[name]

    def step():
        a, saved = np.ascontiguousarray(x.transpose(1, 2, 3, 0)), []     # (C, H, W, N)
        for l in range(spec.nconv):
            w, b = params[2 * l], params[2 * l + 1]
            (o, c), h = w.shape[:2], a.shape[1] - k + 1                  # h × h convolution output
            cols = buffer(("cols", l), (c, k, k, h, h, n))
            cols[...] = sliding_window_view(a, (k, k), axis=(1, 2)).transpose(0, 4, 5, 1, 2, 3)
            cols = cols.reshape(c * k * k, -1)
            r = np.matmul(w.reshape(o, -1), cols, out=buffer(("r", l), (o, cols.shape[1])))
            r += b[:, None]
            np.maximum(r, 0, out=r)                                      # ReLU(conv): (O, h·h·N)
            windows = r.reshape(o, h // s, s, h // s, s, n)
            pooled = buffer(("pooled", l), (o, h // s, h // s, n))
            pooled[...] = windows[:, :, 0, :, 0]
            for i, j in offsets[1:]:
                np.maximum(pooled, windows[:, :, i, :, j], out=pooled)
            saved.append((a.shape, cols, windows, pooled))
            a = pooled
        features = a.reshape(-1, n).T                                    # (N, C·H·W), flattened as torch
        loss, delta = _softmax_ce_delta(features @ params[-2].T + params[-1], labels)
        grads[-2] = delta.T @ features
        grads[-1] = delta.sum(axis=0)
        g = (delta @ params[-2]).T.reshape(a.shape)
        for l in reversed(range(spec.nconv)):
            w = params[2 * l]
            shape, cols, windows, pooled = saved[l]
            maxima = [np.equal(windows[:, :, i, :, j], pooled, out=buffer(("max", l, i, j), pooled.shape, bool))
                      for i, j in offsets]
            share = np.multiply(g, pooled > 0, out=buffer(("share", l), pooled.shape))   # × ReLU' (1 iff max > 0)
            count = buffer(("count", l), pooled.shape)
            count[...] = 0
            for m in maxima:
                count += m
            share /= count
            delta = buffer(("delta", l), windows.shape)
            for (i, j), m in zip(offsets, maxima):
                np.multiply(m, share, out=delta[:, :, i, :, j])
            delta = delta.reshape(w.shape[0], -1)                        # (O, h·h·N)
            grads[2 * l] = (delta @ cols.T).reshape(w.shape)
            grads[2 * l + 1] = delta.sum(axis=1)
            if l:                                                        # col2im(Wᵀ · delta)
                h = shape[1] - k + 1
                dcols = np.matmul(w.reshape(w.shape[0], -1).T, delta, out=buffer(("dcols", l), cols.shape))
                dcols = dcols.reshape(shape[0], k, k, h, h, n)
                g = buffer(("g", l), shape)
                g[...] = 0
                for i in range(k):
                    for j in range(k):
                        g[:, i:i + h, j:j + h] += dcols[:, i, j]
        for p, dp in zip(params, grads):
            p -= spec.lr * dp
        return loss

    return Impl(step, lambda: {"params": params, "grads": grads})


def _convnet_loss(spec: ConvSpec, F, params, x, labels):
    a = x
    for l in range(spec.nconv):
        a = F.max_pool2d(F.relu(F.conv2d(a, params[2 * l], params[2 * l + 1])), spec.pool)
    return F.cross_entropy(F.linear(a.reshape(a.shape[0], -1), params[-2], params[-1]), labels)


def convnet_problem(spec: ConvSpec, params, x, labels) -> Problem:
    return Problem(partial(_convnet_loss, spec), params, (x, labels), spec.lr)


# ---------------------------------------------------------------------------
# Gate chain: forward + backward of many tiny elementwise ops on a 16-vector,
# loss = sum of the output.  Measures per-op overhead, not arithmetic.

GATE_CYCLE = [("mul", 1.5), ("add", -0.2), ("tanh", None), ("mul", 0.5), ("exp", None), ("sigmoid", None)]


def gates_setup(ngates: int = 200, size: int = 16, seed: int = 0):
    gates = [GATE_CYCLE[i % len(GATE_CYCLE)] for i in range(ngates)]
    x = np.random.default_rng(seed).standard_normal(size, dtype=F32)
    return gates, x


def _apply_gates(F, t, gates, outputs=None):
    """The gate chain on t; each gate's output is also appended to ``outputs`` when given. (A plain loop:
    a generator would add ~60 ns per gate, a tenth of torch's time per gate.)"""
    for op, c in gates:
        t = t * c if op == "mul" else t + c if op == "add" else getattr(F, op)(t)
        if outputs is not None:
            outputs.append(t)
    return t


def numpy_gates(gates, x) -> Impl:
    grads = [None]

    def step():
        ys = [x]
        _apply_gates(NUMPY_F, x, gates, outputs=ys)
        g = np.ones_like(x)                          # d(sum)/d(out)
        for (op, c), y in zip(reversed(gates), reversed(ys)):
            g = (g * c if op == "mul" else g if op == "add" else
                 g * (1 - y * y) if op == "tanh" else g * y if op == "exp" else
                 g * y * (1 - y))
        grads[0] = g
        return ys[-1].sum()

    return Impl(step, lambda: {"params": [x], "grads": grads})


def _gates_loss(gates, F, params):
    return _apply_gates(F, params[0], gates).sum()


def gates_problem(gates, x) -> Problem:
    return Problem(partial(_gates_loss, gates), [x], (), lr=None)


# ---------------------------------------------------------------------------

MLP_IMPLS = _implementations(numpy_mlp, mlp_problem)
CONVNET_IMPLS = _implementations(numpy_convnet, convnet_problem)
GATE_IMPLS = _implementations(numpy_gates, gates_problem)


def _mlp(name: str, description: str, spec: MLPSpec) -> Workload:
    return Workload(name, description, partial(mlp_setup, spec), MLP_IMPLS, spec.matmul_flops())


CONVNET_B64 = ConvSpec()

WORKLOADS = [
    _mlp("mlp_64_30_10_sigmoid_b10",
         "64-30-10 sigmoid MLP, quadratic cost ½‖a−y‖² (batch mean, one-hot y), batch 10, SGD step",
         MLPSpec((64, 30, 10), "sigmoid", "quadratic", 10)),
    _mlp("mlp_784_128_10_relu_b32",
         "784-128-10 ReLU MLP, softmax cross-entropy on logits, batch 32, SGD step",
         MLPSpec((784, 128, 10), "relu", "ce", 32)),
    _mlp("mlp_784_128_10_relu_b256",
         "784-128-10 ReLU MLP, softmax cross-entropy on logits, batch 256, SGD step",
         MLPSpec((784, 128, 10), "relu", "ce", 256)),
    _mlp("mlp_784_1024_1024_10_b256",
         "784-1024-1024-10 ReLU MLP, softmax cross-entropy, batch 256, SGD step",
         MLPSpec((784, 1024, 1024, 10), "relu", "ce", 256)),
    _mlp("fwd_bwd_784_128_10_b256",
         "784-128-10 ReLU MLP, softmax CE, batch 256: forward + backward only, no update "
         "(target: glassgrad ≤ 1.3× NumPy)",
         MLPSpec((784, 128, 10), "relu", "ce", 256, update=False)),
    Workload("convnet_b64",
             "ConvNet on 28×28 images, batch 64: conv 5×5 1→8, ReLU, max-pool 2, conv 5×5 8→16, ReLU, "
             "max-pool 2, flatten (256), linear 256→10, softmax cross-entropy, SGD step",
             partial(convnet_setup, CONVNET_B64), CONVNET_IMPLS, CONVNET_B64.matmul_flops()),
    Workload("gate_chain_200",
             "forward + backward of a chain of 200 elementwise gates (×c, +c, tanh, exp, sigmoid) "
             "on a 16-element float32 vector, loss = sum; time per gate",
             gates_setup, GATE_IMPLS, None, per=200, unit="gate"),
]
BY_NAME = {w.name: w for w in WORKLOADS}
