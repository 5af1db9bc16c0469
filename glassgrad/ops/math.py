"""NumPy's elementwise mathematics: trigonometric and hyperbolic functions and their inverses, the log and
exp family, rounding, remainders.

As in ``elementwise.py`` every VJP is ``g`` times the local derivative, written with gates so that it can
be differentiated again. Piecewise-constant functions (floor, ceil, round, trunc) have the gradient 0
almost everywhere, and PyTorch uses 0 at the jumps too; so does glassgrad, so ``x.floor().sum().backward()``
works and gives zeros (it does not raise).
"""
from __future__ import annotations

import math

from glassgrad._backend import ndarray, xp
from glassgrad.engine import gate
from glassgrad.ops.elementwise import exp, isfinite, sqrt, where

LN2, LN10 = math.log(2.0), math.log(10.0)

# ---- trigonometric ---------------------------------------------------------------------------------
sin = gate("sin", xp.sin,
           lambda g, out, x: g * cos(x),
           elementwise=True, doc="sin x. ∂/∂x = g · cos x.")
cos = gate("cos", xp.cos,
           lambda g, out, x: -g * sin(x),
           elementwise=True, doc="cos x. ∂/∂x = −g · sin x.")
tan = gate("tan", xp.tan,
           lambda g, out, x: g * (1 + out * out),                 # tan' = 1 + tan² = sec²
           elementwise=True, doc="tan x. ∂/∂x = g · (1 + tan²x) = g · (1 + out²).")
arcsin = gate("arcsin", xp.arcsin,
              lambda g, out, x: g / sqrt(1 - x * x),               # asin' = 1/√(1 − x²)
              elementwise=True, doc="arcsin x on [−1, 1]. ∂/∂x = g / √(1 − x²) (±∞ at |x| = 1, as in PyTorch).")
arccos = gate("arccos", xp.arccos,
              lambda g, out, x: -g / sqrt(1 - x * x),              # acos' = −1/√(1 − x²)
              elementwise=True, doc="arccos x on [−1, 1]. ∂/∂x = −g / √(1 − x²).")
arctan = gate("arctan", xp.arctan,
              lambda g, out, x: g / (1 + x * x),                   # atan' = 1/(1 + x²)
              elementwise=True, doc="arctan x. ∂/∂x = g / (1 + x²).")
arctan2 = gate("arctan2", xp.arctan2,
               lambda g, out, y, x: g * x / (x * x + y * y),       # ∂ atan2(y, x)/∂y = x / (x² + y²)
               lambda g, out, y, x: -g * y / (x * x + y * y),      # ∂ atan2(y, x)/∂x = −y / (x² + y²)
               doc="The angle of the point (x, y): arctan2(y, x). ∂/∂y = g · x/(x² + y²), ∂/∂x = −g · y/(x² + y²) "
                   "(NaN at the origin, as in PyTorch).")

# ---- hyperbolic --------------------------------------------------------------------------------------
sinh = gate("sinh", xp.sinh,
            lambda g, out, x: g * cosh(x),
            elementwise=True, doc="sinh x. ∂/∂x = g · cosh x.")
cosh = gate("cosh", xp.cosh,
            lambda g, out, x: g * sinh(x),
            elementwise=True, doc="cosh x. ∂/∂x = g · sinh x.")
arcsinh = gate("arcsinh", xp.arcsinh,
               lambda g, out, x: g / sqrt(x * x + 1),
               elementwise=True, doc="arsinh x. ∂/∂x = g / √(x² + 1).")
arccosh = gate("arccosh", xp.arccosh,
               lambda g, out, x: g / sqrt(x * x - 1),
               elementwise=True, doc="arcosh x for x ≥ 1. ∂/∂x = g / √(x² − 1).")
arctanh = gate("arctanh", xp.arctanh,
               lambda g, out, x: g / (1 - x * x),
               elementwise=True, doc="artanh x on (−1, 1). ∂/∂x = g / (1 − x²).")


def _sinc_vjp(g, out, x):
    """sinc x = sin(πx)/(πx) ⇒ sinc'(x) = (cos(πx) − sinc x)/x, and 0 at x = 0 (an even function's slope)."""
    zero = x == 0
    safe = where(zero, 1, x)
    return where(zero, 0, g * (cos(math.pi * x) - out) / safe)


sinc = gate("sinc", xp.sinc, _sinc_vjp,
            elementwise=True,
            doc="The normalised sinc, sin(πx)/(πx), 1 at x = 0 (NumPy's and PyTorch's). ∂/∂x = g · (cos(πx) − "
                "sinc x)/x, and 0 at x = 0.")

# ---- logarithms and exponentials ---------------------------------------------------------------------
log1p = gate("log1p", xp.log1p,
             lambda g, out, x: g / (1 + x),
             elementwise=True, doc="log(1 + x), accurate for small x. ∂/∂x = g / (1 + x).")
expm1 = gate("expm1", xp.expm1,
             lambda g, out, x: g * (out + 1),                     # (e^x − 1)' = e^x = out + 1
             elementwise=True, doc="e^x − 1, accurate for small x. ∂/∂x = g · e^x = g · (out + 1).")
log2 = gate("log2", xp.log2,
            lambda g, out, x: g / (x * LN2),
            elementwise=True, doc="log₂ x. ∂/∂x = g / (x ln 2).")
log10 = gate("log10", xp.log10,
             lambda g, out, x: g / (x * LN10),
             elementwise=True, doc="log₁₀ x. ∂/∂x = g / (x ln 10).")
exp2 = gate("exp2", xp.exp2,
            lambda g, out, x: g * out * LN2,
            elementwise=True, doc="2^x. ∂/∂x = g · 2^x ln 2 = g · out · ln 2.")
square = gate("square", xp.square,
              lambda g, out, x: 2 * g * x,
              elementwise=True, doc="x². ∂/∂x = 2 g x.")
logaddexp = gate("logaddexp", xp.logaddexp,
                 lambda g, out, x, y: g * exp(x - out),           # ∂/∂x log(e^x + e^y) = e^x/(e^x + e^y)
                 lambda g, out, x, y: g * exp(y - out),
                 doc="log(e^x + e^y) without overflow. ∂/∂x = g · e^(x − out), ∂/∂y = g · e^(y − out) (the two "
                     "softmax weights).")
hypot = gate("hypot", xp.hypot,
             lambda g, out, x, y: g * x / out,
             lambda g, out, x, y: g * y / out,
             doc="√(x² + y²) without overflow. ∂/∂x = g · x/out, ∂/∂y = g · y/out (NaN at x = y = 0, as in PyTorch).")


# ---- remainders ------------------------------------------------------------------------------------------
def _zero(g):
    """A zero gradient of g's shape and dtype: for an array, an array; for a tensor, a constant tensor."""
    return xp.zeros_like(g)


remainder = gate("remainder", xp.remainder,
                 lambda g, out, x, y: g,                           # x − floor(x/y)·y: slope 1 in x
                 lambda g, out, x, y: -g * floor(x / y),           # and −floor(x/y) in y
                 doc="x mod y with the sign of y (Python's %, np.remainder, torch.remainder). ∂/∂x = g, "
                     "∂/∂y = −g · floor(x/y); at the jumps (x a multiple of y) the same formulas, as in PyTorch.")
fmod = gate("fmod", xp.fmod,
            lambda g, out, x, y: g,                                # x − trunc(x/y)·y
            lambda g, out, x, y: -g * trunc(x / y),
            doc="x mod y with the sign of x (C's fmod, np.fmod, torch.fmod). ∂/∂x = g, ∂/∂y = −g · trunc(x/y).")
mod = remainder

# ---- piecewise constant: gradient 0 ------------------------------------------------------------------------
floor = gate("floor", xp.floor, lambda g, out, x: _zero(g),
             elementwise=True, doc="⌊x⌋. ∂/∂x = 0 everywhere (also at the jumps, as in PyTorch).")
ceil = gate("ceil", xp.ceil, lambda g, out, x: _zero(g),
            elementwise=True, doc="⌈x⌉. ∂/∂x = 0 everywhere (also at the jumps, as in PyTorch).")
trunc = gate("trunc", xp.trunc, lambda g, out, x: _zero(g),
             elementwise=True, doc="x rounded toward 0. ∂/∂x = 0 everywhere (also at the jumps, as in PyTorch).")


def _round(x: ndarray, decimals: int = 0) -> ndarray:
    return xp.round(x, decimals)


round = gate("round", _round, lambda g, out, x, *, decimals: _zero(g),
             doc="x rounded to `decimals` places, halves to even (NumPy's and PyTorch's rule). ∂/∂x = 0 everywhere, "
                 "as in PyTorch.")


def _nan_to_num(x: ndarray, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None) -> ndarray:
    return xp.nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf)


nan_to_num = gate("nan_to_num", _nan_to_num,
                  lambda g, out, x, *, nan, posinf, neginf: where(isfinite(x), g, 0),
                  doc="NaN → nan, ±∞ → posinf/neginf (the dtype's extremes when None). ∂/∂x = g where x is finite, "
                      "0 where it was replaced (PyTorch's rule).")
