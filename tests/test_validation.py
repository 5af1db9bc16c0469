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


# ---- layer arguments ------------------------------------------------------------------------------------------
from glassgrad import nn  # noqa: E402
from glassgrad.nn import functional as F  # noqa: E402


@pytest.mark.parametrize("make, error, message", [
    (lambda: nn.Linear(0, 4), ValueError, r"invalid Linear in_features: 0 \(must be an integer >= 1\)"),
    (lambda: nn.Linear(4, -1), ValueError, r"invalid Linear out_features: -1 \(must be an integer >= 1\)"),
    (lambda: nn.Linear(4.0, 2), TypeError, r"Linear in_features must be an integer >= 1, not float \(4\.0\)"),
    (lambda: nn.Linear(True, 2), TypeError, r"Linear in_features must be an integer >= 1, not bool"),
    (lambda: nn.Linear("4", 2), TypeError, r"Linear in_features must be an integer >= 1, not str"),
    (lambda: nn.Conv2d(0, 2, 3), ValueError, r"invalid Conv2d in_channels: 0"),
    (lambda: nn.Conv2d(1, -2, 3), ValueError, r"invalid Conv2d out_channels: -2"),
    (lambda: nn.Conv2d(1, 2, 0), ValueError, r"Conv2d: kernel_size must be an int or a pair of ints ≥ 1, not 0"),
    (lambda: nn.Conv2d(1, 2, True), ValueError, r"Conv2d: kernel_size must be an int or a pair of ints ≥ 1"),
    (lambda: nn.Conv2d(1, 2, 3, stride=(1, 0)), ValueError, r"Conv2d: stride must be"),
    (lambda: nn.Conv2d(1, 2, 3, padding=-1), ValueError, r"Conv2d: padding must be an int or a pair of ints ≥ 0"),
    (lambda: nn.MaxPool2d(0), ValueError, r"MaxPool2d: kernel_size must be"),
    (lambda: nn.MaxPool2d((2, 2, 2)), ValueError, r"MaxPool2d: kernel_size must be"),
    (lambda: nn.MaxPool2d(2, stride=0), ValueError, r"MaxPool2d: stride must be"),
    (lambda: nn.BatchNorm1d(0), ValueError, r"invalid BatchNorm1d num_features: 0"),
    (lambda: nn.BatchNorm2d(3, eps=-1e-5), ValueError, r"invalid BatchNorm2d eps: -1e-05 \(must be >= 0\)"),
    (lambda: nn.BatchNorm1d(3, momentum=1.5), ValueError, r"invalid BatchNorm1d momentum: 1\.5 \(must be in \[0, 1\]\)"),
    (lambda: nn.BatchNorm1d(3, momentum=None), TypeError, r"BatchNorm1d momentum must be a real number"),
    (lambda: nn.Dropout(1.0), ValueError, r"invalid Dropout p: 1\.0 \(must be in \[0, 1\)\)"),
    (lambda: nn.Dropout(-0.1), ValueError, r"invalid Dropout p: -0\.1"),
    (lambda: nn.Dropout("0.5"), TypeError, r"Dropout p must be a real number, not str"),
    (lambda: nn.Dropout(float("nan")), ValueError, r"invalid Dropout p: nan"),
])
def test_layer_arguments_are_checked_when_the_layer_is_made(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_good_layer_arguments_still_work():
    assert nn.Linear(np.int64(3), 2).weight.shape == (2, 3)
    assert nn.Conv2d(1, 2, (3, 2), stride=[1, 2]).stride == (1, 2)
    assert nn.Dropout(0).p == 0 and nn.BatchNorm1d(2, momentum=1).momentum == 1


# ---- loss targets -----------------------------------------------------------------------------------------------
def test_cross_entropy_float_labels_say_what_the_target_must_be():
    z = gg.zeros(4, 3, requires_grad=True)
    with pytest.raises(gg.ShapeError, match=r"must be integer class indices of shape \(4,\) or a distribution of "
                                            r"the logits' shape \(4, 3\); got float64 values of shape \(4,\) — class "
                                            r"labels stored as floats: convert them with \.astype\(np\.int64\)"):
        F.cross_entropy(z, np.array([0.0, 1.0, 2.0, 1.0]))
    with pytest.raises(gg.ShapeError, match=r"got float32 values of shape \(4, 2\)$"):
        F.cross_entropy(z, np.zeros((4, 2), np.float32))
    with pytest.raises(TypeError, match=r"integer class indices .* not bool values"):
        F.cross_entropy(z, np.array([True, False, True, True]))
    with pytest.raises(TypeError, match=r"not <U1 values"):
        F.cross_entropy(z, np.array(list("abcd")))
    assert F.cross_entropy(z, np.full((4, 3), 1 / 3)).item() == pytest.approx(np.log(3))   # a distribution: fine


# ---- gate_table on tensors ---------------------------------------------------------------------------------------
def test_gate_table_shows_tensor_leaves_element_by_element_never_nan():
    from glassgrad.explain import gate_steps, gate_table

    w = gg.tensor([1.0, 2.0, 3.0], dtype=gg.float64, requires_grad=True)
    x = gg.tensor([[0.5, -1.0, 2.0]], dtype=gg.float64, requires_grad=True)
    w.name, x.name = "w", "x"
    f = (w * x).tanh().sum()
    steps, grads = gate_steps(f, [w, x])
    np.testing.assert_allclose(grads[0], (1 - np.tanh([0.5, -2.0, 6.0]) ** 2) * [0.5, -1.0, 2.0])
    np.testing.assert_allclose(steps[1].local[0], 1 - np.tanh([[0.5, -2.0, 6.0]]) ** 2)   # tanh' entry by entry
    for fmt in ("text", "markdown", "latex"):
        text = gate_table(f, [w, x], fmt=fmt)
        assert "nan" not in text.lower()
    text = gate_table(f, [w, x])
    assert "w=[1, 2, 3], x=[[0.5, -1, 2]]" in text
    assert "∂f/∂w = [0.3932, -0.0707, 0.0000]" in text
    long = gg.tensor(np.arange(40.0), requires_grad=True)
    long.name = "v"
    assert "..." in gate_table((long * 2.0).sum(), [long])          # long arrays are summarised, as NumPy prints
