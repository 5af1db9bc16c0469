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
import itertools
import sys
import types
import weakref
from heapq import heappop, heappush
from typing import TYPE_CHECKING, Any, Callable, Container, Iterator, Sequence, TypeVar, overload

from glassgrad import hooks
from glassgrad._backend import ndarray, xp
from glassgrad.device import array_module, as_array, check_current, check_same_device, is_device_array, on_device_of
from glassgrad.grad_mode import _GradMode, _GradModeScope, enable_grad, is_grad_enabled, no_grad, set_grad_enabled  # noqa: F401  engine API
from glassgrad.tensor import Tensor, TensorLike

if TYPE_CHECKING:
    from _collections_abc import dict_items, dict_keys, dict_values

# --------------------------------------------------------------------------------------------------
# Gates and nodes
# --------------------------------------------------------------------------------------------------
VJP = Callable[..., Any]
ArrayT = TypeVar("ArrayT", ndarray, Tensor)    # a gradient: an array, or a tensor under create_graph


class Gate:
    """A differentiable function: ``forward(*inputs, **params)`` and one VJP per input.

    Each VJP is called as ``vjp(g, out, *inputs, **params)`` with the gradient ``g`` of the output and
    returns the gradient of its own input. ``params`` are complete: the engine fills in the forward's
    defaults, so a VJP states no default of its own. ``None`` marks an input with no derivative rule (a
    mask); backward through it raises an error naming the gate and the input. An ``elementwise`` gate has
    one input and no parameters, and its output and VJP have that input's shape and dtype: backward skips
    its checks.
    """

    __slots__ = ("name", "forward", "vjps", "twice_differentiable", "elementwise", "doc", "defaults", "signature",
                 "module")

    def __init__(self, name: str, forward: Callable, vjps: Sequence[VJP | None] | Each, doc: str = "",
                 twice_differentiable: bool = True, defaults: dict[str, Any] | None = None,
                 signature: inspect.Signature | None = None, module: str = "", elementwise: bool = False):
        self.name = name
        self.forward = forward
        self.vjps = vjps
        self.twice_differentiable = twice_differentiable
        self.elementwise = elementwise
        self.doc = doc
        self.defaults = defaults or {}     # the forward's parameter defaults, filled in by every call
        self.signature = signature         # the forward's signature (None for a gate made directly)
        self.module = module               # where the gate is declared, for the generated gate table

    def input_grads(self, g: Tensor | ndarray, out: Tensor | ndarray, inputs: Sequence[Any], params: dict[str, Any],
                    needs: Sequence[bool]) -> list[Any]:
        """The gradients of the inputs that ``needs`` asks for (None for the others)."""
        vjps: Any = self.vjps   # a None rule raises TypeError below, turned into a clear error
        grads = []     # a plain loop: a comprehension would be one more function call per gate
        try:
            if params:
                for i, need in enumerate(needs):
                    grads.append(vjps[i](g, out, *inputs, **params) if need else None)
            else:          # (a call without ** is cheaper; most gates on the hot path have no parameters)
                for i, need in enumerate(needs):
                    grads.append(vjps[i](g, out, *inputs) if need else None)
            return grads
        except (TypeError, IndexError):
            self._check_rules(needs)      # a missing rule is the likelier cause: say so by name
            raise

    def _check_rules(self, needs: Sequence[bool]) -> None:
        if isinstance(self.vjps, Each):   # one rule for every input
            return
        for i, need in enumerate(needs):
            if need and (i >= len(self.vjps) or self.vjps[i] is None):
                raise RuntimeError(f"{self.name}: input {i}{_input_name(self, i)} needs a gradient, but the gate "
                                   "has no derivative rule (VJP) for it")

    def __call__(self, *args: TensorLike, **params: Any) -> Tensor:
        return apply(self, args, {**self.defaults, **params} if self.defaults else params)

    def __repr__(self) -> str:
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


class _Registry(dict[str, Gate]):
    """``GATES``: a dict of the gates by name. The gate modules named with ``defer`` are imported when the
    registry is first read as a whole (iterated, counted, searched, viewed) or asked for a gate it lacks, so
    that ``import glassgrad`` need not compile the rarely used ones (convolution, decompositions) and every
    reader still sees every gate. Looking up a registered gate (the operators' hot path) is a plain dict's."""

    def __init__(self) -> None:
        super().__init__()
        self._deferred: list[str] = []

    def defer(self, *modules: str) -> None:
        """Import the gate modules ``modules`` (dotted names) when the registry is first read as a whole."""
        self._deferred += modules

    def load_deferred(self) -> None:
        """Import the deferred gate modules now (each registers its gates). They are struck off only once all
        are imported: a thread that reads the registry meanwhile waits on the import's lock, not reads half."""
        if self._deferred:
            import importlib

            for module in self._deferred:
                importlib.import_module(module)
            self._deferred = []

    def __missing__(self, name: str) -> Gate:
        if not self._deferred:
            raise KeyError(name)
        self.load_deferred()
        return self[name]

    def __contains__(self, name: object) -> bool:
        self.load_deferred()
        return super().__contains__(name)

    def __iter__(self) -> Iterator[str]:
        self.load_deferred()
        return super().__iter__()

    def __reversed__(self) -> Iterator[str]:
        self.load_deferred()
        return super().__reversed__()

    def __len__(self) -> int:
        self.load_deferred()
        return super().__len__()

    def __repr__(self) -> str:
        self.load_deferred()
        return super().__repr__()

    def get(self, name: str, default: Any = None) -> Any:
        self.load_deferred()
        return super().get(name, default)

    def keys(self) -> dict_keys[str, Gate]:
        self.load_deferred()
        return super().keys()

    def values(self) -> dict_values[str, Gate]:
        self.load_deferred()
        return super().values()

    def items(self) -> dict_items[str, Gate]:
        self.load_deferred()
        return super().items()

    def copy(self) -> dict[str, Gate]:
        self.load_deferred()
        return dict(super().items())


GATES = _Registry()
"""Every gate by name: the single list that the docs, the explain views and the gradient tests read."""

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def gate(name: str, forward: Callable, *vjps: VJP | Each | None, doc: str,
         twice_differentiable: bool = True, elementwise: bool = False) -> Callable[..., Any]:
    """Declare and register a gate; returns it as a function with the forward's signature and ``doc``.

    The forward states every parameter default, once; its first ``len(vjps)`` parameters are the inputs
    (tensors) and the rest are parameters, passed by keyword. Each VJP takes ``(g, out, *inputs, *,
    **params)`` with the parameters keyword-only and without defaults: the engine passes them complete.
    ``doc`` gives the derivative rule in words and symbols and any subgradient chosen. ``elementwise``
    declares a gate of one input and no parameters applied to each element on its own (``tanh``): the
    output and the gradient have the input's shape and dtype, so backward need not check them. The
    declaration is checked here: one VJP per input, and every VJP taking exactly the forward's parameters.
    """
    module = sys._getframe(1).f_globals.get("__name__", "")
    if not module.startswith("glassgrad."):     # a gate of one's own may not take the name of a deferred one
        GATES.load_deferred()
    if dict.__contains__(GATES, name):          # glassgrad's own gate modules: without loading the deferred ones
        raise ValueError(f"a gate named {name!r} is already registered")
    table: Sequence[VJP | None] | Each
    if len(vjps) == 1 and isinstance(vjps[0], Each):
        table = vjps[0]
    elif any(isinstance(v, Each) for v in vjps):
        raise TypeError(f"gate {name}: Each(...) stands for all the VJPs of a gate; give it alone")
    else:
        table = tuple(v for v in vjps if not isinstance(v, Each))
    signature, n_inputs = _declaration(name, forward, table)
    if elementwise and (n_inputs != 1 or len(signature.parameters) != 1):
        raise TypeError(f"gate {name}: elementwise=True is for a gate with one input and no parameters")
    inputs = list(signature.parameters.values())[:n_inputs] if n_inputs is not None else []
    defaults = {p.name: p.default for p in list(signature.parameters.values())[len(inputs):]
                if p.default is not inspect.Parameter.empty and p.kind is not inspect.Parameter.VAR_POSITIONAL}
    GATES[name] = g = Gate(name, forward, table, doc, twice_differentiable, defaults, signature, module, elementwise)
    return _as_function(g, n_inputs)


def _declaration(name: str, forward: Callable,
                 vjps: Sequence[VJP | None] | Each) -> tuple[inspect.Signature, int | None]:
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
    param_names = {p.name for p in params}
    for rule in rules:
        described = _parameters_of(rule)
        if described is None:                           # a builtin: nothing to check
            continue
        rule_parameters = described[skip:]
        kinds = [kind for _, kind, _ in rule_parameters]
        if inspect.Parameter.VAR_KEYWORD in kinds:
            continue
        takes = [p_name for p_name, kind, _ in rule_parameters if kind in _POSITIONAL]
        if n_inputs is not None and len(takes) != n_inputs:
            raise TypeError(f"gate {name}: {n_inputs} VJP(s) for inputs "
                            f"{[p.name for p in parameters[:n_inputs]]}, but a VJP takes the {len(takes)} inputs "
                            f"{takes}: give one VJP per input (None where there is no rule)")
        keywords = {p_name: has_default for p_name, kind, has_default in rule_parameters
                    if kind is inspect.Parameter.KEYWORD_ONLY}
        if keywords.keys() != param_names:
            raise TypeError(f"gate {name}: a VJP takes the parameters {sorted(keywords)}, but the forward's are "
                            f"{sorted(param_names)} (VJPs take them all, keyword-only, after a *)")
        defaulted = [k for k, has_default in keywords.items() if has_default]
        if defaulted:
            raise TypeError(f"gate {name}: a VJP gives defaults for {defaulted}; state defaults once, in the "
                            "forward (the engine passes VJPs the complete parameters)")
    return signature, n_inputs


def _parameters_of(rule: Callable) -> list[tuple[str, inspect._ParameterKind, bool]] | None:
    """``(name, kind, has a default)`` for each parameter of ``rule``, in ``inspect.signature``'s order; None
    where it has no signature (a builtin). A plain function is read from its code object: ``inspect.signature``
    over the ~170 VJPs registered at ``import glassgrad`` cost more than the rest of the registration."""
    if type(rule) is not types.FunctionType or hasattr(rule, "__wrapped__") or hasattr(rule, "__signature__"):
        try:
            signature = inspect.signature(rule)
        except (TypeError, ValueError):
            return None
        return [(p.name, p.kind, p.default is not inspect.Parameter.empty) for p in signature.parameters.values()]
    code = rule.__code__
    names, n_positional, n_keyword = code.co_varnames, code.co_argcount, code.co_kwonlyargcount
    first_defaulted = n_positional - len(rule.__defaults__ or ())
    kw_defaults = rule.__kwdefaults__ or {}
    described: list[tuple[str, inspect._ParameterKind, bool]] = [
        (names[i], _POSITIONAL[i >= code.co_posonlyargcount], i >= first_defaulted) for i in range(n_positional)]
    rest = n_positional + n_keyword                      # *args, then **kwargs, are named after the keyword-only
    if code.co_flags & inspect.CO_VARARGS:
        described.append((names[rest], inspect.Parameter.VAR_POSITIONAL, False))
        rest += 1
    described += [(k, inspect.Parameter.KEYWORD_ONLY, k in kw_defaults)
                  for k in names[n_positional:n_positional + n_keyword]]
    if code.co_flags & inspect.CO_VARKEYWORDS:
        described.append((names[rest], inspect.Parameter.VAR_KEYWORD, False))
    return described


def _as_function(g: Gate, n_inputs: int | None) -> Callable[..., Any]:
    """The gate as a plain function: signature and docstring for help() and IDEs, defaults filled in."""
    defaults, signature = g.defaults, g.signature
    assert signature is not None
    inputs = list(signature.parameters.values())[:n_inputs or 0]
    input_names = [p.name for p in inputs]
    optional = frozenset(p.name for p in inputs if p.default is not inspect.Parameter.empty)
    n_required = len(inputs) - len(optional)
    by_position = [p.name for p in list(signature.parameters.values())[len(inputs):]
                   if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]   # parameters that may be given by position

    def bind(args: tuple, params: dict) -> tuple[tuple, dict]:
        """Calls other than inputs by position and parameters by keyword. Parameters by position after all the
        inputs (``swapaxes(x, 0, 1)``, common in VJPs) are named directly; anything else goes through Python's
        own binding (``inspect``: slower, and its errors are Python's)."""
        extra = args[len(input_names):]
        if extra and len(extra) <= len(by_position) and params.keys().isdisjoint(by_position[:len(extra)]):
            return args[:len(input_names)], {**dict(zip(by_position, extra)), **params}
        try:
            bound = signature.bind(*args, **params).arguments
        except TypeError as e:
            raise TypeError(f"{g.name}(): {e}") from None
        return (tuple(bound[n] for n in input_names if n in bound),
                {k: v for k, v in bound.items() if k not in input_names})

    function: Any
    if input_names in (["x"], ["x", "y"]) and len(signature.parameters) == n_inputs and not optional:
        function = _unary_function(g) if n_inputs == 1 else binary_function(g)    # no parameters: the fast path
    elif n_inputs is None:
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
    function.__signature__ = _public_signature(signature, n_inputs)
    function.gate = g
    return function


def _public_signature(forward: inspect.Signature, n_inputs: int | None) -> inspect.Signature:
    """The gate's signature as help() and IDEs show it: the forward's, its inputs taking tensors (arrays and
    numbers are constants) and a tensor returned. A gate given only plain arrays is plain NumPy and returns
    the array (that is how the VJPs run at NumPy speed); a forward's annotations describe that case."""
    parameters = list(forward.parameters.values())
    n = 1 if n_inputs is None else n_inputs            # Each: the inputs are the one *inputs parameter
    return forward.replace(parameters=[p.replace(annotation="TensorLike") for p in parameters[:n]] + parameters[n:],
                           return_annotation="Tensor")


_creation_order = itertools.count(0, -1)   # counts down: the newest node has the smallest seq
_new = object.__new__


class Node:
    """One application of a gate in the graph, as ``tensor.grad_fn`` shows it: the gate, its inputs, its
    output and its parameters, and what backward needs of them (released after use).

    The engine keeps these fields on the output tensor itself (``Tensor._gate``, ``_inputs`` ...: one object
    per gate call instead of two, on the path of every gate call); a Node is made for a tensor when it is
    asked for, once, and reads them there. It does not keep the output alive: once the output is gone (not
    used by the graph or kept by anyone) the node reads as released."""

    __slots__ = ("gate", "params", "seq", "_output", "__weakref__")

    def __init__(self, output: Tensor):
        self.gate: Gate = output._gate
        self.params: dict = output._params
        self.seq: int = output._seq           # creation order, counting down: every input's node was made before
        self._output = weakref.ref(output)

    def _field(self, name: str) -> Any:
        output = self._output()
        return None if output is None else getattr(output, name)

    @property
    def inputs(self) -> Any:
        """The tensors (and constants) in call order: the edges of the graph (None once released)."""
        return self._field("_inputs")

    @property
    def arrays(self) -> Any:
        """The same inputs as arrays (None once released)."""
        return self._field("_arrays")

    @property
    def needs(self) -> Sequence[bool]:
        """Which inputs require a gradient."""
        return self._field("_needs") or ()

    @property
    def out(self) -> Any:
        """The output array (None once the output tensor is gone)."""
        return self._field("data")

    @property
    def tensor(self) -> Tensor | None:
        """The output tensor, while it lives."""
        return self._output()

    @property
    def released(self) -> bool:
        return self.inputs is None

    def __repr__(self) -> str:
        return f"<{self.gate.name}>"


class ShapeError(ValueError):
    """Shapes that a gate cannot combine; the message names the gate and the shapes."""


def apply(gate: Gate, args: tuple, params: dict) -> Any:     # a Tensor; on plain arrays the forward's result
    """Run ``gate`` on ``args``; record a node when a tensor input needs a gradient and grad mode is on."""
    arrays, needs = [], []
    wrapped = False
    off_host = None                           # a GPU array among the inputs
    for a in args:
        if isinstance(a, Tensor):
            wrapped = True
            data = a.data
            arrays.append(data)
            needs.append(a._requires_grad)
            if type(data) is not ndarray:     # a GPU tensor: check devices below (one comparison per CPU tensor)
                off_host = data
        else:                                 # a constant: a list as the array it stands for, so VJPs compute on it
            arrays.append(xp.asarray(a) if type(a) is list else a)
            needs.append(False)
    if not wrapped:
        return gate.forward(*args, **params)
    if off_host is not None:
        check_same_device(gate.name, arrays)
        if gate.name != "to_device":           # a copy between devices works from any current GPU
            check_current(gate.name, off_host)
    try:                                       # (a call without ** is cheaper; most gates have no parameters)
        out = gate.forward(*arrays, **params) if params else gate.forward(*arrays)
    except (ValueError, IndexError, TypeError) as e:
        raise _forward_error(gate, arrays, params, e) from e
    return _output(gate, args, arrays, needs, out, params)


# The gate functions of one input ``x`` or two ``x, y`` and no parameters (``gg.tanh``, ``gg.mul``), which are
# also the tensor's operators and activation methods (``x * y``, ``x.tanh()``), are these two: apply's steps
# written out for tensors on the host, arrays and Python numbers (no loop over the inputs, no lists made, the
# gate and its forward bound once). Anything else (a GPU tensor, a list, plain arrays) goes to apply.
_NO_PARAMS: dict[str, Any] = {}     # the parameters of a gate that takes none (shared: nothing writes to it)
_HOST = (ndarray, float, int)       # what the fast path takes as it is: host arrays and numbers
_NEEDS_1 = ((False,), (True,))      # a node's needs, indexed by requires_grad: shared tuples, none made per gate
_NEEDS_2 = (((False, False), (False, True)), ((True, False), (True, True)))


def _unary_function(gate: Gate) -> Callable[[TensorLike], Any]:
    """``apply(gate, (x,), {})`` for a gate of one input and no parameters."""
    forward = gate.forward

    def function(x: TensorLike) -> Any:
        if isinstance(x, Tensor):
            data = x.data
            if type(data) is ndarray:
                try:
                    out = forward(data)
                except (ValueError, IndexError, TypeError) as e:
                    raise _forward_error(gate, (data,), _NO_PARAMS, e) from e
                return _output(gate, (x,), (data,), _NEEDS_1[x._requires_grad], out, _NO_PARAMS)
        return apply(gate, (x,), _NO_PARAMS)
    return function


def binary_function(gate: Gate, reflected: bool = False) -> Callable[[TensorLike, TensorLike], Any]:
    """``apply(gate, (x, y), {})`` for a gate of two inputs and no parameters; ``reflected``: its inputs
    given the other way round (``y, x``), for the reflected operators (``Tensor.__rmul__``)."""
    forward = gate.forward

    def function(x: TensorLike, y: TensorLike) -> Any:
        if reflected:
            x, y = y, x
        xd: Any
        yd: Any
        if isinstance(x, Tensor):
            xd, xn = x.data, x._requires_grad
            if isinstance(y, Tensor):
                yd, yn = y.data, y._requires_grad
            else:
                yd, yn = y, False
        elif isinstance(y, Tensor):
            xd, xn, yd, yn = x, False, y.data, y._requires_grad
        else:
            return apply(gate, (x, y), _NO_PARAMS)
        if type(xd) not in _HOST or type(yd) not in _HOST:
            return apply(gate, (x, y), _NO_PARAMS)
        try:
            out = forward(xd, yd)
        except (ValueError, IndexError, TypeError) as e:
            raise _forward_error(gate, (xd, yd), _NO_PARAMS, e) from e
        return _output(gate, (x, y), (xd, yd), _NEEDS_2[xn][yn], out, _NO_PARAMS)
    return function


def _forward_error(gate: Gate, arrays: Sequence[Any], params: dict, e: Exception) -> Exception:
    """The error for a forward that raised: a GPU array among CPU tensors (the library refused to mix), or else
    a ``ShapeError`` naming the gate and the shapes."""
    check_same_device(gate.name, arrays)
    shapes = ", ".join(str(getattr(a, "shape", type(a).__name__)) for a in arrays)
    return ShapeError(f"{gate.name}: cannot apply to inputs of shapes {shapes}"
                      f"{' with ' + str(params) if params else ''}: {e}")


def _output(gate: Gate, args: tuple, arrays: Sequence[Any], needs: Sequence[bool], out: Any, params: dict) -> Tensor:
    """The forward's output ``out`` as a tensor, and the node that records it when ``needs`` says an input
    requires a gradient and grad mode is on."""
    result = _new(Tensor)                      # Tensor._make and the node's fields, written out: the hot path
    result.data = out if type(out) is ndarray else as_array(out)    # a NumPy scalar; a GPU array as it is
    result.grad = result.name = None
    if _GradMode.enabled and True in needs:
        result._seq = next(_creation_order)
        result._gate = gate
        result._inputs = args
        result._arrays = arrays
        result._needs = needs
        result._params = params
        result._retained = result._pending = None
        result._requires_grad = True
    else:
        result._gate = None
        result._requires_grad = False
    if hooks.active:
        for hook in hooks.active:
            hook.on_gate(gate, args, params, list(needs), result)
    return result


def sum_to(g: ArrayT, shape: tuple[int, ...]) -> ArrayT:
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


def forward_order(root: Node, freed: str = FREED) -> list[Node]:
    """The nodes reachable from ``root``, each after the nodes that feed it (iterative post-order). Reversed,
    each node comes after every consumer of its output: an order backward may visit them. ``freed`` is the
    error message for a graph already released by backward."""
    if root.tensor is None:
        raise RuntimeError(freed)
    return [t.grad_fn for t in _graph_order(root.tensor, freed)]   # type: ignore[misc]


def _graph_order(root: Tensor, freed: str = FREED) -> list[Tensor]:
    """``forward_order`` on the engine's side: the outputs of the gates, which hold the nodes' fields."""
    order, seen, stack = [], set(), [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if node in seen:
            continue
        if node._inputs is None:
            raise RuntimeError(freed)
        seen.add(node)
        stack.append((node, True))
        for t in reversed(node._inputs):
            if isinstance(t, Tensor) and t._gate is not None and t not in seen:
                stack.append((t, False))
    return order


@overload
def backward(root: Tensor, grad: Any, *, retain_graph: bool = False, create_graph: bool = False,
             inputs: None = None, observer: Callable | None = None) -> None: ...
@overload
def backward(root: Tensor, grad: Any, *, retain_graph: bool = False, create_graph: bool = False,
             inputs: Sequence[Tensor], observer: Callable | None = None) -> list[Any]: ...
def backward(root: Tensor, grad: Any, *, retain_graph: bool = False, create_graph: bool = False,
             inputs: Sequence[Tensor] | None = None, observer: Callable | None = None) -> list[Any] | None:
    """Backpropagate ``grad`` (the gradient of ``root``) through the graph that produced ``root``.

    Each node is processed once, after every node that consumed its output has passed its gradient
    down (newest node first: see ``_run``). Gradients of a tensor used several times add up.

    ``grad`` is an array on ``root``'s device (NumPy's, or CuPy's, which has no static type: hence ``Any``)
    or, with ``create_graph``, a tensor.

    * ``inputs=None``: add each leaf's gradient to ``leaf.grad`` (accumulating, as in PyTorch).
    * ``inputs=[...]``: return the gradients of these tensors instead and leave every ``.grad`` alone
      (also those of tensors that called ``retain_grad()``).
    * ``create_graph``: run the VJPs on tensors so the gradients are themselves differentiable.
    * ``observer(node, g, input_grads)``: called for each node, for the explain views (a hook installed
      for this call only; see ``glassgrad.hooks``).
    """
    if type(root.data) is not ndarray:
        check_current("backward", root.data)
    watchers = hooks.active if observer is None else (*hooks.active, hooks.Hook(on_backward_step=observer))
    sink: _Sink = _Accumulate(watchers) if inputs is None else _Capture(inputs)
    with _GradModeScope(create_graph):
        if create_graph and not isinstance(grad, Tensor):
            grad = Tensor._make(grad)
        if root._gate is None:      # the root is itself a leaf
            sink.leaf(root, grad)
        else:
            sink.start(root)
            needs = None if inputs is None else _needs_towards(root, sink.watched)
            _run(root, grad, sink, watchers, retain_graph or create_graph, create_graph, needs)
        return sink.finish()


def _run(root: Tensor, grad, sink: _Sink, watchers: tuple, retain_graph: bool, create_graph: bool,
         needs: dict[Tensor, list[bool]] | None) -> None:
    """The backward loop: take the newest node with a gradient, ask its gate, pass the gradients down, release.

    Newest first is a topological order: every node that consumes a node's output was made after it, so
    when a node is taken, all of its consumers have run and its output gradient is complete. ``needs``
    (with ``inputs=``) narrows which input gradients each node computes (``_needs_towards``). A node here is
    the output tensor of a gate call, which holds the node's fields (``Node``).

    This loop runs once per node of every backward pass, so the common case is written out: a gate with the
    standard table of VJPs, on arrays, with no hook watching, has each VJP called right where its gradient
    is passed down (no list of answers in between), and in a ``backward()`` as training calls it (``plain``)
    an elementwise gate's one VJP is called and its gradient passed down without the loop over the inputs.
    A node that gets its first gradient while none waits (a chain) is held aside (``after``) and taken next
    without the heap if it is still the newest with a gradient once the node is done: the newest node that
    will ever wait has its gradient already, so its gradient is complete. Otherwise the gate's ``input_grads``
    answers for all inputs first: on tensors (``create_graph``), for the watchers, or from a ``Function``'s own
    backward."""
    waiting: list = []                   # the other nodes with a gradient, as a heap: newest (smallest seq) first
    watched, leaf = sink.watched, sink.leaf
    sums: Any = sink.sums
    answer_first = create_graph or bool(watchers)
    plain = not answer_first and needs is None and sums is not None    # backward() as training calls it
    node, g = root, grad                 # the node taken and its complete gradient
    after: Tensor | None = None          # a node given its first gradient while none waited: maybe next
    try:
        while True:
            inputs, arrays = node._inputs, node._arrays
            if inputs is None:
                raise RuntimeError(FREED)
            if node._retained is not None or node in watched:    # retain_grad(), or a gradient asked for by inputs=
                sink.node(node, g)
            gate, out = node._gate, node.data       # (out: every node's, so none outlives its node here)
            if plain and gate.elementwise:          # one input, needing a gradient of its shape and dtype
                t = inputs[0]
                gi = gate.vjps[0](g, out, arrays[0])
                if t._gate is None:
                    sums[t] = sums[t] + gi if t in sums else gi
                elif t._pending is not None:
                    t._pending = t._pending + gi
                elif not waiting:                   # nothing else waits: t is next, its gradient complete
                    after, g_after = t, gi
                else:
                    t._pending = gi
                    heappush(waiting, (t._seq, t))
            else:
                wanted = node._needs if needs is None else needs[node]
                params = node._params
                elementwise = gate.elementwise      # one input, no parameters, the gradient of its shape and dtype
                if answer_first or type(gate) is not Gate:
                    in_grads = _differentiable_input_grads(node, g, wanted) if create_graph else \
                        gate.input_grads(g, out, arrays, params, wanted)
                    for watcher in watchers:
                        watcher.on_backward_step(node.grad_fn, g, in_grads)
                else:
                    in_grads = None
                    vjps: Any = gate.vjps
                    pair = arrays if len(arrays) == 2 and not params else None   # (x, y): the call spelled out
                for i, need in enumerate(wanted):               # pass each gradient down
                    if not need:
                        continue
                    if in_grads is None:                        # ask the VJP here, on arrays, at NumPy speed
                        if pair is not None:                    # (a call with *arrays costs as much again)
                            gi = vjps[i](g, out, pair[0], pair[1])
                        else:
                            gi = vjps[i](g, out, *arrays, **params) if params else vjps[i](g, out, *arrays)
                    else:
                        gi = in_grads[i]
                        if gi is None:                          # (a Function's backward may give none)
                            continue
                    if not elementwise:
                        a = arrays[i]
                        if gi.shape != a.shape:                 # a broadcast input: sum its gradient back
                            gi = sum_to(gi, a.shape)
                        if gi.dtype is not a.dtype and gi.dtype != a.dtype:   # (identity first: == is slow)
                            gi = gi.astype(a.dtype)
                    t = inputs[i]
                    if t._gate is None:                         # a leaf
                        if sums is not None:                    # the sink sums: added here, without a call
                            sums[t] = sums[t] + gi if t in sums else gi
                        else:
                            leaf(t, gi)
                    elif t._pending is not None:
                        t._pending = t._pending + gi
                    elif t is after:                            # (x * x: both inputs the same tensor)
                        g_after = g_after + gi
                    elif after is None and not waiting:         # maybe next: decided below
                        after, g_after = t, gi
                    else:
                        t._pending = gi
                        heappush(waiting, (t._seq, t))
            if not retain_graph:                                # release the saved inputs
                node._inputs = node._arrays = None
            if after is not None:
                if not waiting or after._seq < waiting[0][0]:     # still the newest with a gradient: next
                    node, g = after, g_after
                    after = g_after = None
                    continue
                after._pending = g_after
                heappush(waiting, (after._seq, after))
                after = None
            if not waiting:
                break
            node = heappop(waiting)[1]
            g = node._pending
            node._pending = None
    except BaseException as e:
        for _, waiting_node in waiting:         # a graph kept for another pass must not keep this one's gradients
            waiting_node._pending = None
        if isinstance(e, (TypeError, IndexError)):   # a missing VJP is the likelier cause: say so by name
            node._gate._check_rules(node._needs if needs is None else needs[node])
        raise


def _needs_towards(root: Tensor, wanted: Container[Any]) -> dict[Tensor, list[bool]]:
    """For ``backward(inputs=[...])``: which inputs of each node under ``root`` lead to a wanted gradient
    (``wanted``: leaves by id, other tensors by their node). The VJPs towards the other inputs are skipped,
    as PyTorch's ``autograd.grad`` skips them: ``jvp`` and ``hvp`` differentiate a recorded backward pass
    whose branches towards the parameters would otherwise be computed and thrown away."""
    leads: dict[Tensor, bool] = {}
    needs: dict[Tensor, list[bool]] = {}
    for node in _graph_order(root):            # each input's node is decided before its users
        mask = [need and (leads[t] if t._gate is not None else id(t) in wanted)
                for t, need in zip(node._inputs, node._needs)]
        needs[node] = mask
        leads[node] = node in wanted or any(mask)
    return needs


def _differentiable_input_grads(node: Tensor, g, needs: Sequence[bool]) -> list:
    """The input gradients as tensors connected to the graph (create_graph=True), for the inputs ``needs``
    asks for. ``node`` is the output tensor, which the VJPs take as ``out``."""
    gate = node._gate
    if not gate.twice_differentiable:
        raise RuntimeError(f"{gate.name}: this gate's derivative is computed on arrays, so it cannot "
                           "be differentiated again (create_graph=True)")
    return gate.input_grads(g, node, node._inputs, node._params, needs)


class _Sink:
    """Where backward delivers gradients: ``node`` sees the complete output gradient of each node that has
    ``retain_grad()`` or is in ``watched``, ``leaf`` each gradient reaching a leaf (a leaf used several
    times gets several); ``finish`` ends the pass and gives what ``backward`` returns."""

    watched: Container = ()
    sums: dict[Tensor, Any] | None = None
    """Set by a sink whose ``leaf`` only adds the gradient to ``sums[leaf]``: backward then adds it there itself
    (no call per contribution) and ``leaf`` is not called."""

    def start(self, root: Tensor) -> None:
        """Called with the root of the graph about to be run."""

    def node(self, node: Tensor, g) -> None:
        """The complete gradient of ``node`` (the output of a gate)."""

    def leaf(self, leaf: Tensor, gi) -> None:
        """One gradient reaching ``leaf``."""

    def finish(self) -> list | None:
        return None


class _Accumulate(_Sink):
    """``backward()``: add each leaf's gradient to ``leaf.grad``, and fill ``.grad`` of retain_grad() tensors.

    A leaf's contributions are summed over the pass and added to ``.grad`` once, at the end (a pass that
    stops at a freed graph changes no ``.grad``); with ``on_grad_ready`` hooks installed, each leaf's
    gradient is handed over as soon as its last contribution arrives instead, and the hooks told."""

    def __init__(self, watchers: tuple):
        self.totals: dict[Tensor, Any] = {}     # leaf → the sum of its gradients in this pass so far
        self.retained: list[tuple[Tensor, Any]] = []
        self.ready_hooks = [h for h in watchers if hooks.wants(h, "on_grad_ready")]
        self.uses: dict[Tensor, int] = {}       # leaf → contributions still to come (only for ready_hooks)
        self.delivered: set[int] = set()        # ids of the arrays handed to leaves so far
        self.sums = None if self.ready_hooks else self.totals

    def start(self, root: Tensor) -> None:
        if self.ready_hooks:
            for node in _graph_order(root):
                for t, need in zip(node._inputs, node._needs):
                    if need and t._gate is None:
                        self.uses[t] = self.uses.get(t, 0) + 1

    def node(self, node: Tensor, g) -> None:
        self.retained.append((node, g))

    def leaf(self, leaf: Tensor, gi) -> None:
        totals = self.totals
        totals[leaf] = totals[leaf] + gi if leaf in totals else gi
        if self.ready_hooks and self.uses.get(leaf) is not None:
            self.uses[leaf] -= 1
            if self.uses[leaf] == 0:                   # its last contribution of this pass: .grad is final
                self._deliver(leaf, totals.pop(leaf))

    def _deliver(self, leaf: Tensor, total) -> None:
        add_to_grad(leaf, total, self.delivered)
        for hook in self.ready_hooks:
            hook.on_grad_ready(leaf)

    def finish(self) -> None:
        for leaf, total in self.totals.items():
            self._deliver(leaf, total)
        for node, g in self.retained:
            _retain(node, g)


class _Capture(_Sink):
    """``backward(inputs=[...])``: the gradients of chosen tensors, returned; no ``.grad`` is touched."""

    def __init__(self, inputs: Sequence[Tensor]):
        self.inputs = inputs
        self.captured: dict = {_key(t): None for t in inputs}
        self.watched = self.captured   # asking for chosen gradients touches no .grad, retained or not

    def node(self, node: Tensor, g) -> None:
        if node in self.captured:
            self.captured[node] = g

    def leaf(self, leaf: Tensor, gi) -> None:
        key = id(leaf)
        if key in self.captured:
            self.captured[key] = gi if self.captured[key] is None else self.captured[key] + gi

    def finish(self) -> list:
        return [self.captured[_key(t)] for t in self.inputs]


def _key(t: Tensor):
    return t if t._gate is not None else id(t)


def own_array(gi: ndarray, delivered: set[int]) -> ndarray:
    """``gi`` itself if a leaf may keep it, else a copy: never a view, a read-only array or an array already
    handed to another leaf (add passes one gradient to both inputs), so in-place updates of one ``.grad``
    never change another's."""
    if id(gi) in delivered or not (gi.flags.owndata and gi.flags.writeable if type(gi) is ndarray else _private(gi)):
        with on_device_of(gi):                    # a copy on gi's own device (a leaf on another GPU than the root's)
            gi = array_module(gi).array(gi)
    delivered.add(id(gi))
    return gi


def add_to_grad(leaf: Tensor, gi: ndarray | Tensor, delivered: set[int]) -> None:
    """``leaf.grad += gi``, for a gradient of this backward pass (``delivered``: ids of the arrays handed
    to leaves in it). The first becomes ``.grad`` on an array of the leaf's own (``own_array``); a later one
    is added in place when ``.grad`` is a plain writable array of the leaf's own from an earlier pass (as
    PyTorch accumulates), else into a new array: one handed over in this pass may still be shared."""
    grad = leaf.grad
    if isinstance(gi, Tensor):                       # create_graph: the sum is recorded
        leaf.grad = gi if grad is None else grad + gi
        return
    if grad is None:
        leaf.grad = Tensor._make(own_array(gi, delivered))
        return
    a = grad.data
    if grad._gate is not None or grad._requires_grad:
        leaf.grad = grad + Tensor._make(gi)          # a .grad set to a tensor in a graph
    elif id(a) not in delivered and a.shape == gi.shape and a.dtype == gi.dtype and \
            (a.flags.writeable and a.flags.owndata if type(a) is ndarray else _private(a)):
        a += gi
    else:
        leaf.grad = Tensor._make(a + gi)


def _private(a) -> bool:
    """For anything but a NumPy array (tested inline): True for a GPU array that owns its memory (CuPy's flags
    have no ``writeable``: its arrays always are); False for NumPy scalars and the like."""
    return is_device_array(a) and a.flags.owndata and getattr(a.flags, "writeable", True)


def _retain(t: Tensor, g) -> None:
    g = g if isinstance(g, Tensor) else Tensor._make(array_module(g).array(g))
    t.grad = g if t.grad is None else t.grad + g     # accumulates across backward calls, as a leaf's does


def nondifferentiable(fn: Callable) -> Callable:
    """Wrap a NumPy function with no gradient (comparisons, sign, argmax): a tensor in, a constant out."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if not any(isinstance(a, Tensor) for a in args):
            return fn(*args, **kwargs)
        result = Tensor._make(fn(*(a.data if isinstance(a, Tensor) else a for a in args), **kwargs))
        if hooks.active:
            for hook in hooks.active:
                hook.on_gate(None, args, kwargs, [False] * len(args), result, forward=fn)
        return result

    try:
        forward = inspect.signature(fn)
    except (TypeError, ValueError):      # a builtin without a signature
        return wrapper
    if forward.return_annotation == "ndarray":    # shown as help() should: tensors in, a (constant) tensor out
        wrapper.__signature__ = forward.replace(  # type: ignore[attr-defined]
            parameters=[p.replace(annotation="TensorLike") if p.annotation == "ArrayLike" else p
                        for p in forward.parameters.values()],
            return_annotation="Tensor")
    return wrapper
