"""Devices in the core: ``gg.Device``/``gg.device``, ``gg.cuda``, ``Tensor.device/.to/.cpu/.cuda``, creation on a
device, device-mismatch errors, gradients coming back across ``.to()``, and the host-conversion refusals.

The "cuda" device here is the CPU-side stand-in of tests/devices.py (its docstring says what that proves and
what it cannot: nothing about real CUDA numerics, kernels, memory, streams or speed); the tests taking the
``device`` fixture run on a real GPU as well when ``gg.cuda.is_available()``.
"""
from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import pytest
from devices import StandInArray, standin_registered

import glassgrad as gg
from glassgrad.device import (
    CPU,
    Device,
    array_module,
    check_same_device,
    device_of,
    register_backend,
    registered_backend,
    to_device,
    to_host,
)
from glassgrad.ops import fused


@pytest.fixture
def cuda():
    """The stand-in registered as the "cuda" backend (two stand-in GPUs)."""
    with standin_registered() as backend:
        yield backend


# --------------------------------------------------------------------------------------------------
# Device and gg.device
# --------------------------------------------------------------------------------------------------
def test_device_parses_the_accepted_forms():
    assert gg.device("cpu") == CPU and str(gg.device("cpu")) == "cpu"
    assert gg.device("cuda") == Device("cuda") and gg.device("cuda").index is None
    assert gg.device("cuda:1") == Device("cuda", 1) and str(gg.device("cuda:1")) == "cuda:1"
    d = Device("cuda", 0)
    assert gg.device(d) is d
    assert repr(d) == "device(type='cuda', index=0)"


@pytest.mark.parametrize("spec", ["gpu", "cuda:", "cuda:x", "cuda:-1", "CPU", "", "cpu:0", 0, None])
def test_a_bad_device_spec_is_named_with_the_accepted_forms(spec):
    with pytest.raises(ValueError, match=r"unknown device .*'cpu', 'cuda', 'cuda:N'"):
        gg.device(spec)


def test_device_is_immutable_hashable_and_picklable():
    d = Device("cuda", 1)
    with pytest.raises(AttributeError, match="immutable"):
        d.index = 2
    assert {CPU: 1, d: 2}[Device("cuda", 1)] == 2
    assert pickle.loads(pickle.dumps(d)) == d
    with pytest.raises(ValueError, match="index"):
        Device("cpu", 0)
    with pytest.raises(ValueError, match="device type"):
        Device("tpu")


def test_device_equality_with_strings_and_the_current_gpu(cuda):
    assert CPU == "cpu" and CPU != "cuda" and CPU != "nonsense"
    assert Device("cuda", 0) == "cuda:0" and Device("cuda", 0) != "cuda:1"
    assert Device("cuda", 0) == "cuda"            # the current GPU is 0
    with cuda.using(1):
        assert Device("cuda", 1) == "cuda" and Device("cuda", 0) != "cuda"


# --------------------------------------------------------------------------------------------------
# gg.cuda without a GPU, and the registration hook
# --------------------------------------------------------------------------------------------------
def test_asking_for_cuda_without_a_gpu_names_the_install_line():
    if gg.cuda.is_available():
        pytest.skip("a GPU is available here")
    assert gg.cuda.device_count() == 0
    with pytest.raises(RuntimeError, match=r'pip install "glassgrad\[cuda\]"'):
        gg.zeros(2, device="cuda")
    with pytest.raises(RuntimeError, match=r'pip install "glassgrad\[cuda\]"'):
        gg.tensor([1.0]).cuda()


def test_import_glassgrad_does_not_import_cupy():
    code = "import sys, glassgrad as gg; gg.tensor([1.0]).to('cpu'); print('cupy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_stand_in_is_registered_through_the_public_hook_and_removed_after(cuda):
    assert registered_backend("cuda") is cuda
    assert gg.cuda.is_available() and gg.cuda.device_count() == 2 and gg.cuda.current_device() == 0
    previous = register_backend("cuda", None)
    try:
        assert previous is cuda and registered_backend("cuda") is None
    finally:
        register_backend("cuda", previous)
    with pytest.raises(ValueError, match="only 'cuda'"):
        register_backend("cpu", cuda)


def test_the_stand_in_behaves_as_cupy_towards_numpy(cuda):
    a = to_device(np.arange(3.0), "cuda")
    assert isinstance(a, StandInArray) and not isinstance(a, np.ndarray)
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.asarray(a)
    with pytest.raises(TypeError, match="refuses host arrays"):
        np.add(a, np.ones(3))
    assert type(np.sum(a)) is StandInArray          # reductions give 0-d arrays, as CuPy's
    assert not hasattr(a.flags, "writeable")


# --------------------------------------------------------------------------------------------------
# The array-level API
# --------------------------------------------------------------------------------------------------
def test_array_module_device_of_to_device_to_host(cuda):
    h = np.arange(6.0).reshape(2, 3)
    assert array_module(h) is np and device_of(h) == CPU and to_host(h) is h
    d = to_device(h, "cuda:1")
    assert array_module(d) is cuda.module and device_of(d) == Device("cuda", 1)
    assert to_device(d, "cuda:1") is d                       # no-op on the same device
    assert device_of(to_device(d, "cuda:0")) == "cuda:0"     # GPU to GPU
    back = to_host(d)
    assert type(back) is np.ndarray and np.array_equal(back, h)
    assert to_device(h, "cpu") is h
    assert array_module(gg.tensor([1.0], device="cuda")) is cuda.module      # a tensor: its array's module
    with pytest.raises(RuntimeError, match="2 GPU"):
        to_device(h, "cuda:2")


def test_to_host_takes_a_tensor_or_an_array_from_any_device(cuda):
    h = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    on_host = gg.tensor(h, requires_grad=True)
    assert to_host(on_host) is on_host.data                   # a host tensor: its own array, no copy
    for value in (to_device(h, "cuda:1"), gg.tensor(h, device="cuda:1", requires_grad=True)):
        back = to_host(value)
        assert type(back) is np.ndarray and back.dtype == np.float32 and np.array_equal(back, h)
    assert to_host(gg.tensor(2.5)).shape == () and to_host([1, 2]).tolist() == [1, 2]


def test_check_same_device_names_both_devices(cuda):
    check_same_device("op", (np.ones(2), 3.0, None, np.ones(1)))
    with pytest.raises(RuntimeError, match=r"op: the inputs are on different devices, cpu and cuda:0"):
        check_same_device("op", (np.ones(2), to_device(np.ones(2), "cuda")))


# --------------------------------------------------------------------------------------------------
# Tensors: .device, .to, .cpu, .cuda, host conversions
# --------------------------------------------------------------------------------------------------
def test_tensor_device_and_to(cuda):
    t = gg.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert t.device == "cpu" and t.to("cpu") is t and t.cpu() is t
    c = t.to("cuda")
    assert c.device == "cuda" and c.device == "cuda:0" and c.dtype == np.float32
    assert isinstance(c.data, StandInArray)
    assert c.to("cuda") is c and c.cuda() is c and c.cuda(0) is c
    assert t.cuda(1).device == "cuda:1"
    both = t.to("cuda:1", gg.float64)
    assert both.device == "cuda:1" and both.dtype == np.float64
    assert t.to(dtype=gg.float64, device="cuda").device == "cuda:0"
    assert t.to(both).device == "cuda:1" and t.to(both).dtype == np.float64
    assert t.to(gg.float64).device == "cpu"
    assert np.array_equal(c.cpu().numpy(), t.numpy())
    assert "device='cuda:0'" in repr(c) and "device" not in repr(t)
    with pytest.raises(TypeError, match="to()"):
        t.to("cuda", gg.float32, "extra")
    with pytest.raises(ValueError, match="unknown device"):
        t.to("cuda:x")


def test_to_keeps_the_old_dtype_behaviour():
    t = gg.tensor([1.5, 2.5], requires_grad=True)
    d = t.to(gg.float64)
    assert d.dtype == np.float64 and d.requires_grad
    d.sum().backward()
    assert t.grad.dtype == np.float32 and np.array_equal(t.grad.numpy(), [1.0, 1.0])
    assert t.to(gg.int64).dtype == np.int64 and not t.to(gg.int64).requires_grad
    assert t.to("float64").dtype == np.float64


def test_a_gpu_tensor_refuses_numpy_and_brings_values_to_host_explicitly(cuda):
    c = gg.tensor([[1.0, 2.0]], device="cuda")
    with pytest.raises(TypeError, match=r"call \.cpu\(\) first"):
        np.asarray(c)
    with pytest.raises(TypeError, match=r"call \.cpu\(\) first"):
        c.numpy()
    assert c.tolist() == [[1.0, 2.0]]
    assert c.sum().item() == 3.0 and float(c.sum()) == 3.0 and int(c[0, 1]) == 2 and bool(c[0, 0])
    assert np.array_equal(c.cpu().numpy(), [[1.0, 2.0]])


def test_to_is_differentiable_both_ways(cuda):
    x = gg.tensor([1.0, -2.0, 3.0], requires_grad=True)
    y = x.cuda()
    assert y.requires_grad and y.grad_fn.gate.name == "to_device"
    (y * y).sum().backward()
    assert x.grad.device == "cpu" and np.array_equal(x.grad.numpy(), [2.0, -4.0, 6.0])
    z = gg.tensor([1.0, 2.0], device="cuda:1", requires_grad=True)
    (z.cpu() * 3.0).sum().backward()
    assert z.grad.device == "cuda:1" and np.array_equal(to_host(z.grad), [3.0, 3.0])
    with pytest.raises(RuntimeError, match="two GPUs is not supported"):
        z.to("cuda:0")                                    # a graph across two GPUs: refused, not half-supported
    assert z.detach().to("cuda:0").device == "cuda:0"
    with gg.no_grad():
        assert z.to("cuda:0").device == "cuda:0"


def test_computing_on_another_gpu_needs_it_current(cuda):
    z = gg.tensor([1.0, 2.0], device="cuda:1", requires_grad=True)
    with pytest.raises(RuntimeError, match=r"mul: the inputs are on cuda:1 but the current GPU is cuda:0; .*"
                                           r"gg\.cuda\.device\(1\)"):
        z * 2.0
    with gg.cuda.device(1):
        assert gg.cuda.current_device() == 1 and gg.zeros(2, device="cuda").device == "cuda:1"
        loss = (gg.diag(z * 2.0) ** 2).sum()              # composites make their index arrays on cuda:1 too
        loss.backward()
    assert z.grad.device == "cuda:1" and np.array_equal(to_host(z.grad), [8.0, 16.0])
    with pytest.raises(RuntimeError, match="backward: the inputs are on cuda:1"):
        with gg.cuda.device(1):
            loss = (z * z).sum()
        loss.backward()


def test_second_derivatives_through_to(cuda):
    x = gg.tensor([0.5, -1.0], dtype=gg.float64, requires_grad=True)
    g = gg.grad(lambda v: (v.cuda() ** 3).sum())(x)
    assert g.device == "cpu" and np.allclose(g.numpy(), [0.75, 3.0])
    hessian = gg.hessian(lambda v: (v.cuda() ** 3).sum().cpu())(x)
    assert np.allclose(to_host(hessian), np.diag([3.0, -6.0]))


def test_backward_with_a_grad_argument_on_a_gpu(cuda):
    x = gg.tensor([1.0, 2.0], device="cuda", requires_grad=True)
    y = x * 2.0
    y.backward([1.0, 0.5])                             # numbers: made where y is
    assert np.array_equal(to_host(x.grad), [2.0, 1.0])
    with pytest.raises(RuntimeError, match="different devices"):
        (x * 2.0).backward(np.ones(2, dtype=np.float32))


# --------------------------------------------------------------------------------------------------
# Creation functions
# --------------------------------------------------------------------------------------------------
def test_creation_functions_take_device(device):
    made = [gg.zeros(2, 3, device=device), gg.ones((2,), device=device), gg.full((2, 2), 7.0, device=device),
            gg.arange(5, device=device), gg.eye(3, device=device), gg.linspace(0, 1, 4, device=device),
            gg.logspace(0, 1, 3, device=device), gg.tensor([1, 2], device=device), gg.as_tensor([1.0], device=device),
            gg.rand(2, device=device), gg.randn(2, device=device), gg.randint(0, 3, (2,), device=device)]
    for t in made:
        assert t.device == device, t
    assert gg.arange(5, device=device).dtype == np.int64 and gg.eye(3, device=device).dtype == np.float32
    assert np.array_equal(to_host(gg.eye(2, device=device)), np.eye(2))
    assert np.array_equal(to_host(gg.full((2,), 7.0, device=device)), [7.0, 7.0])


def test_like_functions_follow_their_source(device):
    src = gg.ones(2, 2, dtype=gg.float64, device=device)
    for t in (gg.zeros_like(src), gg.ones_like(src), gg.full_like(src, 2.0), gg.rand_like(src), gg.randn_like(src)):
        assert t.device == device and t.dtype == np.float64 and t.shape == (2, 2)
    assert gg.zeros_like(src, device="cpu").device == "cpu"


def test_a_seed_gives_the_same_random_numbers_on_every_device(cuda):
    gg.manual_seed(3)
    on_cpu = gg.randn(4).numpy()
    gg.manual_seed(3)
    on_gpu = gg.randn(4, device="cuda")
    assert np.array_equal(to_host(on_gpu), on_cpu)


def test_tensor_copies_and_as_tensor_shares(cuda):
    c = gg.tensor([1.0, 2.0], device="cuda")
    again = gg.tensor(c, device="cuda")
    assert again.data is not c.data and again.device == "cuda"
    assert gg.as_tensor(c) is c and gg.as_tensor(c, device="cuda") is c
    assert gg.tensor(c.data).device == "cuda"            # a device array stays where it is
    h = np.ones(2, dtype=np.float32)
    assert gg.tensor(h, device="cpu").data is not h


# --------------------------------------------------------------------------------------------------
# Device mismatch: an error naming the gate and both devices, never a silent copy
# --------------------------------------------------------------------------------------------------
MISMATCHES = {
    "add": lambda a, b: a + b,
    "mul": lambda a, b: b * a,
    "matmul": lambda a, b: a.reshape(2, 2) @ b.reshape(2, 2),
    "concatenate": lambda a, b: gg.cat([a, b]),
    "stack": lambda a, b: gg.stack([b, a]),
    "where": lambda a, b: gg.where(a > 0, a, b),
    "getitem": lambda a, b: a[gg.tensor([0, 1], device=b.device)],
    "conv2d": lambda a, b: gg.nn.functional.conv2d(a.reshape(1, 1, 2, 2), b.reshape(1, 1, 2, 2)),
}


@pytest.mark.parametrize("name", sorted(MISMATCHES))
def test_a_gate_on_two_devices_raises_naming_both(cuda, name):
    on_cpu = gg.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    on_gpu = gg.tensor([1.0, 2.0, 3.0, 4.0], device="cuda", requires_grad=True)
    for a, b in ((on_cpu, on_gpu), (on_gpu, on_cpu)):
        with pytest.raises(RuntimeError, match=rf"{name}: the inputs are on different devices, "
                                                r"(cpu and cuda:0|cuda:0 and cpu)"):
            MISMATCHES[name](a, b)


def test_raw_arrays_and_two_gpus_are_checked_too(cuda):
    on_gpu = gg.tensor([1.0, 2.0], device="cuda")
    with pytest.raises(RuntimeError, match="add: .*cuda:0 and cpu"):
        on_gpu + np.ones(2, dtype=np.float32)
    with pytest.raises(RuntimeError, match="add: .*cpu and cuda:0"):
        gg.tensor([1.0, 2.0]) + to_device(np.ones(2, dtype=np.float32), "cuda")
    with pytest.raises(RuntimeError, match="sub: .*cuda:0 and cuda:1"):
        on_gpu - on_gpu.cuda(1)
    with pytest.raises(RuntimeError, match="setitem: .*"):
        with gg.no_grad():
            on_gpu[0] = gg.tensor(5.0)
    assert (on_gpu * 2 + 1.5).device == "cuda"          # Python numbers are fine


def test_the_mismatch_check_runs_before_anything_is_recorded(cuda):
    a = gg.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError):
        a + gg.tensor([1.0], device="cuda")
    assert a.grad is None and a.grad_fn is None


# --------------------------------------------------------------------------------------------------
# gg.compile on a device: buffers and constants made where the parameters are
# --------------------------------------------------------------------------------------------------
def _mlp_params(device):
    rng = np.random.default_rng(0)
    shapes = ((8, 5), (8,), (3, 8), (3,))
    return [gg.tensor(0.3 * rng.standard_normal(s), dtype=gg.float32, device=device, requires_grad=True)
            for s in shapes]


def _mlp_loss(params, x, y):
    """A 5-8-3 tanh network's cross-entropy, from the fused gates (nn's layers are tested on devices in nn's tests)."""
    w1, b1, w2, b2 = params
    return fused.cross_entropy(fused.linear(gg.tanh(fused.linear(x, w1, b1)), w2, b2), y)


@pytest.mark.parametrize("with_optimizer", [False, True], ids=["forward+backward", "whole step"])
def test_compile_replays_on_the_device_and_matches_eager_on_the_cpu(device, with_optimizer):
    import warnings
    rng = np.random.default_rng(1)
    x_host, y_host = rng.standard_normal((6, 5)).astype(np.float32), rng.integers(0, 3, 6)
    params, reference = _mlp_params(device), _mlp_params("cpu")
    optimizer = gg.optim.SGD(params, lr=0.1) if with_optimizer else None
    reference_optimizer = gg.optim.SGD(reference, lr=0.1)
    compiled = gg.compile(lambda x, y: _mlp_loss(params, x, y), optimizer=optimizer)
    x, y = gg.tensor(x_host, device=device), gg.tensor(y_host, device=device)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                       # no fallback to eager
        for _ in range(4):                                   # two recordings, then two replays
            if not with_optimizer:
                for p in params:
                    p.grad = None
            loss = compiled(x, y)
            reference_optimizer.zero_grad()
            expected = _mlp_loss(reference, gg.tensor(x_host), gg.tensor(y_host))
            expected.backward()
            if with_optimizer:
                reference_optimizer.step()
            assert loss.device == device
            np.testing.assert_allclose(to_host(loss), expected.numpy(), rtol=1e-5, atol=1e-6)
            for p, r in zip(params, reference):
                assert p.device == device
                if not with_optimizer:
                    assert p.grad.device == device
                    np.testing.assert_allclose(to_host(p.grad), r.grad.numpy(), rtol=1e-4, atol=1e-6)
                np.testing.assert_allclose(to_host(p), r.numpy(), rtol=1e-5, atol=1e-6)
    assert all(program is not None for program in compiled.programs.values()), compiled.reasons


def test_compile_keeps_cpu_and_device_signatures_apart(cuda):
    params = _mlp_params("cpu")
    compiled = gg.compile(lambda x, y: _mlp_loss([p.to(x.device) for p in params], x, y), warn=False)
    x, y = np.ones((2, 5), dtype=np.float32), np.array([0, 1])
    for _ in range(3):
        compiled(gg.tensor(x), gg.tensor(y))
        on_gpu = compiled(gg.tensor(x, device="cuda"), gg.tensor(y, device="cuda"))
    assert on_gpu.device == "cuda"
    assert len(compiled.programs) == 2
    eager = [sig for sig, program in compiled.programs.items() if program is None]
    assert len(eager) == 1 and "between devices" in compiled.reasons[eager[0]]


# --------------------------------------------------------------------------------------------------
# The transforms, gradcheck's localisation and NumPy's functions on a device
# --------------------------------------------------------------------------------------------------
def test_jacobian_hessian_and_numpy_functions_on_the_device(device):
    x = gg.tensor([0.5, -1.0, 2.0], dtype=gg.float64, device=device)
    jac = gg.jacobian(lambda v: v ** 2)(x)
    assert jac.device == device and np.allclose(to_host(jac), np.diag([1.0, -2.0, 4.0]))
    hess = gg.hessian(lambda v: (v ** 3).sum())(x)
    assert np.allclose(to_host(hess), np.diag([3.0, -6.0, 12.0]))
    empty = gg.jacobian(lambda v: v.sum(axis=0))(gg.zeros(0, 2, device=device))
    assert empty.shape == (2, 0, 2) and empty.device == device
    top = np.argmax(x)              # a gradient-free NumPy function: NumPy's scalar on the CPU, CuPy's 0-d array
    assert int(top) == 2 and (device == "cpu" or (isinstance(top, gg.Tensor) and top.device == device))


def test_gradcheck_localizes_a_wrong_gate_on_the_device(device):
    def wrong_vjp(g, out, x):
        return 3.0 * g * gg.exp(x) if isinstance(g, gg.Tensor) else 3.0 * g * np.exp(x)

    wrong = gg.Gate("wrong_exp_on_device", np.exp, (wrong_vjp,))
    x = gg.tensor([0.1, -0.2], dtype=gg.float64, device=device, requires_grad=True)
    report = gg.gradcheck(lambda v: wrong(v).sum(), [x], raise_exception=False, localize=True)
    assert not report and report.localization.first_wrong is not None
    assert report.localization.first_wrong.gate == "wrong_exp_on_device"
