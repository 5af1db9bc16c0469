"""The training layer: ``fit`` and its History, evaluate / predict, callbacks (early stopping, metrics logs,
checkpoints), checkpoint safety (atomic writes, refusing broken or pickled files), bit-identical resume,
and stopping on a NaN loss."""
from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

import glassgrad as gg
from glassgrad import nn, optim
from glassgrad.data import make_moons, one_hot
from glassgrad.nn import functional as F
from glassgrad.train import (
    Callback,
    CheckpointError,
    EarlyStopping,
    History,
    MetricsLogger,
    ModelCheckpoint,
    accuracy,
    build_model,
    confusion_matrix,
    evaluate,
    fit,
    format_confusion,
    load_checkpoint,
    loss_by_name,
    mlp,
    optimizer_by_name,
    predict,
    predicted_labels,
    save_checkpoint,
)
from glassgrad.train import checkpoint as checkpoint_module

QUIET = dict(progress=False, verbose=False)


# --------------------------------------------------------------------------------------------------
# Data and models
# --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def moons():
    X, y = make_moons(600, noise=0.15, seed=0)
    return (X[:480], y[:480]), (X[480:], y[480:])


def small_mlp(seed: int = 0, dropout: float = 0.0) -> nn.Sequential:
    gg.manual_seed(seed)
    layers = [nn.Linear(2, 16), nn.Tanh()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers, nn.Linear(16, 2))


def weights(model) -> dict[str, np.ndarray]:
    return {k: v.copy() for k, v in model.state_dict().items()}


def assert_same_weights(a: dict, b: dict) -> None:
    assert list(a) == list(b)
    for k in a:
        assert np.array_equal(a[k], b[k]), k


# --------------------------------------------------------------------------------------------------
# fit, History, evaluate, predict
# --------------------------------------------------------------------------------------------------
def test_fit_learns_the_moons_and_records_every_epoch(moons):
    train, val = moons
    gg.manual_seed(0)
    model = mlp([2, 32, 2], "relu")
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    history = fit(model, F.cross_entropy, opt, train, epochs=30, validation=val, batch_size=32, **QUIET)
    assert isinstance(history, History) and len(history) == 30 and history.stop_reason is None
    assert history["epoch"] == list(range(1, 31))
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "seconds", "examples_per_second"):
        values = history[key]
        assert len(values) == 30 and all(isinstance(v, float) and np.isfinite(v) for v in values), key
    assert history["val_accuracy"][-1] >= 0.95 and history["accuracy"][-1] >= 0.95
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert history.last() == history.epochs[-1]
    assert "30 epochs" in repr(history)
    # the recorded validation metrics are what evaluate() says about the final model
    result = evaluate(model, val, F.cross_entropy)
    assert result["accuracy"] == history["val_accuracy"][-1]
    assert result["loss"] == pytest.approx(history["val_loss"][-1], rel=1e-12)


def test_fit_accepts_a_dataloader_and_regression_without_accuracy():
    from glassgrad.data import DataLoader, TensorDataset, make_sine

    X, y = make_sine(200, seed=1)
    gg.manual_seed(1)
    model = nn.Sequential(nn.Linear(1, 16), nn.Tanh(), nn.Linear(16, 1))
    loader = DataLoader(TensorDataset(X, y), batch_size=20, shuffle=True, seed=0)
    history = fit(model, F.mse_loss, optim.Adam(model.parameters(), lr=0.02), loader, epochs=40, metrics=(),
                  **QUIET)
    assert "accuracy" not in history.last()
    assert history["loss"][-1] < 0.05 < history["loss"][0]


def test_fit_rejects_other_training_data():
    model = small_mlp()
    with pytest.raises(TypeError, match="DataLoader or an \\(inputs, targets\\) pair"):
        fit(model, F.cross_entropy, optim.SGD(model.parameters(), lr=0.1), np.zeros((4, 2)), **QUIET)


def test_evaluate_and_predict(moons):
    _, (X, y) = moons
    model = small_mlp(dropout=0.5)
    model.train()
    out = predict(model, X, batch_size=7)
    assert out.shape == (len(X), 2) and isinstance(out, np.ndarray)
    np.testing.assert_array_equal(out, predict(model, X, batch_size=7))   # eval mode: dropout off, deterministic
    np.testing.assert_allclose(out, predict(model, X), rtol=1e-5, atol=1e-6)   # batching changes only rounding
    assert model.training and all(m.training for m in model.modules())   # the previous mode is restored
    assert gg.is_grad_enabled()
    result = evaluate(model, (X, y), F.cross_entropy, batch_size=7)       # 120 = 17 batches of 7 and one of 1
    assert result["accuracy"] == pytest.approx(np.mean(out.argmax(axis=1) == y), abs=0)
    full = F.cross_entropy(gg.tensor(out), y).item()
    assert result["loss"] == pytest.approx(full, rel=1e-5)
    assert evaluate(model, (X, y)) == {"accuracy": result["accuracy"]}  # no loss given, no loss reported
    with gg.no_grad():
        model.eval()
        direct = model(gg.tensor(X)).data
    np.testing.assert_allclose(out, direct, rtol=1e-6)


def test_penalty_is_added_to_the_loss_and_trained_on(moons):
    train, _ = moons
    lam, n = 50.0, len(train[0])
    l2 = lambda m: F.l2_penalty(m.parameters(), lam, n)           # noqa: E731
    # η = 0: the weights stay put, so each epoch's loss is the data loss plus the penalty
    model = small_mlp()
    history = fit(model, F.cross_entropy, optim.SGD(model.parameters(), lr=0.0), train, epochs=1, penalty=l2,
                  **QUIET)
    expected = evaluate(model, train, F.cross_entropy)["loss"] + l2(model).item()
    assert history["loss"][0] == pytest.approx(expected, rel=1e-5)
    # and its gradient shrinks the weights (not the biases) compared with training without it
    norms = {}
    for name, penalty in (("with", l2), ("without", None)):
        model = small_mlp()
        fit(model, F.cross_entropy, optim.SGD(model.parameters(), lr=0.1), train, epochs=5, penalty=penalty, **QUIET)
        norms[name] = sum(float((p.data ** 2).sum()) for p in model.parameters() if p.ndim == 2)
    assert norms["with"] < 0.7 * norms["without"]


def test_callbacks_see_every_batch_and_every_epoch(moons):
    train, _ = moons
    events = []

    class Recorder(Callback):
        def on_train_begin(self, state):
            events.append(("begin", state.epoch))

        def on_epoch_begin(self, state):
            events.append(("epoch", state.epoch))

        def on_batch_end(self, state, logs):
            events.append(("batch", state.epoch, logs["step"], np.isfinite(logs["loss"])))

        def on_train_end(self, state):
            events.append(("end", state.epoch))

    model = small_mlp()
    fit(model, F.cross_entropy, optim.SGD(model.parameters(), lr=0.1), train, epochs=2, batch_size=100,
        callbacks=[Recorder()], **QUIET)
    # 480 examples: 5 batches of at most 100 per epoch
    assert events == ([("begin", 0), ("epoch", 1)] + [("batch", 1, s, True) for s in range(1, 6)]
                      + [("epoch", 2)] + [("batch", 2, s, True) for s in range(1, 6)] + [("end", 2)])


# --------------------------------------------------------------------------------------------------
# Callbacks
# --------------------------------------------------------------------------------------------------
def test_early_stopping_stops_and_says_why(moons):
    train, val = moons
    model = small_mlp()
    # min_delta so large that no epoch after the first counts as an improvement: stop after 1 + patience
    stopper = EarlyStopping(monitor="val_loss", patience=2, min_delta=1e9)
    history = fit(model, F.cross_entropy, optim.SGD(model.parameters(), lr=0.1), train, epochs=20,
                  validation=val, callbacks=[stopper], **QUIET)
    assert len(history) == 3
    assert "early stopping" in history.stop_reason and "val_loss" in history.stop_reason
    assert "2 epochs" in history.stop_reason
    assert stopper.best == history["val_loss"][0]


def test_early_stopping_modes_and_errors(moons):
    assert EarlyStopping("val_accuracy").mode == "max" and EarlyStopping("val_loss").mode == "min"
    with pytest.raises(ValueError, match="min.*max.*auto"):
        EarlyStopping(mode="sideways")
    train, _ = moons
    model = small_mlp()
    with pytest.raises(KeyError) as e:       # no validation data, so no val_loss: say what there is
        fit(model, F.cross_entropy, optim.SGD(model.parameters(), lr=0.1), train, epochs=2,
            callbacks=[EarlyStopping("val_loss")], **QUIET)
    assert "val_loss" in str(e.value) and "'loss'" in str(e.value) and "'accuracy'" in str(e.value)


def test_metrics_logs_in_jsonl_and_csv(tmp_path, moons):
    train, val = moons
    jsonl, table = tmp_path / "logs" / "metrics.jsonl", tmp_path / "metrics.csv"
    table.write_text("stale rows from an earlier run\n")
    model = small_mlp()
    history = fit(model, F.cross_entropy, optim.SGD(model.parameters(), lr=0.1), train, epochs=3,
                  validation=val, log=str(jsonl), callbacks=[MetricsLogger(table)], **QUIET)
    rows = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert rows == history.epochs                       # floats survive JSON exactly
    with table.open(newline="") as f:
        read = list(csv.DictReader(f))
    assert len(read) == 3 and list(read[0]) == list(history.epochs[0])
    for row, logs in zip(read, history.epochs):
        assert {k: float(v) for k, v in row.items()} == {k: float(v) for k, v in logs.items()}
    with pytest.raises(ValueError, match=r"\.jsonl or \.csv"):
        MetricsLogger(tmp_path / "metrics.txt")


def test_model_checkpoint_writes_a_loadable_checkpoint_with_metadata(tmp_path, moons):
    train, val = moons
    path = tmp_path / "ckpt" / "model.npz"
    model = small_mlp()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    history = fit(model, F.cross_entropy, opt, train, epochs=3, validation=val, callbacks=[ModelCheckpoint(path)],
                  metadata={"experiment": "moons", "sizes": [2, 16, 2]}, **QUIET)
    ckpt = load_checkpoint(path)
    assert ckpt.metadata["experiment"] == "moons" and ckpt.metadata["sizes"] == [2, 16, 2]
    assert ckpt.metadata["epoch"] == 3 and ckpt.metadata["metrics"] == history.last()
    assert ckpt.version == gg.__version__
    assert ckpt.extra["epoch"] == 3 and ckpt.extra["history"] == history.epochs
    fresh = small_mlp(seed=1)
    fresh_opt = optim.SGD(fresh.parameters(), lr=0.1, momentum=0.9)
    ckpt.restore(fresh, fresh_opt)
    assert_same_weights(weights(fresh), weights(model))
    for p, q in zip(model.parameters(), fresh.parameters()):
        assert np.array_equal(opt.state[p]["momentum_buffer"], fresh_opt.state[q]["momentum_buffer"])
    # only the checkpoint is left in the folder: no temporary files
    assert [p.name for p in path.parent.iterdir()] == ["model.npz"]


class ScriptedMetric(Callback):
    """Replaces this epoch's value of ``key`` by the next one of ``values`` (runs before the checkpoint)."""

    def __init__(self, key, values):
        self.key, self.values = key, values

    def on_epoch_end(self, state, logs):
        logs[self.key] = self.values[state.epoch - 1]


@pytest.mark.parametrize("monitor, values, best_epoch", [
    ("val_loss", [0.9, 0.5, 0.7, 0.4, 0.45, 0.6], 4),
    ("val_accuracy", [0.5, 0.8, 0.7, 0.8, 0.6, 0.75], 2),       # a tie is not an improvement
])
def test_model_checkpoint_save_best_only(tmp_path, moons, monitor, values, best_epoch):
    train, val = moons
    path = tmp_path / "best.npz"
    model = small_mlp()
    saved = {}

    class Snapshot(Callback):
        def on_epoch_end(self, state, logs):
            saved[state.epoch] = weights(state.model)

    fit(model, F.cross_entropy, optim.SGD(model.parameters(), lr=0.3), train, epochs=len(values), validation=val,
        callbacks=[ScriptedMetric(monitor, values), Snapshot(),
                   ModelCheckpoint(path, monitor=monitor, save_best_only=True)], **QUIET)
    ckpt = load_checkpoint(path)
    assert ckpt.metadata["epoch"] == best_epoch
    assert ckpt.metadata["metrics"][monitor] == values[best_epoch - 1]
    restored = small_mlp(seed=2)
    ckpt.restore(restored)
    assert_same_weights(weights(restored), saved[best_epoch])


# --------------------------------------------------------------------------------------------------
# Checkpoint files: round trip, atomic writes, refusing what is not a checkpoint
# --------------------------------------------------------------------------------------------------
def test_checkpoint_round_trip_of_nested_state(tmp_path):
    model = small_mlp()
    opt = optim.Adam(model.parameters(), lr=0.01)
    model(gg.ones(3, 2)).sum().backward()
    opt.step()
    extra = {"array": np.arange(6.0).reshape(2, 3), "pair": (1, "two"), "nested": {"k": [1.5, None, True]},
             "big": 2 ** 100}
    path = save_checkpoint(tmp_path / "c.npz", model, opt, metadata={"note": "café ✓"}, extra=extra)
    ckpt = load_checkpoint(path)
    assert ckpt.metadata == {"note": "café ✓"}
    np.testing.assert_array_equal(ckpt.extra["array"], extra["array"])
    assert ckpt.extra["pair"] == (1, "two") and isinstance(ckpt.extra["pair"], tuple)
    assert ckpt.extra["nested"] == {"k": [1.5, None, True]} and ckpt.extra["big"] == 2 ** 100
    other = small_mlp(seed=3)
    other_opt = optim.Adam(other.parameters(), lr=0.5)
    ckpt.restore(other, other_opt)
    assert_same_weights(weights(other), weights(model))
    assert other_opt.param_groups[0]["lr"] == 0.01
    for p, q in zip(model.parameters(), other.parameters()):
        assert other_opt.state[q]["step"] == opt.state[p]["step"] == 1
        assert np.array_equal(other_opt.state[q]["exp_avg_sq"], opt.state[p]["exp_avg_sq"])
    with pytest.raises(TypeError, match="cannot store a set"):
        save_checkpoint(tmp_path / "d.npz", model, extra={"bad": {1, 2}})
    only_model = load_checkpoint(save_checkpoint(tmp_path / "m.npz", model))
    with pytest.raises(CheckpointError, match="no optimizer state"):
        only_model.restore(other, other_opt)


@pytest.mark.parametrize("failure", [OSError("disk full"), KeyboardInterrupt()])
def test_a_save_that_fails_midway_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch, moons, failure):
    """numpy.savez (as glassgrad.train.checkpoint calls it) writes half a file, then fails on the second save:
    the first checkpoint must still be there, loadable, and no temporary file may be left behind."""
    train, _ = moons
    path = tmp_path / "model.npz"
    real_savez = checkpoint_module.xp.savez
    calls = []

    def savez_failing_the_second_time(file, *args, **kwargs):
        calls.append(1)
        if len(calls) < 2:
            return real_savez(file, *args, **kwargs)
        buffer = io.BytesIO()
        real_savez(buffer, *args, **kwargs)
        file.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
        raise failure

    saved = {}

    class Snapshot(Callback):                         # runs before the checkpoint: the state each save writes
        def on_epoch_end(self, state, logs):
            saved[state.epoch] = weights(state.model)

    monkeypatch.setattr(checkpoint_module.xp, "savez", savez_failing_the_second_time)
    model = small_mlp()
    with pytest.raises(type(failure)):
        fit(model, F.cross_entropy, optim.SGD(model.parameters(), lr=0.1), train, epochs=3,
            callbacks=[Snapshot(), ModelCheckpoint(path)], **QUIET)
    monkeypatch.undo()
    assert len(calls) == 2 and sorted(saved) == [1, 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]   # no temporary file left behind
    ckpt = load_checkpoint(path)
    assert ckpt.metadata["epoch"] == 1
    restored = small_mlp(seed=9)
    ckpt.restore(restored)
    assert_same_weights(weights(restored), saved[1])
    assert not all(np.array_equal(a, b) for a, b in zip(saved[2].values(), saved[1].values()))


class _Boobytrap:
    """Unpickling this creates ``marker``: proof that a loader ran code from the file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def _metadata_entry(tree: dict) -> np.ndarray:
    return np.frombuffer(json.dumps(tree).encode(), dtype=np.uint8)


def _write_pickled_checkpoint(path, marker) -> None:
    trap = np.empty(1, dtype=object)
    trap[0] = _Boobytrap(marker)
    valid = {"format": checkpoint_module.FORMAT, "metadata": {}, "model": None, "optimizer": None, "extra": {}}
    np.savez(path, weights=trap, __metadata__=_metadata_entry(valid))


def test_an_object_array_is_refused_and_never_unpickled(tmp_path):
    path, marker = tmp_path / "evil.npz", tmp_path / "PWNED"
    _write_pickled_checkpoint(path, marker)
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(path)
    assert str(path) in str(e.value) and "pickle" in str(e.value)
    assert not marker.exists()
    # control: the trap is real; a loader that unpickles springs it
    control_path, control_marker = tmp_path / "control.npz", tmp_path / "control_marker"
    _write_pickled_checkpoint(control_path, control_marker)
    with np.load(control_path, allow_pickle=True) as npz:
        npz["weights"]
    assert control_marker.exists()


def _valid_checkpoint_bytes(tmp_path) -> bytes:
    return save_checkpoint(tmp_path / "valid.npz", small_mlp(), metadata={"epoch": 1}).read_bytes()


CORRUPTIONS = {
    "truncated": lambda tmp: _valid_checkpoint_bytes(tmp)[:1500],
    "random bytes": lambda tmp: np.random.default_rng(0).bytes(4096),
    "random bytes after a zip header": lambda tmp: b"PK\x03\x04" + np.random.default_rng(1).bytes(4096),
    "empty": lambda tmp: b"",
}


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
def test_a_broken_file_raises_checkpoint_error_naming_it(tmp_path, kind):
    path = tmp_path / "broken.npz"
    path.write_bytes(CORRUPTIONS[kind](tmp_path))
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(path)
    assert str(path) in str(e.value)


def test_npz_files_that_are_not_glassgrad_checkpoints(tmp_path):
    plain = tmp_path / "plain.npz"
    np.savez(plain, w=np.zeros(3))
    with pytest.raises(CheckpointError, match="no __metadata__ entry") as e:
        load_checkpoint(plain)
    assert str(plain) in str(e.value)
    garbled = tmp_path / "garbled.npz"
    np.savez(garbled, __metadata__=np.frombuffer(b"\xff{not json", dtype=np.uint8))
    with pytest.raises(CheckpointError, match="not valid JSON") as e:
        load_checkpoint(garbled)
    assert str(garbled) in str(e.value)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, __metadata__=_metadata_entry({"format": "someone-else/7"}))
    with pytest.raises(CheckpointError, match="someone-else/7") as e:
        load_checkpoint(foreign)
    assert str(foreign) in str(e.value)
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        load_checkpoint(tmp_path / "missing.npz")


# --------------------------------------------------------------------------------------------------
# Resume: bit-identical to an uninterrupted run
# --------------------------------------------------------------------------------------------------
def _resumable_setup(seed: int = 0):
    model = small_mlp(seed, dropout=0.2)                   # dropout draws from the default generator
    return model, optim.SGD(model.parameters(), lr=0.05, momentum=0.9)


def _run(model, opt, data, epochs, **kw):
    train, val = data
    return fit(model, F.cross_entropy, opt, train, epochs=epochs, validation=val, batch_size=16, shuffle=True,
               seed=3, **QUIET, **kw)


def test_resume_is_bit_identical_to_an_uninterrupted_run(tmp_path, moons):
    model_a, opt_a = _resumable_setup()
    history_a = _run(model_a, opt_a, moons, 4)

    path = tmp_path / "run.npz"
    model_b, opt_b = _resumable_setup()
    _run(model_b, opt_b, moons, 2, callbacks=[ModelCheckpoint(path)])
    # a new process: different initial weights, a different global seed; the checkpoint restores it all
    gg.manual_seed(12345)
    model_c, opt_c = _resumable_setup(seed=7)
    gg.randn(100)
    history_c = _run(model_c, opt_c, moons, 4, resume=str(path), callbacks=[ModelCheckpoint(path)])

    assert len(history_c) == 4 and history_c["epoch"] == [1, 2, 3, 4]
    assert_same_weights(weights(model_c), weights(model_a))
    state_a, state_c = opt_a.state_dict(), opt_c.state_dict()
    assert state_a["param_groups"] == state_c["param_groups"]
    assert sorted(state_a["state"]) == sorted(state_c["state"]) and len(state_a["state"]) == 4
    for i in state_a["state"]:
        assert np.array_equal(state_a["state"][i]["momentum_buffer"], state_c["state"][i]["momentum_buffer"])
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert history_c[key] == history_a[key], key
    assert load_checkpoint(path).metadata["epoch"] == 4

    # control: continuing without resume (a fresh loader, the global seed not restored) is not identical
    model_d, opt_d = _resumable_setup()
    _run(model_d, opt_d, moons, 2)
    gg.manual_seed(12345)
    _run(model_d, opt_d, moons, 2)
    assert not all(np.array_equal(a, b) for a, b in zip(weights(model_d).values(), weights(model_a).values()))


def test_resume_continues_the_metrics_log(tmp_path, moons):
    path, log = tmp_path / "run.npz", tmp_path / "metrics.jsonl"
    model, opt = _resumable_setup()
    _run(model, opt, moons, 2, callbacks=[ModelCheckpoint(path)], log=str(log))
    model2, opt2 = _resumable_setup(seed=4)
    _run(model2, opt2, moons, 3, resume=str(path), log=str(log))
    assert [json.loads(line)["epoch"] for line in log.read_text().splitlines()] == [1, 2, 3]


# --------------------------------------------------------------------------------------------------
# A NaN loss stops training; earlier checkpoints survive
# --------------------------------------------------------------------------------------------------
class LossTurningNaN:
    """Cross-entropy, except that training call number ``at`` returns NaN."""

    def __init__(self, at: int):
        self.at, self.calls = at, 0

    def __call__(self, out, y):
        loss = F.cross_entropy(out, y)
        self.calls += 1
        return loss * float("nan") if self.calls == self.at else loss


def test_a_nan_loss_stops_training_and_keeps_the_last_checkpoint(tmp_path, moons):
    (X, y), _ = moons
    X, y = X[:100], y[:100]                              # 5 steps of 20 per epoch: call 13 is epoch 3, step 3
    path, log = tmp_path / "model.npz", tmp_path / "metrics.jsonl"
    snapshots = {}

    class Snapshot(Callback):
        def on_epoch_end(self, state, logs):
            snapshots[state.epoch] = weights(state.model)

        def on_train_end(self, state):
            self.epochs_completed = state.epoch

    model, snap = small_mlp(), Snapshot()
    history = fit(model, LossTurningNaN(13), optim.SGD(model.parameters(), lr=0.1), (X, y), epochs=10,
                  batch_size=20, callbacks=[snap, ModelCheckpoint(path)], log=str(log), **QUIET)
    assert "nan" in history.stop_reason and "epoch 3" in history.stop_reason and "step 3" in history.stop_reason
    assert len(history) == 2 and sorted(snapshots) == [1, 2] and snap.epochs_completed == 2
    assert len(log.read_text().splitlines()) == 2
    ckpt = load_checkpoint(path)
    assert ckpt.metadata["epoch"] == 2
    restored = small_mlp(seed=5)
    ckpt.restore(restored)
    assert_same_weights(weights(restored), snapshots[2])
    # the two good steps of epoch 3 moved the model in memory, but not the checkpoint; no step used the NaN
    assert not all(np.array_equal(a, b) for a, b in zip(weights(model).values(), snapshots[2].values()))
    assert all(np.all(np.isfinite(p.data)) for p in model.parameters())


def test_a_diverging_learning_rate_stops_training():
    rng = np.random.default_rng(0)
    X = rng.normal(0, 30, (64, 4)).astype(np.float32)
    y = (X @ np.array([1.0, -2.0, 0.5, 3.0], np.float32))[:, None]
    gg.manual_seed(0)
    model = nn.Linear(4, 1)
    with np.errstate(all="ignore"):
        history = fit(model, F.mse_loss, optim.SGD(model.parameters(), lr=1.0), (X, y), epochs=50, batch_size=8,
                      metrics=(), **QUIET)
    assert history.stop_reason is not None and history.stop_reason.startswith("the loss became")
    assert "epoch" in history.stop_reason and "step" in history.stop_reason
    assert len(history) < 50


# --------------------------------------------------------------------------------------------------
# Models, losses and optimisers by name; metrics
# --------------------------------------------------------------------------------------------------
def test_mlp_and_build_model():
    model = mlp([4, 8, 6, 3], "tanh", output_activation="sigmoid", weight_init="zeros")
    assert [type(m).__name__ for m in model] == ["Linear", "Tanh", "Linear", "Tanh", "Linear", "Sigmoid"]
    assert not any(p.data.any() for p in model.parameters())
    spec = {"kind": "mlp", "sizes": [4, 8, 3], "activation": "relu"}
    built = build_model(spec)
    assert [type(m).__name__ for m in built] == ["Linear", "ReLU", "Linear"]
    with pytest.raises(ValueError, match="unknown activation 'swish'.*relu"):
        mlp([4, 3], "swish")
    with pytest.raises(ValueError, match="unknown model kind 'cnn'"):
        build_model({"kind": "cnn"})
    with pytest.raises(ValueError, match="at least"):
        mlp([4])


def test_loss_and_optimizer_by_name():
    out = gg.tensor(np.random.default_rng(0).random((5, 3)), dtype=gg.float64)
    labels = gg.tensor(np.array([0, 2, 1, 1, 0]))
    quad = loss_by_name("quadratic", 3)(out, labels)
    assert quad.item() == pytest.approx(F.quadratic_cost(out, gg.tensor(one_hot(labels.data, 3, np.float64))).item())
    assert loss_by_name("cross_entropy", 3) is F.cross_entropy
    with pytest.raises(ValueError, match="unknown loss 'hinge'.*cross_entropy"):
        loss_by_name("hinge", 3)
    params = nn.Linear(2, 2).parameters()
    sgd = optimizer_by_name("momentum", params, lr=0.5)
    assert isinstance(sgd, optim.SGD) and sgd.param_groups[0]["momentum"] == 0.9
    assert optimizer_by_name("sgd", params, lr=0.5).param_groups[0]["momentum"] == 0
    assert isinstance(optimizer_by_name("adam", params, lr=0.5), optim.Adam)
    with pytest.raises(ValueError, match="unknown optimizer 'lbfgs'.*adam"):
        optimizer_by_name("lbfgs", params, lr=0.5)


def test_metrics():
    out = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    np.testing.assert_array_equal(predicted_labels(out), [1, 0, 1, 0])
    np.testing.assert_array_equal(predicted_labels(np.array([[0.2], [0.7]])), [0, 1])   # one column: threshold
    assert accuracy(out, np.array([1, 1, 1, 0])) == 0.75
    assert accuracy(out, np.eye(2)[[1, 1, 1, 0]]) == 0.75                             # one-hot targets
    matrix = confusion_matrix(np.array([1, 0, 1, 0, 2]), np.array([1, 1, 1, 0, 2]), 3)
    np.testing.assert_array_equal(matrix, [[1, 0, 0], [1, 2, 0], [0, 0, 1]])         # rows true, columns predicted
    text = format_confusion(matrix)
    assert text.splitlines()[0].split() == ["true\\pred", "0", "1", "2"]
    assert text.splitlines()[2].split() == ["1", "1", "2", "0"]


def test_predict_on_empty_input_keeps_the_output_shape():
    from glassgrad.train import predict
    model = nn.Sequential(nn.Linear(4, 3))
    assert predict(model, np.zeros((0, 4), np.float32)).shape == (0, 3)
