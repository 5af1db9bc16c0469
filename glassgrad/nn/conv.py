"""Convolutional layers: Conv2d and MaxPool2d (images as (N, C, H, W), as PyTorch)."""
from __future__ import annotations

from numpy.typing import DTypeLike

from glassgrad._backend import xp
from glassgrad.checks import check_int
from glassgrad.nn import functional as F
from glassgrad.nn import init
from glassgrad.nn.module import Module, Parameter
from glassgrad.tensor import DEFAULT_FLOAT, Generator, Tensor


class Conv2d(Module):
    """out[n, o] = b[o] + Σ_c W[o, c] ⋆ x[n, c]: each output channel slides its own kh×kw×C kernel over the
    input (cross-correlation, as PyTorch), ``stride`` pixels at a time, over the input padded with
    ``padding`` zeros on each side. The weight has shape (out_channels, in_channels, kh, kw).

    Every position of the kernel shares the same weights, so ∂C/∂W sums "activation in times error out"
    over all the places the kernel was used. ``weight_init`` names an initialiser from ``nn.init``
    ("default": uniform ±1/√fan_in with fan_in = in_channels·kh·kw, as PyTorch; "he", "glorot", ...);
    with "default" the bias is uniform on the same range, else it starts at zero.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] = 0, bias: bool = True,
                 weight_init: str = "default", dtype: DTypeLike | None = None,
                 generator: Generator | None = None) -> None:
        super().__init__()
        self.in_channels = check_int("Conv2d in_channels", in_channels)
        self.out_channels = check_int("Conv2d out_channels", out_channels)
        self.kernel_size = F._pair("Conv2d", "kernel_size", kernel_size, 1)
        self.stride = F._pair("Conv2d", "stride", stride, 1)
        self.padding = F._pair("Conv2d", "padding", padding, 0)
        dtype = dtype or DEFAULT_FLOAT
        self.weight = init.by_name(weight_init)(
            Parameter(xp.zeros((out_channels, in_channels) + self.kernel_size, dtype)), generator=generator)
        self.bias = Parameter(xp.zeros(out_channels, dtype)) if bias else None
        if self.bias is not None and weight_init == "default":
            bound = 1.0 / init.fans(self.weight)[0] ** 0.5
            init.uniform_(self.bias, -bound, bound, generator=generator)

    def forward(self, x: Tensor) -> Tensor:
        """The convolution of x (N, C, H, W) with this layer's weight and bias."""
        F._check_conv2d(self._name(), x, self.weight, self.bias, self.stride, self.padding)
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding)

    def _name(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"

    def extra_repr(self) -> str:
        """Channels, kernel size, stride and padding."""
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}"
        if self.stride != (1, 1):
            s += f", stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        return s + ("" if self.bias is not None else ", bias=False")


class MaxPool2d(Module):
    """The largest entry of each kernel_size window; ``stride`` defaults to kernel_size (no overlap).

    Its gradient goes to each window's maximum (tied maxima share it; see ``functional.max_pool2d``).
    """

    def __init__(self, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None) -> None:
        super().__init__()
        self.kernel_size = F._pair("MaxPool2d", "kernel_size", kernel_size, 1)
        self.stride = self.kernel_size if stride is None else F._pair("MaxPool2d", "stride", stride, 1)

    def forward(self, x: Tensor) -> Tensor:
        """The maximum of each window of x (N, C, H, W)."""
        F._check_pool(f"{type(self).__name__}({self.extra_repr()})", x, self.kernel_size, self.stride)
        return F.max_pool2d(x, self.kernel_size, self.stride)

    def extra_repr(self) -> str:
        """Kernel size and stride."""
        stride = f", stride={self.stride}" if self.stride != self.kernel_size else ""
        return f"kernel_size={self.kernel_size}{stride}"
