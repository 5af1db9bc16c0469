"""``einsum``, and the contractions NumPy builds from it: tensordot, N-d dot, inner, outer, kron, trace,
diagonal, diag, cross.

einsum's VJP is itself an einsum. For ``out = einsum("ij,jk->ik", x, y)`` the gradient of x is
``einsum("ik,jk->ij", g, y)``: the output's subscripts and the other operands' subscripts in, this
operand's subscripts out. Two cases need more than swapping subscripts:

* a letter of the operand that appears nowhere else (``"ij->i"``: j is summed inside x alone) does not
  reach the gradient einsum; each entry along it gets the same gradient, so the result is broadcast
  along it;
* a letter repeated in the operand (``"ii->i"``, a diagonal) cannot be repeated in einsum's output; the
  repeats are renamed and tied to the first by identity matrices, ``"i,ij->ij"``, so the gradient lands
  on the diagonal and 0 elsewhere.

Ellipses are expanded to letters (right-aligned, as NumPy broadcasts them); an operand's axis of length
1 that broadcasts against a longer one gets a letter of its own, summed over in its gradient.
"""
from __future__ import annotations

import builtins
import functools
from typing import Sequence

from glassgrad._backend import ndarray, xp
from glassgrad.device import array_module
from glassgrad.engine import Each, gate
from glassgrad.ops.elementwise import mul, sub
from glassgrad.ops.linalg import matmul
from glassgrad.ops.shape import _unindex, broadcast_to, getitem, reshape, stack, transpose
from glassgrad.tensor import Tensor, TensorLike

# string.ascii_letters, the letters einsum accepts; spelled out because ``import string`` (its Template class
# compiles a regular expression) would be paid by every ``import glassgrad``.
_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


@functools.lru_cache(maxsize=256)
def _parse(subscripts: str, shapes: tuple) -> tuple[tuple, tuple, dict]:
    """Explicit letters for each operand and for the output, and each letter's length."""
    text = subscripts.replace(" ", "")
    ins, arrow, out = text.partition("->")
    terms = ins.split(",")
    if len(terms) != len(shapes):
        raise ValueError(f"einsum: the subscripts {subscripts!r} name {len(terms)} operand(s), but {len(shapes)} "
                         "were given")
    letters = set(text) - set(",->.")
    bad = sorted(c for c in letters if c not in _LETTERS)
    if bad:
        raise ValueError(f"einsum: subscripts are letters a-z, A-Z and '...', not {bad}")
    fresh = iter(c for c in _LETTERS if c not in letters)
    blocks = []
    for term, shape in zip(terms, shapes):
        named = len(term.replace("...", ""))
        if "..." not in term and named != len(shape):
            raise ValueError(f"einsum: operand with subscripts {term!r} has {len(shape)} axes, not {named}")
        if "..." in term and len(shape) < named:
            raise ValueError(f"einsum: operand with subscripts {term!r} has {len(shape)} axes, fewer than {named}")
        start = term.index("...") if "..." in term else 0
        blocks.append(shape[start:start + len(shape) - named] if "..." in term else ())
    try:
        full = xp.broadcast_shapes(*blocks)
    except ValueError:
        raise ValueError(f"einsum: the '...' axes of the operands, {blocks}, do not broadcast together") from None
    ellipsis = [next(fresh) for _ in full]
    sizes: dict[str, int] = {}
    explicit = []
    for term, shape, block in zip(terms, shapes, blocks):
        own = []
        for n, size in zip(block, full[len(full) - len(block):]):
            own.append(next(fresh) if n != size else None)     # a broadcast axis of length 1 gets its own letter
        spread = [o or e for o, e in zip(own, ellipsis[len(ellipsis) - len(block):])]
        pieces = term.split("...")
        expanded = list(pieces[0]) + (spread + list(pieces[1]) if len(pieces) == 2 else [])
        for letter, n in zip(expanded, shape):
            if sizes.setdefault(letter, n) != n:
                raise ValueError(f"einsum: subscript {letter!r} has length {sizes[letter]} in one place and {n} in "
                                 "another")
        explicit.append(tuple(expanded))
    if arrow:
        if "..." in out:
            before, after = out.split("...")
            output = tuple(before) + tuple(ellipsis) + tuple(after)
        else:
            output = tuple(out)
        unknown = sorted(set(output) - set(sizes))
        if unknown:
            raise ValueError(f"einsum: output subscripts {unknown} name no operand's axis")
    else:
        counts: dict[str, int] = {}
        for term in terms:
            for c in term.replace("...", ""):
                counts[c] = counts.get(c, 0) + 1
        output = tuple(ellipsis) + tuple(sorted(c for c, k in counts.items() if k == 1))
    return tuple(explicit), output, sizes


def _einsum(*operands: ndarray, subscripts: str) -> ndarray:
    return xp.einsum(subscripts, *operands, optimize=len(operands) > 2)


def _einsum_vjp(i, g, out, *operands, subscripts):
    terms, output, sizes = _parse(subscripts, tuple(tuple(o.shape) for o in operands))
    target = terms[i]
    others = [k for k in range(len(operands)) if k != i]
    reached = set(output).union(*(terms[k] for k in others))
    unique = tuple(dict.fromkeys(target))
    kept = tuple(c for c in unique if c in reached)
    spec = ",".join(["".join(output)] + ["".join(terms[k]) for k in others]) + "->" + "".join(kept)
    grad = _gate(g, *(operands[k] for k in others), subscripts=spec)
    if kept != unique:                  # letters summed inside this operand alone: the gradient is spread along them
        grad = broadcast_to(reshape(grad, tuple(sizes[c] if c in kept else 1 for c in unique)),
                            tuple(sizes[c] for c in unique))
    if unique != target:                # repeated letters (a diagonal): tie the repeats to the first by identities
        renamed, ties, seen = [], [], set()
        spare = iter(c for c in _LETTERS if c not in sizes)
        for c in target:
            if c in seen:
                r = next(spare)
                renamed.append(r)
                ties.append((c + r, array_module(grad).eye(sizes[c], dtype=grad.dtype)))
            else:
                seen.add(c)
                renamed.append(c)
        spec = ",".join(["".join(unique)] + [t for t, _ in ties]) + "->" + "".join(renamed)
        grad = _gate(grad, *(eye for _, eye in ties), subscripts=spec)
    return grad


_gate = gate("einsum", _einsum, Each(_einsum_vjp),
             doc="Einstein summation over any subscripts (explicit '->' or implicit, '...' broadcasting, repeated "
                 "letters for diagonals). ∂/∂operand_i = einsum(output, other operands → operand_i's subscripts) "
                 "applied to g: itself an einsum, spread along letters summed inside operand_i alone and placed "
                 "on the diagonal for repeated letters.")


def einsum(subscripts: str, *operands: TensorLike) -> Tensor:
    """``np.einsum(subscripts, *operands)`` with gradients for every operand (the VJP is itself an einsum)."""
    if not isinstance(subscripts, str):
        raise TypeError("einsum: give the subscripts as a string, e.g. einsum('ij,jk->ik', a, b) (the interleaved "
                        "operand/sublist form is not supported)")
    _parse(subscripts, tuple(tuple(xp.shape(_values(o))) for o in operands))     # errors name the problem
    return _gate(*operands, subscripts=subscripts)


def _values(x):
    return x.data if isinstance(x, Tensor) else x


def _letters(n: int, skip: str = "") -> str:
    return "".join(c for c in _LETTERS if c not in skip)[:n]


def _ndim(x) -> int:
    return xp.ndim(_values(x))


def tensordot(a: TensorLike, b: TensorLike, axes: int | Sequence[Sequence[int]] = 2) -> Tensor:
    """``np.tensordot``: sum over the last ``axes`` axes of a and the first of b, or over the axes listed in
    ``axes = (axes_a, axes_b)``. An einsum, so its gradients are einsums."""
    na, nb = _ndim(a), _ndim(b)
    if isinstance(axes, int):
        pairs = (list(range(na - axes, na)), list(range(axes)))
    else:
        first, second = axes
        pairs = ([first] if isinstance(first, int) else list(first),
                 [second] if isinstance(second, int) else list(second))
    if len(pairs[0]) != len(pairs[1]):
        raise ValueError(f"tensordot: {len(pairs[0])} axes of a paired with {len(pairs[1])} axes of b")
    sa, sb = list(_letters(na)), list(_letters(nb, _letters(na)))
    for p, q in zip(*pairs):
        sb[q % nb] = sa[p % na]
    summed = {sa[p % na] for p in pairs[0]}
    out = [c for c in sa if c not in summed] + [c for c in sb if c not in summed]
    return einsum(f"{''.join(sa)},{''.join(sb)}->{''.join(out)}", a, b)


def dot(a: TensorLike, b: TensorLike) -> Tensor:
    """``np.dot``: a product for 0-d operands, the inner product for vectors, the matrix product for
    matrices, and for N-d a sum over the last axis of a and the second-to-last of b."""
    na, nb = _ndim(a), _ndim(b)
    if na == 0 or nb == 0:
        return mul(a, b)
    if nb <= 2 or na == 1:                       # here np.dot and matmul agree, and matmul is the fast path
        return matmul(a, b)
    return tensordot(a, b, axes=([na - 1], [nb - 2]))


def inner(a: TensorLike, b: TensorLike) -> Tensor:
    """``np.inner``: the sum over the last axes of a and b (a product for 0-d operands)."""
    na, nb = _ndim(a), _ndim(b)
    if na == 0 or nb == 0:
        return mul(a, b)
    return tensordot(a, b, axes=([na - 1], [nb - 1]))


def outer(a: TensorLike, b: TensorLike) -> Tensor:
    """``np.outer``: every entry of a (flattened) times every entry of b (flattened)."""
    return einsum("i,j->ij", reshape(a, (-1,)), reshape(b, (-1,)))


def kron(a: TensorLike, b: TensorLike) -> Tensor:
    """``np.kron``: the Kronecker product, block (i, j) of the result being a[i, j] · b (any number of axes)."""
    n = builtins.max(_ndim(a), _ndim(b))
    a = reshape(a, (1,) * (n - _ndim(a)) + xp.shape(_values(a)))
    b = reshape(b, (1,) * (n - _ndim(b)) + xp.shape(_values(b)))
    sa, sb = _letters(n), _letters(n, _letters(n))
    paired = "".join(x + y for x, y in zip(sa, sb))
    shape = tuple(p * q for p, q in zip(_values(a).shape, _values(b).shape))
    return reshape(einsum(f"{sa},{sb}->{paired}", a, b), shape)


def diagonal(a: TensorLike, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
    """``np.diagonal``: the entries a[…, i, i + offset, …] along axis1 and axis2, as a new last axis."""
    n = _ndim(a)
    if n < 2:
        raise ValueError(f"diagonal: needs at least 2 axes, the input has {n}")
    p, q = axis1 % n, axis2 % n
    if p == q:
        raise ValueError("diagonal: axis1 and axis2 must be different axes")
    rest = [k for k in range(n) if k not in (p, q)]
    moved = transpose(a, tuple(rest) + (p, q))
    rows_n, cols_n = moved.shape[-2], moved.shape[-1]
    start_r, start_c = (0, offset) if offset >= 0 else (-offset, 0)
    length = builtins.max(0, builtins.min(rows_n - start_r, cols_n - start_c))
    module = array_module(a)
    rows, cols = module.arange(start_r, start_r + length), module.arange(start_c, start_c + length)
    return getitem(moved, (Ellipsis, rows, cols))


def trace(a: TensorLike, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
    """``np.trace``: the sum of the diagonal (of each matrix along axis1, axis2)."""
    return diagonal(a, offset, axis1, axis2).sum(axis=-1)


def diag(v: TensorLike, k: int = 0) -> Tensor:
    """``np.diag``: a 1-d v gives the square matrix with v on the k-th diagonal; a 2-d v gives its k-th diagonal."""
    n = _ndim(v)
    if n == 2:
        return diagonal(v, k)
    if n != 1:
        raise ValueError(f"diag: needs a 1-d or 2-d input, not {n}-d")
    length = xp.shape(_values(v))[0]
    size = length + abs(k)
    module = array_module(v)
    rows = module.arange(length) + builtins.max(-k, 0)
    cols = module.arange(length) + builtins.max(k, 0)
    return _unindex(v, index=(rows, cols), shape=(size, size))


def cross(a: TensorLike, b: TensorLike, axis: int = -1) -> Tensor:
    """``np.cross`` of 3-vectors along ``axis`` (broadcasting): a × b, each component a difference of products."""
    if xp.shape(_values(a))[axis] != 3 or xp.shape(_values(b))[axis] != 3:
        raise ValueError(f"cross: both inputs need length 3 along axis {axis}, not "
                         f"{xp.shape(_values(a))[axis]} and {xp.shape(_values(b))[axis]} (2-vectors are not supported)")

    def part(x, k):
        index = (builtins.slice(None),) * (axis % _ndim(x)) + (k,)
        return getitem(x, index)

    components = [sub(mul(part(a, 1), part(b, 2)), mul(part(a, 2), part(b, 1))),
                  sub(mul(part(a, 2), part(b, 0)), mul(part(a, 0), part(b, 2))),
                  sub(mul(part(a, 0), part(b, 1)), mul(part(a, 1), part(b, 0)))]
    n_out = builtins.max(_ndim(a), _ndim(b))
    return stack(components, axis=axis % n_out)
