"""The gradient-bug localiser: which gate's backward rule is wrong, and which line of your code made it.

A failing gradient check says *that* backprop and centred differences disagree, not *where*. The
localiser re-runs the forward pass, recording for every gate the file:line of the code that applied it
(only while it runs: the frames are read only when asked), then checks each gate's own vector-Jacobian
product in isolation, in reverse topological order (the order backward visits them), against centred
differences of that gate's forward alone:

    for a random upstream v and a random direction u of input i:
        ⟨vjp_i(v), u⟩   vs   ⟨v, forward(x_i + εu) − forward(x_i − εu)⟩ / 2ε

Each gate is checked on the very inputs it saw, so a wrong rule shows up at its own gate and nowhere
else, whatever it does to the gradients below it. The first wrong gate is the one to fix first: every
gradient below it in the backward pass was computed from its wrong output.

The recording is an engine hook (``glassgrad.hooks``, its ``on_gate`` called for every gate application)
installed only while the forward re-runs, so it costs nothing when not asked for.
"""
from __future__ import annotations

import linecache
import os
import sys
from dataclasses import dataclass, field
from typing import Callable

from glassgrad import engine, hooks
from glassgrad._backend import xp
from glassgrad.tensor import Tensor

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep
# The machinery every gate application passes through: a site inside these is never the interesting one.
_CORE = tuple(_PACKAGE + p for p in ("engine.py", "tensor.py", "function.py", "transforms.py", "ops" + os.sep,
                                     "localize.py"))
# Python's own files, installed scripts and packages (the glassgrad command, pytest): never "your code".
_INSTALLED = tuple({os.path.abspath(p) + os.sep for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)})


@dataclass
class Site:
    """Where a gate was applied: the first frame outside glassgrad (your code) and, when the gate was
    applied inside a glassgrad layer, the library line too."""

    user: str | None        # "path/to/file.py:42 in fn: y = Cube.apply(x)" (None: called from an installed program)
    library: str | None     # "glassgrad/nn/layers.py:120 in forward" (None when called from your code)

    def __str__(self) -> str:
        if self.user and self.library:
            return f"{self.user}  (via {self.library})"
        return self.user or self.library or "unknown"


def _describe(frame) -> str:
    code = frame.f_code
    text = linecache.getline(code.co_filename, frame.f_lineno).strip()
    return f"{code.co_filename}:{frame.f_lineno} in {code.co_name}" + (f": {text}" if text else "")


def _site(frame) -> Site:
    library = None
    while frame is not None:
        name = os.path.abspath(frame.f_code.co_filename)
        if not name.startswith(_PACKAGE):
            if name.startswith(_INSTALLED) or not os.path.isfile(name):
                return Site(None, library)
            return Site(_describe(frame), library)
        if library is None and not name.startswith(_CORE):
            library = _describe(frame).replace(_PACKAGE, "glassgrad" + os.sep)
        frame = frame.f_back
    return Site(None, library)


class _SiteRecorder(hooks.Hook):
    """An engine hook while the forward runs: remembers where each node was created."""

    def __init__(self):
        self.sites: dict[engine.Node, Site] = {}

    def on_gate(self, gate: engine.Gate | None, args: tuple, params: dict, needs: list, result: Tensor,
                forward: Callable | None = None) -> None:
        node = getattr(result, "grad_fn", None)
        if gate is not None and node is not None:
            self.sites[node] = _site(sys._getframe(1))


class GateCounter(hooks.Hook):
    """An engine hook counting gate applications (``applied``) and the nodes recorded for backward
    (``recorded``): ``with hooks.installed(GateCounter()) as counter: …``."""

    def __init__(self):
        self.applied = self.recorded = 0

    def on_gate(self, gate: engine.Gate | None, args: tuple, params: dict, needs: list, result: Tensor,
                forward: Callable | None = None) -> None:
        if gate is not None:
            self.applied += 1
            self.recorded += getattr(result, "grad_fn", None) is not None


def record_sites(forward: Callable[[], Tensor]) -> tuple[Tensor, dict]:
    """Run ``forward()`` (grad mode on) recording each gate's creation site: ``(output, {node: Site})``."""
    recorder = _SiteRecorder()
    with hooks.installed(recorder), engine.enable_grad():
        out = forward()
    if not isinstance(out, Tensor):
        raise TypeError(f"localize: the forward must return a tensor, not {type(out).__name__}")
    return out, recorder.sites


@dataclass
class GateCheck:
    """One gate's VJP against centred differences of its own forward."""

    position: int            # 1 = the gate backward visits first (the output's)
    gate: str
    site: Site | None
    input: int               # the input with the worst error
    numerical: float
    analytical: float
    relative_error: float
    passed: bool

    def __str__(self) -> str:
        return (f"gate {self.position} in backward order, {self.gate} (input {self.input}): "
                f"VJP {self.analytical:.8g} vs centred differences {self.numerical:.8g}, "
                f"relative error {self.relative_error:.3g}; created at {self.site or 'unknown'}")


@dataclass
class Localization:
    """Every gate's check in backward order; ``first_wrong`` is the gate to fix first."""

    checks: list[GateCheck]
    threshold: float
    wrong: list[GateCheck] = field(default_factory=list)

    @property
    def first_wrong(self) -> GateCheck | None:
        return self.wrong[0] if self.wrong else None

    def __str__(self) -> str:
        if not self.wrong:
            return (f"localize: all {len(self.checks)} gates' VJPs agree with centred differences of their own "
                    f"forward (threshold {self.threshold:g}): the disagreement is not in one gate's backward rule")
        first = self.first_wrong
        assert first is not None       # (this branch: some gate is wrong)
        lines = [f"localize: {len(self.wrong)} of {len(self.checks)} gates have a wrong VJP; the first in backward "
                 f"order (fix it first: every gradient below it is computed from it) is",
                 f"  {first.gate} (gate {first.position} of {len(self.checks)} in backward order), relative error "
                 f"{first.relative_error:.3g}", f"  created at {first.site or 'unknown'}"]
        lines += [f"  also wrong: {c.gate} at {c.site or 'unknown'} (relative error {c.relative_error:.3g})"
                  for c in self.wrong[1:5]]
        return "\n".join(lines)


def _backward_order(root: engine.Node) -> list[engine.Node]:
    """The nodes in an order backward may visit them: each after every consumer of its output."""
    return engine.forward_order(root)[::-1]


def _forward_of(node: engine.Node) -> Callable:
    """The gate's forward on arrays, leaving what a gg.Function saved for its backward untouched."""
    ctx = getattr(node.gate, "ctx", None)

    def run(arrays):
        saved = dict(vars(ctx)) if ctx is not None else None
        try:
            return xp.asarray(node.gate.forward(*arrays, **node.params), dtype=xp.float64)
        finally:
            if ctx is not None:
                vars(ctx).clear()
                vars(ctx).update(saved)

    return run


def check_gate(node: engine.Node, rng: xp.random.Generator, eps: float = 1e-6,
               floor: float = 1e-8) -> tuple[int, float, float, float]:
    """Check one node's VJPs: (worst input, numerical, analytical, relative error)."""
    v = rng.standard_normal(node.out.shape)
    with xp.errstate(all="ignore"):
        grads = node.gate.input_grads(v.astype(node.out.dtype), node.out, node.arrays, node.params, node.needs)
    forward = _forward_of(node)
    worst = (-1, 0.0, 0.0, -1.0)
    for i, (a, need, gi) in enumerate(zip(node.arrays, node.needs, grads)):
        if not need or gi is None:
            continue
        a = xp.asarray(a)
        gi = xp.asarray(gi, dtype=xp.float64)
        if gi.shape != a.shape:
            gi = engine.sum_to(gi, a.shape)
        u = rng.standard_normal(a.shape)
        analytical = float(xp.sum(gi * u))
        shifted = [[*node.arrays[:i], a.astype(xp.float64) + s * eps * u, *node.arrays[i + 1:]] for s in (1, -1)]
        with xp.errstate(all="ignore"):
            numerical = float(xp.sum(v * (forward(shifted[0]) - forward(shifted[1])))) / (2 * eps)
        error = abs(numerical - analytical) / max(abs(numerical), abs(analytical), floor)
        if not error <= worst[3]:       # NaN counts as the worst
            worst = (i, numerical, analytical, error)
    return worst


def localize(forward: Callable[[], Tensor], threshold: float = 1e-4, eps: float = 1e-6,
             seed: int = 0) -> Localization:
    """Run ``forward()`` recording creation sites, then check every gate's VJP on its own, output first.

    ``forward`` takes no arguments and returns the output tensor (run it in float64: the check compares
    centred differences with relative error ``threshold``). Returns a ``Localization``; its
    ``first_wrong`` names the first wrong gate in backward order, with its relative error and the
    file:line that created it.
    """
    out, sites = record_sites(forward)
    if out.grad_fn is None:
        return Localization([], threshold)
    rng = xp.random.default_rng(seed)
    checks = []
    for position, node in enumerate(_backward_order(out.grad_fn), start=1):
        i, n, a, err = check_gate(node, rng, eps)
        checks.append(GateCheck(position, node.gate.name, sites.get(node), i, n, a, err, err <= threshold))
    return Localization(checks, threshold, [c for c in checks if not c.passed])
