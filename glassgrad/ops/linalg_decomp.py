"""``numpy.linalg`` with gradients: norm, solve, inv, det, slogdet, cholesky, eigh, svd, pinv, qr, eig.

Every function takes stacks of matrices (…, m, n) as NumPy does. The VJPs are the standard
matrix-calculus results, written with gates so that they can be differentiated again:

* inv, det, slogdet, solve: Giles, "An extended collection of matrix derivative results for forward and
  reverse mode algorithmic differentiation" (2008), §2.2: d(A⁻¹) = −A⁻¹ dA A⁻¹, d det A = det A · tr(A⁻¹ dA),
  and for x = A⁻¹b: b̄ = A⁻ᵀ x̄, Ā = −b̄ xᵀ.
* cholesky: Murray, "Differentiation of the Cholesky decomposition" (2016), in PyTorch's form
  Ā = L⁻ᵀ Φ(Lᵀ L̄) L⁻¹ with Φ the lower triangle, symmetrised.
* eigh: Giles (2008) §3.1: Ā = V (diag(w̄) + F ∘ (Vᵀ V̄)) Vᵀ with F_ij = 1/(w_j − w_i), F_ii = 0.
* svd: Townsend, "Differentiating the singular value decomposition" (2016), including the terms for
  non-square matrices.
* pinv: Golub & Pereyra, "The differentiation of pseudo-inverses" (1973), for a matrix of constant rank.
* qr: Liao, Liu, Wang & Xiang, "Differentiable programming tensor networks" (2019), for m ≥ n.
* eig (real eigenvalues only): Giles (2008) §3.1 with the unit-norm eigenvector correction used by PyTorch.

Where the derivative does not exist the VJP raises a ``ValueError`` that says so: a singular matrix for
inv/solve/slogdet, repeated eigenvalues or singular values for eigenvectors and singular vectors,
a rank-deficient non-square matrix for singular vectors, complex eigenvalues for eig. Decompositions
with several outputs are one gate per output (``eigh`` = ``eigvalsh`` + ``eigh_vectors``), so a loss that
uses only the values never differentiates the vectors; each gate computes the decomposition itself.
"""
from __future__ import annotations

from typing import Sequence

from glassgrad._backend import ndarray, xp
from glassgrad.axes import kept_shape, reduced_axes
from glassgrad.device import array_module, as_array
from glassgrad.engine import gate
from glassgrad.ops.elementwise import abs, sign, where
from glassgrad.ops.reduce import _product_of_others, _unreduce, max, min, sum
from glassgrad.ops.shape import reshape, squeeze, swapaxes, transpose, unsqueeze
from glassgrad.tensor import Axis, Tensor, TensorLike


def _T(a):
    """The transpose of each matrix of a stack."""
    return swapaxes(a, -1, -2)



def _square(name: str, a) -> None:
    shape = xp.shape(as_array(a))
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise ValueError(f"{name}: needs square matrices (…, n, n), not shape {shape}")


def _diag_embed(v):
    """(…, n) → (…, n, n) with v on the diagonal (a product with the identity, so it differentiates)."""
    n = v.shape[-1]
    return unsqueeze(v, -1) * array_module(v).eye(n, dtype=v.dtype)


def _distinct(name: str, values, what: str) -> None:
    """Refuse the derivative of vectors whose values repeat (it does not exist there)."""
    w = as_array(values)
    gaps = xp.abs(w[..., :, None] - w[..., None, :]) + array_module(w).eye(w.shape[-1])
    if w.shape[-1] > 1 and gaps.min() == 0:
        raise ValueError(f"{name}: repeated {what}; the derivative of the vectors does not exist there")


def _inverse_gaps(values, squared: bool = False):
    """F_ij = 1/(v_j − v_i) (or 1/(v_j² − v_i²)) off the diagonal, 0 on it."""
    w = values * values if squared else values
    gaps = unsqueeze(w, -2) - unsqueeze(w, -1)
    eye = array_module(w).eye(w.shape[-1], dtype=bool)
    return where(eye, 0, 1 / where(eye, 1, gaps))


def _linalg_error(name: str, problem: str):
    def run(fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except xp.linalg.LinAlgError as e:
            raise ValueError(f"{name}: {problem} ({e})") from None
    return run


# ---- inverse, determinant, solve --------------------------------------------------------------------
def _inv(a):
    return _linalg_error("inv", "the matrix is singular: it has no inverse")(xp.linalg.inv, a)


inv = gate("inv", _inv,
           lambda g, out, a: -(_T(out) @ g @ _T(out)),          # d(A⁻¹) = −A⁻¹ dA A⁻¹
           doc="A⁻¹ (a stack of square matrices). ∂/∂A = −A⁻ᵀ g A⁻ᵀ (Giles 2008); a singular A is an error.")


def _det_vjp(g, out, a):
    """d det A = det A · tr(A⁻¹ dA) ⇒ Ā = g det A · A⁻ᵀ. At a singular A, A⁻ᵀ det A is the adjugate's
    transpose, computed from the SVD A = U S Vᵀ: adj(A)ᵀ = det U det V · U adj(S) Vᵀ, adj(S) the products
    of all singular values but one (first derivatives only there)."""
    values = as_array(a)
    if xp.all(xp.linalg.cond(values) < 1 / xp.finfo(values.dtype).eps):
        return unsqueeze(unsqueeze(g * out, -1), -1) * _T(inv(a))
    if isinstance(g, Tensor):
        raise ValueError("det: the second derivative at a singular matrix is not supported")
    u, s, vh = xp.linalg.svd(values)
    rotation = xp.linalg.det(u) * xp.linalg.det(vh)
    others = _product_of_others(s, -1)
    return (g * rotation)[..., None, None] * ((u * others[..., None, :]) @ vh)


det = gate("det", xp.linalg.det, _det_vjp,
           doc="det A. ∂/∂A = g · det A · A⁻ᵀ (Giles 2008), the adjugate's transpose at a singular A (from the "
               "SVD; first derivatives only there).")


def _logabsdet(a):
    return xp.linalg.slogdet(a)[1]


def _logabsdet_vjp(g, out, a):
    if not xp.all(xp.isfinite(as_array(out))):
        raise ValueError("slogdet: the matrix is singular, log|det A| = −∞ has no derivative")
    return unsqueeze(unsqueeze(g, -1), -1) * _T(inv(a))       # d log|det A| = tr(A⁻¹ dA)


logabsdet = gate("logabsdet", _logabsdet, _logabsdet_vjp,
                 doc="log |det A|. ∂/∂A = g · A⁻ᵀ (Giles 2008); a singular A (−∞) is an error.")


def slogdet(a: TensorLike) -> tuple[Tensor | ndarray, Tensor]:
    """``np.linalg.slogdet``: (sign, log|det A|); the sign is a constant, log|det A| has the gradient g A⁻ᵀ."""
    _square("slogdet", a)
    sign_value = xp.linalg.slogdet(as_array(a))[0]
    return (Tensor._make(sign_value) if isinstance(a, Tensor) else sign_value), logabsdet(a)


def _solve(a, b):
    return _linalg_error("solve", "the matrix is singular: the system has no unique solution")(xp.linalg.solve, a, b)


def _solve_b(g, out, a, b):
    if b.ndim == 1:                                          # NumPy: a 1-d b is one vector, for every matrix
        return squeeze(solve(_T(a), unsqueeze(g, -1)), -1)
    return solve(_T(a), g)                                   # b̄ = A⁻ᵀ x̄


def _solve_a(g, out, a, b):
    gb = _solve_b(g, out, a, b)
    if b.ndim == 1:
        return -(unsqueeze(gb, -1) * unsqueeze(out, -2))     # Ā = −b̄ xᵀ
    return -(gb @ _T(out))


solve = gate("solve", _solve, _solve_a, _solve_b,
             doc="x = A⁻¹ b (b a vector (n,) or matrices (…, n, k), as np.linalg.solve). ∂/∂b = A⁻ᵀ g, "
                 "∂/∂A = −(A⁻ᵀ g) xᵀ (Giles 2008); a singular A is an error.")


# ---- Cholesky --------------------------------------------------------------------------------------------
def _cholesky(a):
    return _linalg_error("cholesky", "the matrix is not symmetric positive definite")(xp.linalg.cholesky, a)


def _cholesky_vjp(g, out, a):
    """Ā = L⁻ᵀ Φ L⁻¹ with Φ = ½ (tril(Lᵀ L̄) + its strict lower triangle transposed): symmetric, as PyTorch."""
    n = out.shape[-1]
    ones = array_module(out).ones((n, n), dtype=out.dtype)
    phi = (_T(out) @ g) * xp.tril(ones)
    phi = 0.5 * (phi + _T(phi * xp.tril(ones, -1)))
    left = solve(_T(out), phi)                               # L⁻ᵀ Φ
    return _T(solve(_T(out), _T(left)))                      # (L⁻ᵀ (L⁻ᵀ Φ)ᵀ)ᵀ = L⁻ᵀ Φ L⁻¹


cholesky = gate("cholesky", _cholesky, _cholesky_vjp,
                doc="L lower triangular with L Lᵀ = A (A symmetric positive definite; its lower triangle is read). "
                    "∂/∂A = L⁻ᵀ Φ(Lᵀ g) L⁻¹, Φ the lower triangle with halved diagonal, symmetrised (Murray 2016, "
                    "as PyTorch): the gradient for a symmetric perturbation.")


# ---- symmetric eigendecomposition --------------------------------------------------------------------
eigvalsh = gate("eigvalsh", lambda a: xp.linalg.eigvalsh(a),
                lambda g, out, a: (eigh_vectors(a) * unsqueeze(g, -2)) @ _T(eigh_vectors(a)),
                doc="The eigenvalues of a symmetric A, ascending (its lower triangle is read). ∂/∂A = V diag(g) Vᵀ "
                    "(Giles 2008), V the eigenvectors.")


def _eigh_vectors_vjp(g, out, a):
    w = eigvalsh(a)
    _distinct("eigh", w, "eigenvalues")
    inner = _inverse_gaps(w) * (_T(out) @ g)                  # F ∘ (Vᵀ V̄)
    full = out @ inner @ _T(out)
    return 0.5 * (full + _T(full))


eigh_vectors = gate("eigh_vectors", lambda a: xp.linalg.eigh(a)[1], _eigh_vectors_vjp,
                    doc="The eigenvectors of a symmetric A (columns, for ascending eigenvalues). "
                        "∂/∂A = V (F ∘ Vᵀ g) Vᵀ symmetrised, F_ij = 1/(w_j − w_i) (Giles 2008); "
                        "repeated eigenvalues are an error.")


def eigh(a: TensorLike) -> tuple[Tensor, Tensor]:
    """``np.linalg.eigh``: (eigenvalues ascending, eigenvectors as columns) of symmetric matrices."""
    _square("eigh", a)
    return eigvalsh(a), eigh_vectors(a)


# ---- singular value decomposition --------------------------------------------------------------------
svdvals = gate("svdvals", lambda a: xp.linalg.svd(a, compute_uv=False),
               lambda g, out, a: (svd_u(a) * unsqueeze(g, -2)) @ svd_vh(a),
               doc="Singular values, descending. ∂/∂A = U diag(g) Vᵀ (Townsend 2016).")


def _svd_parts(a):
    """U, S, V of the reduced SVD, and F_ij = 1/(s_j² − s_i²); refuses repeated singular values."""
    s = svdvals(a)
    _distinct("svd", s, "singular values")
    return svd_u(a), s, _T(svd_vh(a)), _inverse_gaps(s, squared=True)


def _reduced_only(name, a, full_matrices):
    m, n = a.shape[-2:]
    if full_matrices and m != n:
        raise ValueError(f"{name}: with full_matrices=True the extra singular vectors of a {m}×{n} matrix are not "
                         "unique and have no derivative; use full_matrices=False")


def _thin_inverse(name: str, s):
    if xp.any(as_array(s) == 0):
        raise ValueError(f"{name}: a non-square matrix of deficient rank; its singular vectors have no derivative")
    return 1 / s


def _svd_u_vjp(g, out, a, *, full_matrices):
    """Ā = U [(F ∘ (UᵀŪ − ŪᵀU)) S] Vᵀ + (I − UUᵀ) Ū S⁻¹ Vᵀ (the second term only when m > n)."""
    _reduced_only("svd", a, full_matrices)
    u, s, v, f = _svd_parts(a)
    utg = _T(u) @ g
    grad = u @ ((f * (utg - _T(utg))) * unsqueeze(s, -2)) @ _T(v)
    if a.shape[-2] > a.shape[-1]:
        grad = grad + (g - u @ utg) * unsqueeze(_thin_inverse("svd", s), -2) @ _T(v)
    return grad


def _svd_vh_vjp(g, out, a, *, full_matrices):
    """With V̄ = gᵀ: Ā = U [S (F ∘ (VᵀV̄ − V̄ᵀV))] Vᵀ + U S⁻¹ V̄ᵀ (I − VVᵀ) (the second term only when n > m)."""
    _reduced_only("svd", a, full_matrices)
    u, s, v, f = _svd_parts(a)
    gv = _T(g)
    vtg = _T(v) @ gv
    grad = u @ (unsqueeze(s, -1) * (f * (vtg - _T(vtg)))) @ _T(v)
    if a.shape[-1] > a.shape[-2]:
        grad = grad + u @ (unsqueeze(_thin_inverse("svd", s), -1) * _T(gv - v @ vtg))
    return grad


def _svd_u(a: ndarray, full_matrices: bool = False) -> ndarray:
    return xp.linalg.svd(a, full_matrices=full_matrices)[0]


def _svd_vh(a: ndarray, full_matrices: bool = False) -> ndarray:
    return xp.linalg.svd(a, full_matrices=full_matrices)[2]


svd_u = gate("svd_u", _svd_u, _svd_u_vjp,
             doc="U of A = U S Vᵀ. ∂/∂A = U[(F ∘ (UᵀG − GᵀU))S]Vᵀ + (I − UUᵀ)G S⁻¹Vᵀ, F_ij = 1/(s_j² − s_i²) "
                 "(Townsend 2016); repeated singular values, or full_matrices=True for a non-square A, are errors.")
svd_vh = gate("svd_vh", _svd_vh, _svd_vh_vjp,
              doc="Vᵀ of A = U S Vᵀ. With H = gᵀ: ∂/∂A = U[S(F ∘ (VᵀH − HᵀV))]Vᵀ + U S⁻¹Hᵀ(I − VVᵀ) (Townsend 2016).")


def svd(a: TensorLike, full_matrices: bool = True,
        compute_uv: bool = True) -> tuple[Tensor, Tensor, Tensor] | Tensor:
    """``np.linalg.svd``: (U, S, Vh) with S descending, or S alone with compute_uv=False."""
    if not compute_uv:
        return svdvals(a)
    return svd_u(a, full_matrices=full_matrices), svdvals(a), svd_vh(a, full_matrices=full_matrices)


# ---- pseudo-inverse, QR, general eigendecomposition ----------------------------------------------------
def _pinv_vjp(g, out, a):
    """Ā = −Pᵀ G Pᵀ + (I − AP) Gᵀ P Pᵀ + Pᵀ P Gᵀ (I − PA), P = A⁺ (Golub & Pereyra 1973, constant rank)."""
    p, pt, gt = out, _T(out), _T(g)
    ap, pa = a @ p, p @ a
    return -(pt @ g @ pt) + (gt @ p @ pt - ap @ gt @ p @ pt) + (pt @ p @ gt - pt @ p @ gt @ pa)


pinv = gate("pinv", lambda a: xp.linalg.pinv(a), _pinv_vjp,
            doc="The Moore–Penrose pseudo-inverse A⁺. ∂/∂A = −A⁺ᵀ g A⁺ᵀ + (I − AA⁺) gᵀ A⁺A⁺ᵀ + A⁺ᵀA⁺ gᵀ (I − A⁺A) "
                "(Golub & Pereyra 1973; valid where the rank does not change).")


def _copyltu(m):
    """The symmetric matrix with m's lower triangle: tril(m) + tril(m, −1)ᵀ."""
    n = m.shape[-1]
    ones = array_module(m).ones((n, n), dtype=m.dtype)
    return m * xp.tril(ones) + _T(m * xp.tril(ones, -1))


def _times_r_inverse_t(x, r):
    """x R⁻ᵀ, from a solve with R (an error when R is singular)."""
    return _T(solve(r, _T(x)))


def _tall(name: str, a) -> None:
    if a.shape[-2] < a.shape[-1]:
        raise ValueError(f"{name}: the derivative is implemented for m ≥ n (tall or square), not {a.shape[-2:]}")


def _qr_q_vjp(g, out, a):
    """Ā = (Q̄ + Q copyltu(M)) R⁻ᵀ with M = −Q̄ᵀ Q (Liao et al. 2019, the Q part)."""
    _tall("qr", a)
    return _times_r_inverse_t(g + out @ _copyltu(-(_T(g) @ out)), qr_r(a))


def _qr_r_vjp(g, out, a):
    """Ā = Q copyltu(M) R⁻ᵀ with M = R R̄ᵀ (Liao et al. 2019, the R part)."""
    _tall("qr", a)
    return _times_r_inverse_t(qr_q(a) @ _copyltu(out @ _T(g)), out)


qr_q = gate("qr_q", lambda a: xp.linalg.qr(a)[0], _qr_q_vjp,
            doc="Q of the reduced A = QR. ∂/∂A = (G + Q copyltu(−GᵀQ)) R⁻ᵀ (Liao et al. 2019), for m ≥ n.")
qr_r = gate("qr_r", lambda a: xp.linalg.qr(a)[1], _qr_r_vjp,
            doc="R of the reduced A = QR. ∂/∂A = Q copyltu(R Gᵀ) R⁻ᵀ (Liao et al. 2019), for m ≥ n.")


def qr(a: TensorLike) -> tuple[Tensor, Tensor]:
    """``np.linalg.qr`` (mode='reduced'): Q with orthonormal columns, R upper triangular."""
    return qr_q(a), qr_r(a)


def _real_eig(a):
    w, v = xp.linalg.eig(a)
    if xp.iscomplexobj(w):
        if xp.any(w.imag != 0):
            raise ValueError("eig: the matrix has complex eigenvalues; glassgrad has no complex numbers (eigh takes "
                             "symmetric matrices, whose eigenvalues are real)")
        w, v = w.real, v.real
    return w, v


def _eigvals_vjp(g, out, a):
    v = eig_vectors(a)
    return solve(_T(v), unsqueeze(g, -1) * _T(v))          # Ā = V⁻ᵀ diag(w̄) Vᵀ


def _eig_vectors_vjp(g, out, a):
    """Ā = V⁻ᵀ [(VᵀV̄ − VᵀV diag(diag(VᵀV̄))) ∘ F] Vᵀ, F_ij = 1/(w_j − w_i): Giles (2008) with the correction
    for unit-norm eigenvectors (PyTorch's linalg_eig_backward, real case)."""
    w = eigvals(a)
    _distinct("eig", w, "eigenvalues")
    vt = _T(out)
    vtg = vt @ g
    n = out.shape[-1]
    diagonal = (vtg * array_module(out).eye(n, dtype=out.dtype)).sum(axis=-2, keepdims=True)
    inner = (vtg - (vt @ out) * diagonal) * _inverse_gaps(w)
    return solve(vt, inner @ vt)


eigvals = gate("eigvals", lambda a: _real_eig(a)[0], _eigvals_vjp,
               doc="The eigenvalues of a real square A whose eigenvalues are real (complex ones are an error). "
                   "∂/∂A = V⁻ᵀ diag(g) Vᵀ (Giles 2008).")
eig_vectors = gate("eig_vectors", lambda a: _real_eig(a)[1], _eig_vectors_vjp,
                   doc="The unit eigenvectors of a real A with real eigenvalues. "
                       "∂/∂A = V⁻ᵀ[(VᵀG − VᵀV diag(VᵀG)) ∘ F]Vᵀ, F_ij = 1/(w_j − w_i) "
                       "(Giles 2008; PyTorch's normalisation term); repeated eigenvalues are "
                       "an error.")


def eig(a: TensorLike) -> tuple[Tensor, Tensor]:
    """``np.linalg.eig`` for real matrices with real eigenvalues: (eigenvalues, unit eigenvectors as columns)."""
    _square("eig", a)
    return eigvals(a), eig_vectors(a)


# ---- norms ---------------------------------------------------------------------------------------------
def _vector_norm(x: ndarray, ord: float = 2, axis: Axis = None, keepdims: bool = False) -> ndarray:
    return xp.linalg.vector_norm(x, ord=ord, axis=reduced_axes(axis, x.ndim) if axis is not None else None,  # type: ignore[arg-type]
                                 keepdims=keepdims)


def _vector_norm_vjp(g, out, x, *, ord, axis, keepdims):
    g, norm = _unreduce(g, x, axis), _unreduce(out, x, axis)
    if ord == 0:
        return xp.zeros_like(g)
    if ord == 1:
        return g * sign(x)
    zero = norm == 0
    if ord in (xp.inf, -xp.inf):                            # the extreme entries share g (ties equally)
        hit = (abs(x) == norm).astype(x.dtype)
        return g * sign(x) * hit / _unreduce(hit.sum(axis=reduced_axes(axis, x.ndim), keepdims=True), x, axis)
    if ord == 2:
        return where(zero, 0, g * x / where(zero, 1, norm))
    ratio = abs(x) / where(zero, 1, norm)                    # ∂‖x‖_p/∂x = sign(x) (|x| / ‖x‖)^(p−1)
    return where(zero, 0, g * sign(x) * ratio ** (ord - 1))


vector_norm = gate("vector_norm", _vector_norm, _vector_norm_vjp,
                   doc="‖x‖_ord over axis (all axes when None): (Σ|x|^ord)^(1/ord), max|x| for inf, min|x| for −inf, "
                       "the count of non-zeros for 0. ∂/∂x = g · sign(x)(|x|/‖x‖)^(ord−1); for 2 that is g x/‖x‖; "
                       "0 at x = 0 (PyTorch's subgradient); for ±inf the extreme entries share g equally.")


def _matrix_norm(x, ord, axes: tuple, keepdims: bool):
    r, c = axes
    if ord in ("fro", None):
        out = vector_norm(x, ord=2, axis=(r, c))
    elif ord in ("nuc", 2, -2):
        rest = [k for k in range(x.ndim) if k not in (r, c)]
        s = svdvals(transpose(x, tuple(rest) + (r, c)))
        out = sum(s, axis=-1) if ord == "nuc" else (max(s, axis=-1) if ord == 2 else min(s, axis=-1))
    elif ord in (1, -1):                                      # the largest (smallest) column sum of |x|
        sums = sum(abs(x), axis=r)
        out = (max if ord == 1 else min)(sums, axis=c - (c > r))
    elif ord in (xp.inf, -xp.inf):                            # the largest (smallest) row sum of |x|
        sums = sum(abs(x), axis=c)
        out = (max if ord == xp.inf else min)(sums, axis=r - (r > c))
    else:
        raise ValueError(f"norm: invalid norm order {ord!r} for matrices ('fro', 'nuc', 1, -1, 2, -2, inf, -inf)")
    return reshape(out, kept_shape(x.shape, axes)) if keepdims else out


def norm(x: TensorLike, ord: float | str | None = None, axis: int | Sequence[int] | None = None,
         keepdims: bool = False) -> Tensor:
    """``np.linalg.norm``: vector norms (any ``ord``) along one axis or of a flattened x, matrix norms ('fro',
    'nuc', ±1, ±2, ±inf) over two axes, with NumPy's rules for which is which."""
    ndim = xp.ndim(as_array(x))
    if axis is None:
        if ord is None:
            return vector_norm(reshape(x, (-1,)) if ndim != 1 else x, ord=2, axis=None, keepdims=False) \
                if not keepdims else reshape(vector_norm(x, ord=2), (1,) * ndim)
        if ndim == 1:
            return vector_norm(x, ord=ord, axis=0, keepdims=keepdims)
        if ndim == 2:
            return _matrix_norm(x, ord, (0, 1), keepdims)
        raise ValueError(f"norm: ord={ord!r} without axis needs a 1-d or 2-d input, not {ndim}-d")
    if isinstance(axis, int) or len(axis) == 1:
        a = axis if isinstance(axis, int) else axis[0]
        if isinstance(ord, str):
            raise ValueError(f"norm: ord={ord!r} is a matrix norm; give two axes")
        return vector_norm(x, ord=2 if ord is None else ord, axis=a, keepdims=keepdims)
    if len(axis) == 2:
        r, c = (a % ndim for a in axis)
        if r == c:
            raise ValueError("norm: the two axes of a matrix norm must differ")
        return _matrix_norm(x, ord, (r, c), keepdims)
    raise ValueError(f"norm: axis must be an int or a pair of ints, not {axis!r}")


def matrix_norm(x: TensorLike, ord: float | str = "fro", keepdims: bool = False) -> Tensor:
    """``np.linalg.matrix_norm``: a matrix norm over the last two axes."""
    return _matrix_norm(x, ord, (xp.ndim(as_array(x)) - 2, xp.ndim(as_array(x)) - 1), keepdims)

