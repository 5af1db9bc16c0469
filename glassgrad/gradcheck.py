"""Checking gradients against centred differences (docs/backprop.md#checking-gradients).

    ∂f/∂x_i ≈ (f(x + ε e_i) − f(x − ε e_i)) / 2ε

Two forward passes per entry, so it is only for checking: backprop gets every entry from one backward
pass. ``gradcheck`` compares the two on a function you give it and names the worst entries when they
disagree; ``numerical_grad`` gives the centred differences themselves, for teaching.

Inputs on a GPU (``device="cuda"`` tensors or arrays): the function and its backward run there, the
differences and the comparison are made on the host in float64.
"""
from __future__ import annotations

import numbers
import warnings
from dataclasses import dataclass, field
from typing import Callable, Sequence

from glassgrad import engine
from glassgrad._backend import ndarray, xp
from glassgrad.checks import check_number
from glassgrad.device import CPU, Device, array_module, device_of, to_device, to_host
from glassgrad.ops import concatenate, reshape
from glassgrad.tensor import Tensor, TensorLike, _to_array


class GradcheckError(AssertionError):
    """Backprop and centred differences disagree; the message is the report."""


@dataclass
class Mismatch:
    input: int
    index: tuple
    output: tuple | None
    numerical: float
    analytical: float

    @property
    def error(self) -> float:
        return abs(self.numerical - self.analytical) / max(abs(self.numerical), abs(self.analytical), 1e-12)

    def __str__(self) -> str:
        where = f"input {self.input}, index {self.index}"
        if self.output is not None:
            where = f"output {self.output} w.r.t. " + where
        return (f"{where}: numerical {self.numerical:.8g}, analytical {self.analytical:.8g}, "
                f"relative error {self.error:.3g}")


@dataclass
class GradcheckReport:
    """The result of a failed check: false in a boolean context, readable when printed."""

    mode: str
    checked: int
    mismatches: list[Mismatch] = field(default_factory=list)
    localization: object = None     # a glassgrad.localize.Localization when asked for (localize=True)

    def __bool__(self) -> bool:
        return not self.mismatches

    def __str__(self) -> str:
        worst = sorted(self.mismatches, key=lambda m: -m.error)[:10]
        lines = [f"gradcheck ({self.mode} mode) failed: {len(self.mismatches)} of {self.checked} compared values "
                 f"differ; the worst:"] + ["  " + str(m) for m in worst]
        if self.localization is not None:
            lines.append(str(self.localization))
        return "\n".join(lines)


def _prepare(inputs: Sequence[TensorLike], eps: float,
             who: str = "gradcheck") -> tuple[list[ndarray], list[int], Device]:
    """The inputs as host arrays, which of them to differentiate (floats; tensors only if they ask), and the
    device they came from: the function runs there, the differences are taken on the host.

    Refuses, before evaluating anything, what would make the comparison meaningless: a step ``eps`` that is
    not a positive finite number, no input to differentiate (a check of nothing would pass), and NaN or
    infinite inputs (the differences would be NaN)."""
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not 0 < eps < float("inf"):
        raise ValueError(f"invalid {who} eps: {eps!r} (must be a positive finite step, e.g. 1e-6)")
    if isinstance(inputs, (Tensor, ndarray)) or not isinstance(inputs, (list, tuple)):
        inputs = (inputs,)
    arrays = [_to_array(a, copy=True) for a in inputs]
    found = [device_of(a) for a in arrays if type(a) is not ndarray]
    device = found[0] if found else CPU
    arrays = [to_host(a) for a in arrays]
    asked = [i for i, a in enumerate(inputs) if isinstance(a, Tensor) and a.requires_grad]
    wrt = asked or [i for i, a in enumerate(arrays) if a.dtype.kind == "f"]
    if not wrt:
        raise ValueError(f"{who}: nothing to differentiate: give at least one float array (or a tensor with "
                         f"requires_grad=True); integer and bool inputs are constants. Got "
                         f"{[f'{a.dtype} {a.shape}' for a in arrays]}")
    for i in wrt:
        if not xp.isfinite(arrays[i]).all():
            where = tuple(int(k) for k in xp.argwhere(~xp.isfinite(arrays[i]))[0])
            raise ValueError(f"{who}: input {i} holds NaN or infinite values (first at index {where}); "
                             "centred differences need finite inputs")
    low = [arrays[i].dtype for i in wrt if arrays[i].dtype != xp.float64]
    if low:
        warnings.warn(f"gradcheck: inputs of dtype {low[0]}; centred differences need float64 to be "
                      "accurate, so expect false alarms", stacklevel=3)
    return arrays, wrt, device


def _output(out, who: str = "gradcheck") -> Tensor:
    """``out`` if the checked function returned a tensor, else a clear error."""
    if not isinstance(out, Tensor):
        raise TypeError(f"{who}: the function must return a tensor, not {type(out).__name__}")
    return out


def _evaluate(f: Callable, arrays: list[ndarray], device: Device = CPU) -> ndarray:
    """f at the host arrays, run on ``device``; the value back on the host in float64."""
    with engine.no_grad():
        out = f(*[Tensor(to_device(a, device)) for a in arrays])
    return xp.array(to_host(out), dtype=xp.float64)


def _backprop(f: Callable, arrays: list[ndarray], wrt: list[int], device: Device = CPU):
    """f's output tensor (run on ``device``) and a function giving the gradients of ⟨g, out⟩ for the inputs in
    wrt, on the host."""
    tensors = [Tensor(to_device(a, device), requires_grad=i in wrt) for i, a in enumerate(arrays)]
    with engine.enable_grad():
        out = f(*tensors)
    _output(out)

    def grads(g: ndarray) -> list[ndarray]:
        if not out.requires_grad:
            return [xp.zeros_like(arrays[i]) for i in wrt]
        got = engine.backward(out, to_device(g.astype(out.dtype).reshape(out.shape), device), retain_graph=True,
                              inputs=[tensors[i] for i in wrt])
        return [xp.zeros_like(arrays[i]) if gi is None else xp.asarray(to_host(gi), dtype=xp.float64)
                for i, gi in zip(wrt, got)]

    return out, grads


def numerical_grad(f: Callable, inputs: Sequence[TensorLike], eps: float = 1e-6) -> list[ndarray]:
    """Centred-difference gradients of a scalar function, one array per input (for teaching and checks)."""
    arrays, wrt, device = _prepare(inputs, eps, "numerical_grad")
    result = []
    for k in wrt:
        grad = xp.zeros(arrays[k].shape, dtype=xp.float64)
        for idx in xp.ndindex(arrays[k].shape):
            grad[idx] = _difference(f, arrays, k, idx, eps, device).item()
        result.append(grad)
    return result


def _difference(f, arrays, k, idx, eps, device: Device = CPU) -> ndarray:
    """(f(x + ε e_idx) − f(x − ε e_idx)) / 2ε for entry idx of input k (the host arrays; f runs on ``device``)."""
    x = arrays[k]
    saved = x[idx].copy()
    x[idx] = saved + eps
    plus = _evaluate(f, arrays, device)
    x[idx] = saved - eps
    minus = _evaluate(f, arrays, device)
    x[idx] = saved
    return (plus - minus) / (2 * eps)


def gradcheck(f: Callable, inputs: Sequence[TensorLike], eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              mode: str = "full", seed: int = 0, raise_exception: bool = True,
              localize: bool = False) -> bool | GradcheckReport:
    """Compare backprop with centred differences for ``f(*inputs)``; ``True`` when they agree.

    ``mode="full"`` compares the whole Jacobian: one backward pass per output entry against two forward
    passes per input entry. ``mode="fast"`` compares one random direction: ⟨v, J u⟩ from one backward
    pass against two forward passes along u. On disagreement it raises ``GradcheckError`` naming the
    worst entries (input, index, numerical, analytical, relative error), or with
    ``raise_exception=False`` returns that report (false in a boolean context). With ``localize=True`` a
    failing check also re-checks each gate's own VJP in backward order and names the first wrong gate
    with the file:line that created it (``glassgrad.localize``).
    """
    if mode not in ("full", "fast"):
        raise ValueError(f"gradcheck: mode must be 'full' or 'fast', not {mode!r}")
    check_number("gradcheck atol", atol)
    check_number("gradcheck rtol", rtol)
    arrays, wrt, device = _prepare(inputs, eps)
    out, grads = _backprop(f, arrays, wrt, device)
    close = lambda n, a: abs(n - a) <= atol + rtol * abs(n)  # noqa: E731
    mismatches, checked = [], 0
    if mode == "full":
        analytical = []
        for j in xp.ndindex(out.shape):          # one backward pass per output entry: rows of J
            g = xp.zeros(out.shape)
            g[j] = 1.0
            analytical.append((j, grads(g)))
        for pos, k in enumerate(wrt):            # two forward passes per input entry: columns of J
            for idx in xp.ndindex(arrays[k].shape):
                column = _difference(f, arrays, k, idx, eps, device)
                for j, rows in analytical:
                    n, a = float(column[j]), float(rows[pos][idx])
                    checked += 1
                    if not close(n, a):
                        mismatches.append(Mismatch(k, idx, j if out.ndim else None, n, a))
    else:
        rng = xp.random.default_rng(seed)
        v = rng.standard_normal(out.shape)
        directions = {k: rng.standard_normal(arrays[k].shape) for k in wrt}
        a = sum(float(xp.sum(gk * directions[k])) for k, gk in zip(wrt, grads(v)))
        shifted = [[x + s * eps * directions[i] if i in directions else x for i, x in enumerate(arrays)]
                   for s in (1, -1)]
        n = float(xp.sum(v * (_evaluate(f, shifted[0], device) - _evaluate(f, shifted[1], device)))) / (2 * eps)
        checked = 1
        if not close(n, a):
            mismatches.append(Mismatch(-1, ("random direction",), None, n, a))
    report = GradcheckReport(mode, checked, mismatches)
    if report:
        return True
    if localize:
        from glassgrad.localize import localize as localize_gates
        tensors = [Tensor(to_device(a, device), requires_grad=i in wrt) for i, a in enumerate(arrays)]
        report.localization = localize_gates(lambda: f(*tensors), eps=eps, seed=seed)
    if raise_exception:
        raise GradcheckError(str(report))
    return report


def gradgradcheck(f: Callable, inputs: Sequence[TensorLike], eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
                  mode: str = "full", seed: int = 0, raise_exception: bool = True) -> bool | GradcheckReport:
    """Check second derivatives: gradcheck of x ↦ ∂⟨v, f(x)⟩/∂x (built with create_graph) for a random v."""
    arrays, wrt, device = _prepare(inputs, eps, "gradgradcheck")
    with engine.no_grad():
        shape = _output(f(*[Tensor(to_device(a, device)) for a in arrays]), "gradgradcheck").shape
    v = xp.random.default_rng(seed).standard_normal(shape)

    def first_derivative(*xs):
        # Inputs that already require grad stay connected, so the outer check differentiates through this.
        leaves = [x.detach().requires_grad_(True) if i in wrt and not x.requires_grad else x
                  for i, x in enumerate(xs)]
        with engine.enable_grad():
            out = f(*leaves)
            got = engine.backward(out, Tensor(to_device(v.astype(out.dtype), device)), create_graph=True,
                                  inputs=[leaves[i] for i in wrt])
            return concatenate([reshape(gi if gi is not None else
                                        Tensor(array_module(leaves[i]).zeros(leaves[i].shape)), (-1,))
                                for i, gi in zip(wrt, got)])

    return gradcheck(first_derivative, [Tensor(to_device(a, device), requires_grad=i in wrt)
                                        for i, a in enumerate(arrays)],
                     eps=eps, atol=atol, rtol=rtol, mode=mode, seed=seed, raise_exception=raise_exception)
