"""glassgrad: backpropagation you can see through, at full speed.

A reverse-mode automatic-differentiation engine over NumPy arrays (``Tensor``, ``backward``, ``grad``),
every gate's derivative in one readable table (``glassgrad.ops``), and tools that show each gradient.
"""
# glassgrad.tensor first: it imports the engine and the gates at its end, and they import it back; entered
# from any other module, that cycle finds the engine half-made.
from glassgrad.tensor import (
    DEFAULT_FLOAT,
    Generator,
    Tensor,
    arange,
    as_tensor,
    bool_,
    default_generator,
    eye,
    float16,
    float32,
    float64,
    from_dlpack,
    full,
    full_like,
    int32,
    int64,
    linspace,
    logspace,
    manual_seed,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    tensor,
    zeros,
    zeros_like,
)

# isort: split
import sys
from types import ModuleType
from typing import TYPE_CHECKING, Any

from glassgrad import hooks
from glassgrad._version import __version__
from glassgrad.device import Device, device
from glassgrad.engine import GATES, Gate, ShapeError, gate
from glassgrad.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from glassgrad.ops import *  # noqa: F401,F403  every gate as a function: gg.exp(x), gg.matmul(a, b) ...
from glassgrad.ops import __all__ as _ops_all
from glassgrad.threads import blas_threads

if TYPE_CHECKING:  # imported on first use (``__getattr__`` below); named here for type checkers and the docs
    from glassgrad import linalg
    from glassgrad.compile import Compiled, compile
    from glassgrad.function import Function
    from glassgrad.gradcheck import GradcheckError, gradcheck, gradgradcheck, numerical_grad
    from glassgrad.transforms import grad, hessian, hvp, jacfwd, jacobian, jacrev, jvp, value_and_grad, vjp

__all__ = [
    "__version__", "Tensor", "Device", "device",
    "tensor", "as_tensor", "from_dlpack", "linspace", "logspace", "linalg", "zeros", "ones",
    "full", "arange", "eye", "rand", "randn",
    "randint", "zeros_like", "ones_like", "full_like", "rand_like", "randn_like", "manual_seed", "Generator",
    "default_generator", "float16", "float32", "float64", "int32", "int64", "bool_", "DEFAULT_FLOAT",
    "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled", "Gate", "gate", "GATES", "ShapeError", "hooks",
    "Function", "grad", "value_and_grad", "vjp", "jvp", "jacfwd", "jacrev", "jacobian", "hessian", "hvp", "gradcheck",
    "gradgradcheck", "numerical_grad",
    "GradcheckError", "compile", "Compiled", "blas_threads", *_ops_all,
]

# Loaded on first use, so that ``import glassgrad`` costs little more than importing NumPy: the public names
# defined in these modules, and the submodules and subpackages reached as attributes.
_LAZY_NAMES = {
    "glassgrad.compile": ("Compiled", "compile"),
    "glassgrad.function": ("Function",),
    "glassgrad.gradcheck": ("GradcheckError", "gradcheck", "gradgradcheck", "numerical_grad"),
    "glassgrad.transforms": ("grad", "hessian", "hvp", "jacfwd", "jacobian", "jacrev", "jvp", "value_and_grad",
                             "vjp"),
}
_HOME = {name: module for module, names in _LAZY_NAMES.items() for name in names}
_SUBMODULES = ("cuda", "linalg", "nn", "optim", "data", "train", "explain", "distributed", "transforms",
               "function")


def __getattr__(name: str) -> Any:
    """``gg.compile``, ``gg.grad``, ``gg.nn``, ``gg.linalg`` … load on first use, so ``import glassgrad`` stays
    fast."""
    import importlib

    if name in _HOME:
        value = getattr(importlib.import_module(_HOME[name]), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"glassgrad.{name}")
    raise AttributeError(f"module 'glassgrad' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOME) | set(_SUBMODULES))


class _Package(ModuleType):
    """The glassgrad module's type: importing the submodule ``glassgrad.compile`` (or ``glassgrad.gradcheck``)
    binds it as an attribute of the package, over the function of the same name that ``gg.compile`` is. The
    names were bound in that order once, at import; loaded lazily, the submodule may first be imported from
    anywhere (``from glassgrad.compile import ...`` in glassgrad.train), so the binding keeps the function."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, ModuleType) and value.__name__ == f"glassgrad.{name}" and name in _HOME:
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
