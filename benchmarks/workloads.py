"""Benchmark workloads: hand-written NumPy against the autodiff libraries, on the same seeded weights.

A workload has a seeded ``setup`` (the same arrays for every implementation; each factory copies what it
mutates) and one factory per implementation, which returns an ``Impl``: ``step()`` runs one call of the
workload and returns the loss, and ``state()`` returns the parameters and their gradients after the last
step as NumPy arrays in the benchmark's layout, for ``run.py --check``.

The NumPy implementations write the backward pass by hand, twice: plainly (``numpy_mlp``, ``numpy_gates``,
``numpy_hinge``, ``numpy_convnet``: the reference every ratio is taken against) and hand-tuned (``tuned_*``:
arrays allocated once and written with ``out=``, the learning rate folded into the output error, no
per-step one-hot; the ConvNet's plain version already keeps its buffers).

The autodiff libraries all run one description of the step, a ``Problem``, whose loss is written once
as ``loss(F, params, *data)`` in the vocabulary of ``torch.nn.functional`` (``F.linear``, ``F.conv2d``,
``F.relu``, ``F.cross_entropy`` ...); each library brings its own ``F``:

* ``torch``: PyTorch eager (``torch.nn.functional``), ``torch.optim.SGD``;
* ``glassgrad``, ``glassgrad compiled``: ``glassgrad.nn.functional`` and ``glassgrad.optim.SGD``, eager or
  through ``gg.compile``;
* ``glassgrad compiled``: the whole step (loss, backward, SGD update) through ``gg.compile(..., optimizer=)``;
* ``jax jit`` (when JAX imports): ``jax.value_and_grad`` of the loss on ``jax.numpy`` arrays and the SGD
  update, in one ``jax.jit``-compiled function with the parameters donated, dispatched asynchronously
  (the harness waits for the last step of each timed block).

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
    state: Callable[[], dict[str, list[np.ndarray]]]  # {"params": [...], "grads": [...]}, optionally
    #   "grads_rounding": [...], elementwise bounds of the rounding error of gradients recovered from an update
    sync: Callable[[], object] | None = None          # waits for queued work (JAX dispatches asynchronously)
    check_step: Callable[[], object] | None = None    # ``step`` that also keeps what ``state()`` needs (--check)


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
    return np.asarray(x)                           # NumPy, JAX


# ---------------------------------------------------------------------------
# The vocabulary the losses are written in: F.linear, F.conv2d, ... for each library.

def quadratic_cost(a, y):
    """The notes' quadratic cost ½‖a − y‖², summed over outputs and averaged over the batch."""
    diff = a - y
    return (diff * diff).sum() * (0.5 / a.shape[0])


ACTIVATIONS = ("relu", "sigmoid", "tanh", "exp")


def _tensor_methods(tensor_type, module) -> dict:
    """Elementwise functions as the tensor methods (``F.tanh(t)`` is ``t.tanh()``: in torch a method call
    is cheaper than ``torch.tanh(t)``, which the gate chain would notice), and as the module's functions
    (``F.functions.tanh`` is ``torch.tanh``), for the gate chain spelled the other way."""
    return {**{name: getattr(tensor_type, name) for name in ACTIVATIONS},
            "functions": SimpleNamespace(**{name: getattr(module, name) for name in ACTIVATIONS})}


def torch_functional():
    import torch
    import torch.nn.functional as F

    return SimpleNamespace(linear=F.linear, conv2d=F.conv2d, max_pool2d=F.max_pool2d,
                           cross_entropy=F.cross_entropy, quadratic_cost=quadratic_cost,  # torch has none
                           **_tensor_methods(torch.Tensor, torch))


def glassgrad_functional():
    import glassgrad as gg
    from glassgrad.nn import functional as F

    return SimpleNamespace(linear=F.linear, conv2d=F.conv2d, max_pool2d=F.max_pool2d,
                           cross_entropy=F.cross_entropy, quadratic_cost=F.quadratic_cost,
                           **_tensor_methods(gg.Tensor, gg))


def array_functional(xnp, conv2d=None):
    """The same vocabulary on the arrays of a NumPy-like module (numpy, jax.numpy).

    Max pooling is a reshape into windows and a max over the window axes, so tied maxima share the
    gradient in JAX (as in glassgrad; torch gives it to one of them).
    """
    def log_softmax(z):
        shifted = z - z.max(axis=1, keepdims=True)
        return shifted - xnp.log(xnp.exp(shifted).sum(axis=1, keepdims=True))

    def cross_entropy(z, labels):
        return -log_softmax(z)[xnp.arange(z.shape[0]), labels].mean()

    def max_pool2d(x, k):
        n, c, h, w = x.shape
        return xnp.max(x.reshape(n, c, h // k, k, w // k, k), axis=(3, 5))

    activations = dict(relu=lambda z: xnp.maximum(z, 0), sigmoid=lambda z: 1 / (1 + xnp.exp(-z)),
                       tanh=xnp.tanh, exp=xnp.exp)
    return SimpleNamespace(linear=lambda x, w, b: x @ w.T + b, conv2d=conv2d, max_pool2d=max_pool2d,
                           log_softmax=log_softmax, cross_entropy=cross_entropy, quadratic_cost=quadratic_cost,
                           **activations, functions=SimpleNamespace(**activations))   # one spelling only


NUMPY_F = array_functional(np)


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

    if compiled and problem.lr is not None:      # the whole step: loss, backward and update in one function
        whole = partial(gg.compile(loss_of, optimizer=opt), *data)
        before: list = []

        def check_step():    # keeps the parameters before the step: where SGD's learning rate is folded into
            before[:] = [p.data.copy() for p in ps]     # the gradients, .grad stays None and the step's
            return whole()                              # gradient is (w_before − w_after) / η

        def state():
            lr = np.float32(problem.lr)
            if all(p.grad is not None for p in ps):
                return problem.state(ps, [p.grad for p in ps])
            # w_after = w_before − η g rounded once: g recovered to half a unit in the last place of w, over η
            state = problem.state(ps, [(b - p.data) / lr for p, b in zip(ps, before)])
            state["grads_rounding"] = problem.to_benchmark([np.spacing(np.abs(p.data)) / (2 * lr) for p in ps])
            return state

        return Impl(whole, state, check_step=check_step)
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
    """The whole step (loss, gradients, update) is one jit-compiled function with the parameters donated (XLA
    updates them in place); compilation happens in the first call, which the harness's warm-up excludes.
    Calls are dispatched asynchronously, as a JAX training loop runs: ``sync`` waits for the last one."""
    import jax
    import jax.numpy as jnp

    F = array_functional(jnp, _jax_conv2d)
    value_and_grad = jax.value_and_grad(partial(problem.loss, F))

    def train_step(params, *data):
        loss, grads = value_and_grad(params, *data)
        if problem.lr is not None:
            params = [p - problem.lr * g for p, g in zip(params, grads)]
        return loss, params, grads

    train_step = jax.jit(train_step, donate_argnums=0 if problem.lr is not None else ())
    data = [jnp.asarray(d) for d in problem.data]   # labels become int32 (JAX's default integers)
    state = {"params": [jnp.asarray(p) for p in problem.params], "grads": [], "loss": None}

    def step():
        state["loss"], state["params"], state["grads"] = train_step(state["params"], *data)
        return state["loss"]

    def sync():
        return jax.block_until_ready((state["loss"], state["params"], state["grads"]))

    return Impl(step, lambda: (sync(), problem.state(state["params"], state["grads"]))[1], sync)


def _implementations(numpy_impl: Callable[..., Impl], problem: Callable[..., Problem],
                     tuned_impl: Callable[..., Impl] | None = None) -> dict:
    """Every implementation of a workload: its NumPy ones, and each library running ``problem(*setup())``."""
    def via(library):
        return lambda *setup: library(problem(*setup))

    impls = {"numpy": numpy_impl, "numpy tuned": tuned_impl, "torch": via(torch_impl),
             "jax jit": via(jax_impl), "glassgrad": via(glassgrad_impl),
             "glassgrad compiled": via(partial(glassgrad_impl, compiled=True))}
    return {name: impl for name, impl in impls.items() if impl is not None}


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
        for layer in range(nlayers):
            z = acts[-1] @ params[2 * layer] + params[2 * layer + 1]
            acts.append(z if (layer == nlayers - 1 and spec.loss == "ce") else act(z))
        out = acts.pop()
        if spec.loss == "ce":
            loss, delta = _softmax_ce_delta(out, labels)
        else:
            loss = quadratic_cost(out, onehot)
            delta = (out - onehot) * dact(out) / n
        for layer in reversed(range(nlayers)):
            a = acts[layer]
            grads[2 * layer] = a.T @ delta
            grads[2 * layer + 1] = delta.sum(axis=0)
            if layer:
                delta = (delta @ params[2 * layer].T) * dact(a)
        if spec.update:
            for p, g in zip(params, grads):
                p -= spec.lr * g
        return loss

    return Impl(step, lambda: {"params": params, "grads": grads})


def tuned_mlp(spec: MLPSpec, params, x, labels, onehot) -> Impl:
    """The MLP step as a NumPy programmer tunes it: every array allocated once and written with ``out=``,
    activations in place, softmax computed once, the label entries lowered without a one-hot, the learning
    rate folded into the output error (so the gradients come out as η·∂C/∂p and the update is one
    subtraction), ``ufunc.reduce`` for sums and maxima, an outer product instead of a matmul at batch 1."""
    assert spec.loss == "ce" and spec.update, "tuned only for the cross-entropy training step"
    params = [p.copy() for p in params]
    n, nlayers, rows = spec.batch, len(params) // 2, np.arange(spec.batch)
    sizes = spec.sizes
    z = [np.empty((n, o), F32) for o in sizes[1:]]                   # pre-activation, then activation
    delta = [np.empty((n, o), F32) for o in sizes[1:]]
    grads = [np.empty_like(p) for p in params]                       # η · gradient
    tmp = [np.empty((n, o), F32 if spec.activation == "sigmoid" else bool) for o in sizes[1:]]
    rowmax, rowsum = np.empty((n, 1), F32), np.empty((n, 1), F32)
    scale = F32(spec.lr / n)
    sigmoid = spec.activation == "sigmoid"

    def step():
        a = x
        for layer in range(nlayers):
            out = z[layer]
            np.matmul(a, params[2 * layer], out=out)
            out += params[2 * layer + 1]
            if layer < nlayers - 1:
                if sigmoid:                                          # σ(z) = (1 + tanh(z/2)) / 2
                    out *= 0.5
                    np.tanh(out, out=out)
                    out *= 0.5
                    out += 0.5
                else:
                    np.maximum(out, 0, out=out)
            a = out
        p = delta[-1]
        np.maximum.reduce(a, axis=1, keepdims=True, out=rowmax)
        np.subtract(a, rowmax, out=a)                               # shifted logits
        np.exp(a, out=p)
        np.add.reduce(p, axis=1, keepdims=True, out=rowsum)
        loss = (np.add.reduce(np.log(rowsum, out=rowmax), axis=None) - np.add.reduce(a[rows, labels])) / n
        p *= scale / rowsum                                         # η/n · softmax
        p[rows, labels] -= scale                                    # η/n · (softmax − y)
        for layer in reversed(range(nlayers)):
            d, a_in = delta[layer], (x if layer == 0 else z[layer - 1])
            if n == 1:
                np.multiply(a_in.reshape(-1, 1), d, out=grads[2 * layer])
            else:
                np.matmul(a_in.T, d, out=grads[2 * layer])
            np.add.reduce(d, axis=0, out=grads[2 * layer + 1])
            if layer:
                back = delta[layer - 1]
                np.matmul(d, params[2 * layer].T, out=back)
                if sigmoid:                                         # σ' = a (1 − a)
                    np.subtract(1, a_in, out=tmp[layer - 1])
                    tmp[layer - 1] *= a_in
                    back *= tmp[layer - 1]
                else:
                    back *= np.greater(a_in, 0, out=tmp[layer - 1])
        for w, g in zip(params, grads):
            w -= g
        return loss

    return Impl(step, lambda: {"params": params, "grads": [g / F32(spec.lr) for g in grads]})


def _autodiff_forward(F, params, x, spec: MLPSpec):
    """Forward pass with a library's fused linear layer (``F.linear``; weights stored (out, in) as Linear
    layers hold them): logits or output activations."""
    a, nlayers = x, len(params) // 2
    for layer in range(nlayers):
        z = F.linear(a, params[2 * layer], params[2 * layer + 1])
        a = z if (layer == nlayers - 1 and spec.loss == "ce") else getattr(F, spec.activation)(z)
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
        for layer in range(spec.nconv):
            w, b = params[2 * layer], params[2 * layer + 1]
            (o, c), h = w.shape[:2], a.shape[1] - k + 1                  # h × h convolution output
            cols = buffer(("cols", layer), (c, k, k, h, h, n))
            cols[...] = sliding_window_view(a, (k, k), axis=(1, 2)).transpose(0, 4, 5, 1, 2, 3)
            cols = cols.reshape(c * k * k, -1)
            r = np.matmul(w.reshape(o, -1), cols, out=buffer(("r", layer), (o, cols.shape[1])))
            r += b[:, None]
            np.maximum(r, 0, out=r)                                      # ReLU(conv): (O, h·h·N)
            windows = r.reshape(o, h // s, s, h // s, s, n)
            pooled = buffer(("pooled", layer), (o, h // s, h // s, n))
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
        for layer in reversed(range(spec.nconv)):
            w = params[2 * layer]
            shape, cols, windows, pooled = saved[layer]
            maxima = [np.equal(windows[:, :, i, :, j], pooled, out=buffer(("max", layer, i, j), pooled.shape, bool))
                      for i, j in offsets]
            share = np.multiply(g, pooled > 0, out=buffer(("share", layer), pooled.shape))   # × ReLU' (1 iff max > 0)
            count = buffer(("count", layer), pooled.shape)
            count[...] = 0
            for m in maxima:
                count += m
            share /= count
            delta = buffer(("delta", layer), windows.shape)
            for (i, j), m in zip(offsets, maxima):
                np.multiply(m, share, out=delta[:, :, i, :, j])
            delta = delta.reshape(w.shape[0], -1)                        # (O, h·h·N)
            grads[2 * layer] = (delta @ cols.T).reshape(w.shape)
            grads[2 * layer + 1] = delta.sum(axis=1)
            if layer:                                                        # col2im(Wᵀ · delta)
                h = shape[1] - k + 1
                dcols = np.matmul(w.reshape(w.shape[0], -1).T, delta, out=buffer(("dcols", layer), cols.shape))
                dcols = dcols.reshape(shape[0], k, k, h, h, n)
                g = buffer(("g", layer), shape)
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
    for layer in range(spec.nconv):
        a = F.max_pool2d(F.relu(F.conv2d(a, params[2 * layer], params[2 * layer + 1])), spec.pool)
    return F.cross_entropy(F.linear(a.reshape(a.shape[0], -1), params[-2], params[-1]), labels)


def convnet_problem(spec: ConvSpec, params, x, labels) -> Problem:
    return Problem(partial(_convnet_loss, spec), params, (x, labels), spec.lr)


# ---------------------------------------------------------------------------
# Gate chain: forward + backward of many tiny elementwise gates on 16-vectors, loss = sum of the output.
# x, a and b all need gradients (a and b are used by a third of the gates each, so their gradients add up
# over the chain). Measures per-gate overhead, not arithmetic.

GATE_CYCLE = ["mul a", "add b", "tanh", "mul a", "exp", "sigmoid"]


def gates_setup(ngates: int = 200, size: int = 16, seed: int = 0):
    rng = np.random.default_rng(seed)
    gates = [GATE_CYCLE[i % len(GATE_CYCLE)] for i in range(ngates)]
    x = rng.standard_normal(size, dtype=F32)
    a = (1.0 + 0.5 * rng.random(size, dtype=F32)).astype(F32)        # in [1, 1.5)
    b = (-0.2 + 0.1 * rng.standard_normal(size, dtype=F32)).astype(F32)
    return gates, x, a, b


def _apply_gates(F, t, a, b, gates, outputs=None):
    """The gate chain on t; each gate's output is also appended to ``outputs`` when given. (A plain loop:
    a generator would add ~60 ns per gate, a tenth of torch's time per gate.)"""
    for op in gates:
        t = t * a if op == "mul a" else t + b if op == "add b" else getattr(F, op)(t)
        if outputs is not None:
            outputs.append(t)
    return t


def numpy_gates(gates, x, a, b) -> Impl:
    grads = [None, None, None]

    def step():
        ys = [x]
        _apply_gates(NUMPY_F, x, a, b, gates, outputs=ys)
        g = np.ones_like(x)                          # d(sum)/d(out)
        ga, gb = np.zeros_like(a), np.zeros_like(b)
        for op, y, y_in in zip(reversed(gates), reversed(ys[1:]), reversed(ys[:-1])):
            if op == "mul a":
                ga = ga + g * y_in
                g = g * a
            elif op == "add b":
                gb = gb + g
            else:
                g = (g * (1 - y * y) if op == "tanh" else g * y if op == "exp" else g * y * (1 - y))
        grads[:] = [g, ga, gb]
        return ys[-1].sum()

    return Impl(step, lambda: {"params": [x, a, b], "grads": grads})


def tuned_gates(gates, x, a, b) -> Impl:
    """The chain with every output and temporary in an array allocated once, the backward in place."""
    ys = [x] + [np.empty_like(x) for _ in gates]
    g, ga, gb, tmp = (np.empty_like(x) for _ in range(4))
    mul, add, tanh, exp, subtract = np.multiply, np.add, np.tanh, np.exp, np.subtract
    sigmoid = NUMPY_F.sigmoid
    steps = list(zip(reversed(gates), reversed(ys[1:]), reversed(ys[:-1])))

    def step():
        t = x
        for op, out in zip(gates, ys[1:]):
            if op == "mul a":
                mul(t, a, out=out)
            elif op == "add b":
                add(t, b, out=out)
            elif op == "sigmoid":
                out[...] = sigmoid(t)
            else:
                (tanh if op == "tanh" else exp)(t, out=out)
            t = out
        g.fill(1)
        ga.fill(0)
        gb.fill(0)
        for op, y, y_in in steps:
            if op == "mul a":
                add(ga, mul(g, y_in, out=tmp), out=ga)
                mul(g, a, out=g)
            elif op == "add b":
                add(gb, g, out=gb)
            elif op == "tanh":
                mul(y, y, out=tmp)
                mul(g, subtract(1, tmp, out=tmp), out=g)
            elif op == "exp":
                mul(g, y, out=g)
            else:
                mul(g, y, out=g)
                mul(g, subtract(1, y, out=tmp), out=g)
        return np.add.reduce(t)

    return Impl(step, lambda: {"params": [x, a, b], "grads": [g, ga, gb]})


def _gates_loss(gates, functions, F, params):
    return _apply_gates(F.functions if functions else F, params[0], params[1], params[2], gates).sum()


def gates_problem(gates, x, a, b, functions: bool = False) -> Problem:
    """The chain as the libraries run it: activations as tensor methods (``t.tanh()``), or with ``functions``
    as the module's functions (``torch.tanh(t)``, ``gg.tanh(t)``)."""
    return Problem(partial(_gates_loss, gates, functions), [x, a, b], (), lr=None)


# ---------------------------------------------------------------------------
# micrograd's demo problem: a 2-16-16-1 ReLU MLP on 100 "moons" points, labels ±1, SVM hinge loss
# mean(relu(1 − y·score)) plus L2 regularisation α Σ p², SGD (fixed learning rate), the whole batch.

HINGE_SIZES, HINGE_ALPHA, HINGE_LR = (2, 16, 16, 1), 1e-4, 0.1


def hinge_setup(n: int = 100, noise: float = 0.1, seed: int = 0):
    """([W1, b1, W2, b2, W3, b3] with W (in, out), x (n, 2), y (n, 1) in ±1), all float32."""
    rng = np.random.default_rng(seed)
    label = rng.permutation(np.arange(n) % 2)
    t = rng.uniform(0.0, np.pi, n)
    upper = np.stack([np.cos(t), np.sin(t)], axis=1)
    lower = np.stack([1.0 - np.cos(t), 0.5 - np.sin(t)], axis=1)
    x = (np.where(label[:, None] == 0, upper, lower) + noise * rng.standard_normal((n, 2))).astype(F32)
    y = (2.0 * label - 1.0).astype(F32).reshape(n, 1)
    params = []
    for i, o in zip(HINGE_SIZES, HINGE_SIZES[1:]):
        params.append(rng.uniform(-1, 1, (i, o)).astype(F32))         # micrograd: uniform(−1, 1)
        params.append(np.zeros(o, F32))
    return params, x, y


def numpy_hinge(params, x, y) -> Impl:
    params = [p.copy() for p in params]
    grads = [np.empty_like(p) for p in params]
    n = len(x)

    def step():
        a1 = np.maximum(x @ params[0] + params[1], 0)
        a2 = np.maximum(a1 @ params[2] + params[3], 0)
        score = a2 @ params[4] + params[5]
        margin = 1 - y * score
        loss = np.maximum(margin, 0).mean() + HINGE_ALPHA * sum((p * p).sum() for p in params)
        d = -y * (margin > 0) / n
        grads[4], grads[5] = a2.T @ d, d.sum(axis=0)
        d = (d @ params[4].T) * (a2 > 0)
        grads[2], grads[3] = a1.T @ d, d.sum(axis=0)
        d = (d @ params[2].T) * (a1 > 0)
        grads[0], grads[1] = x.T @ d, d.sum(axis=0)
        for p, g in zip(params, grads):
            g += 2 * HINGE_ALPHA * p
            p -= HINGE_LR * g
        return loss

    return Impl(step, lambda: {"params": params, "grads": grads})


def tuned_hinge(params, x, y) -> Impl:
    """Buffers allocated once, the learning rate folded into the output error and into the decay factor."""
    params = [p.copy() for p in params]
    grads = [np.empty_like(p) for p in params]                       # η · ∂(data loss)/∂p
    n = len(x)
    a1, a2, d2, d1 = (np.empty((n, 16), F32) for _ in range(4))
    score, d3 = np.empty((n, 1), F32), np.empty((n, 1), F32)
    neg_y_lr = (-y * F32(HINGE_LR / n)).astype(F32)
    mask = np.empty((n, 16), bool)
    shrink = F32(1 - 2 * HINGE_ALPHA * HINGE_LR)

    def step():
        np.matmul(x, params[0], out=a1)
        np.add(a1, params[1], out=a1)
        np.maximum(a1, 0, out=a1)
        np.matmul(a1, params[2], out=a2)
        np.add(a2, params[3], out=a2)
        np.maximum(a2, 0, out=a2)
        np.matmul(a2, params[4], out=score)
        np.add(score, params[5], out=score)
        np.multiply(y, score, out=d3)
        np.subtract(1, d3, out=d3)                                   # margins
        loss = np.add.reduce(np.maximum(d3, 0), axis=None) / n + HINGE_ALPHA * sum(
            np.vdot(p, p) for p in params)
        np.multiply(neg_y_lr, np.greater(d3, 0), out=d3)             # η · ∂loss/∂score
        np.matmul(a2.T, d3, out=grads[4])
        np.add.reduce(d3, axis=0, out=grads[5])
        np.multiply(d3, params[4].T, out=d2)
        np.multiply(d2, np.greater(a2, 0, out=mask), out=d2)
        np.matmul(a1.T, d2, out=grads[2])
        np.add.reduce(d2, axis=0, out=grads[3])
        np.matmul(d2, params[2].T, out=d1)
        np.multiply(d1, np.greater(a1, 0, out=mask), out=d1)
        np.matmul(x.T, d1, out=grads[0])
        np.add.reduce(d1, axis=0, out=grads[1])
        for p, g in zip(params, grads):                              # p ← p − η (g + 2α p)
            p *= shrink
            p -= g
        return loss

    def state():
        return {"params": params, "grads": [g / F32(HINGE_LR) + 2 * HINGE_ALPHA * (p + g) / shrink
                                            for p, g in zip(params, grads)]}

    return Impl(step, state)


def _hinge_loss(F, params, x, y):
    a = x
    for layer in range(3):
        a = F.linear(a, params[2 * layer], params[2 * layer + 1])
        if layer < 2:
            a = F.relu(a)
    margins = F.relu(1 + -y * a)
    reg = sum((p * p).sum() for p in params)
    return margins.mean() + HINGE_ALPHA * reg


def hinge_problem(params, x, y) -> Problem:
    return Problem(_hinge_loss, _as_layers(params), (x, y), HINGE_LR, _as_benchmark)


# ---------------------------------------------------------------------------

MLP_IMPLS = _implementations(numpy_mlp, mlp_problem, tuned_mlp)
CONVNET_IMPLS = _implementations(numpy_convnet, convnet_problem)    # the plain one already keeps its buffers
GATE_IMPLS = _implementations(numpy_gates, gates_problem, tuned_gates)
GATE_FUNCTION_IMPLS = _implementations(numpy_gates, partial(gates_problem, functions=True), tuned_gates)
HINGE_IMPLS = _implementations(numpy_hinge, hinge_problem, tuned_hinge)


def _mlp(name: str, description: str, spec: MLPSpec) -> Workload:
    return Workload(name, description, partial(mlp_setup, spec), MLP_IMPLS, spec.matmul_flops())


CONVNET_B64 = ConvSpec()

# The workloads of issue 12's table, in its order, and the ConvNet.
WORKLOADS = [
    _mlp("mlp_64_30_10_sigmoid_b10",
         "64-30-10 sigmoid MLP, softmax cross-entropy on logits, batch 10, SGD step",
         MLPSpec((64, 30, 10), "sigmoid", "ce", 10)),
    _mlp("mlp_784_128_10_relu_b1",
         "784-128-10 ReLU MLP, softmax cross-entropy on logits, batch 1, SGD step (η = 0.005)",
         MLPSpec((784, 128, 10), "relu", "ce", 1, lr=0.005)),   # 0.1 saturates one example in a step
    _mlp("mlp_784_128_10_relu_b32",
         "784-128-10 ReLU MLP, softmax cross-entropy on logits, batch 32, SGD step",
         MLPSpec((784, 128, 10), "relu", "ce", 32)),
    _mlp("mlp_784_128_10_relu_b256",
         "784-128-10 ReLU MLP, softmax cross-entropy on logits, batch 256, SGD step",
         MLPSpec((784, 128, 10), "relu", "ce", 256)),
    _mlp("mlp_784_1024_1024_10_b256",
         "784-1024-1024-10 ReLU MLP, softmax cross-entropy, batch 256, SGD step",
         MLPSpec((784, 1024, 1024, 10), "relu", "ce", 256)),
    Workload("gate_chain_200",
             "forward + backward of a chain of 200 elementwise gates (×a, +b, tanh, exp, sigmoid) on 16-element "
             "float32 vectors x, a, b that all need gradients, loss = sum; time per gate",
             gates_setup, GATE_IMPLS, None, per=200, unit="gate"),
    Workload("gate_chain_200_functions",
             "the same chain with the activations called as functions (torch.tanh(t), gg.tanh(t)) instead of "
             "tensor methods (t.tanh()); NumPy and JAX have one spelling; time per gate",
             gates_setup, GATE_FUNCTION_IMPLS, None, per=200, unit="gate"),
    Workload("micrograd_hinge",
             "micrograd's demo: 2-16-16-1 ReLU MLP on 100 moons points, hinge loss mean(relu(1 − y·score)) + "
             "1e-4 Σ p², full-batch SGD step",
             hinge_setup, HINGE_IMPLS, None),
    Workload("convnet_b64",
             "ConvNet on 28×28 images, batch 64: conv 5×5 1→8, ReLU, max-pool 2, conv 5×5 8→16, ReLU, "
             "max-pool 2, flatten (256), linear 256→10, softmax cross-entropy, SGD step",
             partial(convnet_setup, CONVNET_B64), CONVNET_IMPLS, CONVNET_B64.matmul_flops()),
]
BY_NAME = {w.name: w for w in WORKLOADS}
