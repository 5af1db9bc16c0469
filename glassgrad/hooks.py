"""Hooks: the one way into the engine for code that watches or records it.

A hook is an object with up to three methods; the engine calls each installed hook at these moments:

* ``on_gate(gate, args, params, needs, result, forward)`` — after a gate ran on tensors (``gate`` is None
  and ``forward`` the function for a ``nondifferentiable`` op such as ``argmax``). ``gg.compile`` records a
  step this way; a hook can also note where a node was created (``result.grad_fn``).
* ``on_read(tensor)`` — Python read a tensor's value (``.item()``, ``float(t)``, ``if t:``, ``.numpy()``):
  the computation depends on data in a way a recording cannot replay.
* ``on_backward_step(node, g, input_grads)`` — backward finished one node: ``g`` is the gradient of its
  output, ``input_grads`` what its gate returned for each input (None where none was asked for), before
  the engine sums a broadcast gradient back to its input's shape. The explain views use this, through
  ``backward(..., observer=fn)`` which installs ``fn`` for that one call.

Subclass ``Hook`` and override what you need (the others do nothing), then install it for a block::

    with gg.hooks.installed(MyHook()):
        loss = model(x)

With no hook installed the engine pays one truthiness test per gate call. Hooks see the engine; they do
not change what it computes.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterator
from contextlib import contextmanager

if TYPE_CHECKING:
    from glassgrad.engine import Gate, Node
    from glassgrad.tensor import Tensor


class Hook:
    """Base class of engine hooks: every method does nothing; override the moments you want to see."""

    def on_gate(self, gate: Gate | None, args: tuple, params: dict, needs: list, result: Tensor,
                forward: Callable | None = None) -> None:
        """A gate (or a nondifferentiable op, then ``gate`` is None) ran on tensors and gave ``result``."""

    def on_read(self, tensor: Tensor) -> None:
        """Python read the value of ``tensor``."""

    def on_backward_step(self, node: Node, g: Any, input_grads: list) -> None:
        """Backward processed ``node``: ``g`` reached its output, its gate returned ``input_grads``."""


class Observer(Hook):
    """A hook made from one function ``fn(node, g, input_grads)`` called at every backward step."""

    def __init__(self, fn: Callable[[Node, Any, list], None]):
        self.on_backward_step = fn     # type: ignore[method-assign]


active: tuple[Hook, ...] = ()
"""The installed hooks, innermost last. The engine reads this on every gate call: keep it a tuple."""


@contextmanager
def installed(hook: Hook) -> Iterator[Hook]:
    """Install ``hook`` for the ``with`` block (hooks nest; each is removed when its block ends)."""
    global active
    active = (*active, hook)
    try:
        yield hook
    finally:
        active = tuple(h for h in active if h is not hook)
