"""Initialisers: fill a parameter in place. All draw from a seeded generator (``gg.manual_seed``).

Why it matters (docs/backprop.md#training): equal initial weights give every unit of a layer the same update
forever (``zeros_`` / ``constant_`` exist to show that); the scale of random weights decides whether
signals and gradients shrink or grow through depth (``glorot_*`` for sigmoid/tanh, ``he_*`` for ReLU).
"""
from __future__ import annotations

import math
from typing import Callable

from numpy.typing import ArrayLike

from glassgrad.device import device_of, to_device
from glassgrad.tensor import Generator, Tensor, _rng


def fans(t: Tensor) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of shape (out, in, *kernel)."""
    if t.ndim < 2:
        raise ValueError(f"fan_in/fan_out need a weight with at least 2 axes, not shape {t.shape}")
    receptive = math.prod(t.shape[2:])
    return t.shape[1] * receptive, t.shape[0] * receptive


def _fill(t: Tensor, values: ArrayLike) -> Tensor:
    # drawn on the host (the seeded generator), then copied to the tensor's device: the same weights anywhere
    t.data[...] = to_device(values, device_of(t.data)) if hasattr(values, "shape") else values
    return t


def zeros_(t: Tensor, generator: Generator | None = None) -> Tensor:
    return _fill(t, 0)


def constant_(t: Tensor, value: float, generator: Generator | None = None) -> Tensor:
    return _fill(t, value)


def normal_(t: Tensor, mean: float = 0.0, std: float = 1.0, generator: Generator | None = None) -> Tensor:
    return _fill(t, _rng(generator).normal(mean, std, t.shape))


def uniform_(t: Tensor, a: float = 0.0, b: float = 1.0, generator: Generator | None = None) -> Tensor:
    return _fill(t, _rng(generator).uniform(a, b, t.shape))


def inv_sqrt_fan_in_(t: Tensor, generator: Generator | None = None) -> Tensor:
    """Normal with standard deviation 1/√n_in (the notes' improved initialisation)."""
    return normal_(t, 0.0, 1.0 / math.sqrt(fans(t)[0]), generator)


def uniform_fan_in_(t: Tensor, generator: Generator | None = None) -> Tensor:
    """Uniform on ±1/√n_in: PyTorch's default for Linear and Conv2d."""
    bound = 1.0 / math.sqrt(fans(t)[0])
    return uniform_(t, -bound, bound, generator)


def glorot_uniform_(t: Tensor, gain: float = 1.0, generator: Generator | None = None) -> Tensor:
    """Glorot (Xavier): uniform on ±gain·√(6 / (n_in + n_out))."""
    fan_in, fan_out = fans(t)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(t, -bound, bound, generator)


def glorot_normal_(t: Tensor, gain: float = 1.0, generator: Generator | None = None) -> Tensor:
    fan_in, fan_out = fans(t)
    return normal_(t, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator)


def he_normal_(t: Tensor, generator: Generator | None = None) -> Tensor:
    """He (Kaiming) for ReLU: normal with standard deviation √(2 / n_in)."""
    return normal_(t, 0.0, math.sqrt(2.0 / fans(t)[0]), generator)


def he_uniform_(t: Tensor, generator: Generator | None = None) -> Tensor:
    bound = math.sqrt(6.0 / fans(t)[0])
    return uniform_(t, -bound, bound, generator)


xavier_uniform_, xavier_normal_ = glorot_uniform_, glorot_normal_
kaiming_normal_, kaiming_uniform_ = he_normal_, he_uniform_

WEIGHT_INITS: dict[str, Callable[..., Tensor]] = {
    "default": uniform_fan_in_, "zeros": zeros_, "normal": normal_, "uniform": uniform_,
    "inv_sqrt_fan_in": inv_sqrt_fan_in_, "glorot": glorot_uniform_, "glorot_normal": glorot_normal_,
    "he": he_normal_, "he_uniform": he_uniform_,
}


def by_name(name: str) -> Callable[..., Tensor]:
    """The initialiser called ``name`` (for configuration files and the command line)."""
    try:
        return WEIGHT_INITS[name]
    except KeyError:
        raise ValueError(f"unknown initialiser {name!r}; choose from {', '.join(WEIGHT_INITS)}") from None
