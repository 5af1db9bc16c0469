"""The functional API, as in JAX and HIPS autograd: ``grad(f)`` is a function that returns f's gradient.

    dfdw = gg.grad(lambda x, w: ((x @ w) ** 2).sum(), argnums=1)(x_array, w_array)

Arrays in, arrays out: arguments given as NumPy arrays or numbers get gradients as arrays; arguments
given as tensors get tensors, and calls nest (``gg.grad(gg.grad(f))``) because an inner call on tensors
that require grad records its own backward pass.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

from glassgrad import engine
from glassgrad._backend import xp
from glassgrad.tensor import Tensor, _to_array


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


def _split_aux(result, has_aux: bool):
    if not has_aux:
        return result, None
    if not (isinstance(result, tuple) and len(result) == 2):
        raise TypeError("with has_aux=True the function must return a pair (value, aux)")
    return result


def vjp(f: Callable, *args: Any, has_aux: bool = False):
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
        leaves = list(args)
        for i in nums:
            leaves[i] = _leaf(args[i])
        with engine.enable_grad():
            out, aux = _split_aux(f(*leaves), has_aux)
        if not isinstance(out, Tensor) or out.numel() != 1:
            raise TypeError(f"grad: the function must return a tensor with one element, got "
                            f"{getattr(out, 'shape', type(out).__name__)}; use vjp for other outputs")
        watched = _watched(args)
        nested = watched or any(isinstance(args[i], Tensor) for i in nums)
        seed = xp.ones_like(out.data)
        grads = _gradients(out, Tensor._make(seed) if nested else seed, [leaves[i] for i in nums], nested)
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
