"""PyTorch's spellings of NumPy's arguments, accepted where the two mean exactly the same thing.

``x.sum(dim=0, keepdim=True)`` is ``x.sum(axis=0, keepdims=True)``; ``x.var(dim=0, correction=1)`` is
``x.var(axis=0, ddof=1)``. Giving both spellings of one argument is an error, and so is a PyTorch
spelling whose PyTorch meaning differs from glassgrad's (``x.max(dim=1)`` returns values *and indices*
in PyTorch): those raise a ``TypeError`` that says what to write instead, never a silently different
answer. docs/numpy.md has the whole mapping table.
"""
from __future__ import annotations

import functools
from typing import Any, Callable

TORCH_NAMES = {"dim": "axis", "keepdim": "keepdims", "correction": "ddof"}
"""PyTorch's keyword → NumPy's keyword."""


def numpy_kwargs(op: str, kwargs: dict) -> dict:
    """``kwargs`` with PyTorch's keywords renamed to NumPy's (``dim=[0, 1]`` becomes ``axis=(0, 1)``)."""
    for torch_name, numpy_name in TORCH_NAMES.items():
        if torch_name in kwargs:
            if numpy_name in kwargs:
                raise TypeError(f"{op}: got both {numpy_name}= and {torch_name}= (PyTorch's name for {numpy_name}); "
                                "give one")
            value = kwargs.pop(torch_name)
            kwargs[numpy_name] = tuple(value) if isinstance(value, list) else value
    return kwargs


def accepts_torch_names(fn: Callable, name: str | None = None,
                        check: Callable[[str, dict], None] | None = None) -> Callable:
    """``fn`` that also takes ``dim=``/``keepdim=``/``correction=``. ``check(op, kwargs)`` sees the keywords
    as given when a PyTorch one is among them, and raises where PyTorch would mean something else."""
    op = name or getattr(fn, "name", None) or fn.__name__

    @functools.wraps(fn)
    def with_torch_names(*args: Any, **kwargs: Any) -> Any:
        if kwargs and not TORCH_NAMES.keys().isdisjoint(kwargs):
            if check is not None:
                check(op, kwargs)
            kwargs = numpy_kwargs(op, kwargs)
        return fn(*args, **kwargs)

    with_torch_names.__name__ = op
    with_torch_names.__qualname__ = op
    return with_torch_names


def values_without_indices(op: str, kwargs: dict) -> None:
    """``max``/``min`` return values only (NumPy's amax/amin); PyTorch's ``max(dim=)`` returns indices too."""
    if "dim" in kwargs:
        raise TypeError(f"{op}(dim=…): PyTorch's {op}(dim=) returns (values, indices); glassgrad's {op} returns the "
                        f"values, like np.{op}. Write {op}(axis=…) or a{op}(dim=…) for the values, "
                        f"arg{op}(dim=…) for the indices")


def explicit_correction(op: str, kwargs: dict) -> None:
    """``var``/``std`` default to ddof=0 (NumPy); PyTorch defaults to correction=1: a torch-style call says which."""
    if "dim" in kwargs and "ddof" not in kwargs and "correction" not in kwargs:
        raise TypeError(f"{op}(dim=…) without correction=: PyTorch's default is correction=1, NumPy's (and "
                        f"glassgrad's) ddof=0; give correction= (or ddof=) to say which")
