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
    (lambda: nn.BatchNorm2d(3, eps=-1e-5), ValueError,
     r"invalid BatchNorm2d eps: -1e-05 \(must be a finite number >= 0\)"),
    (lambda: nn.BatchNorm1d(3, momentum=1.5), ValueError,
     r"invalid BatchNorm1d momentum: 1\.5 \(must be a finite number in \[0, 1\]\)"),
    (lambda: nn.BatchNorm1d(3, momentum=None), TypeError, r"BatchNorm1d momentum must be a real number"),
    (lambda: nn.Dropout(1.0), ValueError, r"invalid Dropout p: 1\.0 \(must be a finite number in \[0, 1\)\)"),
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


# ---- creation functions, gradcheck, explain: hostile arguments -------------------------------------------------
@pytest.mark.parametrize("make, error, message", [
    (lambda: gg.zeros(-1, 2), ValueError, r"invalid zeros size: -1 \(must be an integer >= 0\)"),
    (lambda: gg.ones(2.5), TypeError, r"ones size must be an integer >= 0, not float \(2\.5\)"),
    (lambda: gg.zeros("3"), TypeError, r"zeros size must be an integer >= 0, not str"),
    (lambda: gg.randn(-3), ValueError, r"invalid randn size: -3"),
    (lambda: gg.rand((2, None)), TypeError, r"rand size must be an integer >= 0, not NoneType"),
    (lambda: gg.full((2,), "x"), TypeError, r"full: fill_value must be a number, not str"),
    (lambda: gg.full(-2, 1.0), ValueError, r"invalid full size: -2"),
    (lambda: gg.arange(0, 5, 0), ValueError, r"arange: step must not be 0"),
    (lambda: gg.arange("5"), TypeError, r"arange start must be a real number, not str"),
    (lambda: gg.eye(-2), ValueError, r"invalid eye n: -2"),
    (lambda: gg.linspace(0, 1, -2), ValueError, r"invalid linspace num: -2"),
    (lambda: gg.randint(3, 3, 2), ValueError, r"randint: high must be greater than low, got low=3, high=3"),
    (lambda: gg.randint(0, 3, (2, -1)), ValueError, r"invalid randint size: -1"),
    (lambda: gg.tensor([[1, 2], [3]]), ValueError, r"tensor: the data must be rectangular"),
    (lambda: gg.tensor([1.0], dtype="float33"), TypeError, r"tensor: unknown dtype 'float33'"),
])
def test_creation_functions_name_the_bad_argument(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_creation_functions_still_take_every_good_spelling():
    assert gg.zeros(0, 3).shape == (0, 3) and gg.zeros((2, 3)).shape == (2, 3) and gg.ones([2]).shape == (2,)
    assert gg.zeros(np.int64(2)).shape == (2,) and gg.zeros(()).shape == () and gg.randn().shape == ()
    assert gg.randint(0, 3, 4).shape == (4,) and np.isnan(gg.full((2,), float("nan")).numpy()).all()
    assert gg.arange(5).dtype == np.int64 and gg.eye(2, 0).shape == (2, 0)


@pytest.mark.parametrize("call, error, message", [
    (lambda: gg.gradcheck(lambda x: (x * 2).sum(), [np.ones(2)], eps=0), ValueError,
     r"invalid gradcheck eps: 0 \(must be a positive finite step"),
    (lambda: gg.gradcheck(lambda x: (x * 2).sum(), [np.ones(2)], eps=-1e-6), ValueError, r"invalid gradcheck eps"),
    (lambda: gg.gradcheck(lambda x: (x * 2).sum(), [np.ones(2)], eps="1e-6"), ValueError, r"invalid gradcheck eps"),
    (lambda: gg.gradcheck(lambda x: (x * 2).sum(), [np.ones(2)], atol=-1), ValueError, r"invalid gradcheck atol"),
    (lambda: gg.gradcheck(lambda: gg.tensor(1.0), []), ValueError, r"gradcheck: nothing to differentiate"),
    (lambda: gg.gradcheck(lambda x: (x * 2).sum(), [np.array([1, 2])]), ValueError,
     r"nothing to differentiate.*integer and bool inputs are constants"),
    (lambda: gg.gradcheck(lambda x: (x * 2).sum(), [np.array([1.0, np.nan])]), ValueError,
     r"gradcheck: input 0 holds NaN or infinite values \(first at index \(1,\)\)"),
    (lambda: gg.gradgradcheck(lambda x: "a", [np.ones(2)]), TypeError,
     r"gradgradcheck: the function must return a tensor, not str"),
    (lambda: gg.numerical_grad(lambda x: (x * 2).sum(), [np.ones(2)], eps=0), ValueError,
     r"invalid numerical_grad eps"),
])
def test_gradcheck_refuses_checks_that_would_mean_nothing(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_gate_table_arguments():
    from glassgrad.explain import gate_table

    x = gg.tensor(2.0, requires_grad=True)
    with pytest.raises(TypeError, match=r"gate_steps: f must be a Tensor computed by gates, not float"):
        gate_table(3.0)
    with pytest.raises(TypeError, match=r"leaves\[0\] must be a Tensor"):
        gate_table(x * 2, [1.0])
    with pytest.raises(ValueError, match=r"invalid gate_table digits: -1"):
        gate_table(x * 2, digits=-1)


def test_item_of_a_tensor_with_several_elements_says_how_many():
    with pytest.raises(ValueError,
                       match=r"item\(\): the tensor has 2 elements \(shape \(2,\)\); item\(\) needs exactly one"):
        gg.tensor([1.0, 2.0]).item()
    assert gg.tensor([[3.0]]).item() == 3.0
