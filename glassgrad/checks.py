"""Argument checks shared by the Python API (core layer: imports nothing from glassgrad).

Each check runs before anything is built or changed and raises one error that names the function or
layer, the argument, what is allowed and what was given: ``TypeError`` for the wrong kind of value (a
float where a count is needed, a bool, a string), ``ValueError`` for a value out of range.
"""
from __future__ import annotations

import math
import numbers
from typing import Any


def check_number(name: str, value: Any, low: float = 0.0, high: float | None = None,
                 high_inclusive: bool = False) -> None:
    """Raise a clear error unless ``value`` is a real number with ``low <= value`` (and ``value < high``, or
    ``<=`` if inclusive); NaN and infinities are refused. ``name`` says whose argument it is, e.g. "Dropout p"."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, not {type(value).__name__} ({value!r})")
    v = float(value)
    if not math.isfinite(v) or v < low or (high is not None and (v > high if high_inclusive else v >= high)):
        if high is not None:
            bound = f" in [{low:g}, {high:g}{']' if high_inclusive else ')'}"
        else:
            bound = "" if low == float("-inf") else f" >= {low:g}"
        raise ValueError(f"invalid {name}: {value!r} (must be a finite number{bound})")


def check_int(name: str, value: Any, low: int = 1) -> int:
    """``value`` as an int if it is an integer (not a bool or a float) at least ``low``; else a clear error.
    ``name`` says whose argument it is, e.g. "Linear in_features"."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= {low}, not {type(value).__name__} ({value!r})")
    if value < low:
        raise ValueError(f"invalid {name}: {value!r} (must be an integer >= {low})")
    return int(value)


def check_pair(name: str, what: str, value: Any, minimum: int) -> tuple[int, int]:
    """An int or a pair of ints (rows, columns) as a pair, each at least ``minimum`` (kernel sizes, strides,
    padding); ``name`` is the function or layer, ``what`` the argument."""
    pair = (value, value) if isinstance(value, numbers.Integral) else \
        tuple(value) if isinstance(value, (tuple, list)) else ()
    if len(pair) != 2 or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and int(v) >= minimum
                                 for v in pair) or isinstance(value, bool):
        raise ValueError(f"{name}: {what} must be an int or a pair of ints ≥ {minimum}, not {value!r}")
    return int(pair[0]), int(pair[1])
