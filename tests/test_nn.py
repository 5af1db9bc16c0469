"""The network layer (``glassgrad.nn``) against PyTorch, against the elementary gates, and against the four
backprop equations computed by hand; plus the module API, dropout, initialisers, penalties and the
errors a user sees.

PyTorch is the independent reference: every comparison runs in float64 with relative tolerance 1e-6 and
absolute 1e-8 (outputs and gradients). The BP1–BP4 check uses plain NumPy and 1e-10.
"""
from __future__ import annotations

import inspect

import numpy as np
import pytest

import glassgrad as gg
from glassgrad import nn, optim
from glassgrad.device import to_host
from glassgrad.nn import functional as F
from glassgrad.nn import init
from glassgrad.ops import fused

torch = pytest.importorskip("torch")

RTOL, ATOL = 1e-6, 1e-8


# --------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------
def g64(a, requires_grad: bool = True, device: str = "cpu") -> gg.Tensor:
    return gg.tensor(np.asarray(a, dtype=np.float64), dtype=gg.float64, requires_grad=requires_grad, device=device)


def t64(a, requires_grad: bool = True):
    return torch.tensor(np.asarray(a, dtype=np.float64), dtype=torch.float64, requires_grad=requires_grad)


def close(actual, expected, rtol=RTOL, atol=ATOL, what=""):
    actual = to_host(actual)          # from any device
    if isinstance(expected, torch.Tensor):
        expected = expected.detach().numpy()
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=rtol, atol=atol, err_msg=what)


def away_from_zero(rng, shape, scale=3.0) -> np.ndarray:
    """Normal values, none within 1e-2 of the kink at 0 (ReLU, leaky ReLU, ELU)."""
    x = rng.standard_normal(shape) * scale
    x[np.abs(x) < 1e-2] = 0.5
    return x


def torch_twin(layer: nn.Linear) -> "torch.nn.Linear":
    """A torch.nn.Linear holding copies of ``layer``'s weight and bias."""
    twin = torch.nn.Linear(layer.in_features, layer.out_features, bias=layer.bias is not None, dtype=torch.float64)
    with torch.no_grad():
        twin.weight.copy_(torch.from_numpy(layer.weight.data.copy()))
        if layer.bias is not None:
            twin.bias.copy_(torch.from_numpy(layer.bias.data.copy()))
    return twin


# --------------------------------------------------------------------------------------------------
# Linear
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(7, 5), (2, 3, 5)])
def test_linear_matches_torch(bias, shape, device):
    rng = np.random.default_rng(0)
    layer = nn.Linear(5, 4, bias=bias, dtype=gg.float64, generator=gg.Generator(1))
    twin = torch_twin(layer)
    layer.to(device)
    x = rng.standard_normal(shape)
    g = rng.standard_normal(shape[:-1] + (4,))
    xg, xt = g64(x, device=device), t64(x)
    out, ref = layer(xg), twin(xt)
    assert out.shape == tuple(ref.shape) and out.device == device
    close(out, ref, what="output")
    out.backward(g64(g, False, device))
    assert layer.weight.grad.device == device
    ref.backward(torch.from_numpy(g))
    close(xg.grad, xt.grad, what="∂/∂x")
    close(layer.weight.grad, twin.weight.grad, what="∂/∂W")
    if bias:
        close(layer.bias.grad, twin.bias.grad, what="∂/∂b")
    else:
        assert layer.bias is None


def test_linear_rejects_wrong_number_of_features():
    layer = nn.Linear(5, 4)
    with pytest.raises(gg.ShapeError) as e:
        layer(gg.zeros(3, 6))
    assert "(3, 6)" in str(e.value) and "(4, 5)" in str(e.value)


# --------------------------------------------------------------------------------------------------
# Activations
# --------------------------------------------------------------------------------------------------
ACTIVATION_PAIRS = {
    "Identity": (lambda: nn.Identity(), lambda: torch.nn.Identity()),
    "Sigmoid": (lambda: nn.Sigmoid(), lambda: torch.nn.Sigmoid()),
    "Tanh": (lambda: nn.Tanh(), lambda: torch.nn.Tanh()),
    "ReLU": (lambda: nn.ReLU(), lambda: torch.nn.ReLU()),
    "LeakyReLU": (lambda: nn.LeakyReLU(), lambda: torch.nn.LeakyReLU()),
    "LeakyReLU(0.2)": (lambda: nn.LeakyReLU(0.2), lambda: torch.nn.LeakyReLU(0.2)),
    "ELU": (lambda: nn.ELU(), lambda: torch.nn.ELU()),
    "ELU(0.7)": (lambda: nn.ELU(alpha=0.7), lambda: torch.nn.ELU(alpha=0.7)),
    "Softplus": (lambda: nn.Softplus(), lambda: torch.nn.Softplus()),
    "Softmax": (lambda: nn.Softmax(), lambda: torch.nn.Softmax(dim=-1)),
    "Softmax(axis=0)": (lambda: nn.Softmax(axis=0), lambda: torch.nn.Softmax(dim=0)),
    "LogSoftmax": (lambda: nn.LogSoftmax(), lambda: torch.nn.LogSoftmax(dim=-1)),
    "LogSoftmax(axis=0)": (lambda: nn.LogSoftmax(axis=0), lambda: torch.nn.LogSoftmax(dim=0)),
}


def test_every_activation_module_is_compared_with_torch():
    """A new activation layer without a PyTorch comparison fails here."""
    from glassgrad.nn import layers

    not_activations = {"Module", "Linear", "Flatten", "Dropout", "Activation", "_Elementwise"}
    defined = {name for name, cls in vars(layers).items()
               if inspect.isclass(cls) and issubclass(cls, nn.Module) and cls.__module__ == layers.__name__
               and name not in not_activations}
    covered = {name.split("(")[0] for name in ACTIVATION_PAIRS}
    assert defined <= covered, f"activations without a torch comparison: {sorted(defined - covered)}"


@pytest.mark.parametrize("name", sorted(ACTIVATION_PAIRS))
def test_activation_matches_torch(name, device):
    ours, theirs = (make() for make in ACTIVATION_PAIRS[name])
    ours.to(device)
    rng = np.random.default_rng(1)
    x = away_from_zero(rng, (6, 5))
    x[0] = [-40.0, -25.0, 25.0, 40.0, 1.5]          # saturated: must stay finite and exact
    g = rng.standard_normal(x.shape)
    xg, xt = g64(x, device=device), t64(x)
    out, ref = ours(xg), theirs(xt)
    close(out, ref, what=f"{name} output")
    out.backward(g64(g, False, device))
    ref.backward(torch.from_numpy(g))
    assert np.all(np.isfinite(to_host(xg.grad)))
    close(xg.grad, xt.grad, what=f"{name} gradient")


def test_user_activation_with_its_derivative_passes_gradcheck():
    cube = nn.Activation(lambda z: z ** 3, lambda z: 3 * z ** 2, name="cube")
    x = np.random.default_rng(2).standard_normal((3, 4))
    assert gg.gradcheck(lambda t: cube(t), [g64(x)])
    out = cube(g64(x))
    close(out, x ** 3)
    assert "cube" in repr(cube)


def test_user_activation_with_a_wrong_derivative_fails_gradcheck():
    wrong = nn.Activation(lambda z: z ** 3, lambda z: 2 * z ** 2, name="not_cube")
    x = np.random.default_rng(2).standard_normal((3, 4))
    with pytest.raises(gg.GradcheckError):
        gg.gradcheck(lambda t: wrong(t), [g64(x)])


def test_user_activation_trains_inside_a_network():
    """``Activation`` is "replace σ by f" in BP1 and BP2: its f' enters the backward pass of a network."""
    rng = np.random.default_rng(3)
    layer = nn.Linear(3, 2, dtype=gg.float64, generator=gg.Generator(0))
    act = nn.Activation(np.tanh, lambda z: 1 - np.tanh(z) ** 2, name="my_tanh")
    x = rng.standard_normal((4, 3))
    loss = act(layer(g64(x, False))).sum()
    loss.backward()
    twin = torch_twin(layer)
    torch.tanh(twin(t64(x, False))).sum().backward()
    close(layer.weight.grad, twin.weight.grad)
    close(layer.bias.grad, twin.bias.grad)


# --------------------------------------------------------------------------------------------------
# Losses
# --------------------------------------------------------------------------------------------------
REDUCTIONS = ["mean", "sum", "none"]


def _backward_both(ours, theirs, rng):
    """Backpropagate the same upstream gradient (ones for a scalar) through both losses."""
    if ours.ndim == 0:
        ours.backward()
        theirs.backward()
    else:
        g = rng.standard_normal(ours.shape)
        ours.backward(g64(g, False))
        theirs.backward(torch.from_numpy(g))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_with_labels_matches_torch(reduction):
    rng = np.random.default_rng(4)
    z = rng.standard_normal((8, 5)) * 3
    y = rng.integers(0, 5, 8)
    zg, zt = g64(z), t64(z)
    ours = F.cross_entropy(zg, y, reduction=reduction)
    theirs = torch.nn.functional.cross_entropy(zt, torch.from_numpy(y), reduction=reduction)
    close(ours, theirs)
    _backward_both(ours, theirs, rng)
    close(zg.grad, zt.grad)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_with_probability_targets_matches_torch(reduction):
    rng = np.random.default_rng(5)
    z = rng.standard_normal((6, 4)) * 2
    p = rng.random((6, 4))
    p /= p.sum(axis=1, keepdims=True)
    p[0] *= 0.5                                   # rows that do not sum to 1 are allowed, as in torch
    zg, zt, pg, pt = g64(z), t64(z), g64(p), t64(p)
    ours = F.cross_entropy(zg, pg, reduction=reduction)
    theirs = torch.nn.functional.cross_entropy(zt, pt, reduction=reduction)
    close(ours, theirs)
    _backward_both(ours, theirs, rng)
    close(zg.grad, zt.grad, what="∂/∂logits")
    close(pg.grad, pt.grad, what="∂/∂targets")


def test_cross_entropy_with_huge_logits_is_finite_and_matches_torch():
    z = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4], [5e3, 5e3 + 1.0, -1e4], [0.0, 0.0, 0.0]])
    y = np.array([1, 0, 1, 2])
    zg, zt = g64(z), t64(z)
    ours = F.cross_entropy(zg, y)
    theirs = torch.nn.functional.cross_entropy(zt, torch.from_numpy(y))
    assert np.isfinite(ours.item())
    close(ours, theirs)
    ours.backward()
    theirs.backward()
    assert np.all(np.isfinite(zg.grad.data))
    close(zg.grad, zt.grad)
    # float32 as well: still finite, and the same loss to float32 precision
    z32 = gg.tensor(z.astype(np.float32), requires_grad=True)
    loss32 = F.cross_entropy(z32, y)
    loss32.backward()
    assert np.isfinite(loss32.item()) and np.all(np.isfinite(z32.grad.data))
    close(loss32.item(), theirs.item(), rtol=1e-6)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_loss_matches_torch(reduction):
    rng = np.random.default_rng(6)
    a, y = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    ag, at, yg, yt = g64(a), t64(a), g64(y), t64(y)
    ours, theirs = F.mse_loss(ag, yg, reduction=reduction), torch.nn.functional.mse_loss(at, yt, reduction=reduction)
    close(ours, theirs)
    _backward_both(ours, theirs, rng)
    close(ag.grad, at.grad)
    close(yg.grad, yt.grad)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy_matches_torch(reduction):
    rng = np.random.default_rng(7)
    p = rng.uniform(0.02, 0.98, (6, 2))
    y = rng.random((6, 2))
    y[:3] = np.round(y[:3])                       # hard and soft labels
    pg, pt = g64(p), t64(p)
    ours = F.binary_cross_entropy(pg, g64(y, False), reduction=reduction)
    theirs = torch.nn.functional.binary_cross_entropy(pt, t64(y, False), reduction=reduction)
    close(ours, theirs)
    _backward_both(ours, theirs, rng)
    close(pg.grad, pt.grad)


def test_binary_cross_entropy_of_saturated_probabilities_is_finite():
    """p = 0 or 1 exactly (a float32 sigmoid saturates at z ≈ 17): the log is clipped at −100 as in
    PyTorch, so the loss matches it, and the gradient must stay finite (no NaN poisoning the weights)."""
    p = np.array([0.0, 1.0, 0.0, 1.0, 0.3])
    y = np.array([1.0, 0.0, 0.0, 1.0, 1.0])
    pg = g64(p)
    with np.errstate(all="raise"):                # no divide-by-zero or invalid-value on the way
        loss = F.binary_cross_entropy(pg, g64(y, False))
        loss.backward()
    close(loss, torch.nn.functional.binary_cross_entropy(t64(p), t64(y, False)))
    assert np.all(np.isfinite(pg.grad.data)), pg.grad
    # where p is not saturated the gradient is the usual (p − y) / (p (1 − p)) / N
    close(pg.grad.data[4], (0.3 - 1.0) / (0.3 * 0.7) / 5)
    # a correct saturated prediction costs nothing; its gradient is the exact derivative of the unclipped
    # term, ∂/∂p −log(1 − p) = 1/(1 − p) at p = 0 and ∂/∂p −log p = −1/p at p = 1 (over N = 5)
    close(pg.grad.data[2:4], [1 / 5, -1 / 5])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy_with_logits_matches_torch(reduction):
    rng = np.random.default_rng(8)
    z = rng.standard_normal((5, 3)) * 4
    z[0] = [-800.0, 800.0, 60.0]                  # stable for any z
    y = rng.random((5, 3))
    zg, zt, yg, yt = g64(z), t64(z), g64(y), t64(y)
    ours = F.binary_cross_entropy_with_logits(zg, yg, reduction=reduction)
    theirs = torch.nn.functional.binary_cross_entropy_with_logits(zt, yt, reduction=reduction)
    assert np.all(np.isfinite(ours.data))
    close(ours, theirs)
    _backward_both(ours, theirs, rng)
    close(zg.grad, zt.grad, what="∂/∂z")
    close(yg.grad, yt.grad, what="∂/∂y")


def test_quadratic_cost_is_half_the_squared_error_averaged_over_the_batch():
    rng = np.random.default_rng(9)
    a, y = rng.random((7, 3)), rng.random((7, 3))
    ag, at = g64(a), t64(a)
    ours = F.quadratic_cost(ag, g64(y, False))
    theirs = 0.5 * ((at - t64(y, False)) ** 2).sum() / 7
    close(ours, theirs)
    ours.backward()
    theirs.backward()
    close(ag.grad, at.grad)
    close(ag.grad, (a - y) / 7)                   # ∇_a C = (a − y) / n


@pytest.mark.parametrize("module, function, kwargs", [
    (nn.MSELoss, F.mse_loss, {}),
    (nn.BCELoss, F.binary_cross_entropy, {}),
    (nn.BCEWithLogitsLoss, F.binary_cross_entropy_with_logits, {}),
    (nn.CrossEntropyLoss, F.cross_entropy, {}),
    (nn.MSELoss, F.mse_loss, {"reduction": "sum"}),
    (nn.CrossEntropyLoss, F.cross_entropy, {"reduction": "none"}),
])
def test_loss_modules_call_their_functions(module, function, kwargs):
    rng = np.random.default_rng(10)
    p = rng.uniform(0.1, 0.9, (4, 3))
    y = rng.uniform(0.1, 0.9, (4, 3))
    close(module(**kwargs)(g64(p), g64(y)), function(g64(p), g64(y), **kwargs))
    close(nn.QuadraticCost()(g64(p), g64(y)), F.quadratic_cost(g64(p), g64(y)))


@pytest.mark.parametrize("loss", [F.mse_loss, F.binary_cross_entropy, F.binary_cross_entropy_with_logits,
                                  F.quadratic_cost, F.cross_entropy])
def test_loss_refuses_to_broadcast_n1_against_n(loss):
    """(N, 1) against (N,) would broadcast to (N, N); every loss raises a ShapeError naming both shapes."""
    a = gg.full((5, 1), 0.5, requires_grad=True)
    y = gg.full((5,), 0.5)
    with pytest.raises(gg.ShapeError) as e:
        loss(a, y)
    assert "(5, 1)" in str(e.value) and "(5,)" in str(e.value)


def test_cross_entropy_label_errors():
    z = gg.zeros(4, 3, requires_grad=True)
    with pytest.raises(ValueError, match=r"\[0, 2\].*3"):
        F.cross_entropy(z, np.array([0, 1, 2, 3]))
    with pytest.raises(ValueError, match=r"-1"):
        F.cross_entropy(z, np.array([0, -1, 2, 1]))
    with pytest.raises(gg.ShapeError, match=r"4 rows.*\(3,\)"):
        F.cross_entropy(z, np.array([0, 1, 2]))
    with pytest.raises(gg.ShapeError, match=r"\(N, C\)"):
        F.cross_entropy(gg.zeros(3), np.array([0, 1, 2]))


@pytest.mark.parametrize("loss", [F.mse_loss, F.binary_cross_entropy, F.binary_cross_entropy_with_logits,
                                  F.cross_entropy])
def test_unknown_reduction_lists_the_allowed_ones(loss):
    with pytest.raises(ValueError, match="mean.*sum.*none"):
        loss(gg.full((2, 2), 0.5), gg.full((2, 2), 0.5), reduction="average")


# --------------------------------------------------------------------------------------------------
# Fused gates against their elementary versions
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(6, 4), (2, 3, 4)])
def test_fused_linear_equals_matmul_plus_bias(shape):
    rng = np.random.default_rng(11)
    x, w, b = rng.standard_normal(shape), rng.standard_normal((5, 4)), rng.standard_normal(5)
    g = rng.standard_normal(shape[:-1] + (5,))
    leaves_f = [g64(x), g64(w), g64(b)]
    leaves_e = [g64(x), g64(w), g64(b)]
    out_f = fused.linear(*leaves_f)
    out_e = leaves_e[0] @ leaves_e[1].T + leaves_e[2]
    close(out_f, out_e.data, rtol=1e-12, atol=1e-12)
    out_f.backward(g64(g, False))
    out_e.backward(g64(g, False))
    for name, a, e in zip("xWb", leaves_f, leaves_e):
        close(a.grad, e.grad, rtol=1e-12, atol=1e-12, what=f"∂/∂{name}")
    # and without a bias
    xf, wf = g64(x), g64(w)
    close(fused.linear(xf, wf), x @ w.T, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_fused_cross_entropy_equals_minus_log_softmax_at_the_label(reduction):
    rng = np.random.default_rng(12)
    z, y = rng.standard_normal((7, 4)) * 2, rng.integers(0, 4, 7)
    zf, ze = g64(z), g64(z)
    out_f = fused.cross_entropy(zf, y, reduction=reduction)
    picked = -ze.log_softmax(axis=-1)[np.arange(7), y]
    out_e = {"mean": picked.mean(), "sum": picked.sum(), "none": picked}[reduction]
    close(out_f, out_e.data, rtol=1e-12, atol=1e-12)
    g = np.ones(()) if reduction != "none" else rng.standard_normal(7)
    out_f.backward(g64(g, False))
    out_e.backward(g64(g, False))
    close(zf.grad, ze.grad, rtol=1e-12, atol=1e-12)


def test_fused_cross_entropy_with_targets_equals_its_elementary_version():
    rng = np.random.default_rng(13)
    z, p = rng.standard_normal((5, 3)), rng.dirichlet(np.ones(3), 5)
    zf, ze, pf, pe = g64(z), g64(z), g64(p), g64(p)
    out_f = fused.cross_entropy(zf, pf)
    out_e = -(pe * ze.log_softmax(axis=-1)).sum(axis=-1).mean()
    close(out_f, out_e.data, rtol=1e-12, atol=1e-12)
    out_f.backward()
    out_e.backward()
    close(zf.grad, ze.grad, rtol=1e-12, atol=1e-12)
    close(pf.grad, pe.grad, rtol=1e-12, atol=1e-12)


def test_cross_entropy_gradient_is_softmax_minus_one_hot():
    """The cross-entropy cost removes f'(z) from δ^L: ∂C/∂z = (softmax(z) − y) / N."""
    rng = np.random.default_rng(14)
    z, y = rng.standard_normal((4, 3)), np.array([2, 0, 1, 1])
    zg = g64(z)
    F.cross_entropy(zg, y).backward()
    s = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    close(zg.grad, (s - np.eye(3)[y]) / 4, rtol=1e-12, atol=1e-14)


# --------------------------------------------------------------------------------------------------
# BP1–BP4 by hand
# --------------------------------------------------------------------------------------------------
def test_backprop_equations_by_hand_match_the_engine():
    """A [4, 5, 3, 2] sigmoid network with the quadratic cost on a mini-batch: the engine's gradients are
    exactly the notes' BP1–BP4, computed here column per example in plain NumPy."""
    sizes = [4, 5, 3, 2]
    gen = gg.Generator(15)
    linears = [nn.Linear(m, n, weight_init="normal", dtype=gg.float64, generator=gen)
               for m, n in zip(sizes[:-1], sizes[1:])]
    model = nn.Sequential(*[layer for lin in linears for layer in (lin, nn.Sigmoid())])
    rng = np.random.default_rng(15)
    n = 6
    X, Y = rng.standard_normal((n, 4)), rng.random((n, 2))
    F.quadratic_cost(model(g64(X, False)), g64(Y, False)).backward()

    sigma = lambda z: 1 / (1 + np.exp(-z))                                       # noqa: E731
    sigma_prime = lambda z: sigma(z) * (1 - sigma(z))                            # noqa: E731
    W = [lin.weight.data.copy() for lin in linears]                             # W^l[j, k] = w^l_jk
    b = [lin.bias.data.copy()[:, None] for lin in linears]
    # forward pass, one column per example: z^l = W^l a^{l−1} + b^l,  a^l = σ(z^l)
    a, zs = [X.T], []
    for Wl, bl in zip(W, b):
        zs.append(Wl @ a[-1] + bl)
        a.append(sigma(zs[-1]))
    # BP1: δ^L = (a^L − y) ⊙ σ'(z^L)
    delta = [None] * len(W)
    delta[-1] = (a[-1] - Y.T) * sigma_prime(zs[-1])
    # BP2: δ^l = ((W^{l+1})ᵀ δ^{l+1}) ⊙ σ'(z^l)
    for ell in range(len(W) - 2, -1, -1):
        delta[ell] = (W[ell + 1].T @ delta[ell + 1]) * sigma_prime(zs[ell])
    for ell, lin in enumerate(linears):
        # BP3: ∂C/∂b^l = δ^l;  BP4: ∂C/∂W^l = δ^l (a^{l−1})ᵀ — each averaged over the batch, as C is
        dC_db = delta[ell].mean(axis=1)
        dC_dW = sum(np.outer(delta[ell][:, i], a[ell][:, i]) for i in range(n)) / n
        close(lin.bias.grad, dC_db, rtol=1e-10, atol=1e-14, what=f"∂C/∂b of layer {ell + 1}")
        close(lin.weight.grad, dC_dW, rtol=1e-10, atol=1e-14, what=f"∂C/∂W of layer {ell + 1}")
        assert np.abs(dC_dW).max() > 1e-6              # not a vacuous comparison of zeros


# --------------------------------------------------------------------------------------------------
# Symmetry: equal initial weights stay equal
# --------------------------------------------------------------------------------------------------
def _train_sigmoid_mlp(weight_init: str, steps: int = 30) -> list[nn.Linear]:
    gen = gg.Generator(16)
    linears = [nn.Linear(m, k, weight_init=weight_init, dtype=gg.float64, generator=gen)
               for m, k in [(3, 4), (4, 4), (4, 2)]]
    model = nn.Sequential(linears[0], nn.Sigmoid(), linears[1], nn.Sigmoid(), linears[2])
    opt = optim.SGD(model.parameters(), lr=2.0)
    rng = np.random.default_rng(16)
    X = rng.uniform(0.5, 2.0, (32, 3)) * rng.choice([-1, 1], (32, 3))           # no zero inputs
    y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(model(g64(X, False)), y).backward()
        opt.step()
    return linears


def test_zero_initialised_hidden_units_stay_identical():
    """Symmetry (docs/backprop.md#training): with equal initial weights every unit of a hidden layer gets the same
    update forever, so the rows of its W (and its biases) stay equal, however long it trains."""
    lin1, lin2, lin3 = _train_sigmoid_mlp("zeros")
    for name, lin in [("hidden layer 1", lin1), ("hidden layer 2", lin2)]:
        W, bias = lin.weight.data, lin.bias.data
        assert np.abs(W).max() > 1e-3, f"{name} did not learn at all: the check would be vacuous"
        np.testing.assert_allclose(W, np.broadcast_to(W[:1], W.shape), rtol=0, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(bias, bias[0], rtol=0, atol=1e-12, err_msg=name)
    # the next layer sees identical units, so its columns are equal too
    for lin in (lin2, lin3):
        W = lin.weight.data
        np.testing.assert_allclose(W, np.broadcast_to(W[:, :1], W.shape), rtol=0, atol=1e-12)


def test_random_initialisation_breaks_the_symmetry():
    lin1, lin2, _ = _train_sigmoid_mlp("default")
    for lin in (lin1, lin2):
        W = lin.weight.data
        gaps = [np.abs(W[i] - W[j]).max() for i in range(len(W)) for j in range(i)]
        assert min(gaps) > 1e-3


# --------------------------------------------------------------------------------------------------
# Training side by side with PyTorch
# --------------------------------------------------------------------------------------------------
def _twin_mlps():
    gen = gg.Generator(17)
    ours = nn.Sequential(nn.Linear(5, 8, dtype=gg.float64, generator=gen), nn.Tanh(),
                         nn.Linear(8, 6, dtype=gg.float64, generator=gen), nn.ReLU(),
                         nn.Linear(6, 3, dtype=gg.float64, generator=gen))
    theirs = torch.nn.Sequential(*[torch_twin(m) if isinstance(m, nn.Linear) else
                                   {nn.Tanh: torch.nn.Tanh, nn.ReLU: torch.nn.ReLU}[type(m)]() for m in ours])
    return ours, theirs


def _assert_same_weights(ours, theirs, what):
    ours_w = [p.data for p in ours.parameters()]
    theirs_w = [p.detach().numpy() for p in theirs.parameters()]
    assert len(ours_w) == len(theirs_w)
    for i, (a, b) in enumerate(zip(ours_w, theirs_w)):
        close(a, b, what=f"{what}: parameter {i}")


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_mlp_trains_step_for_step_like_torch(optimizer, device):
    ours, theirs = _twin_mlps()
    ours.to(device)       # moved before the optimiser is built; test_device_upper.py moves it after
    _assert_same_weights(ours, theirs, "before training")
    if optimizer == "sgd":
        opt = optim.SGD(ours.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
        topt = torch.optim.SGD(theirs.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    else:
        opt = optim.Adam(ours.parameters(), lr=0.01)
        topt = torch.optim.Adam(theirs.parameters(), lr=0.01)
    rng = np.random.default_rng(17)
    for step in range(5):
        x, y = rng.standard_normal((10, 5)), rng.integers(0, 3, 10)
        opt.zero_grad()
        loss = F.cross_entropy(ours(g64(x, False, device)), gg.tensor(y, device=device))
        loss.backward()
        opt.step()
        topt.zero_grad()
        tloss = torch.nn.functional.cross_entropy(theirs(t64(x, False)), torch.from_numpy(y))
        tloss.backward()
        topt.step()
        close(loss, tloss, what=f"loss at step {step + 1}")
        _assert_same_weights(ours, theirs, f"after step {step + 1}")
    # the weights did move (the comparison is not of untouched copies)
    assert not np.allclose(to_host(ours[0].weight), _twin_mlps()[0][0].weight.data)


# --------------------------------------------------------------------------------------------------
# Module API
# --------------------------------------------------------------------------------------------------
def _mlp(*sizes, **kw):
    gen = gg.Generator(18)
    layers = []
    for i, (m, n) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(m, n, generator=gen, **kw))
        if i < len(sizes) - 2:
            layers.append(nn.Sigmoid())
    return nn.Sequential(*layers)


def test_parameters_in_order_with_dotted_names():
    model = _mlp(4, 5, 3, 2)
    names = [n for n, _ in model.named_parameters()]
    assert names == ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]
    assert [p.shape for p in model.parameters()] == [(5, 4), (5,), (3, 5), (3,), (2, 3), (2,)]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in model.parameters())
    assert model.num_parameters() == 4 * 5 + 5 + 5 * 3 + 3 + 3 * 2 + 2 == 51
    assert len(model) == 5 and isinstance(model[2], nn.Linear) and model[2] is list(model)[2]


def test_custom_module_lists_its_parameters_in_attribute_order():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(np.ones(1))
            self.encoder = nn.Sequential(nn.Linear(3, 2), nn.Tanh())
            self.head = nn.Linear(2, 1, bias=False)
            self.not_a_parameter = gg.ones(5)         # a plain tensor is not a parameter

        def forward(self, x):
            return self.head(self.encoder(x)) * self.scale

    net = Net()
    assert [n for n, _ in net.named_parameters()] == ["scale", "encoder.0.weight", "encoder.0.bias", "head.weight"]
    assert net.num_parameters() == 1 + 6 + 2 + 2
    assert [n for n, _ in net.named_modules()] == ["", "encoder", "encoder.0", "encoder.1", "head"]
    assert net(gg.ones(4, 3)).shape == (4, 1)
    assert "bias=False" in repr(net.head)


def test_zero_grad_forgets_gradients():
    model = _mlp(3, 4, 2)
    model(gg.ones(2, 3)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_train_and_eval_reach_every_submodule():
    model = nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.5), nn.Sequential(nn.ReLU(), nn.Dropout(0.2)))
    assert all(m.training for m in model.modules())
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())
    model.train(False)
    assert not any(m.training for m in model.modules())


def test_state_dict_round_trip_copies():
    model = _mlp(4, 5, 2)
    state = model.state_dict()
    assert list(state) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    before = {k: v.copy() for k, v in state.items()}
    state["0.weight"][...] = 123.0                      # the state is a copy: the model is untouched
    np.testing.assert_array_equal(model[0].weight.data, before["0.weight"])

    other = _mlp(4, 5, 2)
    other[0].weight.data[...] = 0.0
    params_before = other.parameters()
    other.load_state_dict(before)
    for k, p in other.named_parameters():
        np.testing.assert_array_equal(p.data, before[k])
    assert all(a is b for a, b in zip(other.parameters(), params_before))   # loaded in place
    before["0.bias"][...] = -7.0                        # loading copied: later changes do not leak in
    assert not np.any(other[0].bias.data == -7.0)


def test_load_state_dict_strict_names_missing_and_unexpected_keys():
    model = _mlp(4, 5, 2)
    state = model.state_dict()
    del state["2.bias"]
    state["3.weight"] = np.zeros((2, 5), np.float32)
    with pytest.raises(KeyError) as e:
        model.load_state_dict(state)
    assert "2.bias" in str(e.value) and "3.weight" in str(e.value)
    assert "missing" in str(e.value) and "unexpected" in str(e.value)
    # strict=False loads what fits and ignores the rest
    state["0.weight"] = np.full((5, 4), 0.25, np.float32)
    model.load_state_dict(state, strict=False)
    assert np.all(model[0].weight.data == 0.25)


def test_load_state_dict_shape_mismatch_names_the_key():
    model = _mlp(4, 5, 2)
    state = model.state_dict()
    state["2.weight"] = np.zeros((5, 2), np.float32)
    with pytest.raises(ValueError) as e:
        model.load_state_dict(state)
    assert "2.weight" in str(e.value) and "(5, 2)" in str(e.value) and "(2, 5)" in str(e.value)


def test_repr_shows_layer_sizes_and_parameter_counts():
    model = _mlp(784, 30, 10)
    text = repr(model)
    assert "Linear(784, 30)" in text and "Linear(30, 10)" in text and "Sigmoid()" in text
    assert "23,550 parameters" in text and "310 parameters" in text
    assert "23,860 parameters" in text.splitlines()[-1]
    assert repr(nn.Dropout(0.3)) == "Dropout(p=0.3)"
    assert "negative_slope=0.2" in repr(nn.LeakyReLU(0.2))


def test_sequential_rejects_non_modules():
    with pytest.raises(TypeError, match="item 1"):
        nn.Sequential(nn.ReLU(), lambda x: x)


def test_flatten():
    x = gg.tensor(np.arange(24.0).reshape(2, 3, 4), requires_grad=True)
    out = nn.Flatten()(x)
    assert out.shape == (2, 12)
    out.sum().backward()
    assert x.grad.shape == (2, 3, 4)


# --------------------------------------------------------------------------------------------------
# Dropout
# --------------------------------------------------------------------------------------------------
def test_dropout_is_the_identity_in_eval_mode():
    drop = nn.Dropout(0.5).eval()
    x = gg.randn(50, 20)
    assert drop(x) is x
    assert nn.Dropout(0.0)(x) is x


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_dropout_drops_about_p_and_scales_by_inverse_keep(p):
    drop = nn.Dropout(p, generator=gg.Generator(19))
    x = gg.ones(200, 500, dtype=gg.float64, requires_grad=True)
    out = drop(x)
    dropped = np.mean(out.data == 0)
    assert abs(dropped - p) < 0.01                       # 100,000 draws: σ ≈ 0.0016
    kept = out.data[out.data != 0]
    np.testing.assert_allclose(kept, 1 / (1 - p))
    assert abs(out.data.mean() - 1.0) < 0.02             # unbiased in expectation
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.data, out.data)  # the gradient passes through the same mask


def test_dropout_with_a_seeded_generator_is_reproducible():
    x = gg.ones(30, 40)
    a = nn.Dropout(0.5, generator=gg.Generator(3))(x).data
    b = nn.Dropout(0.5, generator=gg.Generator(3))(x).data
    c = nn.Dropout(0.5, generator=gg.Generator(4))(x).data
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    gg.manual_seed(5)
    d = nn.Dropout(0.5)(x).data
    gg.manual_seed(5)
    np.testing.assert_array_equal(d, nn.Dropout(0.5)(x).data)


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5])
def test_dropout_rejects_p_outside_0_1(p):
    with pytest.raises(ValueError, match="dropout"):
        F.dropout(gg.ones(3), p)


# --------------------------------------------------------------------------------------------------
# Initialisers
# --------------------------------------------------------------------------------------------------
def _param(*shape):
    return nn.Parameter(np.zeros(shape))


def test_zeros_and_constant():
    assert np.all(init.zeros_(nn.Parameter(np.ones((3, 4)))).data == 0)
    assert np.all(init.constant_(_param(3, 4), 0.7).data == 0.7)


@pytest.mark.parametrize("name, fill, mean, std, bound", [
    ("normal", lambda t, g: init.normal_(t, 0.5, 2.0, generator=g), 0.5, 2.0, None),
    ("uniform", lambda t, g: init.uniform_(t, -3.0, 1.0, generator=g), -1.0, 4 / 12 ** 0.5, (-3.0, 1.0)),
    ("glorot_uniform", lambda t, g: init.glorot_uniform_(t, generator=g), 0.0, (2 / (400 + 300)) ** 0.5,
     (-(6 / 700) ** 0.5, (6 / 700) ** 0.5)),
    ("glorot_normal", lambda t, g: init.glorot_normal_(t, generator=g), 0.0, (2 / 700) ** 0.5, None),
    ("he_normal", lambda t, g: init.he_normal_(t, generator=g), 0.0, (2 / 400) ** 0.5, None),
    ("he_uniform", lambda t, g: init.he_uniform_(t, generator=g), 0.0, (2 / 400) ** 0.5,
     (-(6 / 400) ** 0.5, (6 / 400) ** 0.5)),
    ("inv_sqrt_fan_in", lambda t, g: init.inv_sqrt_fan_in_(t, generator=g), 0.0, 1 / 400 ** 0.5, None),
    ("uniform_fan_in", lambda t, g: init.uniform_fan_in_(t, generator=g), 0.0, 1 / 1200 ** 0.5,
     (-1 / 20, 1 / 20)),
])
def test_initialiser_statistics(name, fill, mean, std, bound):
    """A (300, 400) weight: fan_in 400, fan_out 300; 120,000 draws pin mean and std to about 1 %."""
    w = fill(_param(300, 400), gg.Generator(20)).data
    assert abs(w.mean() - mean) < 0.02 * std + 1e-12, name
    assert abs(w.std() / std - 1) < 0.02, name
    if bound is not None:
        assert bound[0] <= w.min() and w.max() <= bound[1], name
        assert w.min() < bound[0] + 0.01 * std and w.max() > bound[1] - 0.01 * std   # fills the interval
    again = fill(_param(300, 400), gg.Generator(20)).data
    np.testing.assert_array_equal(w, again)                       # same seed, same weights
    assert not np.array_equal(w, fill(_param(300, 400), gg.Generator(21)).data)


def test_initialiser_fans_of_a_conv_weight():
    assert init.fans(_param(8, 3, 5, 5)) == (75, 200)
    with pytest.raises(ValueError, match="2 axes"):
        init.fans(_param(5))


def test_initialisers_by_name():
    for name in init.WEIGHT_INITS:
        assert callable(init.by_name(name))
    with pytest.raises(ValueError) as e:
        init.by_name("xavier-ish")
    assert "xavier-ish" in str(e.value) and "glorot" in str(e.value) and "he" in str(e.value)


def test_linear_initialisation_by_name_is_seeded():
    a = nn.Linear(50, 40, weight_init="normal", generator=gg.Generator(22))
    b = nn.Linear(50, 40, weight_init="normal", generator=gg.Generator(22))
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    np.testing.assert_array_equal(a.bias.data, b.bias.data)
    assert abs(a.weight.data.std() - 1) < 0.05 and a.bias.data.std() > 0.5   # the notes: both N(0, 1)
    d = nn.Linear(100, 30, generator=gg.Generator(22))               # PyTorch's default: U(±1/√n_in)
    assert np.abs(d.weight.data).max() <= 0.1 and np.abs(d.bias.data).max() <= 0.1
    assert np.abs(d.bias.data).max() > 0.05
    z = nn.Linear(10, 5, weight_init="zeros")
    assert not z.weight.data.any() and not z.bias.data.any()
    h = nn.Linear(10, 5, weight_init="he", generator=gg.Generator(22))
    assert not h.bias.data.any()                                      # biases at zero for the rest
    gg.manual_seed(23)
    c1 = nn.Linear(6, 4).weight.data.copy()
    gg.manual_seed(23)
    np.testing.assert_array_equal(nn.Linear(6, 4).weight.data, c1)   # the default generator is seeded too
    with pytest.raises(ValueError, match="unknown initialiser"):
        nn.Linear(3, 2, weight_init="bogus")


# --------------------------------------------------------------------------------------------------
# Penalties
# --------------------------------------------------------------------------------------------------
def test_l2_penalty_is_lambda_over_2n_times_the_sum_of_squared_weights():
    model = _mlp(4, 5, 3, dtype=gg.float64)
    lam, n = 5.0, 1000
    weights = [model[0].weight.data, model[2].weight.data]
    biases = [model[0].bias.data, model[2].bias.data]
    penalty = F.l2_penalty(model.parameters(), lam, n)
    expected = lam / (2 * n) * sum((w ** 2).sum() for w in weights)
    close(penalty, expected, rtol=1e-12)
    penalty.backward()
    close(model[0].weight.grad, lam / n * weights[0], rtol=1e-12)    # ∂/∂w = (λ/n) w
    assert model[0].bias.grad is None and model[2].bias.grad is None # biases are not regularised
    with_biases = F.l2_penalty(model.parameters(), lam, n, include_biases=True)
    close(with_biases, expected + lam / (2 * n) * sum((b ** 2).sum() for b in biases), rtol=1e-12)
    l1 = F.l1_penalty(model.parameters(), lam, n)
    close(l1, lam / n * sum(np.abs(w).sum() for w in weights), rtol=1e-12)


def test_load_state_dict_checks_every_shape_before_changing_anything():
    model = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 2))
    before = {k: v.copy() for k, v in model.state_dict().items()}
    bad = {k: np.full_like(v, 7.0) for k, v in before.items()}
    bad["1.weight"] = np.zeros((5, 5), np.float32)        # the last key is wrong
    with pytest.raises(ValueError, match="1.weight"):
        model.load_state_dict(bad)
    assert all(np.array_equal(model.state_dict()[k], v) for k, v in before.items())


def test_subpackages_are_attributes_loaded_on_demand():
    import subprocess
    import sys
    code = ("import sys, glassgrad as gg; assert 'glassgrad.optim' not in sys.modules; "
            "assert gg.optim.SGD and gg.nn.Linear and gg.train.fit and gg.data.DataLoader")
    subprocess.run([sys.executable, "-c", code], check=True)
