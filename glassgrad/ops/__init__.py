"""Every gate of glassgrad: its forward rule and the derivative of each input, side by side.

| file            | gates                                                                             |
|-----------------|-----------------------------------------------------------------------------------|
| elementwise.py  | add sub mul div neg pow exp log sqrt abs reciprocal tanh sigmoid relu leaky_relu   |
|                 | elu softplus maximum minimum clip where                                            |
| reduce.py       | sum mean max min prod var std logsumexp softmax log_softmax                        |
| linalg.py       | matmul                                                                             |
| shape.py        | reshape transpose swapaxes broadcast_to squeeze unsqueeze concatenate stack        |
|                 | getitem (and its backward, unindex) pad astype                                     |
| nn.py           | fused network gates: linear, cross_entropy (used by glassgrad.nn.functional)       |
| conv.py         | conv2d (im2col), max_pool2d, batch_norm, and the gates of their gradients          |

``glassgrad.engine.GATES`` lists them all by name.
"""
from glassgrad.ops.elementwise import (
    abs, add, clip, div, elu, equal, exp, greater, greater_equal, isfinite, isnan, leaky_relu, less, less_equal,
    log, logical_and, logical_not, logical_or, maximum, minimum, mul, neg, not_equal, pow, reciprocal, relu,
    sigmoid, sign, softplus, sqrt, sub, tanh, where)
from glassgrad.ops.linalg import matmul
from glassgrad.ops import nn  # noqa: F401  registers the fused network gates
from glassgrad.ops import conv  # noqa: F401  registers conv2d, max_pool2d, batch_norm
from glassgrad.ops.reduce import (
    argmax, argmin, log_softmax, logsumexp, max, mean, min, prod, softmax, std, sum, var)
from glassgrad.ops.shape import (
    astype, broadcast_to, cat, concatenate, expand_dims, flatten, getitem, one_hot, pad, permute, plain_index,
    reshape, split, squeeze, stack, swapaxes, transpose, unsqueeze)

__all__ = [
    "abs", "add", "clip", "div", "elu", "equal", "exp", "greater", "greater_equal", "isfinite", "isnan",
    "leaky_relu", "less", "less_equal", "log", "logical_and", "logical_not", "logical_or", "maximum", "minimum",
    "mul", "neg", "not_equal", "pow", "reciprocal", "relu", "sigmoid", "sign", "softplus", "sqrt", "sub", "tanh",
    "where", "matmul", "argmax", "argmin", "log_softmax", "logsumexp", "max", "mean", "min", "prod", "softmax",
    "std", "sum", "var", "astype", "broadcast_to", "cat", "concatenate", "expand_dims", "flatten", "getitem", "one_hot",
    "one_hot", "pad", "permute", "plain_index", "reshape", "split", "squeeze", "stack", "swapaxes", "transpose", "unsqueeze",
]
