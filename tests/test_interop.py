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
