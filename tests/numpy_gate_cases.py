"""Cases for the gates of NumPy's wider surface (ops/math.py, einsum.py, linalg_decomp.py, indexing.py):
hypothesis recipes for tests/test_gates.py (gradcheck and gradgradcheck in float64) and PyTorch comparisons
for tests/test_torch_parity.py. ``gradcheck_cases(T)`` takes the test_gates module for its strategies."""
from __future__ import annotations

import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import numpy as np

import glassgrad as gg

# --------------------------------------------------------------------------------------------------
# Matrices whose derivatives exist: well conditioned, distinct eigenvalues / singular values
# --------------------------------------------------------------------------------------------------
EINSUMS = [
    ("ij,jk->ik", "ij", "jk"), ("ii->i", "ii"), ("ij->i", "ij"), ("ii", "ii"), ("i,i", "i", "i"),
    ("ij,ij->", "ij", "ij"), ("i,j->ij", "i", "j"), ("...ij,...jk->...ik", "bij", "bjk"),
    ("...ij,...jk", "aij", "jk"), ("bij,bjk,bkl->bil", "bij", "bjk", "bkl"), ("iij->ji", "iij"),
    ("i...->...", "iab"), ("ij,j", "ij", "j"), ("ijk->kji", "ijk"), ("ab,b...->a...", "ab", "bc"),
]


def _einsum_shapes(letters: tuple, sizes: dict) -> list[tuple]:
    return [tuple(sizes[c] for c in term) for term in letters]


def spread(data, T, m: int, n: int, noise: float = 0.1) -> np.ndarray:
    """A matrix with values 1, 2, … (in a drawn order) on its diagonal plus small noise that is never 0:
    distinct, well separated singular values and (for square ones) real, distinct eigenvalues. (At an
    exactly triangular matrix LAPACK's eig may reorder the eigenvalues under any perturbation, so the
    ordered output has no derivative there.)"""
    base = np.zeros((m, n))
    k = min(m, n)
    base[np.arange(k), np.arange(k)] = 1.0 + np.array(data.draw(st.permutations(range(k))), dtype=float)
    return base + T.arrays(data, (m, n), T.reals(-noise, noise, avoid=(0.0,), margin=noise / 5))


def well_conditioned(data, T, batch: bool = True) -> np.ndarray:
    n = data.draw(st.integers(1, 3))
    lead = data.draw(st.sampled_from([(), (2,)])) if batch else ()
    return T.arrays(data, lead + (n, n), T.reals(-0.3, 0.3)) + 2 * np.eye(n)


def gradcheck_cases(T) -> dict:
    """name → draw(data) -> (f, inputs), for every gate this module adds."""
    def case_einsum(data):
        subscripts, *letters = data.draw(st.sampled_from(EINSUMS))
        sizes = {c: data.draw(st.integers(1, 3)) for c in set("".join(letters))}
        return (lambda *xs: gg.einsum(subscripts, *xs)), [T.arrays(data, s) for s in _einsum_shapes(letters, sizes)]

    def case_remainder(op):
        away = st.one_of(st.floats(0.3, 0.8), st.floats(1.4, 1.8), st.floats(-1.8, -1.4), st.floats(-0.8, -0.3))
        return T.binary(op, away, T.reals(1.0, 1.2))

    def case_round(data):
        x = T.arrays(data, data.draw(T.SHAPES), T.reals(-2.0, 2.0, avoid=(-1.5, -0.5, 0.5, 1.5)))
        return (lambda a: gg.round(a)), [x]

    def case_solve(data):
        a = well_conditioned(data, T)
        n = a.shape[-1]
        b = T.arrays(data, data.draw(st.sampled_from([(n,), (n, 2), a.shape[:-2] + (n, 1)])))
        return gg.linalg.solve, [a, b]

    def case_cholesky(data):
        return (lambda x: gg.linalg.cholesky(x @ gg.swapaxes(x, -1, -2) +
                                             3 * gg.eye(x.shape[-1], dtype=x.dtype, device=x.device))), \
            [well_conditioned(data, T)]

    def symmetric(pick):
        def case(data):
            n = data.draw(st.integers(1, 3))
            return (lambda x: pick(gg.linalg.eigh(x + x.T))), [spread(data, T, n, n)]
        return case

    def decomposed(pick, tall_only: bool = False):
        def case(data):
            m, n = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
            if tall_only and m < n:
                m, n = n, m
            return (lambda x: pick(x)), [spread(data, T, m, n)]
        return case

    def square_spread(pick):
        def case(data):
            n = data.draw(st.integers(1, 3))
            return (lambda x: pick(x)), [spread(data, T, n, n)]
        return case

    def case_vector_norm(data):
        shape = data.draw(T.NONEMPTY_SHAPES)
        ord_ = data.draw(st.sampled_from([2, 1, 3, 0.5, np.inf, -np.inf]))
        axis, keepdims = T.axes(data, len(shape)), data.draw(st.booleans())
        if ord_ in (np.inf, -np.inf):       # distinct |x| so the extreme entry is unique
            x = T.distinct(data, shape) + 0.25 * np.prod(shape) / 2 + 0.3
            x = x * data.draw(hnp.arrays(np.int64, shape, elements=st.sampled_from([-1, 1])))
        else:                               # away from 0, where a one-entry norm has its kink
            x = T.arrays(data, shape, T.reals(0.3, 2.0))
            x = x * data.draw(hnp.arrays(np.int64, shape, elements=st.sampled_from([-1, 1])))
        return (lambda a: gg.linalg.vector_norm(a, ord=ord_, axis=axis, keepdims=keepdims)), [x]

    def case_scan(op, elements=None):
        def case(data):
            shape = data.draw(T.NONEMPTY_SHAPES)
            axis = data.draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1)))
            return (lambda a: op(a, axis=axis)), [T.arrays(data, shape, elements)]
        return case

    unit = T.reals(-0.8, 0.8)
    return {
        "sign": T.unary(gg.sign, T.AWAY_FROM_0),
        "sin": T.unary(gg.sin), "cos": T.unary(gg.cos), "tan": T.unary(gg.tan, T.reals(-1.2, 1.2)),
        "arcsin": T.unary(gg.arcsin, unit), "arccos": T.unary(gg.arccos, unit), "arctan": T.unary(gg.arctan),
        "arctan2": T.binary(gg.arctan2, T.NONZERO, T.NONZERO),
        "sinh": T.unary(gg.sinh), "cosh": T.unary(gg.cosh), "arcsinh": T.unary(gg.arcsinh),
        "arccosh": T.unary(gg.arccosh, T.reals(1.3, 3.0)), "arctanh": T.unary(gg.arctanh, unit),
        "sinc": T.unary(gg.sinc, T.AWAY_FROM_0),
        "log1p": T.unary(gg.log1p, T.reals(-0.7, 2.0)), "expm1": T.unary(gg.expm1),
        "log2": T.unary(gg.log2, T.POSITIVE), "log10": T.unary(gg.log10, T.POSITIVE), "exp2": T.unary(gg.exp2),
        "square": T.unary(gg.square),
        "logaddexp": T.binary(gg.logaddexp), "hypot": T.binary(gg.hypot, T.NONZERO, T.NONZERO),
        "remainder": case_remainder(gg.remainder), "fmod": case_remainder(gg.fmod),
        "floor": T.unary(gg.floor, T.reals(avoid=(-2.0, -1.0, 0.0, 1.0, 2.0))),
        "ceil": T.unary(gg.ceil, T.reals(avoid=(-2.0, -1.0, 0.0, 1.0, 2.0))),
        "trunc": T.unary(gg.trunc, T.reals(avoid=(-2.0, -1.0, 0.0, 1.0, 2.0))),
        "round": case_round,
        "nan_to_num": T.unary(lambda x: gg.nan_to_num(x, nan=0.5)),
        "einsum": case_einsum,
        "inv": lambda data: (gg.linalg.inv, [well_conditioned(data, T)]),
        "det": lambda data: (gg.linalg.det, [well_conditioned(data, T)]),
        "logabsdet": lambda data: ((lambda a: gg.linalg.slogdet(a)[1]), [well_conditioned(data, T)]),
        "solve": case_solve,
        "cholesky": case_cholesky,
        "eigvalsh": symmetric(lambda wv: wv[0]),
        "eigh_vectors": symmetric(lambda wv: wv[1] ** 2),
        "svdvals": decomposed(gg.linalg.svdvals),
        "svd_u": decomposed(lambda x: gg.linalg.svd(x, full_matrices=False)[0] ** 2),
        "svd_vh": decomposed(lambda x: gg.linalg.svd(x, full_matrices=False)[2] ** 2),
        "pinv": decomposed(gg.linalg.pinv),
        "qr_q": decomposed(lambda x: gg.linalg.qr(x)[0] ** 2, tall_only=True),
        "qr_r": decomposed(lambda x: gg.linalg.qr(x)[1] ** 2, tall_only=True),
        "eigvals": square_spread(lambda x: gg.linalg.eig(x)[0]),
        "eig_vectors": square_spread(lambda x: gg.linalg.eig(x)[1] ** 2),
        "vector_norm": case_vector_norm,
        "cumsum": case_scan(gg.cumsum),
        "cumprod": case_scan(gg.cumprod, T.NONZERO),
    }


# --------------------------------------------------------------------------------------------------
# PyTorch comparisons: (gate, id, glassgrad function, torch function, input specs)
# --------------------------------------------------------------------------------------------------
def _fixed(seed: int, make) -> np.ndarray:
    return make(np.random.default_rng(seed))


UNIT = _fixed(1, lambda r: r.uniform(-0.8, 0.8, (2, 3)))
ABOVE_1 = _fixed(2, lambda r: r.uniform(1.3, 3.0, (2, 3)))
AWAY_FROM_JUMPS = np.array([[0.3, -0.45, 1.6], [-1.7, 0.7, 2.7]])     # x/y never near an integer for y in [1, 1.2]
DIVISORS = np.array([1.1, -1.15, 1.05])
SQUARE = _fixed(3, lambda r: r.uniform(-0.3, 0.3, (2, 3, 3)) + 2 * np.eye(3))
SPREAD = np.diag([1.0, 3.0, 2.0]) + _fixed(4, lambda r: r.uniform(-0.1, 0.1, (3, 3)))
TALL = np.eye(4, 3) * np.array([1.0, 3.0, 2.0]) + _fixed(5, lambda r: r.uniform(-0.1, 0.1, (4, 3)))
WIDE = TALL.T.copy()
NONZERO_SPECS = [((2, 3), "nonzero")]


def _t_sym(torch):
    return lambda x: x + x.transpose(-1, -2)


def parity_cases(torch) -> list[tuple]:
    tl = torch.linalg
    spd = (lambda x: x @ gg.swapaxes(x, -1, -2) + 3 * gg.eye(3, dtype=x.dtype, device=x.device),
           lambda x: x @ x.transpose(-1, -2) + 3 * torch.eye(3))
    return [
        ("sign", "", gg.sign, torch.sign, [np.array([-1.5, 0.0, 2.0])]),
        ("sin", "", gg.sin, torch.sin, [((2, 3), "any")]),
        ("cos", "", gg.cos, torch.cos, [((2, 3), "any")]),
        ("tan", "", gg.tan, torch.tan, [UNIT]),
        ("arcsin", "", gg.arcsin, torch.asin, [UNIT]),
        ("arccos", "", gg.arccos, torch.acos, [UNIT]),
        ("arctan", "", gg.arctan, torch.atan, [((2, 3), "any")]),
        ("arctan2", "broadcast", gg.arctan2, torch.atan2, [((2, 3), "nonzero"), ((3,), "nonzero")]),
        ("sinh", "", gg.sinh, torch.sinh, [((2, 3), "any")]),
        ("cosh", "", gg.cosh, torch.cosh, [((2, 3), "any")]),
        ("arcsinh", "", gg.arcsinh, torch.asinh, [((2, 3), "any")]),
        ("arccosh", "", gg.arccosh, torch.acosh, [ABOVE_1]),
        ("arctanh", "", gg.arctanh, torch.atanh, [UNIT]),
        ("sinc", "", gg.sinc, torch.sinc, [((2, 3), "nonzero")]),
        ("sinc", "at 0", gg.sinc, torch.sinc, [np.array([-0.5, 0.0, 1.5])]),
        ("log1p", "", gg.log1p, torch.log1p, [((2, 3), "pos")]),
        ("expm1", "", gg.expm1, torch.expm1, [((2, 3), "any")]),
        ("log2", "", gg.log2, torch.log2, [((2, 3), "pos")]),
        ("log10", "", gg.log10, torch.log10, [((2, 3), "pos")]),
        ("exp2", "", gg.exp2, torch.exp2, [((2, 3), "any")]),
        ("square", "", gg.square, torch.square, [((2, 3), "any")]),
        ("logaddexp", "broadcast", gg.logaddexp, torch.logaddexp, [((2, 3), "any"), ((3,), "any")]),
        ("logaddexp", "large", gg.logaddexp, torch.logaddexp, [np.array([1000.0, -1000.0]), np.array([999.0, 5.0])]),
        ("hypot", "", gg.hypot, torch.hypot, [((2, 3), "nonzero"), ((2, 3), "any")]),
        ("remainder", "", gg.remainder, torch.remainder, [AWAY_FROM_JUMPS, DIVISORS]),
        ("fmod", "", gg.fmod, torch.fmod, [AWAY_FROM_JUMPS, DIVISORS]),
        ("floor", "", gg.floor, torch.floor, [((2, 3), "any")]),
        ("ceil", "", gg.ceil, torch.ceil, [((2, 3), "any")]),
        ("trunc", "", gg.trunc, torch.trunc, [((2, 3), "any")]),
        ("round", "", gg.round, torch.round, [np.array([-1.5, -0.7, 0.5, 1.2, 2.5])]),
        ("round", "decimals", lambda x: gg.round(x, decimals=1), lambda x: torch.round(x, decimals=1),
         [np.array([-1.26, 0.33, 2.71])]),
        ("nan_to_num", "", lambda x: gg.nan_to_num(x, nan=0.5, posinf=9.0, neginf=-9.0),
         lambda x: torch.nan_to_num(x, nan=0.5, posinf=9.0, neginf=-9.0),
         [np.array([1.0, np.nan, np.inf, -np.inf, -2.0])]),
        ("einsum", "matmul", lambda a, b: gg.einsum("ij,jk->ik", a, b), lambda a, b: torch.einsum("ij,jk->ik", a, b),
         [((2, 3), "any"), ((3, 4), "any")]),
        ("einsum", "diagonal", lambda a: gg.einsum("ii->i", a), lambda a: torch.einsum("ii->i", a), [((3, 3), "any")]),
        ("einsum", "trace", lambda a: gg.einsum("ii", a), lambda a: torch.einsum("ii", a), [((3, 3), "any")]),
        ("einsum", "ellipsis broadcast", lambda a, b: gg.einsum("...ij,...jk->...ik", a, b),
         lambda a, b: torch.einsum("...ij,...jk->...ik", a, b), [((2, 1, 2, 3), "any"), ((4, 3, 2), "any")]),
        ("einsum", "three operands", lambda a, b, c: gg.einsum("bi,bj,ij->b", a, b, c),
         lambda a, b, c: torch.einsum("bi,bj,ij->b", a, b, c), [((4, 2), "any"), ((4, 3), "any"), ((2, 3), "any")]),
        ("einsum", "summed in one operand", lambda a, b: gg.einsum("ij,k->ik", a, b),
         lambda a, b: torch.einsum("ij,k->ik", a, b), [((2, 3), "any"), ((4,), "any")]),
        ("inv", "batch", gg.linalg.inv, tl.inv, [SQUARE]),
        ("det", "batch", gg.linalg.det, tl.det, [SQUARE]),
        ("logabsdet", "", lambda a: gg.linalg.slogdet(a)[1], lambda a: tl.slogdet(a)[1], [SQUARE]),
        ("solve", "vector", gg.linalg.solve, tl.solve, [SQUARE[0], ((3,), "any")]),
        ("solve", "matrices", gg.linalg.solve, tl.solve, [SQUARE, ((2, 3, 2), "any")]),
        ("cholesky", "", lambda x: gg.linalg.cholesky(spd[0](x)), lambda x: tl.cholesky(spd[1](x)), [SQUARE]),
        ("eigvalsh", "", lambda x: gg.linalg.eigh(x + x.T)[0], lambda x: tl.eigh(_t_sym(torch)(x))[0], [SPREAD]),
        ("eigh_vectors", "", lambda x: gg.linalg.eigh(x + x.T)[1] ** 2, lambda x: tl.eigh(_t_sym(torch)(x))[1] ** 2,
         [SPREAD]),
        ("svdvals", "", gg.linalg.svdvals, tl.svdvals, [TALL]),
        ("svd_u", "tall", lambda x: gg.linalg.svd(x, full_matrices=False)[0] ** 2,
         lambda x: tl.svd(x, full_matrices=False)[0] ** 2, [TALL]),
        ("svd_u", "wide", lambda x: gg.linalg.svd(x, full_matrices=False)[0] ** 2,
         lambda x: tl.svd(x, full_matrices=False)[0] ** 2, [WIDE]),
        ("svd_vh", "tall", lambda x: gg.linalg.svd(x, full_matrices=False)[2] ** 2,
         lambda x: tl.svd(x, full_matrices=False)[2] ** 2, [TALL]),
        ("svd_vh", "wide", lambda x: gg.linalg.svd(x, full_matrices=False)[2] ** 2,
         lambda x: tl.svd(x, full_matrices=False)[2] ** 2, [WIDE]),
        ("pinv", "tall", gg.linalg.pinv, tl.pinv, [TALL]),
        ("pinv", "wide", gg.linalg.pinv, tl.pinv, [WIDE]),
        ("qr_q", "", lambda x: gg.linalg.qr(x)[0], lambda x: tl.qr(x)[0], [TALL]),
        ("qr_r", "", lambda x: gg.linalg.qr(x)[1], lambda x: tl.qr(x)[1], [TALL]),
        ("eigvals", "", lambda x: gg.linalg.eig(x)[0], lambda x: tl.eigvals(x).real, [SPREAD]),
        ("eig_vectors", "", lambda x: gg.linalg.eig(x)[1] ** 2, lambda x: tl.eig(x)[1].abs() ** 2, [SPREAD]),
        ("vector_norm", "2", gg.linalg.norm, tl.vector_norm, [((2, 3), "any")]),
        ("vector_norm", "at 0", lambda x: gg.linalg.norm(x, axis=1), lambda x: tl.vector_norm(x, dim=1),
         [np.array([[0.0, 0.0], [3.0, -4.0]])]),
        ("vector_norm", "3 axis=1 keepdims", lambda x: gg.linalg.norm(x, 3, axis=1, keepdims=True),
         lambda x: tl.vector_norm(x, 3, dim=1, keepdim=True), [((2, 3), "nonzero")]),
        ("vector_norm", "1", lambda x: gg.linalg.norm(x, 1, axis=0), lambda x: tl.vector_norm(x, 1, dim=0),
         [((2, 3), "nonzero")]),
        ("vector_norm", "inf ties", lambda x: gg.linalg.vector_norm(x, ord=np.inf),
         lambda x: tl.vector_norm(x, float("inf")), [np.array([1.0, -3.0, 3.0, 2.0])]),
        ("vector_norm", "-inf", lambda x: gg.linalg.vector_norm(x, ord=-np.inf, axis=-1),
         lambda x: tl.vector_norm(x, float("-inf"), dim=-1), [((2, 3), "distinct")]),
        ("vector_norm", "0.5", lambda x: gg.linalg.vector_norm(x, ord=0.5), lambda x: tl.vector_norm(x, 0.5),
         [((2, 3), "nonzero")]),
        ("cumsum", "axis", lambda x: gg.cumsum(x, axis=1), lambda x: torch.cumsum(x, dim=1), [((2, 3, 2), "any")]),
        ("cumsum", "flattened", gg.cumsum, lambda x: torch.cumsum(x.reshape(-1), 0), [((2, 3), "any")]),
        ("cumprod", "", lambda x: gg.cumprod(x, axis=-1), lambda x: torch.cumprod(x, dim=-1), [((2, 4), "nonzero")]),
        ("cumprod", "zeros", lambda x: gg.cumprod(x, axis=1), lambda x: torch.cumprod(x, dim=1),
         [np.array([[2.0, 0.0, 3.0, 0.5], [1.5, -1.0, 0.0, 0.0], [0.0, 2.0, 2.0, 2.0]])]),
    ]
