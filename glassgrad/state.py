"""Loading saved state all-or-nothing: the one error type and the checks every loader shares.

Every path that puts saved state into live objects — ``Module.load_state_dict``,
``Optimizer.load_state_dict``, ``Checkpoint.restore``, ``fit(resume=...)`` and the command line —
works in two phases: *prepare* checks everything and returns a function that applies it; only when
every part has been prepared are the commits run. A commit only assigns already-checked values, so it
cannot fail half-way. Any problem is a ``CheckpointError`` naming the key (and, for files, the file)
and saying what to do; nothing has changed when it is raised.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Iterable, Mapping, Protocol

from glassgrad._backend import ndarray, xp
from glassgrad.device import array_module, is_device_array, to_host

Commit = Callable[[], None]
"""What a *prepare* step returns: applies state that has been checked; cannot fail."""


class Stateful(Protocol):
    """What a checkpoint saves and restores: a model, an optimizer, a scheduler (anything with these two)."""

    def state_dict(self) -> Mapping[str, Any]:
        """The state to save."""
        ...

    def load_state_dict(self, state: Mapping[str, Any], /) -> None:
        """Load a state that ``state_dict`` returned."""
        ...


__all__ = ["CheckpointError", "StateKeyError", "Commit", "commit_all", "nonfinite_kind", "first_nonfinite",
           "checked_array", "describe_dtype"]


class CheckpointError(ValueError):
    """Saved state (a checkpoint file, a state dict) that cannot be loaded; nothing was changed.

    The message names the file (when there is one), the key, and what to do about it.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class StateKeyError(CheckpointError, KeyError):
    """A state dict with missing or unexpected keys (also a ``KeyError``, as in PyTorch)."""


def commit_all(*commits: Commit) -> None:
    """Apply prepared state; call it only after every part has been prepared (checked)."""
    for commit in commits:
        commit()


def nonfinite_kind(array: Any) -> str | None:
    """``"nan"`` or ``"inf"`` if the array holds such a value, else None (integers: always None).

    One summing pass without a temporary array decides the common, all-finite case; only a
    non-finite sum (a NaN/inf, or finite values that overflow it) is looked at element by element. A GPU
    array is checked on its device (only the one number comes to the host).
    """
    module = array_module(array)
    a = module.asarray(array)
    if a.dtype.kind != "f" or a.size == 0:
        return None
    if math.isfinite(float(a.sum())):
        return None
    if module.isnan(a).any():
        return "nan"
    return "inf" if module.isinf(a).any() else None


def first_nonfinite(named_arrays: Iterable[tuple[str, Any]]) -> tuple[str, str] | None:
    """``(name, "nan" or "inf")`` of the first array holding a non-finite value, or None."""
    for name, array in named_arrays:
        if array is None:
            continue
        kind = nonfinite_kind(array)
        if kind is not None:
            return name, kind
    return None


def checked_array(value: Any, shape: tuple[int, ...], dtype: Any, what: str, holder: str = "the model") -> ndarray:
    """``value`` as a new array of ``dtype``, for loading into ``what`` (e.g. ``"key '0.weight'"``) of
    ``holder``: checked to have the shape, only finite real numbers, each of which ``dtype`` represents
    exactly (float64 values that are float32 numbers load into float32; 0.1 does not); a
    ``CheckpointError`` naming ``what`` otherwise. The checks run on the host and the result is a host
    array (a GPU array is copied over first); the caller puts it on the device it loads into."""
    dtype = xp.dtype(dtype)
    if is_device_array(value):
        value = to_host(value)
    if not isinstance(value, ndarray):
        if isinstance(value, (bool, int, float)) or (isinstance(value, list) and _numbers_only(value)):
            value = xp.asarray(value)
        else:
            raise CheckpointError(f"{what} is a {type(value).__name__}, not an array of numbers; the state was not "
                                  "written by state_dict() of this kind of object")
    if value.dtype.kind not in "biuf":
        raise CheckpointError(f"{what} holds {describe_dtype(value.dtype)}; it must hold real numbers ({dtype} like "
                              f"{holder}) — the state is corrupt or from another program")
    if value.shape != tuple(shape):
        raise CheckpointError(f"{what} has shape {value.shape} in the state but {tuple(shape)} in {holder}; the "
                              "state was saved from one of other sizes — build it with the same sizes")
    kind = nonfinite_kind(value)
    if kind is not None:
        raise CheckpointError(f"{what} holds {kind} values; a state with non-finite numbers cannot be trained "
                              "or used — load an earlier checkpoint")
    with xp.errstate(over="ignore", invalid="ignore"):   # an overflow is refused below, not warned about
        converted = xp.array(value, dtype=dtype, copy=True)
    # without loss: a type that always converts exactly, or values that all survive the round trip
    if not (xp.can_cast(value.dtype, dtype, casting="safe")
            or xp.array_equal(converted.astype(value.dtype), value)):
        raise CheckpointError(f"{what} holds {value.dtype} values that {dtype} cannot represent exactly ({holder} "
                              f"is {dtype}); convert the state with .astype({dtype.name}) if the rounding is "
                              f"wanted, or build {holder} in {value.dtype}")
    return converted


def describe_dtype(dtype: Any) -> str:
    """What an array of ``dtype`` holds, in words (for messages about arrays that are not real numbers)."""
    dtype = xp.dtype(dtype)
    kind = {"c": "complex numbers", "U": "strings", "S": "bytes", "O": "Python objects", "V": "records",
            "M": "dates", "m": "time spans"}.get(dtype.kind, "numbers")
    return f"{kind} ({dtype})"


def _numbers_only(items: list, depth: int = 0) -> bool:
    if depth > 32:
        return False
    return all(isinstance(v, (bool, int, float)) or (isinstance(v, list) and _numbers_only(v, depth + 1))
               for v in items)
