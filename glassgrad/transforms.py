"""Function transforms, as in JAX and HIPS autograd: ``grad(f)`` is a function that returns f's gradient.

    dfdw = gg.grad(lambda x, w: ((x @ w) ** 2).sum(), argnums=1)(x_array, w_array)

Arrays in, arrays out: arguments given as NumPy arrays or numbers get gradients as arrays; arguments
given as tensors get tensors, and calls nest (``gg.grad(gg.grad(f))``) because an inner call on tensors
that require grad records its own backward pass.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence, TypeAlias, Union

from glassgrad import engine
from glassgrad._backend import ndarray, xp
from glassgrad.device import array_module
from glassgrad.tensor import Tensor, _to_array

Values: TypeAlias = Union[Tensor, ndarray, tuple[Union[Tensor, ndarray], ...]]
"""What a transform returns: arrays for array arguments, tensors for tensors, a tuple where f returns one."""


def _argnums(argnums, n: int) -> tuple[int, ...]:
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    for i in nums:
        if not -n <= i < n:
            raise ValueError(f"argnums {i} is out of range for a function called with {n} arguments")
    return tuple(i % n for i in nums)


def _leaf(a) -> Tensor:
    """A fresh leaf for an argument to differentiate; a tensor that needs grad is used as it is (nesting)."""
    if isinstance(a, Tensor) and a.requires_grad:
        return a
    arr = _to_array(a, copy=False)
    if arr.dtype.kind != "f":
        raise TypeError(f"grad: cannot differentiate with respect to an argument of dtype {arr.dtype}; "
                        "pass floats (e.g. 1.0 rather than 1)")
    return Tensor(arr, requires_grad=True)


def _with_leaves(args: tuple, nums: tuple[int, ...]) -> list:
    """``args`` with the arguments at positions ``nums`` (those differentiated) made leaves (``_leaf``)."""
    return [_leaf(a) if i in nums else a for i, a in enumerate(args)]


def _split_aux(result, has_aux: bool):
    if not has_aux:
        return result, None
    if not (isinstance(result, tuple) and len(result) == 2):
        raise TypeError("with has_aux=True the function must return a pair (value, aux)")
    return result


def vjp(f: Callable, *args: Any, has_aux: bool = False) -> tuple[Tensor | ndarray, Callable[..., tuple[Any, ...]]] \
        | tuple[Tensor | ndarray, Callable[..., tuple[Any, ...]], Any]:
    """Evaluate ``f(*args)`` and return ``(out, vjp_fn)``; ``vjp_fn(g)`` gives ∂⟨g, out⟩/∂args, one per arg."""
    leaves = [_leaf(a) for a in args]
    with engine.enable_grad():
        out, aux = _split_aux(f(*leaves), has_aux)
    if not isinstance(out, Tensor):
        raise TypeError(f"vjp: the function must return a tensor, not {type(out).__name__}")
    nested = any(isinstance(a, Tensor) for a in args)
    watched = _watched(args)

    def vjp_fn(g):
        g = g.data if isinstance(g, Tensor) and not nested else g
        if g is None or getattr(g, "shape", None) != out.shape:
            raise ValueError(f"vjp: the cotangent must have the output's shape {out.shape}, "
                             f"not {getattr(g, 'shape', None)}")
        grads = _gradients(out, g, leaves, nested)
        return tuple(_like_input(gi, a, watched) for gi, a in zip(grads, args))

    value = out if nested else out.data
    return (value, vjp_fn, aux) if has_aux else (value, vjp_fn)


def _gradients(out: Tensor, g, leaves: Sequence[Tensor], nested: bool) -> list:
    if not out.requires_grad:    # f did not depend on its inputs: every gradient is zero
        return [None] * len(leaves)
    return engine.backward(out, g, retain_graph=True, create_graph=nested, inputs=leaves)


def _watched(args) -> bool:
    """True inside an enclosing grad: some argument is a tensor that requires grad, so the gradients
    computed here depend on it and must stay tensors in its graph (even for array arguments)."""
    return any(isinstance(a, Tensor) and a.requires_grad for a in args)


def _like_input(gi, arg, watched: bool = False):
    """The gradient in the argument's own kind: an array for an array, a tensor for a tensor (and for
    any argument when an enclosing grad is watching)."""
    if gi is None:
        gi = xp.zeros_like(_to_array(arg, copy=False))
    if isinstance(arg, Tensor) or watched:
        return gi if isinstance(gi, Tensor) else Tensor._make(gi)
    return gi.data if isinstance(gi, Tensor) else gi


def value_and_grad(f: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Callable:
    """A function returning ``(f(*args), gradient)``, or ``((value, aux), gradient)`` with has_aux.

    The gradient is one value for an int ``argnums`` and a tuple for a sequence. ``f`` must return a
    tensor with one element.
    """
    def wrapped(*args):
        nums = _argnums(argnums, len(args))
        leaves = _with_leaves(args, nums)
        with engine.enable_grad():
            out, aux = _split_aux(f(*leaves), has_aux)
        if not isinstance(out, Tensor) or out.numel() != 1:
            raise TypeError(f"grad: the function must return a tensor with one element, got "
                            f"{getattr(out, 'shape', type(out).__name__)}; use vjp for other outputs")
        watched = _watched(args)
        nested = watched or any(isinstance(args[i], Tensor) for i in nums)
        seed = xp.ones_like(out.data)
        grads: Sequence[Any] = _gradients(out, Tensor._make(seed) if nested else seed, [leaves[i] for i in nums],
                                          nested)
        grads = tuple(_like_input(gi, args[i], watched) for gi, i in zip(grads, nums))
        value = out if nested else out.data
        return ((value, aux) if has_aux else value), (grads[0] if isinstance(argnums, int) else grads)

    return wrapped


def grad(f: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Callable:
    """The gradient of a scalar function: ``grad(f)(*args)``; with has_aux, ``(gradient, aux)``."""
    vg = value_and_grad(f, argnums, has_aux)

    def wrapped(*args):
        value, g = vg(*args)
        return (g, value[1]) if has_aux else g

    return wrapped


# --------------------------------------------------------------------------------------------------
# Forward mode and Jacobians
# --------------------------------------------------------------------------------------------------
# A JVP is computed as the VJP of a VJP. For y = f(x) with Jacobian J, the VJP u ↦ Jᵀu is linear in the
# cotangent u, so recording it on a symbolic u (a zero tensor that requires grad, create_graph=True) and
# differentiating ⟨Jᵀu, v⟩ with respect to u gives exactly J v, whatever the value of u. No gate needs a
# second (forward) rule: every gate that is twice differentiable gets forward mode from its VJP. The cost
# is one forward pass and two backward passes (docs/numpy.md, "Forward mode"), against one forward pass
# with a tangent riding along for JVP rules written per gate.
def _outputs(result) -> tuple[list[Tensor], bool]:
    """The function's output(s) as a list of tensors, and whether it returned a tuple."""
    many = isinstance(result, (tuple, list))
    outs = list(result) if many else [result]
    for o in outs:
        if not isinstance(o, Tensor):
            raise TypeError(f"the function must return a tensor or a tuple of tensors, not {type(o).__name__}")
    return outs, many


def _linearize(f: Callable, args: list, wrt: list[Tensor]):
    """Run ``f(*args)`` and record u ↦ Σ_k J_kᵀ u_k on symbolic cotangents ``us``, w.r.t. the leaves ``wrt``:
    returns (outputs, whether f returned a tuple, us, Jᵀu per leaf of wrt)."""
    with engine.enable_grad():
        outs, many = _outputs(f(*args))
        us = [Tensor(xp.zeros_like(o.data), requires_grad=o.dtype.kind == "f") for o in outs]
        live = [(o * u).sum() for o, u in zip(outs, us) if o.requires_grad and o.dtype.kind == "f"]
        if not live:       # f does not depend on its inputs: every Jacobian is zero
            return outs, many, us, [None] * len(wrt)
        total = live[0]
        for term in live[1:]:
            total = total + term
        vjps = engine.backward(total, xp.ones_like(total.data), retain_graph=True, create_graph=True, inputs=wrt)
    return outs, many, us, vjps


def _cotangent_grads(scalar, us: list[Tensor], nested: bool) -> list:
    """∂ scalar / ∂u_k for each symbolic cotangent (zeros where scalar does not depend on u_k)."""
    if not isinstance(scalar, Tensor) or not scalar.requires_grad:
        return [None] * len(us)
    return engine.backward(scalar, xp.ones_like(scalar.data), retain_graph=True, create_graph=nested, inputs=us)


def jvp(f: Callable, primals: Sequence[Any], tangents: Sequence[Any]) -> tuple[Values, Values]:
    """Forward mode, as ``jax.jvp``: ``(f(*primals), J·tangents)``, the derivative of f at ``primals`` in the
    direction ``tangents`` (one tangent per primal, of its shape). ``f`` returns a tensor or a tuple of
    tensors; the tangent out has the same structure. Arrays in give arrays out; tensors in give tensors,
    so ``jvp`` nests inside ``grad`` and vice versa (``hvp`` is ``jvp`` of ``grad``)."""
    primals, tangents = tuple(primals), tuple(tangents)
    if len(primals) != len(tangents):
        raise ValueError(f"jvp: {len(primals)} primals but {len(tangents)} tangents; give one tangent per primal")
    for i, (p, t) in enumerate(zip(primals, tangents)):
        if xp.shape(_to_array(p, copy=False)) != xp.shape(_to_array(t, copy=False)):
            raise ValueError(f"jvp: tangent {i} has shape {xp.shape(_to_array(t, copy=False))} but its primal has "
                             f"shape {xp.shape(_to_array(p, copy=False))}")
    nested = any(isinstance(a, Tensor) for a in primals + tangents)
    leaves = [_leaf(p) for p in primals]
    outs, many, us, vjps = _linearize(f, leaves, leaves)
    with engine.enable_grad():
        terms = [(gi * (t if isinstance(t, Tensor) else _to_array(t, leaf.dtype))).sum()
                 for gi, t, leaf in zip(vjps, tangents, leaves) if gi is not None]
        total = terms[0] if terms else None
        for term in terms[1:]:
            total = total + term
    tangents_out = [_like_input(gi, o if nested else o.data, nested)
                    for gi, o in zip(_cotangent_grads(total, us, nested), outs)]
    values = [o if nested else o.data for o in outs]
    if many:
        return tuple(values), tuple(tangents_out)
    return values[0], tangents_out[0]


def _stack_rows(rows: list, nested: bool):
    if nested:
        from glassgrad import ops
        return ops.stack(rows, axis=0)
    return xp.stack([r.data if isinstance(r, Tensor) else r for r in rows], axis=0)


def _one_output(outs: list, many: bool, name: str) -> Tensor:
    if many:
        raise TypeError(f"{name}: the function must return one tensor (differentiate each output separately)")
    return outs[0]


def jacrev(f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """The Jacobian of f by reverse mode, one VJP per output entry: shape ``out.shape + arg.shape``. A tuple of
    Jacobians for a sequence ``argnums``. Cheapest when f has fewer outputs than inputs."""
    def jacobian_fn(*args):
        nums = _argnums(argnums, len(args))
        watched = _watched(args)
        nested = watched or any(isinstance(args[i], Tensor) for i in nums)
        leaves = _with_leaves(args, nums)
        with engine.enable_grad():
            out = _one_output(*_outputs(f(*leaves)), "jacrev")
        wrt = [leaves[i] for i in nums]
        rows: list[list] = [[] for _ in nums]
        seed = array_module(out).zeros(out.numel(), dtype=out.dtype if out.dtype.kind == "f" else xp.float64)
        for k in range(out.numel()):
            seed[:] = 0
            seed[k] = 1
            g = seed.reshape(out.shape)
            grads = _gradients(out, Tensor._make(g.copy()) if nested else g.copy(), wrt, nested)
            for r, gi, i in zip(rows, grads, nums):
                r.append(_like_input(gi, args[i], nested))
        jacobians = tuple(_stack_rows(r, nested).reshape(out.shape + xp.shape(_to_array(args[i], copy=False)))
                          if r else _empty_jacobian(out, args[i], nested) for r, i in zip(rows, nums))
        return jacobians[0] if isinstance(argnums, int) else jacobians

    return jacobian_fn


def _empty_jacobian(out: Tensor, arg, nested: bool):
    """The Jacobian of a function with no output entries: shape out.shape + arg.shape, empty."""
    shape = out.shape + xp.shape(_to_array(arg, copy=False))
    values = _to_array(arg, copy=False)
    z = array_module(values).zeros(shape, dtype=values.dtype)
    return Tensor._make(z) if nested else z


def jacfwd(f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """The Jacobian of f by forward mode, one JVP per input entry: shape ``out.shape + arg.shape``, a tuple of
    Jacobians for a sequence ``argnums``. The same values as ``jacrev``; fewer passes when f has more outputs
    than inputs."""
    def jacobian_fn(*args):
        nums = _argnums(argnums, len(args))
        nested = _watched(args) or any(isinstance(args[i], Tensor) for i in nums)
        leaves = _with_leaves(args, nums)
        outs, many, us, vjps = _linearize(f, leaves, [leaves[i] for i in nums])
        out = _one_output(outs, many, "jacfwd")
        jacobians = []
        for i, vjp_i in zip(nums, vjps):
            columns = []                 # column j of J: the JVP with the j-th basis tangent, ∂(Jᵀu)_j/∂u
            for j in range(leaves[i].numel()):
                with engine.enable_grad():
                    entry = None if vjp_i is None else vjp_i.reshape(-1)[j]
                (column,) = _cotangent_grads(entry, us, nested)
                columns.append(_like_input(column, out if nested else out.data, nested))
            if not columns:
                jacobians.append(_empty_jacobian(out, args[i], nested))
                continue
            by_input = _stack_rows(columns, nested).reshape((len(columns), -1))    # (n_in, n_out)
            jacobians.append(by_input.T.reshape(out.shape + leaves[i].shape))
        return jacobians[0] if isinstance(argnums, int) else tuple(jacobians)

    return jacobian_fn


def jacobian(f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """The Jacobian of f (``jacrev``, as HIPS autograd's ``jacobian``): shape ``out.shape + arg.shape``."""
    return jacrev(f, argnums)


def hessian(f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """The Hessian of a scalar f, ``jacfwd(jacrev(f))`` as in JAX: shape ``arg.shape + arg.shape``."""
    return jacfwd(jacrev(f, argnums), argnums)


def hvp(f: Callable, primals: Sequence[Any], tangents: Sequence[Any]) -> Values:
    """The Hessian of a scalar f times ``tangents``, without forming the Hessian: ``jvp(grad(f), primals,
    tangents)``'s tangent out, one entry per primal (a single one for a single primal)."""
    primals = tuple(primals)
    gradient = grad(f, argnums=tuple(range(len(primals))))
    _, hv = jvp(gradient, primals, tangents)
    return hv[0] if len(primals) == 1 else hv
