"""NumPy's functions built from gates (tensordot, dot, kron, cross, trace, sort, take, tile, roll, matrix
norms, cropping pads …): values against NumPy, gradients against centred differences (first and second
order, float64) and against PyTorch; and the errors where a derivative does not exist."""
from __future__ import annotations

import numpy as np
import pytest

import glassgrad as gg

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(11)
A = RNG.standard_normal((2, 3, 4))
M = RNG.standard_normal((3, 3))
V3 = RNG.standard_normal((4, 3))
W3 = RNG.standard_normal((3,))
DISTINCT = (RNG.permutation(12).reshape(3, 4) - 6) * 0.3        # no ties: sort has one answer
IDX = np.array([[0, 2, 2], [1, 0, 3]])

# (id, glassgrad function, NumPy function (values), torch function or None, inputs)
CASES = [
    ("tensordot axes=1", lambda a, b: gg.tensordot(a, b, axes=1), lambda a, b: np.tensordot(a, b, 1),
     lambda a, b: torch.tensordot(a, b, 1), [A, RNG.standard_normal((4, 2))]),
    ("tensordot pairs", lambda a, b: gg.tensordot(a, b, axes=([0, 2], [2, 0])),
     lambda a, b: np.tensordot(a, b, ([0, 2], [2, 0])), lambda a, b: torch.tensordot(a, b, ([0, 2], [2, 0])),
     [A, RNG.standard_normal((4, 5, 2))]),
    ("dot N-d", gg.dot, np.dot, None, [A, RNG.standard_normal((2, 4, 3))]),
    ("dot matrix with 3-d", gg.dot, np.dot, None, [M, RNG.standard_normal((2, 3, 4))]),
    ("dot 3-d with matrix", gg.dot, np.dot, None, [A, RNG.standard_normal((4, 2))]),
    ("dot vector with 3-d", gg.dot, np.dot, None, [W3, RNG.standard_normal((2, 3, 4))]),
    ("dot vectors", gg.dot, np.dot, torch.dot, [W3, RNG.standard_normal(3)]),
    ("dot matrix vector", gg.dot, np.dot, torch.mv, [M, W3]),
    ("inner", gg.inner, np.inner, torch.inner, [A, RNG.standard_normal((5, 4))]),
    ("outer", gg.outer, np.outer, torch.outer, [W3, RNG.standard_normal(2)]),
    ("kron", gg.kron, np.kron, torch.kron, [RNG.standard_normal((2, 3)), RNG.standard_normal((2, 2))]),
    ("kron mixed ndim", gg.kron, np.kron, torch.kron, [W3, RNG.standard_normal((2, 2))]),
    ("cross", gg.cross, np.cross, lambda a, b: torch.linalg.cross(a, b.expand_as(a)), [V3, W3]),
    ("cross axis 0", lambda a, b: gg.cross(a, b, axis=0), lambda a, b: np.cross(a, b, axis=0),
     lambda a, b: torch.linalg.cross(a, b, dim=0), [V3.T.copy(), V3.T[:, :1].copy()]),
    ("trace", gg.trace, np.trace, torch.trace, [M]),
    ("trace offset axes", lambda a: gg.trace(a, 1, 1, 2), lambda a: np.trace(a, 1, 1, 2), None, [A]),
    ("diagonal", lambda a: gg.diagonal(a, -1, 0, 2), lambda a: np.diagonal(a, -1, 0, 2),
     lambda a: torch.diagonal(a, -1, 0, 2), [A]),
    ("diag of vector", lambda v: gg.diag(v, 1), lambda v: np.diag(v, 1), lambda v: torch.diag(v, 1), [W3]),
    ("diag of matrix", gg.diag, np.diag, torch.diag, [M]),
    ("diff", lambda a: gg.diff(a, 2, axis=1), lambda a: np.diff(a, 2, axis=1),
     lambda a: torch.diff(torch.diff(a, dim=1), dim=1), [A]),
    ("sort", lambda a: gg.sort(a, axis=0), lambda a: np.sort(a, axis=0), lambda a: torch.sort(a, dim=0).values,
     [DISTINCT]),
    ("sort flattened", lambda a: gg.sort(a, axis=None), lambda a: np.sort(a, axis=None),
     lambda a: torch.sort(a.reshape(-1)).values, [DISTINCT]),
    ("take", lambda a: gg.take(a, IDX, axis=2), lambda a: np.take(a, IDX, axis=2), None, [A]),
    ("take flattened", lambda a: gg.take(a, IDX), lambda a: np.take(a, IDX), lambda a: torch.take(a, torch.tensor(IDX)),
     [A]),
    ("take_along_axis", lambda a: gg.take_along_axis(a, IDX, 1), lambda a: np.take_along_axis(a, IDX, 1),
     lambda a: torch.take_along_dim(a, torch.tensor(IDX), 1), [DISTINCT[:2]]),
    ("tile", lambda a: gg.tile(a, (2, 1, 2)), lambda a: np.tile(a, (2, 1, 2)), lambda a: torch.tile(a, (2, 1, 2)),
     [M]),
    ("repeat", lambda a: gg.repeat(a, 2, axis=1), lambda a: np.repeat(a, 2, axis=1),
     lambda a: torch.repeat_interleave(a, 2, dim=1), [M]),
    ("repeat counts", lambda a: gg.repeat(a, [1, 0, 3]), lambda a: np.repeat(a, [1, 0, 3]),
     lambda a: torch.repeat_interleave(a, torch.tensor([1, 0, 3])), [W3]),
    ("flip", lambda a: gg.flip(a, (0, 2)), lambda a: np.flip(a, (0, 2)), lambda a: torch.flip(a, (0, 2)), [A]),
    ("roll", lambda a: gg.roll(a, (1, -2), (0, 2)), lambda a: np.roll(a, (1, -2), (0, 2)),
     lambda a: torch.roll(a, (1, -2), (0, 2)), [A]),
    ("roll flattened", lambda a: gg.roll(a, 5), lambda a: np.roll(a, 5), lambda a: torch.roll(a, 5), [A]),
    ("moveaxis", lambda a: gg.moveaxis(a, (0, 1), (-1, 0)), lambda a: np.moveaxis(a, (0, 1), (-1, 0)),
     lambda a: torch.movedim(a, (0, 1), (-1, 0)), [A]),
    ("ravel", gg.ravel, np.ravel, torch.ravel, [A]),
    ("pad cropping", lambda a: gg.pad(a, ((0, 0), (-1, 2), (1, -2))),
     lambda a: np.pad(a[:, 1:, :-2], ((0, 0), (0, 2), (1, 0))),
     lambda a: torch.nn.functional.pad(a, (1, -2, -1, 2)), [A]),
    ("tril", lambda a: gg.tril(a, -1), lambda a: np.tril(a, -1), lambda a: torch.tril(a, -1), [A]),
    ("triu", lambda a: gg.triu(a, 1), lambda a: np.triu(a, 1), lambda a: torch.triu(a, 1), [M]),
    ("vstack", lambda a, b: gg.vstack([a, b]), lambda a, b: np.vstack([a, b]), lambda a, b: torch.vstack([a, b]),
     [W3, M]),
    ("hstack", lambda a, b: gg.hstack([a, b]), lambda a, b: np.hstack([a, b]), lambda a, b: torch.hstack([a, b]),
     [M, V3.T.copy()]),
    ("dstack", lambda a, b: gg.dstack([a, b]), lambda a, b: np.dstack([a, b]), lambda a, b: torch.dstack([a, b]),
     [M, M.T.copy()]),
    ("column_stack", lambda a, b: gg.column_stack([a, b]), lambda a, b: np.column_stack([a, b]),
     lambda a, b: torch.column_stack([a, b]), [W3, M]),
    ("atleast_3d", gg.atleast_3d, np.atleast_3d, torch.atleast_3d, [W3]),
    ("fliplr flipud", lambda a: gg.fliplr(gg.flipud(a)), lambda a: np.fliplr(np.flipud(a)),
     lambda a: torch.fliplr(torch.flipud(a)), [M]),
    ("rot90", lambda a: gg.rot90(a, 1, (0, 2)), lambda a: np.rot90(a, 1, (0, 2)), lambda a: torch.rot90(a, 1, (0, 2)),
     [A]),
    ("rot90 k=3", lambda a: gg.rot90(a, -1), lambda a: np.rot90(a, -1), lambda a: torch.rot90(a, -1), [A]),
    ("rot90 k=2", lambda a: gg.rot90(a, 2), lambda a: np.rot90(a, 2), lambda a: torch.rot90(a, 2), [A]),
    ("norm fro", lambda a: gg.linalg.norm(a, "fro"), lambda a: np.linalg.norm(a, "fro"),
     lambda a: torch.linalg.matrix_norm(a, "fro"), [M]),
    ("norm nuc", lambda a: gg.linalg.norm(a, "nuc"), lambda a: np.linalg.norm(a, "nuc"),
     lambda a: torch.linalg.matrix_norm(a, "nuc"), [M]),
    ("norm 2", lambda a: gg.linalg.norm(a, 2), lambda a: np.linalg.norm(a, 2),
     lambda a: torch.linalg.matrix_norm(a, 2), [M]),
    ("norm -2", lambda a: gg.linalg.norm(a, -2), lambda a: np.linalg.norm(a, -2),
     lambda a: torch.linalg.matrix_norm(a, -2), [M]),
    ("norm 1", lambda a: gg.linalg.norm(a, 1), lambda a: np.linalg.norm(a, 1),
     lambda a: torch.linalg.matrix_norm(a, 1), [M]),
    ("norm -1", lambda a: gg.linalg.norm(a, -1), lambda a: np.linalg.norm(a, -1),
     lambda a: torch.linalg.matrix_norm(a, -1), [M]),
    ("norm inf", lambda a: gg.linalg.norm(a, np.inf), lambda a: np.linalg.norm(a, np.inf),
     lambda a: torch.linalg.matrix_norm(a, float("inf")), [M]),
    ("norm -inf", lambda a: gg.linalg.norm(a, -np.inf), lambda a: np.linalg.norm(a, -np.inf),
     lambda a: torch.linalg.matrix_norm(a, float("-inf")), [M]),
    ("norm batch axes keepdims", lambda a: gg.linalg.norm(a, 1, axis=(2, 0), keepdims=True),
     lambda a: np.linalg.norm(a, 1, axis=(2, 0), keepdims=True),
     lambda a: torch.linalg.matrix_norm(a, 1, dim=(2, 0), keepdim=True), [A]),
    ("norm flattened", gg.linalg.norm, np.linalg.norm, torch.linalg.norm, [A]),
    ("matrix_norm batch", lambda a: gg.linalg.matrix_norm(a, "nuc"), lambda a: np.linalg.matrix_norm(a, ord="nuc"),
     lambda a: torch.linalg.matrix_norm(a, "nuc"), [A]),
]
IDS = [c[0] for c in CASES]


@pytest.mark.parametrize("name, f, npf, tf, inputs", CASES, ids=IDS)
def test_values_match_numpy(name, f, npf, tf, inputs):
    np.testing.assert_allclose(f(*[gg.tensor(a) for a in inputs]).numpy(), npf(*inputs), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name, f, npf, tf, inputs", CASES, ids=IDS)
def test_first_and_second_derivatives(name, f, npf, tf, inputs):
    assert gg.gradcheck(f, inputs) is True
    assert gg.gradgradcheck(f, inputs) is True


@pytest.mark.parametrize("name, f, npf, tf, inputs", [c for c in CASES if c[3] is not None],
                         ids=[c[0] for c in CASES if c[3] is not None])
def test_gradients_match_torch(name, f, npf, tf, inputs):
    ours = [gg.tensor(a, requires_grad=True) for a in inputs]
    theirs = [torch.tensor(a, requires_grad=True) for a in inputs]
    out, tout = f(*ours), tf(*theirs)
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-10, atol=1e-12)
    w = np.random.default_rng(0).standard_normal(out.shape)
    (out * w).sum().backward()
    (tout * torch.tensor(w)).sum().backward()
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_sign_and_rounding_give_zero_gradients_as_in_torch():
    x = gg.tensor([-1.5, 0.0, 0.4, 2.5], requires_grad=True)
    x.sign().sum().backward()                      # raised before: sign had no gradient
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros(4))
    (gg.floor(x) + gg.ceil(x) + gg.round(x) + gg.trunc(x)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros(4))


def test_det_of_a_singular_matrix_has_the_adjugate_as_gradient():
    singular = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [0.5, -1.0, 2.0]])
    assert gg.gradcheck(gg.linalg.det, [singular]) is True
    t = gg.tensor(singular, requires_grad=True)
    gg.linalg.det(t).backward()
    cofactor = np.array([[np.linalg.det(np.delete(np.delete(singular, i, 0), j, 1)) * (-1) ** (i + j)
                          for j in range(3)] for i in range(3)])
    np.testing.assert_allclose(t.grad.numpy(), cofactor, atol=1e-12)


@pytest.mark.parametrize("call, message", [
    (lambda: gg.linalg.inv(gg.tensor(np.ones((2, 2)), requires_grad=True)), "inv: the matrix is singular"),
    (lambda: gg.linalg.solve(gg.tensor(np.ones((2, 2)), requires_grad=True), np.ones(2)),
     "solve: the matrix is singular"),
    (lambda: gg.linalg.cholesky(gg.tensor(-np.eye(2), requires_grad=True)), "not symmetric positive definite"),
    (lambda: gg.linalg.eig(gg.tensor([[0.0, -1.0], [1.0, 0.0]], requires_grad=True)), "complex eigenvalues"),
    (lambda: gg.linalg.slogdet(gg.tensor(np.ones((2, 2)), requires_grad=True))[1].backward(),
     "slogdet: the matrix is singular"),
    (lambda: gg.linalg.eigh(gg.tensor(np.eye(2), requires_grad=True))[1].sum().backward(), "repeated eigenvalues"),
    (lambda: gg.linalg.svd(gg.tensor(np.eye(3)[:, :2] * 2, requires_grad=True))[0].sum().backward(),
     "full_matrices=True"),
    (lambda: gg.linalg.svd(gg.tensor(np.eye(2), requires_grad=True))[0].sum().backward(),
     "repeated singular values"),
    (lambda: gg.linalg.qr(gg.tensor(np.ones((2, 3)), requires_grad=True))[0].sum().backward(), "m ≥ n"),
    (lambda: gg.einsum("ij,jk->ik", gg.tensor(np.ones((2, 3))), gg.tensor(np.ones((2, 3)))), "length 3"),
    (lambda: gg.einsum("ij->k", gg.tensor(np.ones((2, 3)))), "name no operand"),
    (lambda: gg.cross(gg.tensor(np.ones(2)), gg.tensor(np.ones(2))), "length 3"),
    (lambda: gg.pad(gg.tensor(np.ones(2)), (-2, -1)), "crop more than"),
])
def test_where_there_is_no_derivative_or_no_meaning_the_error_says_so(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_complex_input_is_refused():
    with pytest.raises(TypeError, match="unsupported dtype complex128"):
        gg.tensor(np.array([1 + 2j]))


def test_linspace_and_logspace_follow_numpy_in_float32():
    np.testing.assert_allclose(gg.linspace(0, 1, 5).numpy(), np.linspace(0, 1, 5).astype(np.float32))
    assert gg.linspace(0, 1, 4, endpoint=False).dtype == np.float32
    assert gg.linspace(-1, 1, 3, dtype=gg.float64, requires_grad=True).requires_grad
    np.testing.assert_allclose(gg.logspace(0, 2, 3, base=2.0).numpy(), [1.0, 2.0, 4.0])


def test_torch_and_numpy2_names_of_the_inverse_functions():
    x = gg.tensor([0.25, -0.5])
    for ours, theirs in [(gg.asin, np.arcsin), (gg.acos, np.arccos), (gg.atan, np.arctan), (gg.asinh, np.arcsinh),
                         (gg.atanh, np.arctanh)]:
        np.testing.assert_allclose(ours(x).numpy(), theirs(x.numpy()), rtol=1e-6)
    np.testing.assert_allclose(gg.atan2(x, x + 1).numpy(), np.arctan2(x.numpy(), x.numpy() + 1), rtol=1e-6)


def test_einsum_accepts_exactly_the_ascii_letters():
    import importlib
    import string

    assert importlib.import_module("glassgrad.ops.einsum")._LETTERS == string.ascii_letters
    with pytest.raises(ValueError, match="einsum"):
        gg.einsum("ä->", gg.ones(2))
