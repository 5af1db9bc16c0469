"""PyTorch's spellings (dim=, keepdim=, correction=, t.size(), t.flatten(start, end) …) against PyTorch itself."""
from __future__ import annotations

import numpy as np
import pytest

import glassgrad as gg

torch = pytest.importorskip("torch")

X = np.random.default_rng(0).standard_normal((2, 3, 4))


def both(x=X):
    return gg.tensor(x), torch.tensor(x)


@pytest.mark.parametrize("op", ["sum", "mean", "amax", "amin", "logsumexp"])
@pytest.mark.parametrize("dim, keepdim", [(0, False), (-1, True), ((0, 2), False), ([1, 2], True)])
def test_reductions_take_dim_and_keepdim(op, dim, keepdim):
    g, t = both()
    tdim = tuple(dim) if isinstance(dim, list) else dim
    ours = getattr(g, op)(dim=dim, keepdim=keepdim)
    np.testing.assert_allclose(ours.numpy(), getattr(t, op)(dim=tdim, keepdim=keepdim).numpy(), rtol=1e-12)
    np.testing.assert_array_equal(ours.numpy(), getattr(gg, op)(g, axis=tdim, keepdims=keepdim).numpy())


def test_prod_softmax_argmax_take_dim():
    g, t = both()
    np.testing.assert_allclose(g.prod(dim=1).numpy(), t.prod(dim=1).numpy(), rtol=1e-12)
    np.testing.assert_allclose(g.softmax(dim=0).numpy(), t.softmax(dim=0).numpy(), rtol=1e-12)
    np.testing.assert_allclose(gg.log_softmax(g, dim=1).numpy(), torch.log_softmax(t, dim=1).numpy(), rtol=1e-12)
    np.testing.assert_array_equal(g.argmax(dim=1).numpy(), t.argmax(dim=1).numpy())
    np.testing.assert_array_equal(g.argmin(dim=-1, keepdim=True).numpy(), t.argmin(dim=-1, keepdim=True).numpy())


def test_var_and_std_take_correction_and_insist_on_it_with_dim():
    g, t = both()
    np.testing.assert_allclose(g.var(dim=1, correction=1).numpy(), t.var(dim=1, correction=1).numpy(), rtol=1e-12)
    np.testing.assert_allclose(g.std(dim=(0, 2), correction=0).numpy(), t.std(dim=(0, 2), correction=0).numpy(),
                               rtol=1e-12)
    with pytest.raises(TypeError, match="PyTorch's default is correction=1"):
        g.var(dim=1)
    assert g.var(axis=1).shape == (2, 4)          # NumPy spelling: ddof=0 as before


def test_both_spellings_at_once_are_refused():
    g, _ = both()
    with pytest.raises(TypeError, match="both axis= and dim="):
        g.sum(axis=0, dim=0)
    with pytest.raises(TypeError, match="both keepdims= and keepdim="):
        gg.mean(g, keepdims=True, keepdim=True)


def test_max_with_dim_says_what_torch_would_return():
    g, _ = both()
    with pytest.raises(TypeError, match=r"returns \(values, indices\)"):
        g.max(dim=1)
    np.testing.assert_array_equal(g.amax(dim=1).numpy(), g.max(axis=1).numpy())


def test_dim_spellings_keep_the_gradient():
    g = gg.tensor(X, requires_grad=True)
    t = torch.tensor(X, requires_grad=True)
    (g.sum(dim=0, keepdim=True) * g.mean(dim=-1, keepdim=True)).sum().backward()
    (t.sum(dim=0, keepdim=True) * t.mean(dim=-1, keepdim=True)).sum().backward()
    np.testing.assert_allclose(g.grad.numpy(), t.grad.numpy(), rtol=1e-12)


def test_size_numel_dim():
    g, t = both()
    assert g.size() == tuple(t.size()) == (2, 3, 4)
    assert g.size(1) == t.size(1) == 3 and g.size(-1) == 4
    assert g.numel() == t.numel() == 24 and g.dim() == t.dim() == 3
    assert g.shape == (2, 3, 4)


@pytest.mark.parametrize("start, end", [(0, -1), (1, -1), (0, 1), (1, 2), (-2, -1), (2, 2)])
def test_flatten_start_and_end(start, end):
    g, t = both()
    assert g.flatten(start, end).shape == tuple(t.flatten(start, end).shape)
    assert gg.flatten(g, start_dim=start, end_dim=end).shape == tuple(torch.flatten(t, start, end).shape)
    assert gg.tensor(1.0).flatten().shape == (1,)
    with pytest.raises(ValueError, match="start_dim 2 comes after end_dim 1"):
        g.flatten(2, 1)


def test_transpose_two_axes_swaps_them_as_in_torch():
    g, t = both()
    np.testing.assert_array_equal(g.transpose(0, 2).numpy(), t.transpose(0, 2).numpy())
    np.testing.assert_array_equal(g.transpose(2, 0, 1).numpy(), t.permute(2, 0, 1).numpy())
    m = gg.tensor(X[0])
    np.testing.assert_array_equal(m.transpose(1, 0).numpy(), X[0].T)


def test_clamp_cat_stack_squeeze_unsqueeze_take_torch_names():
    g, t = both()
    np.testing.assert_array_equal(gg.clamp(g, -0.5, 0.5).numpy(), torch.clamp(t, -0.5, 0.5).numpy())
    np.testing.assert_array_equal(gg.cat([g, g], dim=1).numpy(), torch.cat([t, t], dim=1).numpy())
    np.testing.assert_array_equal(gg.stack([g, g], dim=-1).numpy(), torch.stack([t, t], dim=-1).numpy())
    assert g.unsqueeze(dim=1).squeeze(dim=1).shape == (2, 3, 4)
