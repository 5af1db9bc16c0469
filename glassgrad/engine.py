"""The engine: gates, the graph they record, and the backward pass.

A *gate* is a function with a forward rule and one vector-Jacobian product (VJP) per input. Applying a
gate to tensors that need gradients records a *node*: the gate, its inputs, its output array and its
parameters. ``backward`` walks the nodes from the output back to the leaves and asks each gate for the
gradients of its inputs, given the gradient of its output.

Two rules keep every gate short:

* A gate applied to plain arrays is plain NumPy: it computes and records nothing. The VJPs are written
  with operators and gates, so during an ordinary backward pass they run on arrays at NumPy speed, and
  with ``create_graph=True`` the same code runs on tensors and records the backward pass itself, which
  is how second derivatives come for free.
* Broadcasting is undone here, once: when a gradient comes back larger than its input because the input
  was broadcast, the engine sums it down to the input's shape (``sum_to``). No gate does this itself.
"""
from __future__ import annotations

import functools
import inspect
import sys
from typing import Any, Callable, Sequence

from glassgrad._backend import ndarray, xp
from glassgrad.tensor import Tensor


# --------------------------------------------------------------------------------------------------
# Grad mode
# --------------------------------------------------------------------------------------------------
class _GradMode:
    enabled = True


def is_grad_enabled() -> bool:
    """True when gates record the graph (the default)."""
    return _GradMode.enabled


class _GradModeScope:
    """Sets grad mode inside a ``with`` block or a decorated function, and restores it after."""

    def __init__(self, mode: bool):
        self.mode = bool(mode)

    def __enter__(self):
        self.prev = _GradMode.enabled
        _GradMode.enabled = self.mode
        return self

    def __exit__(self, *exc):
        _GradMode.enabled = self.prev

    def __call__(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with _GradModeScope(self.mode):
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradModeScope):
    """Gates compute values but record nothing (evaluation, parameter updates). ``with gg.no_grad():``"""

    def __init__(self):
        super().__init__(False)


class enable_grad(_GradModeScope):
    """Record the graph again, even inside ``no_grad``."""

    def __init__(self):
        super().__init__(True)


class set_grad_enabled(_GradModeScope):
    """``set_grad_enabled(False)`` switches recording off at once; as a ``with`` block it restores it."""

    def __init__(self, mode: bool):
        super().__init__(mode)
        self.prev = _GradMode.enabled
        _GradMode.enabled = self.mode

    def __enter__(self):
        return self

    def __call__(self, fn: Callable) -> Callable:
        _GradMode.enabled = self.prev       # as a decorator it applies only while ``fn`` runs
        return super().__call__(fn)


# --------------------------------------------------------------------------------------------------
# Gates and nodes
# --------------------------------------------------------------------------------------------------
VJP = Callable[..., Any]


class Gate:
    """A differentiable function: ``forward(*inputs, **params)`` and one VJP per input.

    Each VJP is called as ``vjp(g, out, *inputs, **params)`` with the gradient ``g`` of the output and
    returns the gradient of its own input. ``params`` are complete: the engine fills in the forward's
    defaults, so a VJP states no default of its own. ``None`` marks an input with no derivative rule (a
    mask); backward through it raises an error naming the gate and the input.
    """

    __slots__ = ("name", "forward", "vjps", "twice_differentiable", "doc", "defaults", "signature", "module")

    def __init__(self, name: str, forward: Callable, vjps: Sequence[VJP | None] | Each, doc: str = "",
                 twice_differentiable: bool = True, defaults: dict[str, Any] | None = None,
                 signature: inspect.Signature | None = None, module: str = ""):
        self.name = name
        self.forward = forward
        self.vjps = vjps
        self.twice_differentiable = twice_differentiable
        self.doc = doc
        self.defaults = defaults or {}     # the forward's parameter defaults, filled in by every call
        self.signature = signature         # the forward's signature (None for a gate made directly)
        self.module = module               # where the gate is declared, for the generated gate table

    def input_grads(self, g, out, inputs: Sequence, params: dict, needs: Sequence[bool]) -> list:
        """The gradients of the inputs that ``needs`` asks for (None for the others)."""
        vjps = self.vjps
        try:
            return [vjps[i](g, out, *inputs, **params) if need else None for i, need in enumerate(needs)]
        except (TypeError, IndexError):
            self._check_rules(needs)      # a missing rule is the likelier cause: say so by name
            raise

    def _check_rules(self, needs: Sequence[bool]) -> None:
        for i, need in enumerate(needs):
            if need and (i >= len(self.vjps) or self.vjps[i] is None):
                raise RuntimeError(f"{self.name}: input {i}{_input_name(self, i)} needs a gradient, but the gate "
                                   "has no derivative rule (VJP) for it")

    def __call__(self, *args, **params):
        return apply(self, args, {**self.defaults, **params} if self.defaults else params)

    def __repr__(self):
        return f"<gate {self.name}>"


def _input_name(gate: Gate, i: int) -> str:
    names = [p.name for p in gate.signature.parameters.values()] if gate.signature is not None else []
    return f" ({names[i]})" if i < len(names) and not isinstance(gate.vjps, Each) else ""


class Each:
    """The VJPs of a gate with any number of inputs (concatenate, stack): ``vjp(i, g, out, *inputs)``."""

    __slots__ = ("vjp",)

    def __init__(self, vjp: VJP):
        self.vjp = vjp

    def __getitem__(self, i: int) -> VJP:
        return functools.partial(self.vjp, i)


GATES: dict[str, Gate] = {}
"""Every gate by name: the single list that the docs, the explain views and the gradient tests read."""

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def gate(name: str, forward: Callable, *vjps: VJP | Each | None, doc: str,
         twice_differentiable: bool = True) -> Callable[..., Any]:
    """Declare and register a gate; returns it as a function with the forward's signature and ``doc``.

    The forward states every parameter default, once; its first ``len(vjps)`` parameters are the inputs
    (tensors) and the rest are parameters, passed by keyword. Each VJP takes ``(g, out, *inputs, *,
    **params)`` with the parameters keyword-only and without defaults: the engine passes them complete.
    ``doc`` gives the derivative rule in words and symbols and any subgradient chosen. The declaration is
    checked here: one VJP per input, and every VJP taking exactly the forward's parameters.
    """
    if name in GATES:
        raise ValueError(f"a gate named {name!r} is already registered")
    table: Sequence[VJP | None] | Each = vjps[0] if len(vjps) == 1 and isinstance(vjps[0], Each) else tuple(vjps)
    signature, n_inputs = _declaration(name, forward, table)
    inputs = list(signature.parameters.values())[:n_inputs] if n_inputs is not None else []
    defaults = {p.name: p.default for p in list(signature.parameters.values())[len(inputs):]
                if p.default is not inspect.Parameter.empty and p.kind is not inspect.Parameter.VAR_POSITIONAL}
    module = sys._getframe(1).f_globals.get("__name__", "")
    GATES[name] = g = Gate(name, forward, table, doc, twice_differentiable, defaults, signature, module)
    return _as_function(g, n_inputs)


def _declaration(name: str, forward: Callable, vjps: Sequence[VJP | None] | Each) -> tuple[inspect.Signature, int | None]:
    """The forward's signature and how many inputs it takes (None: any number), after checking the VJPs."""
    rules = [vjps.vjp] if isinstance(vjps, Each) else [v for v in vjps if v is not None]
    skip = 3 if isinstance(vjps, Each) else 2            # (i,) g, out
    if isinstance(forward, xp.ufunc):                    # NumPy's own function: inputs named as the VJPs name them
        names = [p.name for p in inspect.signature(rules[0]).parameters.values()][skip:skip + forward.nin]
        signature = inspect.Signature([inspect.Parameter(n, inspect.Parameter.POSITIONAL_ONLY) for n in names])
    else:
        signature = inspect.signature(forward)
    parameters = list(signature.parameters.values())
    if isinstance(vjps, Each):
        if not parameters or parameters[0].kind is not inspect.Parameter.VAR_POSITIONAL:
            raise TypeError(f"gate {name}: Each(...) VJPs need a forward taking *inputs")
        n_inputs, params = None, parameters[1:]
    else:
        n_inputs = len(vjps)
        if sum(p.kind in _POSITIONAL for p in parameters) < n_inputs:
            raise TypeError(f"gate {name}: {n_inputs} VJPs, but the forward takes fewer inputs: {signature}")
        params = parameters[n_inputs:]
    names = {p.name for p in params}
    for rule in rules:
        try:
            rule_parameters = list(inspect.signature(rule).parameters.values())[skip:]
        except (TypeError, ValueError):                 # a builtin: nothing to check
            continue
        kinds = [p.kind for p in rule_parameters]
        if inspect.Parameter.VAR_KEYWORD in kinds:
            continue
        takes = [p for p in rule_parameters if p.kind in _POSITIONAL]
        if n_inputs is not None and len(takes) != n_inputs:
            raise TypeError(f"gate {name}: {n_inputs} VJP(s) for inputs "
                            f"{[p.name for p in parameters[:n_inputs]]}, but a VJP takes the {len(takes)} inputs "
                            f"{[p.name for p in takes]}: give one VJP per input (None where there is no rule)")
        keywords = {p.name: p for p in rule_parameters if p.kind is inspect.Parameter.KEYWORD_ONLY}
        if keywords.keys() != names:
            raise TypeError(f"gate {name}: a VJP takes the parameters {sorted(keywords)}, but the forward's are "
                            f"{sorted(names)} (VJPs take them all, keyword-only, after a *)")
        defaulted = [k for k, p in keywords.items() if p.default is not inspect.Parameter.empty]
        if defaulted:
            raise TypeError(f"gate {name}: a VJP gives defaults for {defaulted}; state defaults once, in the "
                            "forward (the engine passes VJPs the complete parameters)")
    return signature, n_inputs


def _as_function(g: Gate, n_inputs: int | None) -> Callable[..., Any]:
    """The gate as a plain function: signature and docstring for help() and IDEs, defaults filled in."""
    defaults, signature = g.defaults, g.signature
    assert signature is not None
    inputs = list(signature.parameters.values())[:n_inputs or 0]
    input_names = [p.name for p in inputs]
    optional = frozenset(p.name for p in inputs if p.default is not inspect.Parameter.empty)
    n_required = len(inputs) - len(optional)

    def bind(args: tuple, params: dict) -> tuple[tuple, dict]:
        """Slow path for unusual calls (parameters by position, inputs by keyword): Python's own binding."""
        try:
            bound = signature.bind(*args, **params).arguments
        except TypeError as e:
            raise TypeError(f"{g.name}(): {e}") from None
        return (tuple(bound[n] for n in input_names if n in bound),
                {k: v for k, v in bound.items() if k not in input_names})

    if n_inputs is None:
        def function(*args, **params):
            return apply(g, args, {**defaults, **params} if defaults else params)
    else:
        def function(*args, **params):
            if len(args) != n_inputs and (not n_required <= len(args) < n_inputs or not optional.isdisjoint(params)):
                args, params = bind(args, params)
            return apply(g, args, {**defaults, **params} if defaults else params)

    function.__name__ = function.__qualname__ = g.name
    function.__module__ = g.module
    function.__doc__ = g.doc
    function.__signature__ = signature            # type: ignore[attr-defined]
    function.gate = g                             # type: ignore[attr-defined]
    return function


class Node:
    """One application of a gate in the graph: what its backward step needs, released after use."""

    __slots__ = ("gate", "inputs", "arrays", "needs", "out", "params", "retained")

    def __init__(self, gate: Gate, inputs: tuple, arrays: list, needs: list, out: ndarray, params: dict):
        self.gate = gate
        self.inputs = inputs      # tensors (and constants) in call order: the edges of the graph
        self.arrays = arrays      # the same inputs as arrays, for the fast backward
        self.needs = needs        # which inputs require a gradient
        self.out = out
        self.params = params
        self.retained = None      # weak reference to a tensor that asked for retain_grad()

    @property
    def released(self) -> bool:
        return self.inputs is None

    def release(self) -> None:
        self.inputs = self.arrays = self.out = None

    def __repr__(self):
        return f"<{self.gate.name}>"


class Trace:
    """The recorder of ``gg.compile`` while it traces a step (see glassgrad/compile.py); None otherwise."""

    active = None


class ShapeError(ValueError):
    """Shapes that a gate cannot combine; the message names the gate and the shapes."""


def apply(gate: Gate, args: tuple, params: dict):
    """Run ``gate`` on ``args``; record a node when a tensor input needs a gradient and grad mode is on."""
    arrays, needs = [], []
    wrapped = False
    for a in args:
        if isinstance(a, Tensor):
            wrapped = True
            arrays.append(a.data)
            needs.append(a._requires_grad)
        else:
            arrays.append(a)
            needs.append(False)
    if not wrapped:
        return gate.forward(*args, **params)
    try:
        out = gate.forward(*arrays, **params)
    except (ValueError, IndexError, TypeError) as e:
        shapes = ", ".join(str(getattr(a, "shape", type(a).__name__)) for a in arrays)
        raise ShapeError(f"{gate.name}: cannot apply to inputs of shapes {shapes}"
                         f"{' with ' + str(params) if params else ''}: {e}") from e
    result = Tensor._make(out, Node(gate, args, arrays, needs, out, params)
                          if _GradMode.enabled and True in needs else None)
    if Trace.active is not None:
        Trace.active.record(gate, args, params, needs, result)
    return result


def sum_to(g, shape: tuple):
    """Sum a gradient down to ``shape``: undo NumPy broadcasting (leading axes, and axes of size 1)."""
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape) if n == 1 and g.shape[lead + i] != 1)
    return g.sum(axis=axes, keepdims=True).reshape(shape)


# --------------------------------------------------------------------------------------------------
# The backward pass
# --------------------------------------------------------------------------------------------------
FREED = ("backward through a graph whose saved arrays were already freed: a graph is freed after its "
         "first backward(). Pass retain_graph=True to the first backward() to run backward through it again.")


def _consumer_counts(root: Node) -> dict[Node, int]:
    """For every node reachable from ``root``, how many nodes consume its output (iteratively: no recursion)."""
    counts = {root: 0}
    stack = [root]
    while stack:
        node = stack.pop()
        if node.inputs is None:
            raise RuntimeError(FREED)
        for t, need in zip(node.inputs, node.needs):
            parent = t.grad_fn if need else None
            if parent is None:
                continue
            if parent in counts:
                counts[parent] += 1
            else:
                counts[parent] = 1
                stack.append(parent)
    return counts


def backward(root: Tensor, grad, *, retain_graph: bool = False, create_graph: bool = False,
             inputs: Sequence[Tensor] | None = None, observer: Callable | None = None):
    """Backpropagate ``grad`` (the gradient of ``root``) through the graph that produced ``root``.

    Each node is processed once, after every node that consumed its output has passed its gradient
    down (Kahn's topological order). Gradients of a tensor used several times add up.

    * ``inputs=None``: add each leaf's gradient to ``leaf.grad`` (accumulating, as in PyTorch).
    * ``inputs=[...]``: return the gradients of these tensors instead and leave every ``.grad`` alone
      (also those of tensors that called ``retain_grad()``).
    * ``create_graph``: run the VJPs on tensors so the gradients are themselves differentiable.
    * ``observer(node, g, input_grads)``: called for each node, for the explain views.
    """
    captured = None if inputs is None else {_key(t): None for t in inputs}
    with _GradModeScope(create_graph):
        if create_graph and not isinstance(grad, Tensor):
            grad = Tensor._make(grad)
        root_node = root.grad_fn
        if root_node is None:   # the root is itself a leaf
            _deliver(root, grad, captured)
        else:
            _run(root_node, grad, retain_graph or create_graph, create_graph, captured, observer)
    if captured is None:
        return None
    return [captured[_key(t)] for t in inputs]


def _key(t: Tensor):
    return t.grad_fn if t.grad_fn is not None else id(t)


grad_ready_hooks: list[Callable[[Tensor], None]] = []
"""Functions called as ``hook(leaf)`` once backward has added the last contribution of this pass to
``leaf.grad`` (its gradient is final until the next backward); for starting work on a gradient early, as the
distributed optimiser's overlapped Allreduce does. Not called when ``backward(inputs=...)`` touches no ``.grad``."""


def _leaf_uses(counts: dict[Node, int]) -> dict[int, int]:
    """How many times each leaf needing a gradient is an input of the graph (what it waits for to be final)."""
    uses: dict[int, int] = {}
    for node in counts:
        for t, need in zip(node.inputs, node.needs):
            if need and t.grad_fn is None:
                uses[id(t)] = uses.get(id(t), 0) + 1
    return uses


def _run(root: Node, grad, retain_graph: bool, create_graph: bool, captured: dict | None, observer):
    counts = _consumer_counts(root)
    leaf_uses = _leaf_uses(counts) if grad_ready_hooks and captured is None else None
    grads = {root: grad}
    delivered: set[int] = set()     # ids of the arrays handed to leaves so far
    ready = [root]
    while ready:
        node = ready.pop()
        g = grads.pop(node)
        if captured is not None and node in captured:
            captured[node] = g
        if node.retained is not None and captured is None:   # asking for chosen gradients touches no .grad
            _retain(node, g)
        tensors = node.inputs
        if create_graph:
            if not node.gate.twice_differentiable:
                raise RuntimeError(f"{node.gate.name}: this gate's derivative is computed on arrays, so it cannot "
                                   "be differentiated again (create_graph=True)")
            out = Tensor._make(node.out, node)   # the output again, as a tensor connected to this node
            in_grads = node.gate.input_grads(g, out, tensors, node.params, node.needs)
        else:
            in_grads = node.gate.input_grads(g, node.out, node.arrays, node.params, node.needs)
        if observer is not None:
            observer(node, g, in_grads)
        for t, a, gi in zip(tensors, node.arrays, in_grads):
            if gi is None:
                continue
            if gi.shape != a.shape:
                gi = sum_to(gi, a.shape)
            if gi.dtype != a.dtype:
                gi = gi.astype(a.dtype)
            parent = t.grad_fn
            if parent is None:
                if not create_graph:
                    gi = own_array(gi, delivered)
                _deliver(t, gi, captured, delivered)
                if leaf_uses is not None:
                    leaf_uses[id(t)] -= 1
                    if leaf_uses[id(t)] == 0:
                        for hook in grad_ready_hooks:
                            hook(t)
                continue
            if parent in grads:
                grads[parent] = grads[parent] + gi
            else:
                grads[parent] = gi
            left = counts[parent] - 1
            counts[parent] = left
            if left == 0:
                ready.append(parent)
        if not retain_graph:
            node.release()


def own_array(gi, delivered: set):
    """``gi`` itself if a leaf may keep it, else a copy: never a view, a read-only array or an array already
    handed to another leaf (add passes one gradient to both inputs), so in-place updates of one ``.grad``
    never change another's."""
    if id(gi) in delivered or type(gi) is not ndarray or not gi.flags.owndata or not gi.flags.writeable:
        gi = xp.array(gi)
    delivered.add(id(gi))
    return gi


def _deliver(leaf: Tensor, gi, captured: dict | None, delivered: set = frozenset()) -> None:
    """Hand a leaf its gradient: into ``captured`` when asked for, else added to ``leaf.grad``."""
    if captured is not None:
        key = id(leaf)
        if key in captured:
            captured[key] = gi if captured[key] is None else captured[key] + gi
        return
    add_to_grad(leaf, gi, delivered)


def add_to_grad(leaf: Tensor, gi, delivered: set = frozenset()) -> None:
    """``leaf.grad += gi``. A gradient from an earlier backward is added to in place when it is a plain
    writable array of the leaf's own (as PyTorch accumulates); one handed over in this pass (its id in
    ``delivered``) may still be shared with the pass's other gradients, so the sum is a new array."""
    grad = leaf.grad
    if grad is None:
        leaf.grad = gi if isinstance(gi, Tensor) else Tensor._make(gi)
        return
    a = grad.data
    if type(gi) is not ndarray or grad.grad_fn is not None or grad._requires_grad:
        leaf.grad = grad + gi                       # create_graph, or a .grad set to a tensor in a graph
    elif id(a) not in delivered and type(a) is ndarray and a.shape == gi.shape and a.dtype == gi.dtype \
            and a.flags.writeable and a.flags.owndata:
        xp.add(a, gi, out=a)
    else:
        leaf.grad = Tensor._make(a + gi)


def _retain(node: Node, g) -> None:
    t = node.retained()
    if t is not None:
        g = g if isinstance(g, Tensor) else Tensor._make(xp.array(g))
        t.grad = g if t.grad is None else t.grad + g     # accumulates across backward calls, as a leaf's does


def nondifferentiable(fn: Callable) -> Callable:
    """Wrap a NumPy function with no gradient (comparisons, sign, argmax): a tensor in, a constant out."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if not any(isinstance(a, Tensor) for a in args):
            return fn(*args, **kwargs)
        result = Tensor._make(fn(*(a.data if isinstance(a, Tensor) else a for a in args), **kwargs))
        if Trace.active is not None:
            Trace.active.record(None, args, kwargs, [False] * len(args), result, forward=fn)
        return result

    return wrapper
