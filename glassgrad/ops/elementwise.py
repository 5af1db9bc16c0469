"""Elementwise gates.

Read each entry as: name, forward rule, then ∂C/∂input for each input, given ``g`` = ∂C/∂out. Every VJP
is ``g`` times the gate's local derivative, so this table is the list of derivatives a learner knows:
``(e^x)' = e^x``, ``σ' = σ(1 − σ)``, ``tanh' = 1 − tanh²`` ... Derivatives are written with the saved
output ``out`` where that is cheaper than recomputing from the input.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from glassgrad._backend import ndarray, xp
from glassgrad.engine import gate, nondifferentiable
from glassgrad.tensor import Tensor, TensorLike

if TYPE_CHECKING:   # for the annotations only
    from numpy.typing import ArrayLike

# ---- arithmetic ------------------------------------------------------------------------------------
add = gate("add", xp.add,
           lambda g, out, x, y: g,                 # add copies the gradient to both inputs
           lambda g, out, x, y: g,
           doc="x + y (broadcasting). ∂/∂x = g, ∂/∂y = g: addition copies the gradient to both inputs.")
sub = gate("sub", xp.subtract,
           lambda g, out, x, y: g,
           lambda g, out, x, y: -g,
           doc="x − y (broadcasting). ∂/∂x = g, ∂/∂y = −g.")
mul = gate("mul", xp.multiply,
           lambda g, out, x, y: g * y,             # multiply swaps its inputs
           lambda g, out, x, y: g * x,
           doc="x · y elementwise (broadcasting). ∂/∂x = g · y, ∂/∂y = g · x: multiplication swaps its inputs.")
div = gate("div", xp.divide,
           lambda g, out, x, y: g / y,
           lambda g, out, x, y: -g * out / y,      # ∂(x/y)/∂y = −x/y² = −out/y
           doc="x / y elementwise (broadcasting). ∂/∂x = g / y, ∂/∂y = −g · x/y² = −g · out / y.")
neg = gate("neg", xp.negative,
           lambda g, out, x: -g,
           elementwise=True, doc="−x. ∂/∂x = −g.")


def _pow_x(g, out, x, y):
    """y·x^(y−1), and 0 at x = y = 0 (x^0 = 1 is constant; the formula would read 0·∞ there), as PyTorch.
    Only that point is masked, so the derivative of this gradient in y stays right at y = 0, x ≠ 0."""
    constant = logical_and(x == 0, y == 0)
    return where(constant, 0, g * y * x ** where(constant, 1, y - 1))


def _pow_y(g, out, x, y):
    """x^y·log x, and 0 where x = 0 and y ≥ 0 (0^y is 0 or 1 there; x^y·log x would be 0·∞), as PyTorch."""
    flat = logical_and(x == 0, y >= 0)
    return where(flat, 0, g * out * log(where(flat, 1, x)))


pow = gate("pow", xp.power, _pow_x, _pow_y,
           doc="x ** y for a tensor or number exponent. ∂/∂x = y·x^(y−1), taken as 0 at x = y = 0; "
               "∂/∂y = x^y·log x, taken as 0 where x = 0 and y ≥ 0 (PyTorch's choices where the formula is 0·∞). "
               "For x < 0 the exponent's gradient is NaN, as in PyTorch.")

# ---- exponentials and roots ------------------------------------------------------------------------
exp = gate("exp", xp.exp,
           lambda g, out, x: g * out,              # (e^x)' = e^x
           elementwise=True, doc="e^x. ∂/∂x = g · e^x = g · out (the saved output is the derivative).")
log = gate("log", xp.log,
           lambda g, out, x: g / x,                # (log x)' = 1/x
           elementwise=True, doc="Natural logarithm. ∂/∂x = g / x.")
sqrt = gate("sqrt", xp.sqrt,
            lambda g, out, x: g / (2 * out),       # (√x)' = 1 / (2√x)
            elementwise=True, doc="√x. ∂/∂x = g / (2√x) = g / (2 · out).")
reciprocal = gate("reciprocal", xp.reciprocal,
                  lambda g, out, x: -g * out * out,   # (1/x)' = −1/x²
                  elementwise=True, doc="1/x. ∂/∂x = −g / x² = −g · out².")
abs = gate("abs", xp.abs,
           lambda g, out, x: g * sign(x),
           elementwise=True,
           doc="|x|. ∂/∂x = g · sign(x); at x = 0 the subgradient 0 is used (sign(0) = 0), as in PyTorch.")

# ---- activations -----------------------------------------------------------------------------------
# Constants as 0-d arrays of each float dtype, for the hot gates: NumPy converts a Python number on every
# call (NEP 50's weak scalars), which costs as much as the arithmetic on a small array. Looked up as
# ``_HALF.get(x.dtype, 0.5) if type(x) is ndarray else 0.5``: a CuPy array, a tensor (a VJP under
# create_graph) or another dtype gets the Python number.
_FLOATS = (xp.float16, xp.float32, xp.float64)
_HALF = {xp.dtype(t): xp.asarray(0.5, t) for t in _FLOATS}
_ONE = {xp.dtype(t): xp.asarray(1, t) for t in _FLOATS}
_ZERO = {xp.dtype(t): xp.asarray(0, t) for t in _FLOATS}


def _sigmoid(x: ndarray) -> ndarray:
    # σ(x) = (1 + tanh(x/2)) / 2: one transcendental, no overflow for any x, absolute error within the
    # dtype's eps. (Outputs below ~1e-8 in float32 round to 0: use the *_with_logits losses for logs.)
    half = _HALF.get(x.dtype, 0.5) if type(x) is ndarray else 0.5
    out = xp.tanh(x * half)
    out *= half
    out += half
    return out


def _tanh_vjp(g, out, x):
    one = _ONE.get(out.dtype, 1) if type(out) is ndarray else 1
    return g * (one - out * out)                   # tanh' = 1 − tanh²


def _sigmoid_vjp(g, out, x):
    one = _ONE.get(out.dtype, 1) if type(out) is ndarray else 1
    return g * out * (one - out)                   # σ' = σ(1 − σ)


def _relu(x: ndarray) -> ndarray:
    return xp.maximum(x, _ZERO.get(x.dtype, 0) if type(x) is ndarray else 0)


def _relu_vjp(g, out, x):
    zero = _ZERO.get(x.dtype, 0) if type(x) is ndarray else 0
    return g * (x > zero)


tanh = gate("tanh", xp.tanh, _tanh_vjp,
            elementwise=True, doc="Hyperbolic tangent. ∂/∂x = g · (1 − tanh²x) = g · (1 − out²).")
sigmoid = gate("sigmoid", _sigmoid, _sigmoid_vjp,
               elementwise=True,
               doc="σ(x) = 1 / (1 + e^−x), computed as (1 + tanh(x/2)) / 2: no overflow, absolute error "
                   "within the dtype's eps. ∂/∂x = g · σ(1 − σ) = g · out · (1 − out).")
relu = gate("relu", _relu, _relu_vjp,
            elementwise=True,
            doc="max(x, 0). ∂/∂x = g where x > 0, else 0; at x = 0 the subgradient 0 is used, as in PyTorch.")


def _leaky_relu(x: ndarray, negative_slope: float = 0.01) -> ndarray:
    return xp.where(x > 0, x, x * negative_slope)


leaky_relu = gate("leaky_relu", _leaky_relu,
                  lambda g, out, x, *, negative_slope: where(x > 0, g, g * negative_slope),
                  doc="x for x > 0, else negative_slope · x. ∂/∂x = g for x > 0, else negative_slope · g; "
                      "at x = 0 the slope negative_slope is used.")


def _elu(x: ndarray, alpha: float = 1.0) -> ndarray:
    return xp.where(x > 0, x, alpha * xp.expm1(xp.minimum(x, 0)))


elu = gate("elu", _elu,
           lambda g, out, x, *, alpha: where(x > 0, g, g * (out + alpha)),   # α(e^x − 1)' = αe^x = out + α
           doc="x for x > 0, else α(e^x − 1). ∂/∂x = g for x > 0, else g · αe^x = g · (out + α); at x = 0 "
               "the left derivative α is used.")
softplus = gate("softplus", lambda x: xp.logaddexp(0, x),
                lambda g, out, x: g * sigmoid(x),      # log(1 + e^x)' = σ(x)
                elementwise=True, doc="log(1 + e^x), computed without overflow. ∂/∂x = g · σ(x).")

# ---- comparisons that pass the gradient on ---------------------------------------------------------
maximum = gate("maximum", xp.maximum,
               lambda g, out, x, y: g * (x >= y),       # max routes the gradient to the larger input
               lambda g, out, x, y: g * (x < y),
               doc="Elementwise max. The gradient goes to the larger input: ∂/∂x = g · [x ≥ y], "
                   "∂/∂y = g · [x < y]; on a tie the whole gradient goes to the first input.")
minimum = gate("minimum", xp.minimum,
               lambda g, out, x, y: g * (x <= y),
               lambda g, out, x, y: g * (x > y),
               doc="Elementwise min. The gradient goes to the smaller input: ∂/∂x = g · [x ≤ y], "
                   "∂/∂y = g · [x > y]; on a tie the whole gradient goes to the first input.")


def _inside(x, lo, hi):
    if lo is None:
        return x <= hi
    if hi is None:
        return x >= lo
    return (x >= lo) & (x <= hi)


def _clip_forward(x: ndarray, lo: ArrayLike | None = None, hi: ArrayLike | None = None) -> ndarray:
    return xp.clip(x, lo, hi)


_clip = gate("clip", _clip_forward,
             lambda g, out, x, *, lo, hi: g * _inside(x, lo, hi),
             doc="Limit x to [lo, hi]. ∂/∂x = g where lo ≤ x ≤ hi (boundaries included), else 0.")


def clip(x: TensorLike, min: TensorLike | None = None, max: TensorLike | None = None) -> Tensor:
    """Limit ``x`` to ``[min, max]`` (either may be None); the gradient passes inside, boundaries included."""
    if min is None and max is None:
        raise ValueError("clip: give min, max or both")
    return _clip(x, lo=min, hi=max)


def _where(c: ArrayLike, x: ArrayLike, y: ArrayLike) -> ndarray:
    return xp.where(c, x, y)


where = gate("where", _where,
             None,                                      # the condition has no gradient
             lambda g, out, c, x, y: where(c, g, 0),
             lambda g, out, c, x, y: where(c, 0, g),
             doc="where(c, x, y): x where c is true, else y. The gradient follows the same choice: "
                 "∂/∂x = g where c, ∂/∂y = g where not c; the condition c has no gradient.")

sign = gate("sign", xp.sign,
            lambda g, out, x: xp.zeros_like(g),
            elementwise=True,
            doc="−1, 0 or 1. ∂/∂x = 0 everywhere (also at 0), as in PyTorch: sign(x).sum().backward() gives zeros.")

# ---- no gradient: results are constants --------------------------------------------------------------
equal = nondifferentiable(xp.equal)
not_equal = nondifferentiable(xp.not_equal)
less = nondifferentiable(xp.less)
less_equal = nondifferentiable(xp.less_equal)
greater = nondifferentiable(xp.greater)
greater_equal = nondifferentiable(xp.greater_equal)
logical_and = nondifferentiable(xp.logical_and)
logical_or = nondifferentiable(xp.logical_or)
logical_not = nondifferentiable(xp.logical_not)
isfinite = nondifferentiable(xp.isfinite)
isnan = nondifferentiable(xp.isnan)
