"""``gg.compile``: record the gates of a training step once, then replay them on arrays.

    step = gg.compile(lambda x, y: F.cross_entropy(model(x), y))
    for x, y in loader:
        optimizer.zero_grad()
        loss = step(x, y)          # forward and backward: every parameter's .grad is set, as by backward()
        optimizer.step()

An eager step builds a graph of tensors and nodes and sorts it on every call. A compiled step does the
same arithmetic — the same gate forwards and VJPs, in the same order — as one generated straight-line
Python function (``step.source()`` shows it), with no tensors, nodes or sorting, so the Python overhead
per gate drops to a function call.

How it records: the first two calls with a new input signature (shapes and dtypes) run eagerly while a
tracer writes down each gate, its inputs (a step input, a parameter, an earlier gate's output or a
constant) and its parameters. The two recordings must agree — same gates, same constants, same shapes —
and the step must not read a computed value into Python (``.item()``, ``if t:``, ``float(t)``). When
they don't, the step depends on something a recording cannot replay (data-dependent control flow, fresh
random masks such as dropout's, constants built from the data outside gates), so that signature runs
eagerly from then on, after a one-line warning saying why. A new signature (a smaller last batch) gets
its own recording.

Parameters are the leaf tensors that require grad; they are read live on every call, so in-place
optimiser updates are seen. Step inputs never receive gradients.
"""
from __future__ import annotations

import builtins
import re
import warnings
from typing import Callable

from glassgrad import engine
from glassgrad._backend import ndarray, xp
from glassgrad.engine import Trace
from glassgrad.tensor import Tensor, as_tensor


class _Entry:
    """One recorded gate call: where its arguments come from and where its output goes."""

    __slots__ = ("gate", "forward", "args", "params", "needs", "out", "shape")

    def __init__(self, gate, forward, args, params, needs, out, shape):
        self.gate, self.forward, self.args, self.params = gate, forward, args, params
        self.needs, self.out, self.shape = tuple(needs), out, shape


class _Recording:
    """What the tracer saw during one eager call of the step."""

    def __init__(self, inputs: list[Tensor]):
        self.slot: dict[int, int] = {}        # id(tensor) → slot
        self.keep: list = []                  # the traced tensors, alive so their ids stay unique
        self.values: list = []                # slot → array for constants, None otherwise
        self.shapes: dict[int, tuple] = {}    # slot → (shape, dtype) of each traced tensor
        self.node_slot: dict = {}             # graph node → slot of its output
        self.params: list[tuple[int, Tensor]] = []
        self.entries: list[_Entry] = []
        self.problem: str | None = None
        self.inputs = [self._new(t) for t in inputs]

    def _new(self, t=None, value=None) -> int:
        self.values.append(value)
        s = len(self.values) - 1
        if t is not None:
            self.slot[id(t)] = s
            self.shapes[s] = (t.shape, t.dtype)
            self.keep.append(t)
        return s

    def _slot_of(self, a) -> int:
        if isinstance(a, Tensor):
            if id(a) in self.slot:
                return self.slot[id(a)]
            if a.requires_grad and a.grad_fn is None:          # a parameter: read live on every call
                s = self._new(a)
                self.params.append((s, a))
                return s
            if a.requires_grad:
                self.problem = "it uses a tensor computed outside the step, whose graph it cannot replay"
            return self._new(value=a.data)                      # a constant tensor, compared by value
        return self._new(value=a)

    def record(self, gate, args, params, needs, result, forward=None) -> None:
        slots = tuple(self._slot_of(a) for a in args)
        out = self._new(result)
        if result.grad_fn is not None:
            self.node_slot[result.grad_fn] = out
        self.entries.append(_Entry(gate, forward or gate.forward, slots, params, needs, out, result.shape))

    def read(self, t: Tensor) -> None:
        if id(t) in self.slot:
            self.problem = "it reads a computed value into Python (.item(), float(), bool(), .numpy() ...)"


def _same(a, b) -> bool:
    """Equal as recorded constants or parameters: arrays by dtype, shape and value; containers item by item."""
    if isinstance(a, ndarray) or isinstance(b, ndarray):
        return (isinstance(a, ndarray) and isinstance(b, ndarray) and a.dtype == b.dtype
                and a.shape == b.shape and bool(xp.array_equal(a, b)))
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    try:
        return type(a) is type(b) and bool(a == b)
    except (TypeError, ValueError):
        return a is b


def _same_gate(a, b) -> bool:
    # custom Functions make a gate object per call; the same Function class is the same gate
    return a is b or (a is not None and type(a) is type(b) and getattr(a, "function", None) is not None
                      and a.function is getattr(b, "function", None))


def _difference(r1: _Recording, r2: _Recording) -> str | None:
    """Why two recordings of the same step cannot stand for every call, or None when they agree."""
    for r in (r1, r2):
        if r.problem:
            return r.problem
    if len(r1.entries) != len(r2.entries):
        return "its gates differ from call to call (Python control flow that depends on the data?)"
    for e1, e2 in zip(r1.entries, r2.entries):
        if not _same_gate(e1.gate, e2.gate) or (e1.gate is None and e1.forward is not e2.forward) \
                or e1.args != e2.args \
                or e1.shape != e2.shape or not _same(e1.params, e2.params):
            name = e1.gate.name if e1.gate is not None else getattr(e1.forward, "__name__", "a function")
            return f"its call of {name} differs from call to call (data-dependent shapes or arguments?)"
    if [s for s, _ in r1.params] != [s for s, _ in r2.params] or \
            any(p1 is not p2 for (_, p1), (_, p2) in zip(r1.params, r2.params)):
        return "it uses different parameters from call to call"
    for v1, v2 in zip(r1.values, r2.values):
        if not _same(v1, v2):
            return "a constant changes from call to call (a random mask such as dropout's, or values built " \
                   "from the data outside gates)"
    return None


class _Program:
    """A recording turned into one generated Python function: forward calls, then the VJPs in reverse.

    Everything the engine decides while it runs — which gradients flow, where a broadcast gradient is summed
    back, where one is cast, when an array is last needed — is decided once here, from the recording, so the
    generated code is a straight line of gate forwards and VJPs (``Compiled.source()`` shows it).
    """

    def __init__(self, rec: _Recording, root: Tensor, aux: list[Tensor], seen: dict):
        self.namespace: dict = {"sum_to": engine.sum_to, "ones_like": xp.ones_like, "deliver": _deliver}
        lines: list[str] = []
        for s, value in enumerate(rec.values):
            if value is not None:
                self.namespace[f"c{s}"] = value
        name = {s: f"c{s}" for s, v in enumerate(rec.values) if v is not None}
        for k, s in enumerate(rec.inputs):
            lines.append(f"v{s} = inputs[{k}].data")
            name[s] = f"v{s}"
        for k, (s, _) in enumerate(rec.params):
            lines.append(f"v{s} = params[{k}].data")
            name[s] = f"v{s}"
        for k, e in enumerate(rec.entries):          # the forward pass
            self.namespace[f"f{k}"] = e.forward
            lines.append(f"v{e.out} = f{k}({self._args(k, e, name)})  # {_label(e)}")
            name[e.out] = f"v{e.out}"
        gname: dict[int, str] = {rec.slot[id(root)]: "g_root"}
        lines.append(f"g_root = ones_like({name[rec.slot[id(root)]]})")
        for k in reversed(range(len(rec.entries))):   # the backward pass, as the engine ran it in the recording
            e = rec.entries[k]
            flows = seen.get(e.out)
            if flows is None or e.out not in gname:
                continue
            g = gname[e.out]
            if type(e.gate) is not engine.Gate:          # a custom Function: one backward for all inputs
                self.namespace[f"b{k}"] = e.gate
                lines.append(f"b{k}_grads = b{k}.input_grads({g}, v{e.out}, [{self._args(k, e, name)}], "
                             f"{{}}, {list(e.needs)!r})")
            for i, (s, grad_shape, grad_dtype) in enumerate(flows):
                if grad_shape is None:
                    continue
                if type(e.gate) is engine.Gate:
                    self.namespace[f"d{k}_{i}"] = e.gate.vjps[i]
                    expr = f"d{k}_{i}({g}, v{e.out}, {self._args(k, e, name)})"
                else:
                    expr = f"b{k}_grads[{i}]"
                if grad_shape != rec.shapes[s][0]:
                    expr = f"sum_to({expr}, {rec.shapes[s][0]!r})"
                if grad_dtype != rec.shapes[s][1]:
                    self.namespace[f"t{s}"] = rec.shapes[s][1]
                    expr = f"({expr}).astype(t{s})"
                note = f"  # ∂/∂{name[s]} of {_label(e)}"
                if s in gname:
                    lines.append(f"{gname[s]} = {gname[s]} + {expr}{note}")
                else:
                    gname[s] = f"g{s}"
                    lines.append(f"g{s} = {expr}{note}")
        lines.append("delivered = set()")
        for k, (s, _) in enumerate(rec.params):
            if s in gname:
                lines.append(f"deliver(params[{k}], {gname[s]}, delivered)")
        result = ", ".join([name[rec.slot[id(root)]]] + [name[rec.slot[id(t)]] for t in aux])
        lines.append(f"return ({result},)")
        self.source = "def step(inputs, params):\n" + "\n".join("    " + ln for ln in _free_early(lines)) + "\n"
        exec(builtins.compile(self.source, "<gg.compile>", "exec"), self.namespace)   # our own generated code
        self.step = self.namespace["step"]
        self.params = [p for _, p in rec.params]

    def _args(self, k: int, e: _Entry, name: dict) -> str:
        args = ", ".join(name[s] for s in e.args)
        if e.params:
            self.namespace[f"p{k}"] = e.params
            args += f", **p{k}" if args else f"**p{k}"
        return args

    def run(self, inputs: list[Tensor]):
        out = self.step(inputs, self.params)
        return out[0], list(out[1:])


def _label(e: _Entry) -> str:
    return e.gate.name if e.gate is not None else getattr(e.forward, "__name__", "function")


def _free_early(lines: list[str]) -> list[str]:
    """Insert ``del`` after each local's last use, so arrays are freed as soon as backward is done with them."""
    last: dict[str, int] = {}
    for i, line in enumerate(lines):
        for var in re.findall(r"\b([vg]\d+|g_root|b\d+_grads)\b", line.split("  #")[0]):
            last[var] = i
    out = []
    for i, line in enumerate(lines):
        out.append(line)
        dead = sorted(v for v, j in last.items() if j == i and not line.startswith("return"))
        if dead:
            out.append("del " + ", ".join(dead))
    return out


def _deliver(param: Tensor, g, delivered: set) -> None:
    """Add a gradient to a parameter's .grad, as backward() does, on an array of the parameter's own."""
    g = engine.own_array(g, delivered)
    param.grad = Tensor._make(g) if param.grad is None else param.grad + Tensor._make(g)


class Compiled:
    """A step function that is recorded once per input signature and replayed (see the module docs)."""

    def __init__(self, fn: Callable, warn: bool = True):
        self.fn = fn
        self.warn = warn
        self.programs: dict[tuple, _Program | None] = {}   # None: this signature runs eagerly
        self.pending: dict[tuple, _Recording] = {}
        self.reasons: dict[tuple, str] = {}

    def source(self) -> str:
        """The generated code of each recorded signature (what a compiled call runs)."""
        return "\n".join(f"# inputs {list(sig[:-1])}\n{p.source}" for sig, p in self.programs.items() if p)

    def _signature(self, inputs: list[Tensor]) -> tuple:
        return tuple((t.shape, t.dtype.str) for t in inputs) + (engine.is_grad_enabled(),)

    def __call__(self, *args):
        inputs = [a if isinstance(a, Tensor) else as_tensor(a) for a in args]
        sig = self._signature(inputs)
        program = self.programs.get(sig, False)
        if program:
            loss, aux = program.run(inputs)
            return _result(Tensor._make(loss), [Tensor._make(a) for a in aux])
        if program is None:
            return self._eager(inputs)
        return self._trace(sig, inputs)

    def _eager(self, inputs: list[Tensor]):
        loss, aux = _split(self.fn(*inputs))
        loss.backward()
        return _result(loss.detach(), [a.detach() for a in aux])

    def _trace(self, sig: tuple, inputs: list[Tensor]):
        rec = _Recording(inputs)
        Trace.active = rec
        try:
            loss, aux = _split(self.fn(*inputs))
        finally:
            Trace.active = None
        if id(loss) not in rec.slot or any(id(a) not in rec.slot for a in aux):
            rec.problem = "what it returns was not computed by gates from its inputs"
        seen, entry_at = {}, {e.out: e for e in rec.entries}

        def observe(node, g, grads):   # which gradients flowed, with which shapes: the program's backward
            out = rec.node_slot.get(node)
            if out is not None:
                seen[out] = [(s, None if gi is None else gi.shape, None if gi is None else gi.dtype)
                             for s, gi in zip(entry_at[out].args, grads)]

        engine.backward(loss, xp.ones_like(loss.data), observer=observe)
        first = self.pending.pop(sig, None)
        if first is None and not rec.problem:
            self.pending[sig] = rec          # the second call with this signature decides
        else:
            reason = rec.problem or _difference(first, rec)
            if reason is None:
                self.programs[sig] = _Program(rec, loss, aux, seen)
            else:
                self.programs[sig] = None
                self.reasons[sig] = reason
                if self.warn:
                    warnings.warn(f"gg.compile: running {getattr(self.fn, '__name__', 'the step')} eagerly "
                                  f"for inputs {[s for s in sig[:-1]]}: {reason}", RuntimeWarning, stacklevel=3)
        return _result(loss.detach(), [a.detach() for a in aux])


def _split(result):
    loss, aux = (result[0], list(result[1:])) if isinstance(result, tuple) else (result, [])
    if not isinstance(loss, Tensor) or loss.numel() != 1:
        raise TypeError("gg.compile: the step must return a scalar loss tensor (optionally followed by other "
                        f"tensors in a tuple), not {getattr(loss, 'shape', type(loss).__name__)}")
    return loss, aux


def _result(loss: Tensor, aux: list[Tensor]):
    return (loss, *aux) if aux else loss


def compile(fn: Callable, warn: bool = True) -> Compiled:
    """Compile a step ``fn(*inputs) -> loss`` (or ``(loss, *outputs)``) into forward + backward replay.

    Calling the result runs the forward pass and the backward pass — parameters' ``.grad`` receive their
    gradients, as from ``loss.backward()`` — and returns the loss (and outputs) as tensors without graph.
    """
    return Compiled(fn, warn)
