"""Layers: Linear, activations, Flatten, Dropout."""
from __future__ import annotations

from typing import Callable

from numpy.typing import DTypeLike

from glassgrad._backend import xp
from glassgrad.checks import check_int, check_number
from glassgrad.function import Function
from glassgrad.nn import functional as F
from glassgrad.nn import init
from glassgrad.nn.module import Module, Parameter
from glassgrad.tensor import DEFAULT_FLOAT, Generator, Tensor


class Linear(Module):
    """z = x Wᵀ + b with W of shape (out_features, in_features): W[j, k] is the notes' w^l_jk, the weight
    from unit k of the layer below to unit j of this layer.

    ``weight_init`` names an initialiser from ``nn.init`` ("default": uniform ±1/√n_in as PyTorch,
    "inv_sqrt_fan_in", "glorot", "he", "normal", "zeros", ...). Biases start uniform on ±1/√n_in with
    "default", standard normal with "normal" and "inv_sqrt_fan_in" (the notes' networks), else at zero.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, weight_init: str = "default",
                 dtype: DTypeLike | None = None, generator: Generator | None = None):
        super().__init__()
        self.in_features = check_int("Linear in_features", in_features)
        self.out_features = check_int("Linear out_features", out_features)
        dtype = dtype or DEFAULT_FLOAT
        self.weight = init.by_name(weight_init)(Parameter(xp.zeros((out_features, in_features), dtype)),
                                                generator=generator)
        self.bias = Parameter(xp.zeros(out_features, dtype)) if bias else None
        if self.bias is not None and weight_init == "default":
            bound = 1.0 / in_features ** 0.5
            init.uniform_(self.bias, -bound, bound, generator=generator)
        elif self.bias is not None and weight_init in ("normal", "inv_sqrt_fan_in"):
            init.normal_(self.bias, generator=generator)

    def forward(self, x: Tensor) -> Tensor:
        """z = x Wᵀ + b."""
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        """The feature counts (and bias=False without a bias)."""
        return f"{self.in_features}, {self.out_features}" + ("" if self.bias is not None else ", bias=False")


class Flatten(Module):
    """(N, d1, d2, …) → (N, d1·d2·…)."""

    def forward(self, x: Tensor) -> Tensor:
        """x with every axis after the first folded into one."""
        return x.reshape(x.shape[0], -1)


class Dropout(Module):
    """Drop each entry with probability p while training; the identity in eval mode."""

    def __init__(self, p: float = 0.5, generator: Generator | None = None):
        super().__init__()
        check_number("Dropout p", p, 0.0, 1.0)
        self.p = p
        self.generator = generator

    def forward(self, x: Tensor) -> Tensor:
        """x with entries dropped (and the rest scaled by 1/(1 − p)) while training; x in eval mode."""
        return F.dropout(x, self.p, self.training, self.generator)

    def extra_repr(self) -> str:
        """The drop probability."""
        return f"p={self.p}"


# ---- activations ------------------------------------------------------------------------------------
class _Elementwise(Module):
    fn: Callable = staticmethod(F.identity)

    def forward(self, x: Tensor) -> Tensor:
        """The activation applied entrywise."""
        return self.fn(x)


class Identity(_Elementwise):
    """f(z) = z, f' = 1: with it everywhere the whole network is linear."""


class Sigmoid(_Elementwise):
    """σ(z) = 1 / (1 + e^−z), σ' = σ(1 − σ) ≤ 1/4."""
    fn = staticmethod(F.sigmoid)


class Tanh(_Elementwise):
    """tanh(z), tanh' = 1 − tanh²."""
    fn = staticmethod(F.tanh)


class ReLU(_Elementwise):
    """max(z, 0), derivative 1 for z > 0 and 0 otherwise."""
    fn = staticmethod(F.relu)


class Softplus(_Elementwise):
    """log(1 + e^z), derivative σ(z)."""
    fn = staticmethod(F.softplus)


class LeakyReLU(Module):
    """z for z > 0, else negative_slope · z; derivative 1 for z > 0, ``negative_slope`` otherwise."""
    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x: Tensor) -> Tensor:
        """``leaky_relu(x)`` with this layer's slope."""
        return F.leaky_relu(x, negative_slope=self.negative_slope)

    def extra_repr(self) -> str:
        """The negative slope."""
        return f"negative_slope={self.negative_slope}"


class ELU(Module):
    """z for z > 0, alpha · (e^z − 1) otherwise; derivative 1 for z > 0, alpha · e^z otherwise."""
    def __init__(self, alpha: float = 1.0):
        super().__init__()
        self.alpha = alpha

    def forward(self, x: Tensor) -> Tensor:
        """``elu(x)`` with this layer's alpha."""
        return F.elu(x, alpha=self.alpha)

    def extra_repr(self) -> str:
        """The alpha."""
        return f"alpha={self.alpha}"


class Softmax(Module):
    """e^z / Σ e^z along ``axis`` (each slice sums to 1)."""
    def __init__(self, axis: int = -1):
        super().__init__()
        self.axis = axis

    def forward(self, x: Tensor) -> Tensor:
        """softmax of x along the layer's axis."""
        return F.softmax(x, axis=self.axis)


class LogSoftmax(Softmax):
    """log softmax along ``axis``, computed as z − logsumexp(z) (stable for large z)."""
    def forward(self, x: Tensor) -> Tensor:
        """log softmax of x along the layer's axis."""
        return F.log_softmax(x, axis=self.axis)


class Activation(Module):
    """Any elementwise f with its derivative f', both NumPy functions: "replace σ by f" in BP1 and BP2.

        cube = nn.Activation(lambda z: z ** 3, lambda z: 3 * z ** 2, name="cube")
    """

    def __init__(self, f: Callable, df: Callable, name: str = "activation"):
        super().__init__()
        self.name = name
        self.gate: type[Function] = type(name, (Function,), {
            "forward": staticmethod(lambda ctx, z: (ctx.save_for_backward(z), f(z))[1]),
            "backward": staticmethod(lambda ctx, g: g * df(ctx.saved_tensors[0])),
        })

    def forward(self, x: Tensor) -> Tensor:
        """f(x), differentiated with the given f'."""
        return self.gate.apply(x)

    def extra_repr(self) -> str:
        """The activation's name."""
        return self.name
