"""Benchmark workloads, each with a NumPy, a PyTorch and a glassgrad implementation.

An implementation factory takes the workload's seeded arguments (the same
arrays for all three; each factory copies what it mutates) and returns an
``Impl``: ``step()`` runs one call of the workload and returns the loss, and
``state()`` returns the parameters and their gradients after the last step as
NumPy arrays, for ``run.py --check``.

All arithmetic is float32.  The glassgrad implementations are the functions
``glassgrad_mlp`` and ``glassgrad_gates``; swap them for ``gg.nn`` / ``gg.optim``
versions there and nothing else changes.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable

import numpy as np

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
    """A loss or array from any of the three libraries as an ndarray."""
    if hasattr(x, "detach"):                       # torch.Tensor
        return x.detach().numpy()
    if isinstance(getattr(x, "data", None), np.ndarray):  # glassgrad Tensor
        return x.data
    return np.asarray(x)


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


# activation(z) and its derivative written in terms of the activation's output a
ACTIVATIONS = {
    "sigmoid": (lambda z: 1 / (1 + np.exp(-z)), lambda a: a * (1 - a)),
    "relu": (lambda z: np.maximum(z, 0), lambda a: a > 0),
}


def numpy_mlp(spec: MLPSpec, params, x, labels, onehot) -> Impl:
    params = [p.copy() for p in params]
    grads = [np.empty_like(p) for p in params]
    act, dact = ACTIVATIONS[spec.activation]
    n, rows, nlayers = spec.batch, np.arange(spec.batch), len(params) // 2

    def step():
        acts = [x]                                   # input of each layer, then the output
        for l in range(nlayers):
            z = acts[-1] @ params[2 * l] + params[2 * l + 1]
            acts.append(z if (l == nlayers - 1 and spec.loss == "ce") else act(z))
        out = acts.pop()
        if spec.loss == "ce":
            shifted = out - out.max(axis=1, keepdims=True)
            logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
            loss = -logp[rows, labels].mean()
            delta = np.exp(logp)
            delta[rows, labels] -= 1
            delta /= n
        else:
            loss = 0.5 * ((out - onehot) ** 2).sum() / n
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


def _autodiff_forward(linear, params, x, spec: MLPSpec):
    """Forward pass with a library's fused linear layer (torch or glassgrad ``F.linear``; weights stored
    (out, in) as both libraries' Linear layers hold them): logits or output activations."""
    a, nlayers = x, len(params) // 2
    for l in range(nlayers):
        z = linear(a, params[2 * l], params[2 * l + 1])
        a = z if (l == nlayers - 1 and spec.loss == "ce") else getattr(z, spec.activation)()
    return a


def _as_layers(params):
    """The benchmark's (in, out) weights as (out, in) copies, as Linear layers store them."""
    return [p.T.copy() if p.ndim == 2 else p.copy() for p in params]


def _as_benchmark(arrays):
    return [a.T if a.ndim == 2 else a for a in arrays]


def torch_mlp(spec: MLPSpec, params, x, labels, onehot) -> Impl:
    import torch
    import torch.nn.functional as F

    ps = [torch.tensor(p, requires_grad=True) for p in _as_layers(params)]
    xt, yt, ht = torch.from_numpy(x), torch.from_numpy(labels), torch.from_numpy(onehot)
    opt = torch.optim.SGD(ps, lr=spec.lr)
    n = spec.batch

    def step():
        opt.zero_grad()
        out = _autodiff_forward(F.linear, ps, xt, spec)
        if spec.loss == "ce":
            loss = F.cross_entropy(out, yt)
        else:
            loss = ((out - ht) ** 2).sum() * (0.5 / n)
        loss.backward()
        if spec.update:
            opt.step()
        return loss

    return Impl(step, lambda: {"params": _as_benchmark([as_numpy(p) for p in ps]),
                               "grads": _as_benchmark([as_numpy(p.grad) for p in ps])})


def glassgrad_mlp(spec: MLPSpec, params, x, labels, onehot, compiled: bool = False) -> Impl:
    import glassgrad as gg
    from glassgrad import optim
    from glassgrad.nn import functional as F

    ps = [gg.tensor(p, requires_grad=True) for p in _as_layers(params)]
    xt, yt, ht = gg.tensor(x), gg.tensor(labels), gg.tensor(onehot)
    opt = optim.SGD(ps, lr=spec.lr)

    def loss_of(x, y, h):
        out = _autodiff_forward(F.linear, ps, x, spec)
        return F.cross_entropy(out, y) if spec.loss == "ce" else F.quadratic_cost(out, h)

    forward_backward = gg.compile(loss_of) if compiled else None

    def step():
        opt.zero_grad()
        if compiled:
            loss = forward_backward(xt, yt, ht)
        else:
            loss = loss_of(xt, yt, ht)
            loss.backward()
        if spec.update:
            opt.step()
        return loss

    return Impl(step, lambda: {"params": _as_benchmark([p.data for p in ps]),
                               "grads": _as_benchmark([p.grad.data for p in ps])})


# ---------------------------------------------------------------------------
# Gate chain: forward + backward of many tiny elementwise ops on a 16-vector,
# loss = sum of the output.  Measures per-op overhead, not arithmetic.

GATE_CYCLE = [("mul", 1.5), ("add", -0.2), ("tanh", None), ("mul", 0.5), ("exp", None), ("sigmoid", None)]


def gates_setup(ngates: int = 200, size: int = 16, seed: int = 0):
    gates = [GATE_CYCLE[i % len(GATE_CYCLE)] for i in range(ngates)]
    x = np.random.default_rng(seed).standard_normal(size, dtype=F32)
    return gates, x


def numpy_gates(gates, x) -> Impl:
    grads = [None]

    def step():
        ys = [x]
        for op, c in gates:
            v = ys[-1]
            ys.append(v * c if op == "mul" else v + c if op == "add" else
                      np.tanh(v) if op == "tanh" else np.exp(v) if op == "exp" else
                      1 / (1 + np.exp(-v)))
        g = np.ones_like(x)                          # d(sum)/d(out)
        for (op, c), y in zip(reversed(gates), reversed(ys)):
            g = (g * c if op == "mul" else g if op == "add" else
                 g * (1 - y * y) if op == "tanh" else g * y if op == "exp" else
                 g * y * (1 - y))
        grads[0] = g
        return ys[-1].sum()

    return Impl(step, lambda: {"params": [x], "grads": grads})


def _apply_gates(t, gates):
    """The gate chain on torch or glassgrad tensors (same operator API)."""
    for op, c in gates:
        t = t * c if op == "mul" else t + c if op == "add" else getattr(t, op)()
    return t


def torch_gates(gates, x) -> Impl:
    import torch

    xt = torch.tensor(x, requires_grad=True)

    def step():
        xt.grad = None
        loss = _apply_gates(xt, gates).sum()
        loss.backward()
        return loss

    return Impl(step, lambda: {"params": [as_numpy(xt)], "grads": [as_numpy(xt.grad)]})


def glassgrad_gates(gates, x, compiled: bool = False) -> Impl:
    import glassgrad as gg

    xt = gg.tensor(x.copy(), requires_grad=True)
    forward_backward = gg.compile(lambda: _apply_gates(xt, gates).sum()) if compiled else None

    def step():
        xt.grad = None
        if compiled:
            return forward_backward()
        loss = _apply_gates(xt, gates).sum()
        loss.backward()
        return loss

    return Impl(step, lambda: {"params": [xt.data], "grads": [xt.grad.data]})


# ---------------------------------------------------------------------------

MLP_IMPLS = {"numpy": numpy_mlp, "torch": torch_mlp, "glassgrad": glassgrad_mlp,
             "glassgrad compiled": partial(glassgrad_mlp, compiled=True)}
GATE_IMPLS = {"numpy": numpy_gates, "torch": torch_gates, "glassgrad": glassgrad_gates,
              "glassgrad compiled": partial(glassgrad_gates, compiled=True)}


def _mlp(name: str, description: str, spec: MLPSpec) -> Workload:
    return Workload(name, description, partial(mlp_setup, spec), MLP_IMPLS, spec.matmul_flops())


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
    Workload("gate_chain_200",
             "forward + backward of a chain of 200 elementwise gates (×c, +c, tanh, exp, sigmoid) "
             "on a 16-element float32 vector, loss = sum; time per gate",
             gates_setup, GATE_IMPLS, None, per=200, unit="gate"),
]
BY_NAME = {w.name: w for w in WORKLOADS}
