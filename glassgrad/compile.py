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
from collections import Counter
from typing import TYPE_CHECKING, Any, Callable, Literal

from glassgrad import engine, hooks
from glassgrad._backend import ndarray, xp
from glassgrad.axes import kept_shape, reduced_axes, reduced_count
from glassgrad.device import array_module, device_of, is_device_array
from glassgrad.tensor import Tensor, TensorLike, as_tensor

if TYPE_CHECKING:      # for the annotations only: the core never imports the layers above it
    from glassgrad.optim import Optimizer


class _Entry:
    """One recorded gate call: where its arguments come from and where its output goes."""

    __slots__ = ("gate", "forward", "args", "params", "needs", "out", "shape")

    def __init__(self, gate, forward, args, params, needs, out, shape):
        self.gate, self.forward, self.args, self.params = gate, forward, args, params
        self.needs, self.out, self.shape = tuple(needs), out, shape


class _Recording(hooks.Hook):
    """What the tracer saw during one eager call of the step (an engine hook while the step runs)."""

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

    def on_gate(self, gate, args, params, needs, result, forward=None) -> None:
        slots = tuple(self._slot_of(a) for a in args)
        out = self._new(result)
        if result.grad_fn is not None:
            self.node_slot[result.grad_fn] = out
        self.entries.append(_Entry(gate, forward or gate.forward, slots, params, needs, out, result.shape))

    def on_read(self, tensor: Tensor) -> None:
        if id(tensor) in self.slot:
            self.problem = "it reads a computed value into Python (.item(), float(), bool(), .numpy() ...)"


def _same(a, b) -> bool:
    """Equal as recorded constants or parameters: arrays by dtype, shape and value; containers item by item."""
    if isinstance(a, ndarray) or isinstance(b, ndarray) or is_device_array(a) or is_device_array(b):
        return (type(a) is type(b) and a.dtype == b.dtype and a.shape == b.shape
                and device_of(a) == device_of(b) and bool(array_module(a).array_equal(a, b)))
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


# --------------------------------------------------------------------------------------------------
# Inline emission of the hot gates
# --------------------------------------------------------------------------------------------------
# A forward emitter writes the NumPy calls of one gate's forward, a VJP emitter those of one VJP, with the
# same operations in the same order as the gate's own code (ops/elementwise.py, ops/fused.py), so a compiled
# step's numbers are the eager step's bit for bit. ``o`` (or ``d``) is the name to assign; ``out`` is
# ``", out=<buffer>"`` when the result has a preallocated array of its own, or ``""`` when it must be a
# fresh array (it is returned to the caller or handed to a ``.grad``). An emitter returns None for a case
# it does not cover, and the generic call of the gate's own function is emitted instead.

def _out_array(out: str) -> str:
    """The name of the preallocated array in a non-empty ``out`` (``", out=<buffer>"``)."""
    return out.split("=", 1)[1]


class _Site:
    """What an emitter knows about one recorded gate call: argument names and shapes, parameters."""

    def __init__(self, program: "_Program", k: int, args: list[str], shapes: list, params: dict, out: int):
        self.program, self.k, self.args, self.shapes, self.params = program, k, args, shapes, params
        self.slot, self.out = out, f"v{out}"       # the output's slot and name
        self.out_shape = program.rec.shapes[out]   # and its (shape, dtype)
        # the gradient of the (first) input may keep reduced axes as 1s: its one use broadcasts it
        self.reducible = bool(program.rec.entries[k].args) and program.rec.entries[k].args[0] in program.reducible

    def buffer(self, tag: str, shape: tuple, dtype) -> str:
        """A preallocated array of this site, named after it (it lives in the program's namespace)."""
        return self.program.buffer(f"{tag}{self.k}", shape, dtype)


def _unary(ufunc: str):
    return lambda s, o, out: [f"{o} = {ufunc}({s.args[0]}{out})"]


def _binary(ufunc: str, operator: str):
    """``ufunc(a, b)``; between numbers (a fresh 0-d float result) Python's operator, which NumPy's scalars
    run through their own arithmetic: the same IEEE operation without a ufunc call's overhead."""
    def emit(s: _Site, o: str, out: str):
        if not out and s.out_shape[0] == () and s.out_shape[1].kind == "f":
            return [f"{o} = {s.args[0]} {operator} {s.args[1]}"]
        return [f"{o} = {ufunc}({s.args[0]}, {s.args[1]}{out})"]
    return emit


def _fw_linear(s: _Site, o: str, out: str):
    """x wᵀ (+ b). A small batch through a large layer is computed as (w xᵀ)ᵀ, into an (out, batch) array
    whose transpose is the result: OpenBLAS's GEMM with the second operand transposed is up to 1.5× slower
    there (measured for batches of 4 to 64 and weights of 16K elements or more, the MNIST MLP's first layer;
    equal from a batch of ~128 on, where the later elementwise work on the transposed layout costs more).
    The same products and sums, so the same numbers on OpenBLAS, though not the same call as the gate's."""
    x, w, *b = s.args
    (n, features), outputs = s.shapes[0][0] if len(s.shapes[0][0]) == 2 else (0, 0), s.shapes[1][0][0]
    if out and 4 <= n <= 64 and features * outputs >= 1 << 14:
        t = s.program.buffer(_out_array(out), (outputs, n), s.out_shape[1])   # the output's array, transposed
        s.program.transposed.add(s.slot)
        return [f"{o} = matmul({w}, {x}.T, out={t}).T"] + [f"{o} += {b[0]}"] * len(b)
    return [f"{o} = matmul({x}, {w}.T{out})"] + [f"{o} += {b[0]}"] * len(b)


def _fw_sigmoid(s: _Site, o: str, out: str):
    return [f"{o} = multiply({s.args[0]}, 0.5{out})", f"tanh({o}, out={o})", f"{o} *= 0.5", f"{o} += 0.5"]


def _bad_labels(labels: ndarray, classes: int) -> None:
    """The error of ``F.cross_entropy``'s label check, which a replayed step does not run (it is no gate)."""
    raise ValueError(f"cross_entropy: labels must lie in [0, {classes - 1}], found {labels.min()}..{labels.max()}")


def _fw_cross_entropy(s: _Site, o: str, out: str):
    """Integer labels, mean or sum: log-softmax and softmax into buffers; the softmax waits for the VJP. Each
    example's label entry is addressed in the flattened (N·C) arrays, ``pick = row·C + label`` (a 1-D index
    is several times cheaper than a 2-D one), after checking the labels (out-of-range labels would address
    another row): one reduction over the labels seen as unsigned integers, where negative ones are huge."""
    if len(s.shapes[0][0]) != 2 or s.shapes[1] is None or len(s.shapes[1][0]) != 1 \
            or s.shapes[1][1].kind not in "iu" or s.params.get("reduction", "mean") not in ("mean", "sum") \
            or s.program.module is not xp:
        return None           # (CuPy has no maximum.reduce: on a GPU the gate's own forward runs)
    (n, c), z, y = s.shapes[0][0], s.args[0], s.args[1]
    if n == 0:
        return None
    dtype, k, program = s.shapes[0][1], s.k, s.program
    logp, p = s.buffer("logp", (n, c), dtype), s.buffer("softmax", (n, c), dtype)
    m, total = s.buffer("rowmax", (n, 1), dtype), s.buffer("rowsum", (n, 1), dtype)
    program.constant(f"logp_flat{k}", program.namespace[logp].reshape(-1))
    program.constant(f"row_start{k}", program.module.arange(n) * c)
    program.constant(f"unsigned{k}", xp.dtype(f"u{s.shapes[1][1].itemsize}"))
    program.constant("bad_labels", _bad_labels)
    pick = s.buffer("pick", (n,), xp.int64)
    mean = f" / {n}" if s.params.get("reduction", "mean") == "mean" else ""
    return [f"maximum.reduce({z}, axis=-1, keepdims=True, out={m})",
            f"subtract({z}, {m}, out={logp})",
            f"exp({logp}, out={p})",
            f"add.reduce({p}, axis=-1, keepdims=True, out={total})",
            f"subtract({logp}, log({total}, out={m}), out={logp})",
            f"divide({p}, {total}, out={p})  # softmax, kept for the backward pass",
            f"if maximum.reduce({y}.view(unsigned{k})) >= {c}: bad_labels({y}, {c})",
            f"add(row_start{k}, {y}, out={pick})  # each label's entry in the flattened rows",
            f"{o} = -add.reduce(logp_flat{k}[{pick}]){mean}"]


def _axes(s: _Site) -> tuple:
    """The site's reduced axes as the reductions pass them to NumPy: a tuple, never None (``axes.reduced_axes``)."""
    return reduced_axes(s.params["axis"], len(s.shapes[0][0]))


def _count(s: _Site) -> int:
    """How many input entries each output entry of the site's reduction sums (``axes.reduced_count``)."""
    return reduced_count(s.shapes[0][0], s.out_shape[0])


def _fw_mean(s: _Site, o: str, out: str):
    """NumPy's mean: the sum, then one division by the count (float32 ÷ an integer rounds the same in
    NumPy's float64 loop as in float32: division is correctly rounded either way)."""
    if s.shapes[0][1] not in (xp.dtype(xp.float32), xp.dtype(xp.float64)):
        return None
    reduce = f"add.reduce({s.args[0]}, axis={_axes(s)!r}, keepdims={s.params['keepdims']!r}{out})"
    return [f"{o} = {reduce} / {_count(s)}"] if not out else [f"{o} = {reduce}", f"divide({o}, {_count(s)}, out={o})"]


_FORWARD = {
    "linear": _fw_linear, "sigmoid": _fw_sigmoid, "tanh": _unary("tanh"), "exp": _unary("exp"),
    "neg": _unary("negative"), "relu": lambda s, o, out: [f"{o} = maximum({s.args[0]}, 0{out})"],
    "add": _binary("add", "+"), "sub": _binary("subtract", "-"), "mul": _binary("multiply", "*"),
    "div": _binary("divide", "/"),
    "sum": lambda s, o, out: [f"{o} = add.reduce({s.args[0]}, axis={_axes(s)!r}, "
                              f"keepdims={s.params['keepdims']!r}{out})"],
    "mean": _fw_mean,
    "cross_entropy": _fw_cross_entropy,
}


# elementwise gates of one input
_UNARY = frozenset(("sigmoid", "tanh", "exp", "neg", "relu"))

# forward emitters that are one call, writing no array in place (so the result may be a fresh NumPy scalar)
_ONE_CALL = frozenset(("tanh", "exp", "neg", "relu", "add", "sub", "mul", "div", "sum", "mean"))


def _bw_linear(s: _Site, i: int, g: str, d: str, out: str):
    x, w = s.args[:2]
    if i == 0:
        if s.shapes[1][0][0] == 1:          # one output: an outer product, not a matmul over an axis of 1
            return [f"{d} = multiply({g}, {w}{out})"]
        return [f"{d} = matmul({g}, {w}{out})"]
    if len(s.shapes[0][0]) != 2:
        return None
    if i == 1:
        if s.shapes[0][0][0] == 1:          # one example: an outer product, as the gate's VJP does
            return [f"{d} = multiply({g}.reshape(-1, 1), {x}{out})"]
        return [f"{d} = matmul({g}.T, {x}{out})"]
    dtype = s.out_shape[1]
    if s.program.fold and out and all(shape[1] == dtype for shape in s.shapes) and dtype.kind == "f" \
            and dtype.itemsize in (4, 8):
        # a folded step (equal to rounding anyway): the bias gradient Σ over the batch as 1ᵀ g, one BLAS
        # matrix-vector product, several times faster than add.reduce over axis 0 (which adds row after row)
        ones = s.program.constant(f"ones{s.k}", s.program.module.ones(s.shapes[0][0][0], dtype))
        return [f"{d} = dot({ones}, {g}{out})"]
    return [f"{d} = add.reduce({g}, axis=0{out})"]


def _bw_sigmoid(s: _Site, i: int, g: str, d: str, out: str):
    t = s.buffer("one_minus", *s.out_shape)
    return [f"{d} = multiply({g}, {s.out}{out})", f"multiply({d}, subtract(1, {s.out}, out={t}), out={d})"]


def _bw_tanh(s: _Site, i: int, g: str, d: str, out: str):
    t = s.buffer("one_minus_sq", *s.out_shape)
    return [f"multiply({s.out}, {s.out}, out={t})", f"subtract(1, {t}, out={t})", f"{d} = multiply({g}, {t}{out})"]


def _bw_relu(s: _Site, i: int, g: str, d: str, out: str):
    mask = s.buffer("positive", s.out_shape[0], xp.bool_)
    return [f"{d} = multiply({g}, greater({s.args[0]}, 0, out={mask}){out})"]


def _bw_cross_entropy(s: _Site, i: int, g: str, d: str, out: str):
    if i != 0 or f"softmax{s.k}" not in s.program.namespace:
        return None
    scale = f"{g} / {s.shapes[0][0][0]}" if s.params.get("reduction", "mean") == "mean" else g
    if out:                       # the gradient's own array, flattened once
        flat = s.program.constant(f"grad_flat{s.k}", s.program.namespace[_out_array(out)].reshape(-1))
    else:
        flat = f"{d}.reshape(-1)"
    return [f"scale{s.k} = {scale}",
            f"{d} = multiply(softmax{s.k}, scale{s.k}{out})",
            f"{flat}[pick{s.k}] -= scale{s.k}     # softmax − one-hot, without a one-hot"]


def _kept(s: _Site) -> tuple:
    """The site's reduction output shape with the reduced axes kept as 1s (``axes.kept_shape``)."""
    return kept_shape(s.shapes[0][0], s.params["axis"])


def _bw_sum(s: _Site, i: int, g: str, d: str, out: str):
    """g copied back over the summed axes: into the gradient's own array when it has one (``copyto``, one
    call), else a broadcast view (``ops.reduce._unreduce``; NumPy's broadcast_to is several Python calls).
    Where the only use of that gradient broadcasts it anyway (``_Program.reducible``), g with the summed
    axes kept as 1s stands for it, with no copy."""
    if s.reducible:      # (g of a sum over every axis is one number: it broadcasts as it is)
        return [f"{d} = {g}" if s.out_shape[0] == () else f"{d} = {g}.reshape({_kept(s)!r})"]
    if out:
        buffer = _out_array(out)
        return [f"copyto({buffer}, {g}.reshape({_kept(s)!r}))", f"{d} = {buffer}"]
    return [f"{d} = broadcast_to({g}.reshape({_kept(s)!r}), {s.shapes[0][0]!r})"]


def _bw_mean(s: _Site, i: int, g: str, d: str, out: str):
    """g / n over the averaged axes: the division broadcasts g into the gradient's array (or, as for sum,
    stays reduced where its one use broadcasts it: the same divisions)."""
    if s.reducible:      # (g of a mean over every axis is one number, divided as it is: a NumPy scalar)
        return [f"{d} = {g} / {_count(s)}" if s.out_shape[0] == () else
                f"{d} = divide({g}.reshape({_kept(s)!r}), {_count(s)})"]
    if out:
        return [f"{d} = divide({g}.reshape({_kept(s)!r}), {_count(s)}{out})"]
    return [f"{d} = divide(broadcast_to({g}.reshape({_kept(s)!r}), {s.shapes[0][0]!r}), {_count(s)})"]


def _vjp_call(ufunc: str, number: str):
    """A VJP that is one ufunc call on g (and the gate's output ``{out}`` or an input ``{a}``, ``{b}``), as
    the expression ``number`` writes it. For an input of one number whose gradient is made fresh, the
    expression itself: Python's operators on NumPy scalars are the same IEEE operations as the ufunc,
    without a ufunc call's overhead (and ``_emit_backward`` makes such gradients fresh numbers: ``out=`` on
    0-d arrays, and every later operation on them, is slower than on scalars)."""
    def emit(s: _Site, i: int, g: str, d: str, out: str):
        names = {"g": g, "out": s.out, "a": s.args[0], "b": s.args[-1]}
        if not out and s.shapes[i] is not None and s.shapes[i][0] == ():
            return [f"{d} = " + number.format(**names)]
        operands = [g] + [names[n] for n in re.findall(r"\{(out|a|b)\}", number)]
        return [f"{d} = {ufunc}({', '.join(operands)}{out})"]
    return emit


# VJP emitters by gate name, one per input; ``None`` for an input left to the generic call. Gradients that
# pass straight through (add, sub's first input) are aliases: no code, no copy.
_PASS = "pass"
_VJP: dict[str, tuple[Any, ...]] = {
    "linear": (_bw_linear, _bw_linear, _bw_linear),
    "sigmoid": (_bw_sigmoid,), "tanh": (_bw_tanh,), "relu": (_bw_relu,),
    "exp": (_vjp_call("multiply", "{g} * {out}"),),
    "neg": (_vjp_call("negative", "-{g}"),),
    "add": (_PASS, _PASS),
    "sub": (_PASS, _vjp_call("negative", "-{g}")),
    "mul": (_vjp_call("multiply", "{g} * {b}"), _vjp_call("multiply", "{g} * {a}")),
    "div": (_vjp_call("divide", "{g} / {b}"), None),
    "cross_entropy": (_bw_cross_entropy, None),
    "sum": (_bw_sum,), "mean": (_bw_mean,),
}


# gates whose written-out VJPs are one call (``_vjp_call``)
_ONE_CALL_VJP = frozenset(("exp", "neg", "sub", "mul", "div"))


_NUMPY = ("add", "subtract", "multiply", "divide", "negative", "matmul", "maximum", "greater", "tanh", "exp", "log",
          "copyto", "array", "asarray", "broadcast_to", "vdot", "dot")
"""The array functions the generated code calls, taken from the array module of the step's device."""


class _Program:
    """A recording turned into one generated Python function: the forward pass, the backward pass in reverse,
    then either the hand-over of each parameter's gradient to its ``.grad`` or the optimizer's update.

    Everything the engine decides while it runs — which gradients flow, where a broadcast gradient is summed
    back, where one is cast, when an array is last needed — is decided once here, from the recording, so the
    generated code is a straight line (``Compiled.source()`` shows it). Hot gates are written out as NumPy
    calls into arrays allocated once (``_FORWARD``, ``_VJP``); the others call the gate's own functions.
    """

    def __init__(self, rec: _Recording, root: Tensor, aux: list[Tensor], seen: dict, update: _Update | None):
        self.module = array_module(root.data)   # numpy, or the GPU's library: buffers and functions live there
        self.namespace: dict = {**{name: getattr(self.module, name) for name in _NUMPY},
                                "sum_to": engine.sum_to, "add_to_grad": engine.add_to_grad}
        self.rec, self.seen = rec, seen
        self.owned: set[int] = set()      # slots whose gradient is an array of their own (not an alias)
        self.kept: set[str] = set()       # locals bound to preallocated arrays: a ``del`` would free nothing
        self.transposed: set[int] = set()  # 2-D slots whose array is the transpose of a C-ordered buffer
        self.returned = {rec.slot[id(t)] for t in (root, *aux)}
        self.reducible = self._reducible()
        self.name: dict[int, str] = {s: self.constant(f"c{s}", v) for s, v in enumerate(rec.values) if v is not None}
        self.params = [p for _, p in rec.params]
        lines = [f"v{s} = inputs[{k}]" for k, s in enumerate(rec.inputs)]
        lines += [f"v{s} = params[{k}].data" for k, (s, _) in enumerate(rec.params)]
        self.name.update({s: f"v{s}" for s in rec.inputs})
        self.name.update({s: f"v{s}" for s, _ in rec.params})
        self.kept.update(self.name[s] for s in (*rec.inputs, *(s for s, _ in rec.params)))
        self.root_slot = root_slot = rec.slot[id(root)]
        # the learning rate folded into ∂loss/∂loss: only when every parameter is the optimizer's own
        self.fold = update is not None and update.folds and self.shape_of(root_slot)[1].kind == "f" and \
            all(id(p) in update.ids for p in self.params)
        self.dots, self.penalties = self._products() if self.fold else ({}, {})
        self.decays: dict[int, list[str]] = {}   # parameter slot → gradients of its folded penalties
        lines += self._emit_forward()
        self.returns = f"return ({', '.join(self.name[rec.slot[id(t)]] for t in (root, *aux))},)"
        grads, backward = self._emit_backward(root_slot, update)
        lines += backward
        lines += self._emit_update(grads, update) if update is not None else self._emit_delivery(grads)
        lines.append(self.returns)
        body = "\n".join("    " + ln for ln in _free_early(lines, self.kept))
        self.source = f"def step(inputs, params):\n{body}\n"
        exec(builtins.compile(self.source, "<gg.compile>", "exec"), self.namespace)   # our own generated code
        self.step = self.namespace["step"]

    def _reducible(self) -> set[int]:
        """Slots whose gradient may keep reduced axes as 1s (see ``_bw_sum``): each is used once, as the input
        of a sum or mean, and made by an elementwise gate whose written-out VJPs broadcast the gradient
        against arrays of the full shape, so that every gradient they pass on has the full shape."""
        rec = self.rec
        uses = Counter(a for e in rec.entries for a in e.args)
        made_by = {e.out: e for e in rec.entries}
        ok = set()
        for e in rec.entries:
            if type(e.gate) is not engine.Gate or e.gate.name not in ("sum", "mean") or not e.args:
                continue
            s = e.args[0]
            p = made_by.get(s)
            if p is None or uses[s] != 1 or s in self.returned or type(p.gate) is not engine.Gate \
                    or p.gate.name not in ("mul", "exp", "tanh", "sigmoid", "relu") or rec.shapes[s][1].kind != "f":
                continue
            shape = rec.shapes[s][0]
            if all(rec.values[a] is None and rec.shapes[a][0] == shape for a in p.args):
                ok.add(s)
        return ok

    def _products(self) -> tuple[dict[int, tuple[int, int, int]], dict[int, int]]:
        """Sums over every axis of an elementwise product a·b (same shapes, float) whose product nothing else
        uses: ``{sum slot: (product slot, a, b)}``, computed as one dot product with no product array; and
        among them the squares p·p of a parameter: ``{sum slot: p}``, whose gradient 2·g·p (g: the sum's
        gradient, one number) the update folds into p's decay factor (``_emit_folded_update``). For a folded
        step only: the dot product sums in another order than the reduction (equal to float rounding, not bit
        for bit, which the unfolded steps keep), and the decay needs the update w ← shrink·w + scale·g, where
        an L2 penalty's gradient is a decay."""
        rec = self.rec
        uses = Counter(a for e in rec.entries for a in e.args)
        made_by = {e.out: e for e in rec.entries}
        params = {s for s, _ in rec.params}
        dots, penalties = {}, {}
        for e in rec.entries:
            if type(e.gate) is not engine.Gate or e.gate.name != "sum" or len(e.args) != 1 \
                    or e.params.get("keepdims") or rec.shapes[e.out][0] != ():
                continue
            m = e.args[0]
            product = made_by.get(m)
            if product is None or type(product.gate) is not engine.Gate or product.gate.name != "mul" \
                    or uses[m] != 1 or m in self.returned or rec.shapes[m][1].kind != "f":
                continue
            if all(rec.values[a] is None and rec.shapes[a] == rec.shapes[m] for a in product.args):
                dots[e.out] = (m, *product.args)
                if product.args[0] == product.args[1] and product.args[0] in params:
                    penalties[e.out] = product.args[0]
        return dots, penalties

    def _plus_zero(self, e: _Entry) -> int | None:
        """The slot x of an addition x + 0 or 0 + x (a Python or NumPy scalar zero) whose result is x's own
        shape and dtype and is not returned: the result is x (as a value: −0 + 0 would be +0), so it is
        named x, no call (Python's ``sum()`` of tensors starts with such an addition)."""
        if type(e.gate) is not engine.Gate or e.gate.name != "add" or len(e.args) != 2 or e.out in self.returned:
            return None
        for zero, x in (e.args, e.args[::-1]):
            value = self.rec.values[zero]
            if isinstance(value, (int, float, xp.generic)) and not isinstance(value, bool) and value == 0 \
                    and self.rec.values[x] is None and self.rec.shapes[x] == self.rec.shapes[e.out]:
                return x
        return None

    # ---- the namespace: constants and preallocated arrays ------------------------------------------
    def constant(self, name: str, value) -> str:
        self.namespace[name] = value
        return name

    def buffer(self, name: str, shape: tuple, dtype) -> str:
        return self.constant(name, self.module.empty(shape, dtype))

    def shape_of(self, s: int) -> tuple:
        """(shape, dtype) of a traced slot."""
        return self.rec.shapes[s]

    def _site(self, k: int, e: _Entry) -> _Site:
        shapes = [self.rec.shapes.get(s) if self.rec.values[s] is None else
                  ((self.rec.values[s].shape, self.rec.values[s].dtype) if isinstance(self.rec.values[s], ndarray)
                   else None) for s in e.args]
        return _Site(self, k, [self.name[s] for s in e.args], shapes, e.params, e.out)

    def _call_args(self, k: int, e: _Entry) -> str:
        args = ", ".join(self.name[s] for s in e.args)
        if e.params:
            self.namespace[f"p{k}"] = e.params
            args += f", **p{k}" if args else f"**p{k}"
        return args

    # ---- forward -----------------------------------------------------------------------------------
    def _emit_forward(self) -> list[str]:
        lines: list[str] = []
        products = {m for m, _, _ in self.dots.values()}
        for k, e in enumerate(self.rec.entries):
            o = self.name[e.out] = f"v{e.out}"
            emit = _FORWARD.get(e.gate.name) if type(e.gate) is engine.Gate else None
            code = None
            if e.out in products:        # computed inside its sum's dot product, never as an array
                continue
            if e.out in self.dots:
                m, a, b = self.dots[e.out]
                code = [f"{o} = vdot({self.name[a]}, {self.name[b]})  # sum of v{m} = {self.name[a]}·{self.name[b]}: "
                        "one dot product, no product array (it sums in another order: equal to rounding)"]
                if e.out in self.returned:
                    code.append(f"{o} = asarray({o})")
                lines += code
                continue
            same = self._plus_zero(e)
            if same is not None:
                lines.append(f"{o} = {self.name[same]}  # add: x + 0 is x (Python's sum() starts at 0)")
                continue
            if emit is not None:
                # one number is cheaper made fresh than written into an array (``out=`` on 0-d arrays is slow),
                # where the gate is one call (the in-place ones, sigmoid's, need an array)
                number = self.shape_of(e.out)[0] == ()
                fresh = e.out in self.returned or self.shape_of(e.out)[1].kind != "f" or \
                    (number and e.gate.name in _ONE_CALL)
                out = "" if fresh else f", out={self.buffer(f'buf{e.out}', *self.shape_of(e.out))}"
                if out and e.gate.name in _UNARY and e.args[0] in self.transposed:
                    # the transposed layout of its input (a ufunc reading one layout and writing the other
                    # is slower), so that its own consumers see a transposed array as well
                    shape, dtype = self.shape_of(e.out)
                    self.constant(f"buf{e.out}", self.module.empty(shape[::-1], dtype).T)
                    self.transposed.add(e.out)
                if not (fresh and number and e.gate.name not in _ONE_CALL and e.gate.name != "cross_entropy"):
                    code = emit(self._site(k, e), o, out)       # (a fresh number cannot be written in place)
                if code is not None and out and e.gate.name != "cross_entropy":
                    self.kept.add(o)
                if code is not None and number and e.out in self.returned:   # a NumPy scalar: returned as
                    code.append(f"{o} = asarray({o})")                       # an array (what a Tensor holds)
            if code is None:
                self.namespace[f"f{k}"] = e.forward
                code = [f"{o} = f{k}({self._call_args(k, e)})"]
                if e.out in self.returned:       # the generic call may return a view of a buffer
                    code.append(f"{o} = array({o})")
            code[0] += f"  # {_label(e)}"
            lines += code
        return lines

    # ---- backward ----------------------------------------------------------------------------------
    def _emit_backward(self, root: int, update: _Update | None) -> tuple[dict[int, str], list[str]]:
        """The VJPs in reverse recording order (the order the engine's recording ran them in). Returns each
        slot's gradient name and the lines; a gradient is accumulated in place only into an array of its
        own (``owned``), never into one that an alias may share."""
        rec = self.rec
        shape, dtype = self.shape_of(root)
        lines: list[str] = []
        if self.fold:     # ∂loss/∂loss = scale (SGD: −η), so every gradient comes out as −η·∂loss/∂p
            assert update is not None
            self.constant("rule", update.rule)
            self.constant("group0", update.optimizer.param_groups[0])
            lines.append("scale, shrink = rule(group0)  # the update w ← shrink·w + scale·∂loss/∂w: SGD's −η, 1 − ηλ")
            note = "  # ∂loss/∂loss = scale: the learning rate folded into every gradient"
            if shape == ():     # a NumPy scalar, as the eager VJPs make of 0-d gradients: faster than a 0-d array
                lines.append(f"g_root = {self.constant('root_type', dtype.type)}(scale){note}")
                gname: dict[int, str] = {root: "g_root"}
            else:
                gname = {root: self.buffer("g_root", shape, dtype)}
                lines.append(f"g_root.fill(scale){note}")
        else:
            gname = {root: self.constant("g_root", self.module.ones(shape, dtype))}   # ∂loss/∂loss, read only
        owned = self.owned
        params = {s for s, _ in rec.params}
        fresh_for = params if update is None else set()   # gradients a .grad will keep must be fresh arrays
        for k in reversed(range(len(rec.entries))):
            e = rec.entries[k]
            flows = self.seen.get(e.out)
            if flows is None or e.out not in gname:
                continue
            g = gname[e.out]
            if e.out in self.penalties:      # Σ p·p: its gradient 2·g·p goes into p's decay factor (the update)
                self.decays.setdefault(self.penalties[e.out], []).append(g)
                continue
            site = self._site(k, e)
            generic = type(e.gate) is not engine.Gate
            if generic:                                  # a custom Function: one backward for all inputs
                self.namespace[f"b{k}"] = e.gate
                lines.append(f"b{k}_grads = b{k}.input_grads({g}, v{e.out}, [{self._call_args(k, e)}], "
                             f"{{}}, {list(e.needs)!r})")
            emitters: tuple[Any, ...] = () if generic else _VJP.get(e.gate.name, ())
            square = not generic and e.gate.name == "mul" and e.args[0] == e.args[1] and e.args[0] not in gname
            for i, (s, grad_shape, grad_dtype) in enumerate(flows):
                if grad_shape is None or (square and i == 1):
                    continue
                note = f"  # ∂/∂{self.name[s]} of {_label(e)}"
                first = s not in gname
                d = f"g{s}" if first else f"g{s}_{k}_{i}"
                emit = emitters[i] if i < len(emitters) else None
                exact = grad_shape == rec.shapes[s][0] and grad_dtype == rec.shapes[s][1]
                if square and exact and grad_dtype.kind == "f":   # x·x: g·x from each input, added (exactly 2·g·x)
                    fresh = s in fresh_for
                    out = "" if fresh else f", out={self.buffer(f'grad{s}_{k}_{i}', grad_shape, grad_dtype)}"
                    lines.append(f"{d} = multiply({g}, {self.name[s]}{out}){note}")
                    if out or grad_shape != ():
                        lines.append(f"add({d}, {d}, out={d})  # x·x: twice")
                        owned.add(s)
                    else:                  # (a fresh 0-d product is a NumPy scalar, which has no out=)
                        lines.append(f"{d} = {d} + {d}  # x·x: twice")
                    if out:
                        self.kept.add(d)
                    gname[s] = d
                    continue
                square = False
                if emit is _PASS and exact:
                    if first:
                        gname[s] = g                     # shared: never added to in place
                    else:
                        lines.append(self._accumulate(s, gname, g) + note)
                    continue
                code = None
                if emit not in (None, _PASS) and grad_dtype.kind == "f":
                    alias = site.reducible and emit in (_bw_sum, _bw_mean)     # stays reduced: no array of its own
                    number = exact and grad_shape == () and e.gate.name in _ONE_CALL_VJP    # see _vjp_call
                    fresh = (s in fresh_for and first and exact) or alias or number
                    out = "" if fresh else f", out={self.buffer(f'grad{s}_{k}_{i}', grad_shape, grad_dtype)}"
                    code = emit(site, i, g, d, out)
                    if code is not None and exact and first and not alias and (out or emit is not _bw_sum) \
                            and (out or grad_shape != ()):
                        owned.add(s)     # (without an array of its own, sum's gradient is a view; a fresh 0-d
                                         # result is a NumPy scalar, into which nothing can be added in place)
                    if code is not None and out and exact:
                        self.kept.add(d)
                if code is None:
                    if generic:
                        expr = f"b{k}_grads[{i}]"
                    else:
                        self.namespace[f"d{k}_{i}"] = e.gate.vjps[i]
                        expr = f"d{k}_{i}({g}, v{e.out}, {self._call_args(k, e)})"
                    code = [f"{d} = {expr}"]
                if grad_shape != rec.shapes[s][0]:
                    code.append(f"{d} = sum_to({d}, {rec.shapes[s][0]!r})")
                if grad_dtype != rec.shapes[s][1]:
                    self.namespace[f"t{s}"] = rec.shapes[s][1]
                    code.append(f"{d} = {d}.astype(t{s})")
                code[0] += note
                lines += code
                if first:
                    gname[s] = d
                else:
                    lines.append(self._accumulate(s, gname, d))
        return gname, lines

    def _accumulate(self, s: int, gname: dict[int, str], part: str) -> str:
        """Add a further gradient of slot ``s``: in place only into an array that is this slot's alone. Else the
        sum gets this slot's own name: the current one may be an alias of another slot's gradient (which must
        keep its value) or a name of the program's namespace (which a local assignment would shadow)."""
        total = gname[s]
        if s in self.owned:
            return f"add({total}, {part}, out={total})"
        gname[s] = f"g{s}"
        if self.shape_of(s)[0] != ():          # (a sum of 0-d arrays is a NumPy scalar: no array to add into)
            self.owned.add(s)
        return f"g{s} = {total} + {part}"

    # ---- after backward: hand the gradients over, or update the parameters ----------------------------
    def _emit_delivery(self, grads: dict[int, str]) -> list[str]:
        """Add each gradient to its parameter's .grad, as backward() does (never on one of our arrays)."""
        self.constant("ours", frozenset(id(v) for v in self.namespace.values() if isinstance(v, ndarray)))
        lines = ["delivered = set(ours)"]
        lines += [f"add_to_grad(params[{k}], {grads[s]}, delivered)" for k, (s, _) in enumerate(self.rec.params)
                  if s in grads]
        return lines

    def _emit_folded_update(self, grads: dict[int, str]) -> list[str]:
        """w ← shrink·w + g for each parameter, g = scale·∂loss/∂w. A parameter with penalties Σ w·w, whose
        gradients g_k (one number each) the backward pass left out, has ∂loss/∂w = rest + 2·Σg_k·w/scale,
        so w ← shrink·w + 2·Σg_k·w + g_rest = (shrink + 2·Σg_k)·w + g_rest: its own decay factor, as a
        hand-tuned step folds an L2 term (equal to the eager step to rounding)."""
        params = [s for s, _ in self.rec.params]
        plain = [s for s in params if s in grads and s not in self.decays]
        lines = ["if shrink != 1:  # weight decay"] + [f"    multiply(v{s}, shrink, out=v{s})" for s in plain] \
            if plain else []
        factor: dict[str, str] = {}      # one factor per distinct sum of penalty gradients
        for s in params:
            if s in self.decays:
                total = " + ".join(f"float({g})" for g in self.decays[s])
                if total not in factor:
                    factor[total] = f"decay{len(factor)}"
                    lines.append(f"{factor[total]} = shrink + 2 * ({total})  # Σ w·w's gradient 2·g·w as a decay")
                lines.append(f"multiply(v{s}, {factor[total]}, out=v{s})")
        return lines + [f"add(v{s}, {grads[s]}, out=v{s})  # w ← shrink·w + scale·∂loss/∂w" for s in params
                        if s in grads]

    def _emit_update(self, grads: dict[int, str], update: _Update) -> list[str]:
        """The optimizer's step inside the compiled function: each parameter's .grad is this step's gradient
        (in a tensor kept from step to step), then ``before_step`` (clipping), then the optimizer's own
        per-parameter rule, ``_update``, group by group in the optimizer's order, as ``step()`` runs it."""
        if self.fold:      # each gradient is scale·∂loss/∂p: the update is one addition (after the decay, if any)
            return self._emit_folded_update(grads)
        lines = []
        index = {id(p): k for k, p in enumerate(self.params)}
        slot = {id(p): s for s, p in self.rec.params}
        others = [k for k, p in enumerate(self.params) if id(p) not in update.ids]
        if others:      # parameters the optimizer does not hold: their gradients add up, as in eager mode
            lines += self._emit_delivery({s: grads[s] for s, p in self.rec.params if id(p) not in update.ids
                                          and s in grads})
        unreached = []
        for group in update.optimizer.param_groups:
            for p in group["params"]:
                k = index.get(id(p))
                if k is None or slot[id(p)] not in grads:
                    unreached.append(p)
                    continue
                g = grads[slot[id(p)]]
                if slot[id(p)] not in self.owned:     # an array of its own, as backward() gives each leaf
                    lines.append(f"copyto({self.buffer(f'pgrad{k}', p.shape, p.dtype)}, {g})")
                    g = f"pgrad{k}"
                self.constant(f"gt{k}", Tensor._make(self.module.empty(0, p.dtype)))
                lines += [f"gt{k}.data = {g}", f"params[{k}].grad = gt{k}"]
        if unreached:
            self.constant("unreached", unreached)
            lines.append("for p in unreached: p.grad = None")
        if update.guard is not None:     # it may stop the step before the update (fit's callbacks)
            self.constant("guard", update.guard)
            lines.append(f"if not guard({self.name[self.root_slot]}): {self.returns}")
        if update.before_step is not None:
            self.constant("before_step", update.before_step)
            lines.append("before_step()")
        if not update.per_parameter:
            self.constant("optimizer", update.optimizer)
            return lines + ["optimizer.step()"]
        self.constant("hyper", update.optimizer._hyper)
        self.constant("update", update.optimizer._update)
        for gi, group in enumerate(update.optimizer.param_groups):
            self.constant(f"group{gi}", group)
            lines.append(f"h{gi} = hyper(group{gi})")
            for p in group["params"]:
                k = index.get(id(p))
                if k is not None and slot[id(p)] in grads:
                    lines.append(f"update(params[{k}], v{slot[id(p)]}, gt{k}.data, h{gi})")
        return lines


def _label(e: _Entry) -> str:
    return e.gate.name if e.gate is not None else getattr(e.forward, "__name__", "function")


def _free_early(lines: list[str], kept: set[str]) -> list[str]:
    """Insert ``del`` after each local's last use, so arrays are freed as soon as backward is done with them
    (not for the names in ``kept``, bound to arrays the program keeps anyway)."""
    last: dict[str, int] = {}
    for i, line in enumerate(lines):
        for var in re.findall(r"\b([vg]\d+|b\d+_grads)\b", line.split("  #")[0]):
            last[var] = i
    out = []
    for i, line in enumerate(lines):
        out.append(line)
        dead = sorted(v for v, j in last.items() if j == i and v not in kept and not line.startswith("return"))
        if dead:
            out.append("del " + ", ".join(dead))
    return out


class _Update:
    """The optimizer step a whole compiled step ends with (``gg.compile(..., optimizer=...)``)."""

    def __init__(self, optimizer: Optimizer, before_step: Callable[[], None] | None,
                 guard: Callable[[ndarray], bool] | None = None, keep_grads: bool = False):
        self.optimizer = optimizer
        self.before_step = before_step
        self.guard = guard
        self.ids = {id(p) for group in optimizer.param_groups for p in group["params"]}
        # the optimizer's per-parameter rule, unless it brings a step() of its own
        kind = type(optimizer)
        self.per_parameter = all(hasattr(optimizer, a) for a in ("_hyper", "_update", "_step")) and \
            kind._step.__qualname__ == "Optimizer._step" and kind.step.__qualname__ == "Optimizer.step" and \
            kind._hyper.__qualname__ != "Optimizer._hyper"
        # the learning rate folded into the gradients: only where nothing but the update reads them
        # (and only with the rule of the class that states it: a subclass with an _update of its own keeps it)
        groups = optimizer.param_groups
        owners = {getattr(kind, a).__qualname__.split(".")[0] for a in ("_hyper", "_update", "_folded")
                  if hasattr(kind, a)}
        self.folds = (self.per_parameter and not keep_grads and before_step is None and guard is None
                      and len(groups) == 1 and hasattr(optimizer, "_folded") and len(owners) == 1
                      and optimizer._folded(optimizer._hyper(groups[0])) is not None)

    def eager(self, loss: Tensor, observer=None) -> None:
        """What the compiled step replaces: zero_grad, backward, guard, before_step, step."""
        self.optimizer.zero_grad()
        engine.backward(loss, xp.ones_like(loss.data), observer=observer)
        if self.guard is not None and not self.guard(loss.data):
            return
        if self.before_step is not None:
            self.before_step()
        self.optimizer.step()
        if self.folds:          # as after a folded step: the gradients were never handed to .grad
            self.optimizer.zero_grad()

    def rule(self, group) -> tuple[float, float]:
        """``(scale, shrink)`` of the folded update for this call (hyperparameters read live: schedules apply)."""
        rule = self.optimizer._folded(self.optimizer._hyper(group))
        if rule is None:
            raise RuntimeError(f"gg.compile: this step folds the learning rate into the gradients, but "
                               f"{type(self.optimizer).__name__}'s update is no longer w ← shrink·w + scale·g "
                               "(momentum set since?); compile the step again")
        return rule


class Compiled:
    """A step function that is recorded once per input signature and replayed (see the module docs)."""

    def __init__(self, fn: Callable, warn: bool = True, update: _Update | None = None):
        self.fn = fn
        self.warn = warn
        self.update = update
        self.programs: dict[tuple, _Program | None] = {}   # None: this signature runs eagerly
        self.pending: dict[tuple, _Recording] = {}
        self.reasons: dict[tuple, str] = {}

    def source(self) -> str:
        """The generated code of each recorded signature (what a compiled call runs)."""
        return "\n".join(f"# inputs {list(sig[:-1])}\n{p.source}" for sig, p in self.programs.items() if p)

    def __call__(self, *args: TensorLike) -> Tensor | tuple[Tensor, ...]:
        arrays = [a.data if isinstance(a, Tensor) else a if type(a) is ndarray else as_tensor(a).data
                  for a in args]
        sig = (*[(a.shape, a.dtype) if type(a) is ndarray else (a.shape, a.dtype, str(device_of(a))) for a in arrays],
               engine.is_grad_enabled())
        program: _Program | None | Literal[False] = self.programs.get(sig, False)   # False: not seen yet
        if program:
            out = program.step(arrays, program.params)
            loss = Tensor._make(out[0])
            return (loss, *[Tensor._make(a) for a in out[1:]]) if len(out) > 1 else loss
        inputs = [Tensor._make(a) for a in arrays]
        if program is None:
            return self._eager(inputs)
        return self._trace(sig, inputs)

    def _backward(self, loss: Tensor, observer=None) -> None:
        if self.update is not None:
            self.update.eager(loss, observer)
        else:
            engine.backward(loss, xp.ones_like(loss.data), observer=observer)

    def _eager(self, inputs: list[Tensor]):
        loss, aux = _split(self.fn(*inputs))
        self._backward(loss)
        return _result(loss.detach(), [a.detach() for a in aux])

    def _trace(self, sig: tuple, inputs: list[Tensor]):
        rec = _Recording(inputs)
        with hooks.installed(rec):
            loss, aux = _split(self.fn(*inputs))
        if id(loss) not in rec.slot or any(id(a) not in rec.slot for a in aux):
            rec.problem = "what it returns was not computed by gates from its inputs"
        elif len({str(t.device) for t in rec.keep}) > 1:
            rec.problem = "it moves tensors between devices (.to() inside the step); the replay runs on one device"
        seen, entry_at = {}, {e.out: e for e in rec.entries}

        def observe(node, g, grads):   # which gradients flowed, with which shapes: the program's backward
            out = rec.node_slot.get(node)
            if out is not None:
                seen[out] = [(s, None if gi is None else gi.shape, None if gi is None else gi.dtype)
                             for s, gi in zip(entry_at[out].args, grads)]

        self._backward(loss, observe)
        first = self.pending.pop(sig, None)
        if first is None and not rec.problem:
            self.pending[sig] = rec          # the second call with this signature decides
        else:
            reason = rec.problem or (_difference(first, rec) if first is not None else None)
            if reason is None:
                self.programs[sig] = _Program(rec, loss, aux, seen, self.update)
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


def compile(fn: Callable, warn: bool = True, *, optimizer: Optimizer | None = None,
            before_step: Callable[[], None] | None = None, keep_grads: bool = False,
            guard: Callable[[ndarray], bool] | None = None) -> Compiled:
    """Compile a step ``fn(*inputs) -> loss`` (or ``(loss, *outputs)``) into forward + backward replay.

    Calling the result runs the forward pass and the backward pass — parameters' ``.grad`` receive their
    gradients, as from ``loss.backward()`` — and returns the loss (and outputs) as tensors without graph.

    With ``optimizer``, the call is the whole training step — ``optimizer.zero_grad()``, forward, backward,
    ``guard(loss)``, ``before_step()`` (e.g. gradient clipping) and ``optimizer.step()`` — in one generated
    function: each parameter's ``.grad`` then holds this step's gradient in an array the next call
    overwrites. Where the update is ``w ← shrink·w + scale·g`` with one learning rate (SGD without
    momentum, in one parameter group) and nothing else reads the gradients (no ``before_step``, no
    ``guard``, ``keep_grads=False``), the learning rate is folded into the backward pass instead, as a
    hand-tuned step does: the gradients come out as −η·∂loss/∂p, the update is one addition per
    parameter, and ``.grad`` is left None (equal to the eager step up to float rounding, not bit for bit);
    a sum of an elementwise product is then one dot product, and an L2 penalty α·Σ p·p a decay factor.
    ``keep_grads=True`` keeps the gradients in ``.grad`` (and the eager step's numbers bit for bit).
    ``guard(loss_array) -> bool`` runs after backward with ``.grad`` set; False skips the update (``fit``
    runs its callbacks there, so that a non-finite gradient stops training before it is applied).
    """
    if not callable(fn):
        raise TypeError(f"gg.compile: expected the step function fn(*inputs) -> loss, not {type(fn).__name__}")
    if optimizer is None and (before_step is not None or guard is not None or keep_grads):
        raise ValueError("gg.compile: before_step, guard and keep_grads belong to the whole step; pass "
                         "optimizer= too")
    return Compiled(fn, warn, None if optimizer is None else _Update(optimizer, before_step, guard, keep_grads))
