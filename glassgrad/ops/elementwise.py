"""Elementwise gates.

Read each entry as: name, forward rule, then ∂C/∂input for each input, given ``g`` = ∂C/∂out. Every VJP
is ``g`` times the gate's local derivative, so this table is the list of derivatives a learner knows:
``(e^x)' = e^x``, ``σ' = σ(1 − σ)``, ``tanh' = 1 − tanh²`` ... Derivatives are written with the saved
output ``out`` where that is cheaper than recomputing from the input.
"""
from glassgrad._backend import xp
from glassgrad.engine import gate, nondifferentiable

# ---- arithmetic ------------------------------------------------------------------------------------
add = gate("add", xp.add,
           lambda g, out, x, y: g,                 # add copies the gradient to both inputs
           lambda g, out, x, y: g)
sub = gate("sub", xp.subtract,
           lambda g, out, x, y: g,
           lambda g, out, x, y: -g)
mul = gate("mul", xp.multiply,
           lambda g, out, x, y: g * y,             # multiply swaps its inputs
           lambda g, out, x, y: g * x)
div = gate("div", xp.divide,
           lambda g, out, x, y: g / y,
           lambda g, out, x, y: -g * out / y)      # ∂(x/y)/∂y = −x/y² = −out/y
neg = gate("neg", xp.negative,
           lambda g, out, x: -g)


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
           lambda g, out, x: g * out)              # (e^x)' = e^x
log = gate("log", xp.log,
           lambda g, out, x: g / x)
sqrt = gate("sqrt", xp.sqrt,
            lambda g, out, x: g / (2 * out))
reciprocal = gate("reciprocal", xp.reciprocal,
                  lambda g, out, x: -g * out * out)   # (1/x)' = −1/x²
abs = gate("abs", xp.abs,
           lambda g, out, x: g * sign(x),
           doc="|x|. At x = 0 the subgradient 0 is used (sign(0) = 0), as in PyTorch.")

# ---- activations -----------------------------------------------------------------------------------
def _sigmoid(x):
    # σ(x) = (1 + tanh(x/2)) / 2: one transcendental, no overflow for any x, absolute error within the
    # dtype's eps. (Outputs below ~1e-8 in float32 round to 0: use the *_with_logits losses for logs.)
    out = xp.tanh(x * 0.5)
    out *= 0.5
    out += 0.5
    return out


tanh = gate("tanh", xp.tanh,
            lambda g, out, x: g * (1 - out * out))  # tanh' = 1 − tanh²
sigmoid = gate("sigmoid", _sigmoid,
               lambda g, out, x: g * out * (1 - out),  # σ' = σ(1 − σ)
               doc="σ(x) = 1 / (1 + e^−x), computed as (1 + tanh(x/2)) / 2: no overflow, absolute error "
                   "within the dtype's eps.")
relu = gate("relu", lambda x: xp.maximum(x, 0),
            lambda g, out, x: g * (x > 0),
            doc="max(x, 0). At x = 0 the subgradient 0 is used, as in PyTorch.")
leaky_relu = gate("leaky_relu", lambda x, negative_slope=0.01: xp.where(x > 0, x, x * negative_slope),
                  lambda g, out, x, negative_slope=0.01: where(x > 0, g, g * negative_slope),
                  doc="x for x > 0, else negative_slope · x. At x = 0 the slope negative_slope is used.")
elu = gate("elu", lambda x, alpha=1.0: xp.where(x > 0, x, alpha * xp.expm1(xp.minimum(x, 0))),
           lambda g, out, x, alpha=1.0: where(x > 0, g, g * (out + alpha)),   # α(e^x − 1)' = out + α
           doc="x for x > 0, else α(e^x − 1). At x = 0 the left derivative α is used.")
softplus = gate("softplus", lambda x: xp.logaddexp(0, x),
                lambda g, out, x: g * sigmoid(x),      # log(1 + e^x)' = σ(x)
                doc="log(1 + e^x), computed without overflow.")

# ---- comparisons that pass the gradient on ---------------------------------------------------------
maximum = gate("maximum", xp.maximum,
               lambda g, out, x, y: g * (x >= y),       # max routes the gradient to the larger input
               lambda g, out, x, y: g * (x < y),
               doc="Elementwise max. On a tie the whole gradient goes to the first input.")
minimum = gate("minimum", xp.minimum,
               lambda g, out, x, y: g * (x <= y),
               lambda g, out, x, y: g * (x > y),
               doc="Elementwise min. On a tie the whole gradient goes to the first input.")


def _inside(x, lo, hi):
    if lo is None:
        return x <= hi
    if hi is None:
        return x >= lo
    return (x >= lo) & (x <= hi)


_clip = gate("clip", lambda x, lo=None, hi=None: xp.clip(x, lo, hi),
             lambda g, out, x, lo=None, hi=None: g * _inside(x, lo, hi),
             doc="Limit x to [lo, hi]. The gradient passes where lo ≤ x ≤ hi (boundaries included).")


def clip(x, min=None, max=None):
    """Limit ``x`` to ``[min, max]`` (either may be None); the gradient passes inside, boundaries included."""
    if min is None and max is None:
        raise ValueError("clip: give min, max or both")
    return _clip(x, lo=min, hi=max)


where = gate("where", xp.where,
             None,                                      # the condition has no gradient
             lambda g, out, c, x, y: where(c, g, 0),
             lambda g, out, c, x, y: where(c, 0, g),
             doc="where(c, x, y): x where c is true, else y; the gradient follows the same choice.")

# ---- no gradient: results are constants --------------------------------------------------------------
sign = nondifferentiable(xp.sign)
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
