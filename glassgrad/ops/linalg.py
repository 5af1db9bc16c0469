"""Matrix product. For ``out = x @ y``: ∂C/∂x = g @ yᵀ and ∂C/∂y = xᵀ @ g.

The 1-d cases follow NumPy (a vector is a row on the left, a column on the right); batched inputs
broadcast over leading axes, and the engine sums the gradient of a broadcast operand back down.
"""
from glassgrad._backend import xp
from glassgrad.engine import gate
from glassgrad.ops.shape import squeeze, swapaxes, unsqueeze


def _matmul_vjp_x(g, out, x, y):
    if y.ndim == 1:                                    # (…, n) @ (n,) → (…): x gets g ⊗ y
        return unsqueeze(g, -1) * y
    if x.ndim == 1:                                    # (n,) @ (…, n, m) → (…, m): x gets y @ g
        return squeeze(y @ unsqueeze(g, -1), -1)
    return g @ swapaxes(y, -1, -2)


def _matmul_vjp_y(g, out, x, y):
    if y.ndim == 1:                                    # y gets Σ g x over the leading axes
        return unsqueeze(g, -1) * x
    if x.ndim == 1:                                    # y gets x ⊗ g
        return unsqueeze(x, -1) * unsqueeze(g, -2)
    return swapaxes(x, -1, -2) @ g


matmul = gate("matmul", xp.matmul, _matmul_vjp_x, _matmul_vjp_y,
              doc="x @ y with NumPy's rules for 1-d and batched operands. ∂/∂x = g @ yᵀ, ∂/∂y = xᵀ @ g "
                  "(a 1-d operand as a row on the left, a column on the right; batch axes summed back).")
