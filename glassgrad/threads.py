"""``gg.blas_threads(n)``: limit the BLAS threads NumPy's matrix products use, inside a ``with`` block.

On a small or busy machine a threaded BLAS can be many times slower than one thread on small matrices
(its threads spin waiting for each other: 30× was measured on a shared 2-core machine). Needs
``threadpoolctl`` (installed with scikit-learn); without it, or with ``n <= 0``, it changes nothing.
"""
from __future__ import annotations

import contextlib
from typing import ContextManager


def blas_threads(n: int) -> ContextManager[object]:
    """A context manager limiting BLAS to ``n`` threads (``n <= 0``: leave it as it is)."""
    if n <= 0:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(n, user_api="blas")
