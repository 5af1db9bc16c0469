"""Every gate of glassgrad: its forward rule and the derivative of each input, side by side.

<!-- gate table: generated from GATES by `python -m glassgrad.ops.table`; do not edit by hand -->
| file             | gates                                                                        |
|------------------|------------------------------------------------------------------------------|
| elementwise.py   | add sub mul div neg pow exp log sqrt reciprocal abs tanh sigmoid relu        |
|                  | leaky_relu elu softplus maximum minimum clip where sign                      |
| shape.py         | reshape transpose swapaxes broadcast_to squeeze unsqueeze concatenate stack  |
|                  | unindex getitem pad astype to_device                                         |
| reduce.py        | sum mean max min prod var std logsumexp                                      |
| linalg.py        | matmul                                                                       |
| conv.py          | conv2d conv2d_input_grad conv2d_weight_grad max_pool2d max_pool2d_scatter    |
|                  | max_pool2d_gather                                                            |
| softmax.py       | softmax log_softmax                                                          |
| fused.py         | linear cross_entropy                                                         |
| linalg_decomp.py | inv det logabsdet solve cholesky eigvalsh eigh_vectors svdvals svd_u svd_vh  |
|                  | pinv qr_q qr_r eigvals eig_vectors vector_norm                               |
| norm.py          | batch_norm                                                                   |
| indexing.py      | cumsum cumprod                                                               |
| einsum.py        | einsum                                                                       |
| math.py          | sin cos tan arcsin arccos arctan arctan2 sinh cosh arcsinh arccosh arctanh   |
|                  | sinc log1p expm1 log2 log10 exp2 square logaddexp hypot remainder fmod floor |
|                  | ceil trunc round nan_to_num                                                  |
<!-- end of gate table -->

``glassgrad.engine.GATES`` lists them all by name; ``help(gg.sum)`` shows a gate's signature and derivative rule.
"""
from typing import Any, Callable

from glassgrad.engine import GATES
from glassgrad.ops import (
    fused,  # noqa: F401  registers the fused network gates
    norm,  # noqa: F401  registers batch_norm
)
from glassgrad.ops import indexing as _indexing
from glassgrad.ops import reduce as _reduce
from glassgrad.ops import shape as _shape
from glassgrad.ops import softmax as _softmax
from glassgrad.ops.einsum import cross, diag, diagonal, dot, einsum, inner, kron, outer, tensordot, trace
from glassgrad.ops.elementwise import (
    abs,
    add,
    clip,
    div,
    elu,
    equal,
    exp,
    greater,
    greater_equal,
    isfinite,
    isnan,
    leaky_relu,
    less,
    less_equal,
    log,
    logical_and,
    logical_not,
    logical_or,
    maximum,
    minimum,
    mul,
    neg,
    not_equal,
    pow,
    reciprocal,
    relu,
    sigmoid,
    sign,
    softplus,
    sqrt,
    sub,
    tanh,
    where,
)
from glassgrad.ops.indexing import (
    atleast_1d,
    atleast_2d,
    atleast_3d,
    column_stack,
    diff,
    dstack,
    fliplr,
    flipud,
    hstack,
    moveaxis,
    partition,
    ravel,
    repeat,
    roll,
    rot90,
    take,
    take_along_axis,
    tile,
    tril,
    triu,
    vstack,
)
from glassgrad.ops.linalg import matmul
from glassgrad.ops.math import (
    arccos,
    arccosh,
    arcsin,
    arcsinh,
    arctan,
    arctan2,
    arctanh,
    ceil,
    cos,
    cosh,
    exp2,
    expm1,
    floor,
    fmod,
    hypot,
    log1p,
    log2,
    log10,
    logaddexp,
    mod,
    nan_to_num,
    remainder,
    round,
    sin,
    sinc,
    sinh,
    square,
    tan,
    trunc,
)
from glassgrad.ops.shape import (
    astype,
    broadcast_to,
    expand_dims,
    getitem,
    one_hot,
    pad,
    permute,
    plain_index,
    reshape,
    split,
    swapaxes,
    to_device,  # noqa: F401  Tensor.to's gate; not in __all__ (glassgrad.device.to_device moves arrays)
    transpose,
)
from glassgrad.ops.spelling import accepts_torch_names, explicit_correction, values_without_indices

# The reductions and axis functions also take PyTorch's dim= / keepdim= / correction= (ops/spelling.py).
sum = accepts_torch_names(_reduce.sum)
mean = accepts_torch_names(_reduce.mean)
prod = accepts_torch_names(_reduce.prod)
logsumexp = accepts_torch_names(_reduce.logsumexp)
# annotated: the name is also the submodule ops/softmax.py's, and mypy would take it for the module
softmax: Callable[..., Any] = accepts_torch_names(_softmax.softmax)
log_softmax = accepts_torch_names(_softmax.log_softmax)
argmax = accepts_torch_names(_reduce.argmax, "argmax")
argmin = accepts_torch_names(_reduce.argmin, "argmin")
max = accepts_torch_names(_reduce.max, check=values_without_indices)
min = accepts_torch_names(_reduce.min, check=values_without_indices)
amax = accepts_torch_names(_reduce.max, "amax")
amin = accepts_torch_names(_reduce.min, "amin")
var = accepts_torch_names(_reduce.var, check=explicit_correction)
std = accepts_torch_names(_reduce.std, check=explicit_correction)
concatenate = accepts_torch_names(_shape.concatenate)
cat = accepts_torch_names(_shape.concatenate, "cat")
stack = accepts_torch_names(_shape.stack)

squeeze = accepts_torch_names(_shape.squeeze)
unsqueeze = accepts_torch_names(_shape.unsqueeze)
flatten = _shape.flatten
clamp = clip
cumsum = accepts_torch_names(_indexing.cumsum)
cumprod = accepts_torch_names(_indexing.cumprod)
argsort = accepts_torch_names(_indexing.argsort, "argsort")
sort = accepts_torch_names(_indexing.sort, check=values_without_indices)
flip = _indexing.flip
# NumPy 2's and PyTorch's short names of the inverse functions
asin, acos, atan, atan2, asinh, acosh, atanh = arcsin, arccos, arctan, arctan2, arcsinh, arccosh, arctanh

# conv2d and max_pool2d (used through gg.nn), and the numpy.linalg gates (gg.linalg): imported on first use, so
# that ``import glassgrad`` need not compile them; GATES imports them when it is read as a whole.
_DEFERRED = ("conv", "linalg_decomp")
GATES.defer(*(f"{__name__}.{m}" for m in _DEFERRED))


def __getattr__(name: str) -> Any:
    """``glassgrad.ops.conv`` and ``glassgrad.ops.linalg_decomp`` as attributes: imported on first use."""
    if name in _DEFERRED:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_DEFERRED))


__all__ = [
    "abs", "add", "clip", "div", "elu", "equal", "exp", "greater", "greater_equal", "isfinite", "isnan",
    "leaky_relu", "less", "less_equal", "log", "logical_and", "logical_not", "logical_or", "maximum", "minimum",
    "mul", "neg", "not_equal", "pow", "reciprocal", "relu", "sigmoid", "sign", "softplus", "sqrt", "sub", "tanh",
    "where", "clamp", "matmul", "amax", "amin", "argmax", "argmin", "log_softmax", "logsumexp", "max", "mean", "min",
    "prod", "softmax", "std", "sum", "var", "astype", "broadcast_to", "cat", "concatenate", "expand_dims", "flatten",
    "getitem", "one_hot", "pad", "permute", "plain_index", "reshape", "split", "squeeze", "stack", "swapaxes",
    "transpose", "unsqueeze",
    "arccos", "arccosh", "arcsin", "arcsinh", "arctan", "arctan2", "arctanh", "ceil", "cos", "cosh", "exp2", "expm1",
    "floor", "fmod", "hypot", "log1p", "log2", "log10", "logaddexp", "mod", "nan_to_num", "remainder", "round", "sin",
    "sinc", "sinh", "square", "tan", "trunc", "asin", "acos", "atan", "atan2", "asinh", "acosh", "atanh",
    "cross", "diag", "diagonal", "dot", "einsum", "inner", "kron", "outer", "tensordot", "trace",
    "argsort", "cumprod", "cumsum", "diff", "flip", "moveaxis", "partition", "ravel", "repeat", "roll", "sort", "take",
    "take_along_axis", "tile", "atleast_1d", "atleast_2d", "atleast_3d", "column_stack", "dstack", "fliplr", "flipud",
    "hstack", "rot90", "tril", "triu", "vstack",
]
