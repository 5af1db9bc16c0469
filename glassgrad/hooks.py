"""Hooks: the one way into the engine for code that watches or records it.

A hook is an object with up to four methods; the engine calls each installed hook at these moments:

* ``on_gate(gate, args, params, needs, result, forward)`` — after a gate ran on tensors (``gate`` is None
  and ``forward`` the function for a ``nondifferentiable`` op such as ``argmax``). ``gg.compile`` records a
  step this way; the gradient-bug localiser notes where each node was created (``result.grad_fn``).
* ``on_read(tensor)`` — Python read a tensor's value (``.item()``, ``float(t)``, ``if t:``, ``.numpy()``):
  the computation depends on data in a way a recording cannot replay.
* ``on_backward_step(node, g, input_grads)`` — backward finished one node: ``g`` is the gradient of its
  output, ``input_grads`` what its gate returned for each input (None where none was asked for), before
  the engine sums a broadcast gradient back to its input's shape. The explain views use this, through
  ``backward(..., observer=fn)`` which installs ``fn`` for that one call.
* ``on_grad_ready(leaf)`` — backward added the last contribution of this pass to ``leaf.grad``: the
  gradient is final until the next backward (the distributed optimiser starts its Allreduce here). Not
  called by ``backward(inputs=...)``, which touches no ``.grad``.

Subclass ``Hook`` and override what you need (the others do nothing), or pass functions for single
moments, ``Hook(on_backward_step=fn)``; then install it for a block, or until removed::

    with gg.hooks.installed(MyHook()):
        loss = model(x)

    hook = gg.hooks.install(gg.hooks.Hook(on_grad_ready=start_sending))
    ...
    gg.hooks.remove(hook)

With no hook installed the engine pays one truthiness test per gate call. Hooks see the engine; they do
not change what it computes.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Iterator, TypeVar

if TYPE_CHECKING:
    from glassgrad.engine import Gate, Node
    from glassgrad.tensor import Tensor


MOMENTS = ("on_gate", "on_read", "on_backward_step", "on_grad_ready")


class Hook:
    """Base class of engine hooks: every method does nothing; override the moments you want to see, or
    give functions for them: ``Hook(on_backward_step=fn)``."""

    def __init__(self, **moments: Callable[..., None]):
        for name, fn in moments.items():
            if name not in MOMENTS:
                raise TypeError(f"Hook: unknown moment {name!r}; the moments are {', '.join(MOMENTS)}")
            setattr(self, name, fn)

    def on_gate(self, gate: Gate | None, args: tuple, params: dict, needs: list, result: Tensor,
                forward: Callable | None = None) -> None:
        """A gate (or a nondifferentiable op, then ``gate`` is None) ran on tensors and gave ``result``."""

    def on_read(self, tensor: Tensor) -> None:
        """Python read the value of ``tensor``."""

    def on_backward_step(self, node: Node, g: Any, input_grads: list) -> None:
        """Backward processed ``node``: ``g`` reached its output, its gate returned ``input_grads``."""

    def on_grad_ready(self, leaf: Tensor) -> None:
        """Backward added the last contribution of this pass to ``leaf.grad``."""


def wants(hook: Hook, moment: str) -> bool:
    """Whether ``hook`` does anything at ``moment`` (so the engine can skip work nobody watches)."""
    return moment in vars(hook) or getattr(type(hook), moment) is not getattr(Hook, moment)


active: tuple[Hook, ...] = ()
"""The installed hooks, in installation order. The engine reads this on every gate call: keep it a tuple."""


def install(hook: Hook) -> Hook:
    """Install ``hook`` until ``remove(hook)``; returns it."""
    global active
    if not isinstance(hook, Hook):
        raise TypeError(f"install: a hook is a glassgrad.hooks.Hook, not {type(hook).__name__}")
    active = (*active, hook)
    return hook


def remove(hook: Hook) -> None:
    """Uninstall ``hook`` (nothing happens if it is not installed)."""
    global active
    active = tuple(h for h in active if h is not hook)


_H = TypeVar("_H", bound="Hook")


@contextmanager
def installed(hook: _H) -> Iterator[_H]:
    """Install ``hook`` for the ``with`` block (hooks nest; each is removed when its block ends)."""
    install(hook)
    try:
        yield hook
    finally:
        remove(hook)
