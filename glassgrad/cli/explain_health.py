"""``glassgrad explain gradcheck`` and ``explain health``: checking gradients and their health."""
from __future__ import annotations


def add_commands(commands) -> None:
    """Registered by the gradient-health work (in progress)."""
