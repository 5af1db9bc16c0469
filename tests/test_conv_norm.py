"""conv2d, max_pool2d and batch_norm: gradients against centred differences, the fused gates against the
same functions built from elementary gates, parity with PyTorch, second derivatives, modules and errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import glassgrad as gg
from glassgrad import nn
from glassgrad.device import device_of, to_host
from glassgrad.nn import functional as F
from glassgrad.ops import conv as conv_ops
from glassgrad.ops.conv import conv2d_composite
from glassgrad.ops.norm import batch_norm_composite

TF = torch.nn.functional
rng = np.random.default_rng(1234)


def randn(*shape):
    return rng.standard_normal(shape)


def leaf(a, device="cpu"):
    return gg.tensor(np.array(a, dtype=np.float64), requires_grad=True, device=device)


def grads_of(f, arrays, g=None, device="cpu"):
    """f(*leaves), and the gradients of ⟨g, f⟩ (g random unless given) w.r.t. every leaf (leaves on ``device``;
    the results as host arrays)."""
    leaves = [leaf(a, device) for a in arrays]
    out = f(*leaves)
    g = randn(*out.shape) if g is None else g
    out.backward(gg.tensor(g, device=device))
    return to_host(out), [to_host(t.grad) for t in leaves], g


def torch_grads(f, arrays, g):
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = f(*ts)
    out.backward(torch.tensor(g))
    return out.detach().numpy(), [t.grad.numpy() for t in ts]


def assert_all_close(got, want, tol=1e-6):
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


# ---- conv2d ---------------------------------------------------------------------------------------
CONV_CASES = [  # (input shape, weight shape, stride, padding)
    ((2, 2, 5, 4), (3, 2, 3, 2), 1, 0),
    ((2, 2, 5, 4), (3, 2, 3, 2), 2, 1),
    ((1, 3, 6, 5), (2, 3, 2, 3), (2, 1), (1, 2)),
    ((2, 1, 4, 4), (2, 1, 1, 1), (1, 3), 0),
    ((1, 2, 3, 3), (2, 2, 3, 3), 1, 1),          # 'same' padding
]


@pytest.mark.parametrize("xs, ws, stride, padding", CONV_CASES)
def test_conv2d_gradcheck(xs, ws, stride, padding):
    f = lambda x, w, b: F.conv2d(x, w, b, stride=stride, padding=padding)  # noqa: E731
    assert gg.gradcheck(f, [randn(*xs), randn(*ws), randn(ws[0])])


def test_conv2d_gradcheck_without_bias():
    assert gg.gradcheck(lambda x, w: F.conv2d(x, w, stride=2, padding=1), [randn(2, 2, 5, 5), randn(2, 2, 3, 3)])


@pytest.mark.parametrize("xs, ws, stride, padding", CONV_CASES)
def test_conv2d_matches_composite_and_torch(xs, ws, stride, padding):
    arrays = [randn(*xs), randn(*ws), randn(ws[0])]
    out, grads, g = grads_of(lambda x, w, b: F.conv2d(x, w, b, stride=stride, padding=padding), arrays)
    ref, ref_grads, _ = grads_of(lambda x, w, b: conv2d_composite(x, w, b, stride, padding), arrays, g)
    t_out, t_grads = torch_grads(lambda x, w, b: TF.conv2d(x, w, b, stride=stride, padding=padding), arrays, g)
    assert_all_close([out, *grads], [ref, *ref_grads], 1e-10)
    assert_all_close([out, *grads], [t_out, *t_grads])


@pytest.mark.parametrize("stride, padding", [(1, 0), (2, 1)])
def test_conv2d_second_derivatives(stride, padding):
    f = lambda x, w, b: F.conv2d(x, w, b, stride=stride, padding=padding) ** 2  # noqa: E731
    assert gg.gradgradcheck(f, [randn(1, 2, 4, 4), randn(2, 2, 2, 2), randn(2)])


def test_conv2d_backward_gates_are_adjoint():
    """⟨h, dx(g, W)⟩ = ⟨conv(h, W), g⟩ and ⟨H, dW(x, g)⟩ = ⟨conv(x, H), g⟩, for a strided padded case."""
    params = dict(stride=(2, 1), padding=(1, 2))
    x, w = randn(2, 3, 7, 5), randn(4, 3, 3, 2)
    g = randn(*conv_ops.conv2d(x, w, **params).shape)
    dx = conv_ops.conv2d_input_grad(g, w, input_shape=x.shape, **params)
    dw = conv_ops.conv2d_weight_grad(x, g, kernel_size=(3, 2), **params)
    h, hw = randn(*x.shape), randn(*w.shape)
    assert np.isclose((h * dx).sum(), (conv_ops.conv2d(h, w, **params) * g).sum())
    assert np.isclose((hw * dw).sum(), (conv_ops.conv2d(x, hw, **params) * g).sum())


def test_conv2d_float32_stays_float32_and_results_own_their_memory():
    x = gg.randn(4, 2, 9, 9, requires_grad=True)
    layer = nn.Conv2d(2, 3, 3, padding=1)
    out = layer(x)
    out.backward(gg.ones_like(out))
    assert out.dtype == x.grad.dtype == layer.weight.grad.dtype == layer.bias.grad.dtype == np.float32
    first = out.data.copy()
    layer(gg.randn(4, 2, 9, 9))            # reuses the scratch buffers; earlier results must not change
    np.testing.assert_array_equal(out.data, first)
    scratch = [getattr(conv_ops._scratch, k) for k in ("cols", "gemm", "spread") if hasattr(conv_ops._scratch, k)]
    for a in (out.data, x.grad.data, layer.weight.grad.data):
        assert not any(np.shares_memory(a, s) for s in scratch)


# ---- max_pool2d --------------------------------------------------------------------------------------
POOL_CASES = [  # (input shape, kernel_size, stride)
    ((2, 2, 4, 6), 2, None),
    ((1, 2, 5, 7), 2, None),                  # rows and columns left over: dropped (floor mode)
    ((2, 1, 5, 5), 3, 2),                     # overlapping windows
    ((1, 2, 4, 6), (2, 3), (1, 2)),
    ((1, 1, 3, 3), 3, None),
]


@pytest.mark.parametrize("xs, k, s", POOL_CASES)
def test_max_pool2d_gradcheck_and_torch(xs, k, s):
    x = randn(*xs)
    assert gg.gradcheck(lambda t: F.max_pool2d(t, k, s), [x])
    out, grads, g = grads_of(lambda t: F.max_pool2d(t, k, s), [x])
    t_out, t_grads = torch_grads(lambda t: TF.max_pool2d(t, k, s), [x], g)
    assert_all_close([out, *grads], [t_out, *t_grads])


@pytest.mark.parametrize("xs, k, s", POOL_CASES)
def test_max_pool2d_second_derivatives(xs, k, s):
    assert gg.gradgradcheck(lambda t: F.max_pool2d(t, k, s) ** 2, [randn(*xs)])


@pytest.mark.parametrize("shape", [(2, 3, 4, 6), (1, 2, 5, 7)])
def test_max_pool2d_matches_max_composite_with_ties(shape):
    """Ties (common at 0 after a ReLU) share the gradient equally in the gate, as in the max gate."""
    x = np.maximum(rng.integers(-3, 3, shape), 0).astype(np.float64)
    out, grads, g = grads_of(lambda t: F.max_pool2d(t, 2), [x])
    ref, ref_grads, _ = grads_of(lambda t: F.max_pool2d_composite(t, 2), [x], g)
    assert_all_close([out, *grads], [ref, *ref_grads], 1e-12)
    assert np.isclose(grads[0].sum(), g.sum())          # every window passes on all of its gradient


def test_max_pool2d_overlapping_ties_share():
    x = leaf(np.ones((1, 1, 3, 3)))
    F.max_pool2d(x, 2, 1).sum().backward()          # four windows, each with four tied maxima
    np.testing.assert_allclose(x.grad.data[0, 0], [[0.25, 0.5, 0.25], [0.5, 1, 0.5], [0.25, 0.5, 0.25]])


# ---- batch_norm ---------------------------------------------------------------------------------------
BN_SHAPES = [(5, 3), (4, 2, 3), (3, 2, 2, 3)]


def bn_train(x, w, b, eps=1e-5):
    return F.batch_norm(x, None, None, w, b, training=True, eps=eps)


@pytest.mark.parametrize("shape", BN_SHAPES)
def test_batch_norm_gradcheck(shape):
    assert gg.gradcheck(bn_train, [randn(*shape), randn(shape[1]), randn(shape[1])])


@pytest.mark.parametrize("shape", BN_SHAPES)
def test_batch_norm_matches_composite_and_torch(shape):
    arrays = [randn(*shape) * 3 + 1, randn(shape[1]), randn(shape[1])]
    out, grads, g = grads_of(bn_train, arrays)
    ref, ref_grads, _ = grads_of(batch_norm_composite, arrays, g)
    t_out, t_grads = torch_grads(lambda x, w, b: TF.batch_norm(x, None, None, w, b, training=True), arrays, g)
    assert_all_close([out, *grads], [ref, *ref_grads], 1e-10)
    assert_all_close([out, *grads], [t_out, *t_grads])


@pytest.mark.parametrize("shape", [(5, 3), (3, 2, 2, 2)])
def test_batch_norm_second_derivatives(shape):
    assert gg.gradgradcheck(lambda x, w, b: bn_train(x, w, b) ** 2, [randn(*shape), randn(shape[1]), randn(shape[1])])


def test_batch_norm_without_affine_and_its_gradient_sums_to_zero():
    x = leaf(randn(6, 4))
    out = F.batch_norm(x, None, None, training=True)
    np.testing.assert_allclose(out.data.mean(axis=0), 0, atol=1e-12)
    out.backward(randn(6, 4))
    np.testing.assert_allclose(x.grad.data.sum(axis=0), 0, atol=1e-12)   # shifting a feature changes nothing


@pytest.mark.parametrize("cls, shape", [(nn.BatchNorm1d, (8, 3)), (nn.BatchNorm1d, (6, 3, 4)),
                                        (nn.BatchNorm2d, (4, 3, 2, 5))])
def test_batch_norm_module_matches_torch_running_stats_and_eval(cls, shape, device):
    layer = cls(3, momentum=0.2, dtype=np.float64)
    ref = getattr(torch.nn, cls.__name__)(3, momentum=0.2).double()
    with torch.no_grad():
        ref.weight.copy_(torch.tensor(randn(3)))
        ref.bias.copy_(torch.tensor(randn(3)))
    layer.weight.data[...] = ref.weight.detach().numpy()
    layer.bias.data[...] = ref.bias.detach().numpy()
    layer.to(device)                                     # the running statistics (buffers) move too
    for _ in range(3):                                   # training mode: batch statistics, running stats move
        x = randn(*shape) * 2 + 0.5
        g = randn(*shape)
        out, (gx,), _ = grads_of(layer, [x], g, device)
        t_out, (t_gx,) = torch_grads(ref, [x], g)
        assert_all_close([out, gx], [t_out, t_gx])
    assert device_of(layer.running_mean) == device_of(layer.running_var) == layer.weight.device == device
    assert_all_close([to_host(layer.running_mean), to_host(layer.running_var)],
                     [ref.running_mean.numpy(), ref.running_var.numpy()])
    assert_all_close([to_host(layer.weight.grad), to_host(layer.bias.grad)],
                     [ref.weight.grad.numpy(), ref.bias.grad.numpy()])
    layer.eval()
    ref.eval()
    x = randn(*shape)
    out, grads, g = grads_of(layer, [x], device=device)
    t_out, t_grads = torch_grads(ref, [x], g)
    assert_all_close([out, *grads], [t_out, *t_grads])
    running = to_host(layer.running_mean).copy()
    layer(gg.tensor(randn(*shape), device=device))
    np.testing.assert_array_equal(to_host(layer.running_mean), running)   # eval mode leaves the statistics alone


def test_functional_batch_norm_eval_matches_torch():
    x, rm, rv, w, b = randn(4, 3), randn(3), np.abs(randn(3)) + 0.1, randn(3), randn(3)
    out = F.batch_norm(gg.tensor(x), rm, rv, gg.tensor(w), gg.tensor(b), training=False)
    ref = TF.batch_norm(*(torch.tensor(a) for a in (x, rm, rv, w, b)), training=False)
    np.testing.assert_allclose(out.data, ref.numpy(), rtol=1e-6, atol=1e-6)


def test_batch_norm_state_dict_has_buffers_and_round_trips():
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    model(gg.randn(5, 4))
    state = model.state_dict()
    assert list(state) == ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var"]
    other = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    other.load_state_dict(state)
    np.testing.assert_array_equal(other[1].running_var, model[1].running_var)
    assert not np.array_equal(model[1].running_mean, 0)
    assert nn.BatchNorm1d(3, affine=False).state_dict().keys() == {"running_mean", "running_var"}


def test_named_buffers_names_and_orders_the_buffers_as_torch_and_state_dict():
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Sequential(nn.Tanh(), nn.BatchNorm1d(3)))
    ref = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3),
                              torch.nn.Sequential(torch.nn.Tanh(), torch.nn.BatchNorm1d(3)))
    names = [name for name, _ in model.named_buffers()]
    assert names == [name for name, _ in ref.named_buffers() if not name.endswith("num_batches_tracked")]
    assert names == ["1.running_mean", "1.running_var", "2.1.running_mean", "2.1.running_var"]
    assert [name for name in model.state_dict() if name in names] == names     # state_dict takes them from here
    inner = model[2][1]
    assert all(b is getattr(inner, n) for n, b in inner.named_buffers())      # the arrays themselves, no copies
    assert [b is a for b, a in zip(model.buffers(), [model[1].running_mean, model[1].running_var,
                                                     inner.running_mean, inner.running_var])] == [True] * 4
    assert [n for n, _ in model[2].named_buffers(prefix="head")] == ["head.1.running_mean", "head.1.running_var"]
    assert list(model.named_buffers(recurse=False)) == [] and model.buffers(recurse=False) == []
    assert [n for n, _ in inner.named_buffers(recurse=False)] == ["running_mean", "running_var"]
    assert list(nn.Linear(2, 2).named_buffers()) == []


# ---- modules --------------------------------------------------------------------------------------------
def test_conv2d_module_init_repr_and_torch_parity(device):
    layer = nn.Conv2d(3, 4, (3, 2), stride=2, padding=1, generator=gg.Generator(0), dtype=np.float64)
    bound = 1 / np.sqrt(3 * 3 * 2)
    assert layer.weight.shape == (4, 3, 3, 2) and layer.bias.shape == (4,)
    assert np.abs(layer.weight.data).max() <= bound and np.abs(layer.bias.data).max() <= bound
    np.testing.assert_array_equal(layer.weight.data, nn.Conv2d(3, 4, (3, 2), generator=gg.Generator(0),
                                                               dtype=np.float64).weight.data)
    assert repr(layer).startswith("Conv2d(3, 4, kernel_size=(3, 2), stride=(2, 2), padding=(1, 1))")
    assert repr(nn.Conv2d(1, 2, 5, bias=False)).startswith("Conv2d(1, 2, kernel_size=(5, 5), bias=False)")
    assert repr(nn.MaxPool2d(2)) == "MaxPool2d(kernel_size=(2, 2))"
    assert repr(nn.MaxPool2d(3, 2)) == "MaxPool2d(kernel_size=(3, 3), stride=(2, 2))"
    assert repr(nn.BatchNorm1d(5)).startswith("BatchNorm1d(5, eps=1e-05, momentum=0.1)")
    assert nn.Conv2d(3, 4, 3, weight_init="he").bias.data.tolist() == [0.0] * 4
    ref = torch.nn.Conv2d(3, 4, (3, 2), stride=2, padding=1).double()
    with torch.no_grad():
        ref.weight.copy_(torch.tensor(layer.weight.data))
        ref.bias.copy_(torch.tensor(layer.bias.data))
    x = randn(2, 3, 6, 5)
    out, (gx,), g = grads_of(layer.to(device), [x], device=device)
    t_out, (t_gx,) = torch_grads(ref, [x], g)
    assert_all_close([out, gx, to_host(layer.weight.grad), to_host(layer.bias.grad)],
                     [t_out, t_gx, ref.weight.grad.numpy(), ref.bias.grad.numpy()])


def test_small_convnet_trains_like_torch(device):
    """Three SGD steps of conv → relu → pool → conv → relu → pool → linear give PyTorch's losses."""
    gg.manual_seed(3)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, dtype=np.float64), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(4, 6, 3, padding=1, dtype=np.float64), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                        nn.Linear(24, 5, dtype=np.float64))
    ref = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                              torch.nn.Conv2d(4, 6, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                              torch.nn.Flatten(), torch.nn.Linear(24, 5)).double()
    with torch.no_grad():
        for p, q in zip(net.parameters(), ref.parameters()):
            q.copy_(torch.tensor(p.data))
    net.to(device)
    x, y = randn(8, 1, 10, 10), rng.integers(0, 5, 8)
    for _ in range(3):
        loss = F.cross_entropy(net(gg.tensor(x, device=device)), gg.tensor(y, device=device))
        loss.backward()
        t_loss = TF.cross_entropy(ref(torch.tensor(x)), torch.tensor(y))
        t_loss.backward()
        assert abs(loss.item() - t_loss.item()) < 1e-10
        with gg.no_grad(), torch.no_grad():
            for p, q in zip(net.parameters(), ref.parameters()):
                np.testing.assert_allclose(to_host(p.grad), q.grad.numpy(), rtol=1e-8, atol=1e-12)
                p.data -= 0.1 * p.grad.data
                q -= 0.1 * q.grad
                p.grad, q.grad = None, None


# ---- errors ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("call, message", [
    (lambda: nn.Conv2d(3, 4, 3)(gg.randn(2, 1, 8, 8)),
     r"Conv2d\(3, 4, kernel_size=\(3, 3\)\): input has 1 channels \(shape \(2, 1, 8, 8\)\) but the weight expects 3"),
    (lambda: nn.Conv2d(3, 4, 3)(gg.randn(3, 8, 8)),
     r"Conv2d.*must have shape \(N, C, H, W\), not \(3, 8, 8\).*unsqueeze"),
    (lambda: nn.Conv2d(1, 4, 5, padding=1)(gg.randn(2, 1, 2, 8)),
     r"Conv2d.*kernel 5×5 is larger than the padded input 4×10"),
    (lambda: F.conv2d(gg.randn(1, 2, 5, 5), gg.randn(3, 2, 2, 2), gg.randn(2)), r"conv2d: bias must have shape \(3,\)"),
    (lambda: F.conv2d(gg.randn(1, 2, 5, 5), gg.randn(3, 2, 2)), r"conv2d: weight must have shape"),
    (lambda: nn.MaxPool2d(3)(gg.randn(1, 1, 2, 5)), r"MaxPool2d\(kernel_size=\(3, 3\)\): window 3×3 is larger"),
    (lambda: F.max_pool2d(gg.randn(4, 4), 2), r"max_pool2d: input must have shape \(N, C, H, W\)"),
    (lambda: nn.BatchNorm1d(3)(gg.randn(4, 5)), r"BatchNorm1d\(3, .*\): input has 5 features on axis 1"),
    (lambda: nn.BatchNorm1d(3)(gg.randn(4, 3, 2, 2)), r"BatchNorm1d.*must have shape \(N, F\) or \(N, F, L\)"),
    (lambda: nn.BatchNorm2d(3)(gg.randn(4, 3)), r"BatchNorm2d.*must have shape \(N, C, H, W\)"),
])
def test_shape_errors_name_the_layer_and_shapes(call, message):
    with pytest.raises(gg.ShapeError, match=message):
        call()


def test_value_errors():
    with pytest.raises(ValueError, match="stride must be an int or a pair of ints ≥ 1"):
        nn.Conv2d(1, 1, 3, stride=0)
    with pytest.raises(ValueError, match="padding must be"):
        F.conv2d(gg.randn(1, 1, 4, 4), gg.randn(1, 1, 2, 2), padding=-1)
    with pytest.raises(ValueError, match=r"kernel_size must be an int or a pair of ints ≥ 1, not 2.0"):
        F.max_pool2d(gg.randn(1, 1, 4, 4), 2.0)
    with pytest.raises(ValueError, match="more than one value per feature"):
        nn.BatchNorm1d(3)(gg.randn(1, 3))
    with pytest.raises(ValueError, match="needs running_mean and running_var"):
        F.batch_norm(gg.randn(4, 3), training=False)
