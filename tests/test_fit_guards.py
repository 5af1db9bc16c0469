"""fit checks its arguments and data before anything changes, stops before a non-finite update, and is
a short loop whose parts are callbacks on one interface (order, writers, errors)."""
from __future__ import annotations

import json

import numpy as np
import pytest

import glassgrad as gg
from glassgrad import nn, optim
from glassgrad.data import DataLoader, TensorDataset, make_moons
from glassgrad.nn import functional as F
from glassgrad.train import Callback, ModelCheckpoint, fit, load_checkpoint
from glassgrad.train.callbacks import ORDER_REDUCE, MetricsLogger

QUIET = dict(progress=False, verbose=False)


def setup(seed: int = 0):
    gg.manual_seed(seed)
    model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 2))
    return model, optim.SGD(model.parameters(), lr=0.1, momentum=0.9)


def weights(model):
    return {k: v.copy() for k, v in model.state_dict().items()}


@pytest.fixture(scope="module")
def data():
    X, y = make_moons(100, noise=0.1, seed=0)
    return X.astype(np.float32), y


# --------------------------------------------------------------------------------------------------
# Arguments and data: checked first
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, error, words", [
    (dict(epochs="3"), TypeError, r"fit epochs must be an integer >= 1, not str \('3'\)"),
    (dict(epochs=-1), ValueError, "epochs"),
    (dict(epochs=0), ValueError, "epochs"),
    (dict(epochs=2.0), TypeError, "epochs"),
    (dict(epochs=True), TypeError, "epochs"),
    (dict(batch_size=0), ValueError, "batch_size"),
    (dict(batch_size="8"), TypeError, "batch_size"),
])
def test_bad_arguments_are_refused_before_training(data, kwargs, error, words):
    model, opt = setup()
    before = weights(model)
    with pytest.raises(error, match=words):
        fit(model, F.cross_entropy, opt, data, **{"epochs": 1, **kwargs}, **QUIET)
    assert all(np.array_equal(before[k], v) for k, v in weights(model).items())


@pytest.mark.parametrize("make, error, words", [
    (lambda X, y: (X[:0], y[:0]), ValueError, "no examples"),
    (lambda X, y: (X, y[:-1]), ValueError, "100 inputs but 99 targets"),
    (lambda X, y: (X.astype(str), y), TypeError, "must be numbers"),
    (lambda X, y: (X, y, y), TypeError, "pair"),
    (lambda X, y: DataLoader(TensorDataset(X[:0], y[:0])), ValueError, "no examples"),
    (lambda X, y: (np.where(np.arange(100)[:, None] == 7, np.nan, X), y), ValueError, "nan values in 1 example"),
    (lambda X, y: (np.where(np.arange(100)[:, None] >= 98, np.inf, X), y), ValueError, r"first: row 98"),
])
def test_bad_data_is_refused_before_training(data, make, error, words):
    model, opt = setup()
    before = weights(model)
    with pytest.raises(error, match=words):
        fit(model, F.cross_entropy, opt, make(*data), epochs=1, **QUIET)
    assert all(np.array_equal(before[k], v) for k, v in weights(model).items())


@pytest.mark.parametrize("callback", [print, Callback, "log.jsonl"])
def test_callbacks_that_are_not_callbacks_are_refused(data, callback):
    model, opt = setup()
    with pytest.raises(TypeError, match="callbacks must be Callback objects"):
        fit(model, F.cross_entropy, opt, data, callbacks=[callback], **QUIET)


def test_arguments_are_checked_before_a_resume_changes_anything(tmp_path, data):
    model, opt = setup()
    path = tmp_path / "m.npz"
    fit(model, F.cross_entropy, opt, data, epochs=1, callbacks=[ModelCheckpoint(path)], **QUIET)
    other, other_opt = setup(seed=3)
    before = weights(other)
    for bad in (dict(callbacks=[print]), dict(log="metrics.txt"), dict(epochs="2")):
        with pytest.raises((TypeError, ValueError)):
            fit(other, F.cross_entropy, other_opt, data, **{"epochs": 2, **bad}, resume=str(path), **QUIET)
        assert all(np.array_equal(before[k], v) for k, v in weights(other).items())


def test_a_duck_typed_callback_needs_only_the_hooks_it_uses(data):
    class EpochsOnly:                     # not a Callback subclass, no other hooks
        def __init__(self):
            self.seen = []

        def on_epoch_end(self, state, logs):
            self.seen.append(state.epoch)

    model, opt = setup()
    cb = EpochsOnly()
    fit(model, F.cross_entropy, opt, data, epochs=2, callbacks=[cb], **QUIET)
    assert cb.seen == [1, 2]


def test_non_finite_validation_data_is_refused(data):
    X, y = data
    model, opt = setup()
    with pytest.raises(ValueError, match="validation inputs hold inf"):
        fit(model, F.cross_entropy, opt, data, validation=(np.full_like(X, np.inf), y), **QUIET)


# --------------------------------------------------------------------------------------------------
# Non-finite gradients stop training before the update, naming epoch, step and parameter
# --------------------------------------------------------------------------------------------------
def test_an_inf_input_stops_before_the_update_naming_the_parameter(tmp_path, data):
    X, y = data
    X = X.copy()
    X[55] = [np.inf, 0.0]            # in batch 4 (rows 48-63) of the unshuffled first epoch; tanh(inf) = 1 keeps
                                     # the loss finite, but the gradient of the first layer is NaN
    model, opt = setup()
    path = tmp_path / "m.npz"
    kept = {}

    class Keep(Callback):
        def on_epoch_end(self, state, logs):
            kept[state.epoch] = weights(state.model)

    with np.errstate(all="ignore"):
        history = fit(model, F.cross_entropy, opt, (X, y), epochs=3, batch_size=16, shuffle=False,
                      check_inputs=False, callbacks=[Keep(), ModelCheckpoint(path)], **QUIET)
    assert history.fault and len(history) == 0
    reason = history.stop_reason
    assert "epoch 1, step 4" in reason and "0.weight" in reason and "before this step's update" in reason
    assert all(np.isfinite(p.data).all() for p in model.parameters())
    assert not path.exists()        # no epoch finished: nothing was written


def test_non_finite_weights_are_never_written_to_a_checkpoint(tmp_path, data):
    """Weights that became non-finite some other way (here: a callback): the checkpoint keeps the last
    finite epoch and training stops."""
    path = tmp_path / "m.npz"
    model, _ = setup()

    class BlowUpAfterEpoch1(Callback):
        def on_epoch_end(self, state, logs):
            if state.epoch == 2:
                state.model[0].weight.data[0, 0] = np.inf

    history = fit(model, F.cross_entropy, optim.SGD(model.parameters(), lr=0.01), data, epochs=4,
                  callbacks=[BlowUpAfterEpoch1(), ModelCheckpoint(path)], **QUIET)
    assert history.fault and "0.weight holds inf" in history.stop_reason
    assert load_checkpoint(path).metadata["epoch"] == 1


# --------------------------------------------------------------------------------------------------
# One callback interface: order, writers, errors
# --------------------------------------------------------------------------------------------------
def test_callbacks_run_by_order_and_writers_are_skipped_where_the_process_is_not_the_writer(tmp_path, data):
    calls = []

    class Reducer(Callback):
        """What a data-parallel callback does on rank > 0: first of all, it says this process does not write."""
        order = ORDER_REDUCE

        def on_train_begin(self, state):
            state.is_writer = False
            calls.append("reducer")

        def on_backward_end(self, state, logs):
            calls.append("reduce grads")

        def on_epoch_end(self, state, logs):
            logs["loss"] = 123.0           # e.g. the mean over processes: every later callback sees it

    class Watcher(Callback):
        def on_train_begin(self, state):
            calls.append("watcher")

        def on_epoch_end(self, state, logs):
            calls.append(logs["loss"])

    log, ckpt = tmp_path / "m.jsonl", tmp_path / "m.npz"
    model, opt = setup()
    history = fit(model, F.cross_entropy, opt, data, epochs=1, batch_size=50, log=str(log),
                  callbacks=[Watcher(), ModelCheckpoint(ckpt), Reducer()], **QUIET)
    assert calls == ["reducer", "watcher", "reduce grads", "reduce grads", 123.0]
    assert history["loss"] == [123.0]
    assert not log.exists() and not ckpt.exists()      # writers skipped: this process is not the writer

    model, opt = setup()
    fit(model, F.cross_entropy, opt, data, epochs=1, log=str(log), callbacks=[ModelCheckpoint(ckpt)], **QUIET)
    assert json.loads(log.read_text())["epoch"] == 1 and ckpt.exists()
    assert MetricsLogger.writer_only and ModelCheckpoint.writer_only


def test_an_exception_reaches_on_train_error_and_continues(data):
    seen = []

    class Boom(Callback):
        def on_batch_end(self, state, logs):
            if state.step == 2:
                raise KeyboardInterrupt

        def on_train_error(self, state, error):
            seen.append((type(error).__name__, state.epoch, state.step))

    model, opt = setup()
    with pytest.raises(KeyboardInterrupt):
        fit(model, F.cross_entropy, opt, data, epochs=2, batch_size=10, callbacks=[Boom()], **QUIET)
    assert seen == [("KeyboardInterrupt", 1, 2)]


def test_the_printout_and_the_stop_reason(data, capsys):
    model, opt = setup()

    class StopNow(Callback):
        def on_epoch_end(self, state, logs):
            state.stop("enough")

    history = fit(model, F.cross_entropy, opt, data, epochs=5, progress=False, callbacks=[StopNow()])
    out = capsys.readouterr()
    assert out.out.startswith("epoch   1  loss ") and "ex/s" in out.out
    assert out.err.strip() == "enough" and history.stop_reason == "enough" and not history.fault
