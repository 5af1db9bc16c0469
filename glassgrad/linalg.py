"""``gg.linalg``: NumPy's ``numpy.linalg`` (and PyTorch's ``torch.linalg``) with gradients.

The gates and their derivative rules are in ``glassgrad/ops/linalg_decomp.py``.
"""
from glassgrad.ops.einsum import cross, diagonal, tensordot, trace
from glassgrad.ops.linalg import matmul
from glassgrad.ops.linalg_decomp import (
    cholesky,
    det,
    eig,
    eigh,
    eigvals,
    eigvalsh,
    inv,
    matrix_norm,
    norm,
    pinv,
    qr,
    slogdet,
    solve,
    svd,
    svdvals,
    vector_norm,
)

__all__ = ["cholesky", "cross", "det", "diagonal", "eig", "eigh", "eigvals", "eigvalsh", "inv", "matmul",
           "matrix_norm", "norm", "pinv", "qr", "slogdet", "solve", "svd", "svdvals", "tensordot", "trace",
           "vector_norm"]
