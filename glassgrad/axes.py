"""The axes a reduction removes and the shapes around it (core layer: imports nothing from glassgrad but the
array module).

One set of rules for every place that reduces: the reduction gates and their VJPs (``glassgrad.ops``), and
the compiled step, which writes the same reductions as NumPy calls (``glassgrad.compile``, a core module that
cannot import the ops).
"""
from __future__ import annotations

import math
from typing import Any, Sequence

from glassgrad._backend import xp


def reduced_axes(axis: Any, ndim: int) -> tuple[int, ...]:
    """The axes a reduction over ``axis`` removes from a tensor of ``ndim`` dimensions, as non-negative ints: None
    is every axis, negative axes count from the end. A 0-d tensor accepts axis 0 or -1 (its single value is the
    result), as NumPy's sum and PyTorch do, for every reduction alike. Out-of-range, repeated or non-integer axes
    raise an error naming what is allowed (the engine adds the gate's name)."""
    if axis is None:
        return tuple(range(ndim))
    span = max(ndim, 1)                   # a 0-d tensor reads as one axis of length 1
    requested = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    axes = []
    for a in requested:
        if isinstance(a, bool) or not isinstance(a, (int, xp.integer)):
            raise TypeError(f"axis must be an int, a tuple of ints or None, not {a!r}")
        if not -span <= a < span:
            raise ValueError(f"axis {a} is out of range for a tensor with {ndim} dimension(s): "
                             f"allowed {-span}..{span - 1} or None")
        axes.append(int(a) % span)
    if len(set(axes)) != len(axes):
        raise ValueError(f"axis {axis} names the same axis twice")
    return tuple(axes) if ndim else ()


def kept_shape(shape: Sequence[int], axis: Any) -> tuple[int, ...]:
    """The shape a reduction over ``axis`` leaves with keepdims=True: ``shape`` with the reduced axes as 1s."""
    axes = reduced_axes(axis, len(shape))
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def reduced_count(shape: Sequence[int], out_shape: Sequence[int]) -> int:
    """How many entries of an input of ``shape`` went into each entry of the reduction's output of
    ``out_shape`` (the divisor of a mean)."""
    return math.prod(shape) // max(math.prod(out_shape), 1)
