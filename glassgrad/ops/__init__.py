"""Every gate of glassgrad: its forward rule and the derivative of each input, side by side.

<!-- gate table: generated from GATES by `python -m glassgrad.ops.table`; do not edit by hand -->
| file           | gates                                                                       |
|----------------|-----------------------------------------------------------------------------|
| elementwise.py | add sub mul div neg pow exp log sqrt reciprocal abs tanh sigmoid relu       |
|                | leaky_relu elu softplus maximum minimum clip where                          |
| shape.py       | reshape transpose swapaxes broadcast_to squeeze unsqueeze concatenate stack |
|                | unindex getitem pad astype                                                  |
| linalg.py      | matmul                                                                      |
| reduce.py      | sum mean max min prod var logsumexp                                         |
| softmax.py     | softmax log_softmax                                                         |
| nn.py          | linear cross_entropy                                                        |
| conv.py        | conv2d conv2d_input_grad conv2d_weight_grad max_pool2d max_pool2d_scatter   |
|                | max_pool2d_gather batch_norm                                                |
<!-- end of gate table -->

``glassgrad.engine.GATES`` lists them all by name; ``help(gg.sum)`` shows a gate's signature and derivative rule.
"""
from glassgrad.ops.elementwise import (
    abs, add, clip, div, elu, equal, exp, greater, greater_equal, isfinite, isnan, leaky_relu, less, less_equal,
    log, logical_and, logical_not, logical_or, maximum, minimum, mul, neg, not_equal, pow, reciprocal, relu,
    sigmoid, sign, softplus, sqrt, sub, tanh, where)
from glassgrad.ops.linalg import matmul
from glassgrad.ops import nn  # noqa: F401  registers the fused network gates
from glassgrad.ops import conv  # noqa: F401  registers conv2d, max_pool2d, batch_norm
from glassgrad.ops.reduce import argmax, argmin, logsumexp, max, mean, min, prod, std, sum, var
from glassgrad.ops.softmax import log_softmax, softmax
from glassgrad.ops.shape import (
    astype, broadcast_to, cat, concatenate, expand_dims, flatten, getitem, one_hot, pad, permute, plain_index,
    reshape, split, squeeze, stack, swapaxes, transpose, unsqueeze)

__all__ = [
    "abs", "add", "clip", "div", "elu", "equal", "exp", "greater", "greater_equal", "isfinite", "isnan",
    "leaky_relu", "less", "less_equal", "log", "logical_and", "logical_not", "logical_or", "maximum", "minimum",
    "mul", "neg", "not_equal", "pow", "reciprocal", "relu", "sigmoid", "sign", "softplus", "sqrt", "sub", "tanh",
    "where", "matmul", "argmax", "argmin", "log_softmax", "logsumexp", "max", "mean", "min", "prod", "softmax",
    "std", "sum", "var", "astype", "broadcast_to", "cat", "concatenate", "expand_dims", "flatten", "getitem",
    "one_hot", "pad", "permute", "plain_index", "reshape", "split", "squeeze", "stack", "swapaxes", "transpose", "unsqueeze",
]
