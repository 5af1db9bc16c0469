"""The Python API refuses bad arguments where users make mistakes, with an error that names the argument
and what is allowed, and accepts the natural PyTorch spellings (``DataLoader((X, y))``)."""
from __future__ import annotations

import numpy as np
import pytest

import glassgrad as gg
from glassgrad.data import DataLoader, TensorDataset


# ---- DataLoader ---------------------------------------------------------------------------------------------
def test_dataloader_reads_an_x_y_tuple_as_a_tensor_dataset():
    X, y = np.arange(20, dtype=np.float32).reshape(10, 2), np.arange(10)
    for data in ((X, y), (gg.tensor(X), y)):
        batches = list(DataLoader(data, batch_size=4))
        assert [tuple(t.shape for t in b) for b in batches] == [((4, 2), (4,)), ((4, 2), (4,)), ((2, 2), (2,))]
        np.testing.assert_array_equal(np.concatenate([b[1].numpy() for b in batches]), y)
    assert len(DataLoader((X, y), batch_size=3, shuffle=True, seed=0)) == 4
    assert isinstance(DataLoader((X, y)).dataset, TensorDataset)


def test_dataloader_tuple_of_mismatched_lengths_names_the_lengths():
    with pytest.raises(ValueError, match=r"same first dimension \(number of examples\); got lengths \[10, 5\]"):
        DataLoader((np.zeros((10, 2)), np.zeros(5)))


def test_dataloader_list_of_examples_is_still_a_list_of_examples():
    pairs = [(np.array([i, i], dtype=np.float32), i) for i in range(5)]
    (xb, yb), = list(DataLoader(pairs, batch_size=5, as_tensor=False))
    assert xb.shape == (5, 2) and yb.tolist() == [0, 1, 2, 3, 4]
