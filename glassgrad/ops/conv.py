"""Fused gates for convolutional networks: conv2d and max_pool2d (batch_norm is in norm.py).

* ``conv2d``: out[n, o] = Σ_c W[o, c] ⋆ x[n, c] + b[o], computed as one matrix product: the input is
  unrolled into columns (im2col: one column per output pixel, holding the C·kh·kw input values its
  window sees), and ``out = W · cols``. The three VJPs are the convolutional backprop equations:

  - ∂C/∂W = Σ_n g[n] · cols[n]ᵀ — "activation in times error out" (BP4), summed over every place the
    kernel was used (``conv2d_weight_grad``; cols are recomputed from x rather than kept);
  - ∂C/∂b = Σ g over examples and pixels (BP3);
  - ∂C/∂x = col2im(Wᵀ · g): each window's share of the error, added back to the pixels it came from
    (BP2 before ⊙ f'; ``conv2d_input_grad``, the "transposed convolution").

  The three gates are linear in each input and are each other's VJPs, so convolution can be
  differentiated any number of times (``gradgradcheck`` passes) at no cost to the first derivative.
  No Python loop runs over examples or pixels: only over the kh·kw kernel offsets, each a whole-batch
  slice copy (im2col) or add (col2im).
* ``max_pool2d``: the largest entry of each (possibly overlapping) window, as the maximum of kh·kw
  strided slices. Tied maxima share the gradient equally, as with the ``max`` gate (reshape + ``max``
  over the window axes is the same function for disjoint windows, ten times slower: see
  ``max_pool2d_composite``). Its VJP is the gate ``max_pool2d_scatter`` (and that one's is
  ``max_pool2d_gather``), so it too is twice differentiable.

``conv2d_composite`` and ``max_pool2d_composite`` are the same functions built from elementary gates
(slices, stack, reshape, matmul, max): the teaching versions, tested equal to the fused gates.

Shapes are NCHW as in PyTorch: x (N, C, H, W), W (O, C, kh, kw), b (O,). ``stride`` and ``padding`` are
pairs of ints (``glassgrad.nn.functional`` turns an int into a pair and checks shapes first).
"""
from __future__ import annotations

import math
import threading
from typing import Any

from glassgrad._backend import ndarray, xp
from glassgrad.device import array_module
from glassgrad.engine import gate
from glassgrad.ops import reduce as _reduce
from glassgrad.ops.linalg import matmul
from glassgrad.ops.shape import pad, reshape, stack
from glassgrad.tensor import Tensor

# ---- convolution -----------------------------------------------------------------------------------
_scratch = threading.local()
SCRATCH_LIMIT = 32 << 20
"""Temporaries up to this many bytes (im2col columns, GEMM results that never leave a gate) are kept
and reused, one buffer per use and thread: a fresh multi-megabyte array costs a page fault per 4 KiB on
every call, which was a third of a small ConvNet's training step."""


def _temporary(use: str, shape: tuple, dtype, like):
    """An uninitialised array on ``like``'s device that the caller drops before returning (reused across calls
    on the CPU; a GPU library has its own memory pool)."""
    dtype = xp.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    module = array_module(like)
    if nbytes > SCRATCH_LIMIT or module is not xp:
        return module.empty(shape, dtype)
    buffer = getattr(_scratch, use, None)
    if buffer is None or buffer.nbytes < nbytes:
        buffer = xp.empty(max(nbytes, 1), xp.uint8)
        setattr(_scratch, use, buffer)
    return buffer[:nbytes].view(dtype).reshape(shape)


def _geometry(input_shape, kernel_size, stride, padding):
    """Padded size (hp, wp), output size (oh, ow), and the layout of the GEMM's columns: output pixel
    (r, c) is column r·row + c of ``length`` columns. With stride 1, row = wp: each kernel offset's
    columns are then one contiguous run of the flattened input (cheap to copy), and the wp − ow columns
    between rows are windows that wrap around the edge, computed and ignored. Otherwise row = ow."""
    (h, w), (kh, kw), (sh, sw), (ph, pw) = input_shape[2:], kernel_size, stride, padding
    hp, wp = h + 2 * ph, w + 2 * pw
    oh, ow = (hp - kh) // sh + 1, (wp - kw) // sw + 1
    row = wp if (sh, sw) == (1, 1) else ow
    return hp, wp, oh, ow, row, (oh - 1) * row + ow


def _stride_tricks(a):
    """``numpy.lib.stride_tricks`` or its counterpart for ``a``'s device (``cupy.lib.stride_tricks``)."""
    return array_module(a).lib.stride_tricks


def _grid(a, oh: int, ow: int, row: int):
    """The (A, B, oh, ow) output pixels inside GEMM columns laid out (A, B, length) (a view)."""
    return _stride_tricks(a).as_strided(a, a.shape[:2] + (oh, ow), a.strides[:2] + (row * a.strides[2], a.strides[2]))


def _pad(x, padding):
    ph, pw = padding
    if ph == 0 and pw == 0:
        return x
    return xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))


def _cols(x, kernel_size, stride, padding):
    """im2col: (N, C·kh·kw, length); column r·row + c holds the (C, kh, kw) window of output pixel (r, c).
    A temporary: use it before the next call."""
    (n, c), (kh, kw) = x.shape[:2], kernel_size
    hp, wp, oh, ow, row, length = _geometry(x.shape, kernel_size, stride, padding)
    xpad = _pad(x, padding)
    cols = _temporary("cols", (n, c, kh, kw, length), x.dtype, x)
    if row == wp:                       # stride 1: each kernel offset (i, j) is a run of the flat input,
        flat = xpad.reshape(n, c, hp * wp)     # so all kh·kw runs are one strided view, copied in one call
        sn, sc, s = flat.strides
        cols[...] = _stride_tricks(flat).as_strided(flat, (n, c, kh, kw, length), (sn, sc, wp * s, s, s))
    else:                               # strided windows: a view of every window, copied once
        sh, sw = stride
        windows = _stride_tricks(xpad).sliding_window_view(xpad, (kh, kw), axis=(2, 3))
        win = windows[:, :, ::sh, ::sw]                                          # (N, C, oh, ow, kh, kw)
        cols.reshape(n, c, kh, kw, oh, ow)[...] = win.transpose(0, 1, 4, 5, 2, 3)
    return cols.reshape(n, c * kh * kw, length)


def _columns(g, row: int, length: int):
    """g (N, O, oh, ow) laid out as GEMM columns (O, N, length), zeros in the columns between rows: the whole
    batch side by side, so that one product per kernel offset covers it (``_conv2d_input_grad``)."""
    n, o, oh, ow = g.shape
    spread = _temporary("spread", (o, n, length), g.dtype, g)
    if row != ow:
        spread[...] = 0
    _grid(spread, oh, ow, row)[...] = g.transpose(1, 0, 2, 3)
    return spread


def _conv2d(x: ndarray, w: ndarray, b: ndarray | None = None, stride: tuple[int, int] = (1, 1),
            padding: tuple[int, int] = (0, 0)) -> ndarray:
    n, o = x.shape[0], w.shape[0]
    _, _, oh, ow, row, length = _geometry(x.shape, w.shape[2:], stride, padding)
    cols = _cols(x, w.shape[2:], stride, padding)
    w2 = w.reshape(o, -1)
    if row == ow:                                                # W · cols, one GEMM per example
        out = xp.matmul(w2, cols).reshape(n, o, oh, ow)
    else:
        full = xp.matmul(w2, cols, out=_temporary("gemm", (n, o, length), xp.result_type(w, x), x))
        out = _grid(full, oh, ow, row)
        if b is None:
            return out.copy()
        return out + b.reshape(o, 1, 1)
    if b is not None:
        out += b.reshape(o, 1, 1)
    return out


def _conv2d_input_grad(g: ndarray, w: ndarray, input_shape: tuple[int, ...], stride: tuple[int, int] = (1, 1),
                       padding: tuple[int, int] = (0, 0)) -> ndarray:
    """col2im(Wᵀ g): every window's share of the error added back onto the pixels it read. One kernel offset
    (i, j) at a time: W[:, :, i, j]ᵀ · g for the whole batch in one product, added onto the pixels at that offset
    while it is still in cache (Wᵀ g for every offset at once would be kh·kw·C/O times the size of g)."""
    (o, c, kh, kw), n = w.shape, input_shape[0]
    (ph, pw), (sh, sw) = padding, stride
    hp, wp, oh, ow, row, length = _geometry(input_shape, (kh, kw), stride, padding)
    columns = _columns(g, row, length).reshape(o, n * length)
    share = _temporary("share", (c, n * length), xp.result_type(w, g), g)
    per_offset = array_module(w).ascontiguousarray(w.transpose(2, 3, 1, 0))    # (kh, kw, C, O): each a BLAS matrix
    dx = array_module(share).zeros((n, c, hp, wp), dtype=share.dtype)
    by_channel = dx.transpose(1, 0, 2, 3)                 # (C, N, hp, wp): the layout of each offset's share
    flat = dx.reshape(n, c, hp * wp).transpose(1, 0, 2)
    pixels = share.reshape(c, n, length)
    for i in range(kh):
        for j in range(kw):
            xp.matmul(per_offset[i, j], columns, out=share)
            if row == wp:
                flat[:, :, i * wp + j:i * wp + j + length] += pixels
            else:
                by_channel[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw] += pixels.reshape(c, n, oh, ow)
    return dx[:, :, ph:ph + input_shape[2], pw:pw + input_shape[3]] if ph or pw else dx


def _conv2d_weight_grad(x: ndarray, g: ndarray, kernel_size: tuple[int, int], stride: tuple[int, int] = (1, 1),
                        padding: tuple[int, int] = (0, 0)) -> ndarray:
    """Σ_n g[n] · cols[n]ᵀ with the columns recomputed from x, computed transposed: Σ_n cols[n] · g[n]ᵀ is
    the same sum, and BLAS runs these long, thin products about twice as fast with the C·kh·kw rows first."""
    (n, o), c = g.shape[:2], x.shape[1]
    _, _, _, _, row, length = _geometry(x.shape, kernel_size, stride, padding)
    cols = _cols(x, kernel_size, stride, padding)
    per_example = xp.matmul(cols, _columns(g, row, length).transpose(1, 2, 0),
                            out=_temporary("gemm", (n, cols.shape[1], o), xp.result_type(x, g), x))
    return per_example.sum(axis=0).T.reshape((o, c) + tuple(kernel_size))


conv2d = gate(
    "conv2d", _conv2d,
    lambda g, out, x, w, b=None, *, stride, padding:                 # ∂C/∂x = col2im(Wᵀ g)   (BP2)
        conv2d_input_grad(g, w, input_shape=x.shape, stride=stride, padding=padding),
    lambda g, out, x, w, b=None, *, stride, padding:                 # ∂C/∂W = Σ g colsᵀ      (BP4)
        conv2d_weight_grad(x, g, kernel_size=w.shape[2:], stride=stride, padding=padding),
    lambda g, out, x, w, b=None, *, stride, padding:                 # ∂C/∂b = Σ g            (BP3)
        g.sum(axis=(0, 2, 3)),
    doc="2-d cross-correlation (PyTorch's conv2d) of x (N, C, H, W) with W (O, C, kh, kw), plus b (O,); "
        "stride and padding are pairs. im2col and one GEMM; twice differentiable. ∂/∂x = col2im(Wᵀ g) (BP2), "
        "∂/∂W = Σ_n g[n] · im2col(x)[n]ᵀ (BP4), ∂/∂b = Σ g over examples and pixels (BP3). Teaching "
        "version from elementary gates: ops.conv.conv2d_composite.")

# ⟨h, dx(g, W)⟩ = ⟨conv(h, W), g⟩ and ⟨H, dW(x, g)⟩ = ⟨conv(x, H), g⟩: each gate's VJPs are the other two.
conv2d_input_grad = gate(
    "conv2d_input_grad", _conv2d_input_grad,
    lambda h, out, g, w, *, input_shape, stride, padding:
        conv2d(h, w, stride=stride, padding=padding),
    lambda h, out, g, w, *, input_shape, stride, padding:
        conv2d_weight_grad(h, g, kernel_size=w.shape[2:], stride=stride, padding=padding),
    doc="The x-gradient of conv2d, col2im(Wᵀ g) (a transposed convolution), as a gate of its own so that "
        "conv2d is twice differentiable. Linear in g and in W: ∂/∂g = conv2d(h, W), ∂/∂W = "
        "conv2d_weight_grad(h, g).")
conv2d_weight_grad = gate(
    "conv2d_weight_grad", _conv2d_weight_grad,
    lambda h, out, x, g, *, kernel_size, stride, padding:
        conv2d_input_grad(g, h, input_shape=x.shape, stride=stride, padding=padding),
    lambda h, out, x, g, *, kernel_size, stride, padding:
        conv2d(x, h, stride=stride, padding=padding),
    doc="The W-gradient of conv2d, Σ_n g[n] · im2col(x)[n]ᵀ, as a gate of its own (see conv2d_input_grad). "
        "Linear in x and in g: ∂/∂x = conv2d_input_grad(g, h), ∂/∂g = conv2d(x, h).")


# ---- max pooling ------------------------------------------------------------------------------------
def _offsets(kernel_size, stride, oh, ow):
    """For each kernel offset (i, j), the slice of the input holding that offset of every window."""
    (kh, kw), (sh, sw) = kernel_size, stride
    for i in range(kh):
        for j in range(kw):
            yield (Ellipsis, slice(i, i + sh * oh, sh), slice(j, j + sw * ow, sw))


def _max_pool2d(x: ndarray, kernel_size: tuple[int, int], stride: tuple[int, int]) -> ndarray:
    (kh, kw), (sh, sw) = kernel_size, stride
    oh, ow = (x.shape[2] - kh) // sh + 1, (x.shape[3] - kw) // sw + 1
    out: Any = None                     # the running maximum, an array from the first offset on
    for index in _offsets(kernel_size, stride, oh, ow):
        out = x[index].copy() if out is None else xp.maximum(out, x[index], out=out)
    return out


def _array(t):
    return t.data if isinstance(t, Tensor) else t


def _maxima(x, out, kernel_size, stride):
    """Where each window's maxima are (one mask per kernel offset) and how many each window has."""
    masks = [x[index] == out for index in _offsets(kernel_size, stride, *out.shape[2:])]
    count = masks[0].astype(x.dtype)
    for m in masks[1:]:
        count += m
    return masks, count


def _scatter(g: ndarray, x: ndarray, out: ndarray, kernel_size: tuple[int, int], stride: tuple[int, int]) -> ndarray:
    """Each window's gradient onto its maxima, shared equally among tied maxima."""
    masks, count = _maxima(x, out, kernel_size, stride)
    share = g / count
    dx = array_module(share).zeros(x.shape, dtype=share.dtype)
    disjoint = stride[0] >= kernel_size[0] and stride[1] >= kernel_size[1]
    for mask, index in zip(masks, _offsets(kernel_size, stride, *g.shape[2:])):
        if disjoint:                    # windows do not overlap: write each offset in place
            xp.multiply(mask, share, out=dx[index])
        else:
            dx[index] += mask * share
    return dx


def _gather(h: ndarray, x: ndarray, out: ndarray, kernel_size: tuple[int, int], stride: tuple[int, int]) -> ndarray:
    """The adjoint of _scatter: the mean of h over each window's maxima."""
    masks, count = _maxima(x, out, kernel_size, stride)
    total = sum(mask * h[index] for mask, index in zip(masks, _offsets(kernel_size, stride, *out.shape[2:])))
    return total / count


# The scatter and gather gates get x and the pooled output as constant params: the maxima's positions
# are locally constant, so the backward is linear in g and the two gates are each other's VJPs.
max_pool2d = gate(
    "max_pool2d", _max_pool2d,
    lambda g, out, x, *, kernel_size, stride:
        max_pool2d_scatter(g, x=_array(x), out=_array(out), kernel_size=kernel_size, stride=stride),
    doc="The largest entry of each kh×kw window, windows `stride` apart (they may overlap). ∂/∂x: each "
        "window's g added onto its maximum; tied maxima share it equally (a subgradient). Teaching version "
        "from elementary gates: ops.conv.max_pool2d_composite.")
max_pool2d_scatter = gate(
    "max_pool2d_scatter", _scatter,
    lambda h, res, g, *, x, out, kernel_size, stride: max_pool2d_gather(h, x=x, out=out, kernel_size=kernel_size,
                                                                      stride=stride),
    doc="The backward of max_pool2d: each window's gradient added onto its maxima (shared among ties). "
        "Linear in g with the maxima fixed: ∂/∂g = max_pool2d_gather(h).")
max_pool2d_gather = gate(
    "max_pool2d_gather", _gather,
    lambda g, res, h, *, x, out, kernel_size, stride: max_pool2d_scatter(g, x=x, out=out, kernel_size=kernel_size,
                                                                       stride=stride),
    doc="The adjoint of max_pool2d_scatter: the mean of h over each window's maxima (the backward's backward). "
        "∂/∂h = max_pool2d_scatter(g).")


# ---- teaching versions: the same functions from elementary gates ------------------------------------
def _pair(v) -> tuple:
    return (v, v) if isinstance(v, int) else tuple(v)


def conv2d_composite(x: Tensor, w: Tensor, b: Tensor | None = None, stride: int | tuple[int, int] = (1, 1),
                     padding: int | tuple[int, int] = (0, 0)) -> Tensor:
    """``conv2d`` from elementary gates: pad, one strided slice of the input per kernel offset, stacked
    into the im2col columns (N, C·kh·kw, OH·OW), one matmul with W reshaped to (O, C·kh·kw), plus b.
    Backward through these gates is the fused gate's col2im(Wᵀ g), Σ g colsᵀ and Σ g, one gate at a time.
    ``stride`` and ``padding`` are ints or pairs."""
    (sh, sw), (ph, pw) = _pair(stride), _pair(padding)
    o, c, kh, kw = w.shape
    x = pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    n, _, hp, wp = x.shape
    oh, ow = (hp - kh) // sh + 1, (wp - kw) // sw + 1
    pieces = [x[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw] for i in range(kh) for j in range(kw)]
    cols = reshape(stack(pieces, axis=2), shape=(n, c * kh * kw, oh * ow))
    out = reshape(matmul(reshape(w, shape=(o, -1)), cols), shape=(n, o, oh, ow))
    return out if b is None else out + reshape(b, shape=(o, 1, 1))


def max_pool2d_composite(x: Tensor, kernel_size: int | tuple[int, int]) -> Tensor:
    """Non-overlapping max pooling from elementary gates: a reshape to (N, C, H/kh, kh, W/kw, kw) and
    ``max`` over axes 3 and 5 (rows and columns that do not fill a window are dropped, as by the gate).
    The same values and gradients as ``max_pool2d`` with stride = kernel_size (ties shared equally) but
    about ten times slower: NumPy reduces over the two scattered window axes slowly, where the gate takes
    the maximum of kh·kw strided slices. ``kernel_size`` is an int or a pair."""
    (n, c, h, w), (kh, kw) = x.shape, _pair(kernel_size)
    oh, ow = h // kh, w // kw
    if (oh * kh, ow * kw) != (h, w):
        x = x[:, :, :oh * kh, :ow * kw]
    return _reduce.max(reshape(x, shape=(n, c, oh, kh, ow, kw)), axis=(3, 5))
