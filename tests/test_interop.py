"""Exchange with other libraries: DLPack (shared memory both ways)."""
from __future__ import annotations

import numpy as np
import pytest

import glassgrad as gg

torch = pytest.importorskip("torch")


def test_torch_and_numpy_read_a_tensor_through_dlpack_without_copying():
    t = gg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    assert t.__dlpack_device__() == (1, 0)          # kDLCPU, device 0
    a = torch.from_dlpack(t)
    b = np.from_dlpack(t)
    assert a.dtype == torch.float32 and tuple(a.shape) == (3,)
    assert np.shares_memory(b, t.data)
    with torch.no_grad():
        a[0] = 10.0                                   # the same memory: glassgrad sees the write
    assert t.data[0] == 10.0 and b[0] == 10.0
    assert torch.as_tensor(t).data_ptr() == t.data.ctypes.data


def test_from_dlpack_shares_a_torch_tensor():
    source = torch.arange(6, dtype=torch.float64).reshape(2, 3)
    t = gg.from_dlpack(source, requires_grad=True)
    assert t.dtype == np.float64 and t.shape == (2, 3) and t.requires_grad
    source[1, 2] = -1.0
    assert t.data[1, 2] == -1.0
    (t * t).sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), 2 * source.numpy())


def test_from_dlpack_of_numpy_and_of_strided_views():
    base = np.arange(12.0).reshape(3, 4)
    view = base[:, ::2]
    t = gg.from_dlpack(view)
    np.testing.assert_array_equal(t.numpy(), view)
    assert np.shares_memory(t.data, base)
    tv = torch.arange(12.0).reshape(3, 4).T          # a transposed (non-contiguous) torch view
    np.testing.assert_array_equal(gg.from_dlpack(tv).numpy(), tv.numpy())


def test_from_dlpack_refuses_a_torch_tensor_that_requires_grad():
    with pytest.raises(BufferError, match="require gradient"):
        gg.from_dlpack(torch.ones(2, requires_grad=True))


# --------------------------------------------------------------------------------------------------
# Weights: PyTorch state dicts and .safetensors files, both ways
# --------------------------------------------------------------------------------------------------
from glassgrad import nn  # noqa: E402
from glassgrad.train import weights  # noqa: E402

safetensors = pytest.importorskip("safetensors")


def convnet_pair():
    """The same architecture in both libraries: conv, batch norm, ReLU, pool, flatten, linear."""
    ours = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(4 * 3 * 3, 5))
    theirs = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                                 torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(4 * 3 * 3, 5))
    return ours, theirs


IMAGES = np.random.default_rng(4).standard_normal((8, 1, 6, 6)).astype(np.float32)
LABELS = np.random.default_rng(5).integers(0, 5, 8)


def train_torch(model, steps=5):
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(torch.tensor(IMAGES)), torch.tensor(LABELS)).backward()
        opt.step()
    return model


def train_ours(model, steps=5):
    opt = gg.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(model(gg.tensor(IMAGES)), gg.tensor(LABELS)).backward()
        opt.step()
    return model


def outputs_agree(ours, theirs):
    ours.eval()
    theirs.eval()
    with torch.no_grad():
        expected = theirs(torch.tensor(IMAGES)).numpy()
    np.testing.assert_allclose(ours(gg.tensor(IMAGES)).numpy(), expected, rtol=1e-4, atol=1e-5)


def test_a_model_trained_in_torch_runs_in_glassgrad():
    ours, theirs = convnet_pair()
    train_torch(theirs)
    state = theirs.state_dict()
    assert "1.num_batches_tracked" in state
    weights.load_torch_state_dict(ours, state)
    np.testing.assert_array_equal(ours.state_dict()["1.running_mean"], state["1.running_mean"].numpy())
    outputs_agree(ours, theirs)


def test_a_model_trained_in_glassgrad_runs_in_torch():
    ours, theirs = convnet_pair()
    train_ours(ours)
    state = weights.to_torch_state_dict(ours)
    assert state["1.num_batches_tracked"].dtype == torch.int64
    theirs.load_state_dict(state)               # strict: every key PyTorch expects is there
    outputs_agree(ours, theirs)


def test_safetensors_round_trip_between_the_libraries(tmp_path):
    from safetensors.torch import load_file, save_file

    ours, theirs = convnet_pair()
    train_ours(ours)
    path = weights.save_safetensors(ours, tmp_path / "model.safetensors", metadata={"format": "pt"})
    loaded = weights.load_safetensors(path)
    assert set(loaded) == set(ours.state_dict())
    for name, value in ours.state_dict().items():
        np.testing.assert_array_equal(loaded[name], value)
    theirs.load_state_dict(load_file(str(path)), strict=False)   # torch's own reader; num_batches_tracked stays
    outputs_agree(ours, theirs)
    fresh, theirs2 = convnet_pair()
    train_torch(theirs2)
    save_file(theirs2.state_dict(), str(tmp_path / "torch.safetensors"))
    weights.load_torch_state_dict(fresh, weights.load_safetensors(tmp_path / "torch.safetensors"))
    outputs_agree(fresh, theirs2)


def test_bad_files_and_mismatched_states_fail_cleanly(tmp_path):
    ours, _ = convnet_pair()
    before = ours.state_dict()
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!")
    with pytest.raises(ValueError, match="is not a readable .safetensors file"):
        weights.load_safetensors(bad)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        weights.load_safetensors(tmp_path / "missing.safetensors")
    other = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3))
    with pytest.raises(KeyError, match="missing keys"):
        weights.load_torch_state_dict(ours, other.state_dict())
    wrong = {k: torch.zeros(3) if k == "5.bias" else torch.from_numpy(v) for k, v in before.items()}
    with pytest.raises(ValueError, match="5.bias has shape"):
        weights.load_torch_state_dict(ours, wrong)
    for name, value in ours.state_dict().items():          # all or nothing: nothing changed
        np.testing.assert_array_equal(value, before[name])
