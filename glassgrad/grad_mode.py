"""Grad mode: whether gates record the graph. On by default; ``no_grad`` switches it off for a block.

Every gate application asks ``is_grad_enabled()`` (through ``_GradMode.enabled``, read directly by the engine
because it is on the path of every gate call) before it records a node.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class _GradMode:
    enabled = True


def is_grad_enabled() -> bool:
    """True when gates record the graph (the default)."""
    return _GradMode.enabled


class _GradModeScope:
    """Sets grad mode inside a ``with`` block or a decorated function, and restores it after."""

    def __init__(self, mode: bool):
        self.mode = bool(mode)
        self.prev = _GradMode.enabled

    def __enter__(self) -> _GradModeScope:
        self.prev = _GradMode.enabled
        _GradMode.enabled = self.mode
        return self

    def __exit__(self, *exc: object) -> None:
        _GradMode.enabled = self.prev

    def __call__(self, fn: F) -> F:
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with _GradModeScope(mode):
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


class no_grad(_GradModeScope):
    """Gates compute values but record nothing (evaluation, parameter updates). ``with gg.no_grad():``"""

    def __init__(self) -> None:
        super().__init__(False)


class enable_grad(_GradModeScope):
    """Record the graph again, even inside ``no_grad``."""

    def __init__(self) -> None:
        super().__init__(True)


class set_grad_enabled(_GradModeScope):
    """``set_grad_enabled(False)`` switches recording off at once; as a ``with`` block it restores it."""

    def __init__(self, mode: bool):
        super().__init__(mode)
        _GradMode.enabled = self.mode

    def __enter__(self) -> set_grad_enabled:
        return self

    def __call__(self, fn: F) -> F:
        _GradMode.enabled = self.prev       # as a decorator it applies only while ``fn`` runs
        return super().__call__(fn)
