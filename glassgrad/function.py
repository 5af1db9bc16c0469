"""``gg.Function``: add a gate of your own in a few lines, PyTorch style.

    class Cube(gg.Function):
        @staticmethod
        def forward(ctx, x):                 # x is a NumPy array
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, g):                # g = ∂C/∂out, an array; return ∂C/∂x
            (x,) = ctx.saved_tensors
            return g * 3 * x ** 2

    y = Cube.apply(t)                        # a tensor in the graph, like any gate's output

``backward`` returns one gradient per input of ``forward`` (a tuple when there are several; None for an
input with no gradient). Custom functions are differentiated once: ``create_graph=True`` through one
raises an error, because its backward runs on arrays the engine cannot see into.
"""
from __future__ import annotations

from typing import Any, Sequence

from glassgrad import engine
from glassgrad._backend import ndarray
from glassgrad.tensor import Tensor


class Context:
    """What ``forward`` leaves for ``backward``: saved arrays and any attributes you set."""

    def __init__(self, needs_input_grad: tuple[bool, ...]) -> None:
        self.needs_input_grad = needs_input_grad
        self.saved_tensors: tuple = ()

    def save_for_backward(self, *arrays: Any) -> None:
        self.saved_tensors = arrays


class _FunctionGate(engine.Gate):
    """A gate whose derivatives come from one call of a user's ``backward`` for all inputs at once."""

    __slots__ = ("function", "ctx")

    def __init__(self, function: type[Function], ctx: Context):
        super().__init__(function.__name__, lambda *xs, **kw: function.forward(ctx, *xs, **kw), (),
                         doc=function.__doc__ or "", twice_differentiable=False)
        self.function = function
        self.ctx = ctx

    def input_grads(self, g: Tensor | ndarray, out: Tensor | ndarray, inputs: Sequence[Any], params: dict[str, Any],
                    needs: Sequence[bool]) -> list[Any]:
        # g is an array: the engine refuses create_graph through a gate that is not twice differentiable
        grads = self.function.backward(self.ctx, g)  # type: ignore[arg-type]
        grads = grads if isinstance(grads, (tuple, list)) else (grads,)
        if len(grads) != len(needs):
            raise ValueError(f"{self.name}.backward returned {len(grads)} gradients for {len(needs)} inputs")
        return [gi if need else None for gi, need in zip(grads, needs)]


class Function:
    """Base class for user-defined gates: implement ``forward(ctx, *arrays)`` and ``backward(ctx, g)``."""

    @staticmethod
    def forward(ctx: Context, *args: Any, **kwargs: Any) -> ndarray:
        """Compute the output array from the input arrays; save what backward needs on ``ctx``."""
        raise NotImplementedError("a Function subclass defines forward(ctx, *inputs)")

    @staticmethod
    def backward(ctx: Context, g: ndarray) -> ndarray | tuple[ndarray | None, ...]:
        """The gradient of each input (None for one without) given ``g``, the output's gradient."""
        raise NotImplementedError("a Function subclass defines backward(ctx, g)")

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Tensor:
        """Run this function as a gate on tensors (or arrays): records it for backward."""
        ctx = Context(tuple(isinstance(a, Tensor) and a.requires_grad for a in args))
        return engine.apply(_FunctionGate(cls, ctx), args, kwargs)
