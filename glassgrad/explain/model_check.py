"""Whole-model gradient checks and what they cost (docs/backprop.md#checking-gradients).

Backprop gives every ∂C/∂w from one forward and one backward pass. The numerical check nudges one weight
at a time,

    ∂C/∂w ≈ (C(w + ε) − C(w − ε)) / 2ε,

so it needs two forward passes *per weight*: fine for checking a model, hopeless for training one.
``check_model_gradients`` compares the two on every parameter entry (or a seeded sample of entries per
parameter) and names the parameter that disagrees; ``gradient_cost_comparison`` measures the cost of both
on networks of growing size.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Sequence

from glassgrad import engine, hooks
from glassgrad._backend import ndarray, xp
from glassgrad.device import to_host
from glassgrad.explain.export import Table, tex_text
from glassgrad.explain.notation import entry_label, parameter_label, parameter_names
from glassgrad.localize import GateCounter
from glassgrad.tensor import Tensor, TensorLike

if TYPE_CHECKING:      # for annotations only
    from glassgrad.nn import Module

# Centred differences in float64 carry a rounding error of about ε_mach·|C|/ε ≈ 1e-10·|C| for ε = 1e-6, so
# entries much smaller than that cannot be compared relatively: below FLOOR·max(1, |C|) they are compared
# on that scale instead.
FLOOR = 1e-5
THRESHOLD = 1e-4   # a wrong derivative (a missing factor, a wrong sign) gives relative errors of 0.1 and more


# --------------------------------------------------------------------------------------------------
# The model as a float64 copy, and the cost C(w) as a function of its parameters
# --------------------------------------------------------------------------------------------------
def float64_copy(model: Module) -> Module:
    """A deep copy of ``model`` in host memory whose parameters and float buffers are float64 (the original,
    on whatever device, is untouched).

    Dropout is switched off in the copy: a fresh random mask on each pass would make C(w ± ε) differ by
    more than the nudge does.
    """
    twin = copy.deepcopy(model).to("cpu")   # nudged one entry at a time and printed: the host is the place
    for _, p in twin.named_parameters():
        p.data = p.data.astype(xp.float64)
        p.grad = None
    for m in twin.modules():
        for name, value in m.named_buffers(recurse=False):
            if isinstance(value, ndarray) and value.dtype.kind == "f":
                setattr(m, name, value.astype(xp.float64))
        if type(m).__name__ == "Dropout":
            m.training = False
    return twin


def _as_float64(a):
    """Inputs and float targets in float64; integer labels stay as they are."""
    arr = to_host(a)
    return Tensor(arr.astype(xp.float64) if arr.dtype.kind == "f" else arr)


class _CountedModel:
    """Calls the model and counts forward passes (the unit of cost in the notes)."""

    def __init__(self, model):
        self.model, self.forward_passes = model, 0

    def __call__(self, x):
        self.forward_passes += 1
        return self.model(x)


def _cost(counted: _CountedModel, loss_fn: Callable, x, y) -> float:
    with engine.no_grad():
        return float(loss_fn(counted(x), y).item())


def _centred_difference(counted, loss_fn, x, y, p, idx, eps: float) -> float:
    """(C(w + ε) − C(w − ε)) / 2ε for entry ``idx`` of parameter ``p``: two forward passes."""
    saved = p.data[idx]
    p.data[idx] = saved + eps
    plus = _cost(counted, loss_fn, x, y)
    p.data[idx] = saved - eps
    minus = _cost(counted, loss_fn, x, y)
    p.data[idx] = saved
    return (plus - minus) / (2 * eps)


def _entries(shape: tuple, limit: int | None, rng) -> list[tuple]:
    """Every index of ``shape``, or ``limit`` of them drawn without replacement."""
    size = int(xp.prod(shape)) if shape else 1
    if limit is None or limit >= size:
        return list(xp.ndindex(shape))
    flat = sorted(rng.choice(size, size=limit, replace=False).tolist())
    return [tuple(int(i) for i in xp.unravel_index(k, shape)) for k in flat]


# --------------------------------------------------------------------------------------------------
# check_model_gradients
# --------------------------------------------------------------------------------------------------
@dataclass
class ParamCheck:
    """One parameter's row of the check: how many entries, the worst relative error, pass or fail."""

    name: str
    shape: tuple
    checked: int
    total: int
    max_rel_error: float
    worst_index: tuple | None
    numerical: float          # at the worst entry
    analytical: float         # at the worst entry
    passed: bool
    label: str = ""           # the notes' name: W^l or b^l (1-based) for a Linear layer's parameters
    worst_entry: str = ""     # the worst entry's name, e.g. w^2_{3,1}


@dataclass
class ModelGradcheck:
    """The per-parameter table; true in a boolean context when every parameter passes."""

    rows: list[ParamCheck]
    threshold: float
    eps: float
    loss: float
    forward_passes: int
    failed: list[str] = field(default_factory=list)
    localization: object = None     # a glassgrad.localize.Localization when a failing check was localised

    def __bool__(self) -> bool:
        return not self.failed

    def __str__(self) -> str:
        return self.render("text")

    def table(self) -> Table:
        """One row per parameter: its notes' name (W^l, b^l; 1-based), shape, entries checked, worst error."""
        body = [(r.label or r.name, r.name, "×".join(map(str, r.shape)) or "scalar", f"{r.checked}/{r.total}",
                 f"{r.max_rel_error:.2e}", "pass" if r.passed else "FAIL") for r in self.rows]
        return Table(("parameter", "module", "shape", "checked", "max rel. error", "result"), body,
                     align_right=(3, 4))

    def render(self, fmt: str = "text") -> str:
        """The table and the verdict as "text", "markdown" or "latex"."""
        verdict = ("all parameters pass" if self
                   else "FAILED: " + ", ".join(r.label or r.name for r in self.rows if not r.passed)
                   + " — backprop disagrees with centred differences")
        lines = [self.table().render(fmt), "",
                 f"C = {self.loss:.6g}, ε = {self.eps:g}, threshold {self.threshold:g}, "
                 f"{self.forward_passes} forward passes: {verdict}"]
        for r in self.rows:
            if not r.passed:
                lines.append(f"  {r.worst_entry}: numerical {r.numerical:.8g}, backprop {r.analytical:.8g}")
        if self.localization is not None:
            lines.append(str(self.localization))
        if fmt == "text":
            return "\n".join(lines)
        sep = {"markdown": "\n\n", "latex": "\\par\n"}[fmt]
        return lines[0] + "\n\n" + sep.join(tex_text(line) if fmt == "latex" else line for line in lines[2:])


def _relative_error(numerical: float, analytical: float, floor: float) -> float:
    return abs(numerical - analytical) / max(abs(numerical), abs(analytical), floor)


def check_model_gradients(model: Module, loss_fn: Callable, x: TensorLike, y: TensorLike, eps: float = 1e-6,
                          max_entries_per_param: int | None = None, seed: int = 0,
                          threshold: float = THRESHOLD, localize: bool = False) -> ModelGradcheck:
    """Compare backprop with centred differences on every parameter entry of ``model``.

    ``loss_fn(output, y)`` is the scalar cost C. The check runs on a float64 copy of the model in host
    memory, whatever device the model is on (float32 rounding would swamp the differences).
    ``max_entries_per_param`` checks a seeded random sample of that many entries per parameter instead of
    all of them (for large models). Returns a
    ``ModelGradcheck``: ``str()`` is the table; a parameter fails when its worst relative error
    |n − a| / max(|n|, |a|) exceeds ``threshold``. With ``localize=True`` a failing check goes on to check
    each gate's own VJP in backward order and names the first wrong gate and the line that created it
    (``result.localization``, printed with the table).
    """
    twin = float64_copy(model)
    x, y = _as_float64(x), _as_float64(y)
    counted = _CountedModel(twin)
    with engine.enable_grad():
        cost = loss_fn(counted(x), y)
        cost.backward()                       # backprop: every ∂C/∂w at once
    loss = float(cost.item())
    floor = FLOOR * max(1.0, abs(loss))
    rng = xp.random.default_rng(seed)
    names = parameter_names(twin)
    rows = []
    for name, p in twin.named_parameters():
        grad = xp.zeros(p.shape) if p.grad is None else xp.asarray(p.grad.data, dtype=xp.float64)
        worst: tuple[float, tuple[int, ...] | None, float, float] = (0.0, None, 0.0, 0.0)   # error, index, n, a
        entries = _entries(p.shape, max_entries_per_param, rng)
        for idx in entries:
            n = _centred_difference(counted, loss_fn, x, y, p, idx, eps)
            a = float(grad[idx])
            err = _relative_error(n, a, floor)
            if worst[1] is None or err > worst[0]:
                worst = (err, idx, n, a)
        label = parameter_label(*names[name]) if name in names else ""
        rows.append(ParamCheck(name, tuple(p.shape), len(entries), p.numel(), worst[0], worst[1], worst[2],
                               worst[3], worst[0] <= threshold, label,
                               entry_label(name, tuple(worst[1] or ()), names)))
    result = ModelGradcheck(rows, threshold, eps, loss, counted.forward_passes,
                            [r.name for r in rows if not r.passed])
    if localize and not result:
        from glassgrad.localize import localize as localize_gates
        result.localization = localize_gates(lambda: loss_fn(twin(x), y), eps=eps, seed=seed)
    return result


# --------------------------------------------------------------------------------------------------
# gradient_cost_comparison
# --------------------------------------------------------------------------------------------------
@dataclass
class CostRow:
    """Cost of all the gradients of one network, by centred differences and by backprop."""

    sizes: list[int]
    parameters: int
    numerical_forward_passes: int
    numerical_seconds: float
    backprop_forward_passes: int
    backprop_backward_passes: int
    backprop_seconds: float
    numerical_gates: int = 0      # gate applications in all the numerical forward passes
    backprop_gates: int = 0       # gates recorded by backprop's forward pass = steps of its backward pass

    @property
    def speedup(self) -> float:
        """How many times faster backprop was than the numerical gradient."""
        return self.numerical_seconds / max(self.backprop_seconds, 1e-12)


def _backprop_cost(counted: _CountedModel, loss_fn, x, y, repeats: int = 5) -> tuple[int, float]:
    """One forward and one backward pass; returns (backward passes, seconds: the best of ``repeats``
    timings, since one pass is short enough for timer noise to matter). Passes are counted once."""
    best = float("inf")
    for r in range(repeats):
        counted.model.zero_grad()
        started = time.perf_counter()
        with engine.enable_grad():
            cost = loss_fn(counted(x), y)
            cost.backward()
        best = min(best, time.perf_counter() - started)
        if r == 0:
            passes = counted.forward_passes
    counted.forward_passes = passes
    return 1, best


def _numerical_cost(counted: _CountedModel, model, loss_fn, x, y, eps: float) -> float:
    """Every ∂C/∂w by centred differences; returns the seconds taken."""
    started = time.perf_counter()
    for _, p in model.named_parameters():
        for idx in xp.ndindex(p.shape):
            _centred_difference(counted, loss_fn, x, y, p, idx, eps)
    return time.perf_counter() - started


def gradient_cost_comparison(sizes_list: Sequence[Sequence[int]] = ((2, 4, 1), (4, 8, 3), (8, 16, 4),
                                                                    (16, 32, 10), (32, 64, 10)),
                             activation: str = "sigmoid", batch: int = 32, eps: float = 1e-6, seed: int = 0,
                             verbose: bool = True) -> list[CostRow]:
    """For networks [n_0, …, n_L] of growing size, count the forward passes and time both methods.

    The numerical method needs 2 forward passes per parameter, so its cost grows with the number of
    weights; backprop needs 1 forward + 1 backward pass whatever the size. Prints the table when
    ``verbose``; returns the rows.
    """
    from glassgrad.nn.functional import quadratic_cost
    from glassgrad.train.models import mlp

    rng = xp.random.default_rng(seed)
    rows = []
    for sizes in sizes_list:
        model = float64_copy(mlp(list(sizes), activation))
        x = Tensor(rng.standard_normal((batch, sizes[0])))
        y = Tensor(rng.standard_normal((batch, sizes[-1])))
        with hooks.installed(GateCounter()) as bp_gates, engine.enable_grad():
            quadratic_cost(model(x), y)
        counted = _CountedModel(model)
        backward_passes, bp_seconds = _backprop_cost(counted, quadratic_cost, x, y)
        bp_forward, counted.forward_passes = counted.forward_passes, 0
        with hooks.installed(GateCounter()) as num_gates:
            num_seconds = _numerical_cost(counted, model, quadratic_cost, x, y, eps)
        rows.append(CostRow(list(sizes), model.num_parameters(), counted.forward_passes, num_seconds,
                            bp_forward, backward_passes, bp_seconds, num_gates.applied, bp_gates.recorded))
    if verbose:
        print(format_cost_table(rows))
    return rows


def format_cost_table(rows: Sequence[CostRow]) -> str:
    head = ("network", "weights", "numerical: forward passes", "seconds", "backprop: passes", "seconds",
            "numerical / backprop")
    body = [(str(r.sizes), f"{r.parameters:,}", f"{r.numerical_forward_passes:,}", f"{r.numerical_seconds:.4f}",
             f"{r.backprop_forward_passes} fwd + {r.backprop_backward_passes} bwd", f"{r.backprop_seconds:.5f}",
             f"{r.speedup:,.0f}×") for r in rows]
    lines = [Table(head, body, align_right=(1, 2, 3, 5, 6)).text()]
    lines.append("\nThe numerical method needs 2 forward passes per weight (biases included), so its cost grows "
                 "with the number of weights;\nbackprop gets every gradient from one forward and one backward "
                 "pass.")
    return "\n".join(lines)
