"""gg.compile: recorded steps give the eager step's numbers bit for bit, and fall back where they must."""
from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

import glassgrad as gg
from glassgrad import nn, optim
from glassgrad.nn import functional as F
from glassgrad.train import fit


def _batches(n=6, batch=8, features=12, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((batch, features)).astype(np.float32), rng.integers(0, classes, batch))
            for _ in range(n)]


def _train(model_fn, loss_fn, batches, compiled: bool, optimizer=lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9)):
    model = model_fn()
    opt = optimizer(model.parameters())
    step = gg.compile(lambda x, y: loss_fn(model(x), y)) if compiled else None
    losses = []
    for x, y in batches:
        opt.zero_grad()
        if compiled:
            loss = step(x, y)
        else:
            loss = loss_fn(model(gg.as_tensor(x)), gg.as_tensor(y))
            loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses, [p.data.copy() for p in model.parameters()], step


def _mlp(activation=nn.Sigmoid):
    def make():
        gg.manual_seed(0)
        return nn.Sequential(nn.Linear(12, 10), activation(), nn.Linear(10, 4))
    return make


@pytest.mark.parametrize("activation", [nn.Sigmoid, nn.ReLU, nn.Tanh])
def test_compiled_training_equals_eager_bit_for_bit(activation):
    batches = _batches()
    eager = _train(_mlp(activation), F.cross_entropy, batches, compiled=False)
    compiled = _train(_mlp(activation), F.cross_entropy, batches, compiled=True)
    assert eager[0] == compiled[0]
    assert all(np.array_equal(a, b) for a, b in zip(eager[1], compiled[1]))
    assert any(compiled[2].programs.values()), "the step should be replaying a recorded program"


def test_quadratic_cost_with_broadcast_bias_and_l2_equals_eager():
    batches = _batches()
    onehot = {id(y): np.eye(4, dtype=np.float32)[y] for _, y in batches}
    batches = [(x, onehot[id(y)]) for x, y in batches]

    def loss(a, y):
        model_params = loss.params
        return F.quadratic_cost(a.sigmoid(), y) + F.l2_penalty(model_params, 5.0, 100)

    def make():
        m = _mlp()()
        loss.params = m.parameters()
        return m

    eager = _train(make, loss, batches, compiled=False)
    compiled = _train(make, loss, batches, compiled=True)
    assert eager[0] == compiled[0]
    assert all(np.array_equal(a, b) for a, b in zip(eager[1], compiled[1]))


def test_gradients_accumulate_like_backward():
    w = gg.tensor(np.arange(6, dtype=np.float64).reshape(2, 3), requires_grad=True)
    step = gg.compile(lambda x: ((x @ w) ** 2).sum())
    x = np.ones((4, 2))
    for _ in range(3):   # two recording calls, one replay, all accumulating
        step(x)
    expected = 3 * 2 * x.T @ (x @ w.data)
    np.testing.assert_allclose(w.grad.data, expected)


def test_new_batch_shape_gets_its_own_recording_and_outputs_are_returned():
    gg.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 3))
    step = gg.compile(lambda x, y: (F.cross_entropy(model(x), y), model(x)))
    rng = np.random.default_rng(1)
    for n in (8, 8, 8, 3, 3, 3):
        x, y = rng.standard_normal((n, 5)).astype(np.float32), rng.integers(0, 3, n)
        loss, out = step(x, y)
        with gg.no_grad():
            np.testing.assert_array_equal(out.data, model(gg.as_tensor(x)).data)
        assert not loss.requires_grad and loss.grad_fn is None
    assert sum(p is not None for p in step.programs.values()) == 2


def test_dropout_falls_back_to_eager_with_a_warning():
    gg.manual_seed(0)
    model = nn.Sequential(nn.Linear(12, 10), nn.Dropout(0.5), nn.Linear(10, 4))
    step = gg.compile(lambda x, y: F.cross_entropy(model(x), y))
    with pytest.warns(RuntimeWarning, match="constant changes from call to call"):
        for x, y in _batches(3):
            step(x, y)
    assert list(step.programs.values()) == [None]
    x, y = _batches(1)[0]
    for p in model.parameters():     # eager fallback still computes gradients
        p.grad = None
    step(x, y)
    assert all(p.grad is not None for p in model.parameters())


def test_data_dependent_control_flow_falls_back():
    w = gg.tensor([1.0, -2.0], requires_grad=True)

    def branchy(x):
        s = (x * w).sum()
        return s * 2.0 if s.item() > 0 else s * -1.0    # Python looks at a computed value

    step = gg.compile(branchy)
    with pytest.warns(RuntimeWarning, match="reads a computed value"):
        step(np.array([3.0, 1.0], np.float32))
        step(np.array([3.0, 1.0], np.float32))
    w.grad = None
    step(np.array([0.0, 1.0], np.float32))       # the other branch, computed correctly by the eager fallback
    np.testing.assert_allclose(w.grad.data, [-0.0, -1.0])


def test_custom_function_and_conv_layers_replay():
    class Square(gg.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 2 * x * g

    def make():
        gg.manual_seed(0)
        return nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8, 3))

    rng = np.random.default_rng(0)
    batches = [(rng.standard_normal((4, 1, 6, 6)).astype(np.float32), rng.integers(0, 3, 4)) for _ in range(4)]

    def loss(out, y):
        return F.cross_entropy(Square.apply(out), y)

    eager = _train(make, loss, batches, compiled=False)
    compiled = _train(make, loss, batches, compiled=True)
    assert eager[0] == compiled[0]
    assert all(np.array_equal(a, b) for a, b in zip(eager[1], compiled[1]))
    assert any(compiled[2].programs.values())


def test_source_shows_the_generated_step():
    gg.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 2), nn.Tanh())
    step = gg.compile(lambda x: model(x).sum())
    for _ in range(2):
        step(np.ones((2, 3), np.float32))
    src = step.source()
    assert "def step(inputs, params):" in src and "# linear" in src and "# tanh" in src
    assert "add_to_grad(params[0]" in src


def test_step_must_return_a_scalar():
    step = gg.compile(lambda x: x * 2.0)
    with pytest.raises(TypeError, match="scalar loss"):
        step(np.ones(3, np.float32))


def test_fit_with_compile_matches_fit_without():
    from glassgrad.data import make_moons

    x, y = make_moons(200, noise=0.1, seed=0)
    results = []
    for compile_ in (False, True):
        gg.manual_seed(0)
        model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2))
        opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        with warnings.catch_warnings():
            warnings.simplefilter("error")       # no eager fallback expected
            history = fit(model, F.cross_entropy, opt, (x, y), epochs=3, batch_size=32, progress=False,
                          verbose=False, compile=compile_)
        results.append((history["loss"], [p.data.copy() for p in model.parameters()]))
    assert results[0][0] == results[1][0]
    assert all(np.array_equal(a, b) for a, b in zip(results[0][1], results[1][1]))


# ---- the whole training step: zero_grad, forward, backward, clipping and the optimizer in one function ----
OPTIMIZERS = {
    "sgd": lambda ps: optim.SGD(ps, lr=0.1),
    "sgd wd": lambda ps: optim.SGD(ps, lr=0.1, weight_decay=1e-2),
    "sgd momentum dampening wd": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.1, weight_decay=1e-3),
    "sgd nesterov": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
    "adam": lambda ps: optim.Adam(ps, lr=1e-2),
    "adam wd amsgrad": lambda ps: optim.Adam(ps, lr=1e-2, weight_decay=1e-2, amsgrad=True),
    "adamw": lambda ps: optim.AdamW(ps, lr=1e-2),
    "rmsprop": lambda ps: optim.RMSprop(ps, lr=1e-2),
    "rmsprop centered momentum wd": lambda ps: optim.RMSprop(ps, lr=1e-2, momentum=0.9, centered=True,
                                                             weight_decay=1e-3),
    "two groups": lambda ps: optim.SGD([{"params": ps[:2], "lr": 0.05}, {"params": ps[2:]}], lr=0.1, momentum=0.5),
}


def _whole_step_run(make_opt, compiled: bool, clip=None, batch=8, activation=nn.Sigmoid, steps=6,
                    keep_grads=True, make_model=None, batches=None):
    model = (make_model or _mlp(activation))()
    opt = make_opt(model.parameters())
    clip_fn = None if clip is None else (lambda: clip(model.parameters()))
    step = gg.compile(lambda x, y: F.cross_entropy(model(x), y), optimizer=opt, before_step=clip_fn,
                      keep_grads=keep_grads)
    losses = []
    for x, y in batches or _batches(steps, batch=batch):
        if compiled:
            losses.append(step(x, y).item())
        else:
            opt.zero_grad()
            loss = F.cross_entropy(model(gg.as_tensor(x)), gg.as_tensor(y))
            loss.backward()
            if clip_fn is not None:
                clip_fn()
            opt.step()
            losses.append(loss.item())
    return losses, [p.data.copy() for p in model.parameters()], \
        [None if p.grad is None else p.grad.data.copy() for p in model.parameters()], step, opt


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_whole_compiled_step_equals_eager_step_for_every_optimizer(name):
    eager = _whole_step_run(OPTIMIZERS[name], compiled=False)
    compiled = _whole_step_run(OPTIMIZERS[name], compiled=True)
    assert any(compiled[3].programs.values()), "the step should be replaying a recorded program"
    assert "update(params[" in compiled[3].source()
    # the same NumPy operations in the same order: equal bit for bit (by construction, on any BLAS)
    assert eager[0] == compiled[0]
    for a, b in zip(eager[1] + eager[2], compiled[1] + compiled[2]):
        np.testing.assert_array_equal(a, b)
    # the optimizer's state is the optimizer's own, as after eager steps (a checkpoint sees it)
    for p_e, p_c in zip(eager[4].state, compiled[4].state):
        for k, v in eager[4].state[p_e].items():
            np.testing.assert_array_equal(v, compiled[4].state[p_c][k])


FOLDED = ("sgd", "sgd wd")      # w ← shrink·w + scale·g: the learning rate goes into the backward pass
FOLD_NOTE = "learning rate folded into every gradient"      # the generated line that folds it


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_whole_compiled_step_without_keep_grads_equals_eager_to_rounding(name):
    """Plain SGD folds −η into ∂loss/∂loss (the update is one addition, .grad stays None); the other
    optimizers read the gradients and run as with keep_grads=True, bit for bit."""
    eager = _whole_step_run(OPTIMIZERS[name], compiled=False)
    compiled = _whole_step_run(OPTIMIZERS[name], compiled=True, keep_grads=False)
    source = compiled[3].source()
    assert (FOLD_NOTE in source) == (name in FOLDED)
    assert ("= dot(ones" in source) == (name in FOLDED)     # a bias gradient as 1ᵀ g only where folded
    if name in FOLDED:
        assert "update(params[" not in source and "add(v" in source
        assert all(g is None for g in compiled[2]), "a folded step hands no gradient to .grad"
        np.testing.assert_allclose(eager[0], compiled[0], rtol=1e-6)
        for a, b in zip(eager[1], compiled[1]):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    else:
        assert eager[0] == compiled[0]
        for a, b in zip(eager[1] + eager[2], compiled[1] + compiled[2]):
            np.testing.assert_array_equal(a, b)


def _scheduled_run(compiled: bool, **sgd):
    """Six SGD steps with the learning rate halved after each (StepLR): (parameters, step, optimizer)."""
    model = _mlp()()
    opt = optim.SGD(model.parameters(), lr=0.5, **sgd)
    sched = optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    step = gg.compile(lambda x, y: F.cross_entropy(model(x), y), optimizer=opt)
    for x, y in _batches(6):
        if compiled:
            step(x, y)
        else:
            opt.zero_grad()
            F.cross_entropy(model(gg.as_tensor(x)), gg.as_tensor(y)).backward()
            opt.step()
        sched.step()
    return [p.data.copy() for p in model.parameters()], step, opt


def test_folded_step_follows_a_schedule_and_refuses_a_changed_rule():
    eager, (compiled, step, opt) = _scheduled_run(False, weight_decay=1e-3)[0], \
        _scheduled_run(True, weight_decay=1e-3)
    assert FOLD_NOTE in step.source()
    for a, b in zip(eager, compiled):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    opt.param_groups[0]["momentum"] = 0.9           # the rule is no longer one addition: said, not ignored
    x, y = _batches(1)[0]
    with pytest.raises(RuntimeError, match="folds the learning rate"):
        step(x, y)


def test_no_fold_with_two_learning_rates_or_a_parameter_outside_the_optimizer():
    model = _mlp()()
    ps = list(model.parameters())
    x, y = _batches(1)[0]
    two = gg.compile(lambda x, y: F.cross_entropy(model(x), y),
                     optimizer=optim.SGD([{"params": ps[:2], "lr": 0.05}, {"params": ps[2:]}], lr=0.1))
    outside = gg.compile(lambda x, y: F.cross_entropy(model(x), y), optimizer=optim.SGD(ps[:2], lr=0.1))
    for step in (two, outside):
        for _ in range(3):
            step(x, y)
        assert FOLD_NOTE not in step.source()
    assert ps[3].grad is not None          # outside the optimizer: its gradient is handed to .grad, unscaled


def test_no_fold_for_a_subclass_with_an_update_rule_of_its_own():
    class HalfSGD(optim.SGD):
        """SGD taking half steps: its own _update, which a fold by SGD's _folded would ignore."""

        def _update(self, p, w, g, hyper):
            super()._update(p, w, g, (hyper[0] / 2, *hyper[1:]))

    eager = _whole_step_run(lambda ps: HalfSGD(ps, lr=0.1), compiled=False)
    compiled = _whole_step_run(lambda ps: HalfSGD(ps, lr=0.1), compiled=True, keep_grads=False)
    assert FOLD_NOTE not in compiled[3].source() and "update(params[" in compiled[3].source()
    for a, b in zip(eager[1], compiled[1]):
        np.testing.assert_array_equal(a, b)


def test_whole_step_guard_sees_gradients_and_can_skip_the_update():
    model = _mlp()()
    opt = optim.SGD(model.parameters(), lr=0.1)
    seen = []

    def guard(loss):
        seen.append((float(loss), all(p.grad is not None for p in model.parameters())))
        return len(seen) % 2 == 0          # every other step is skipped

    step = gg.compile(lambda x, y: F.cross_entropy(model(x), y), optimizer=opt, guard=guard)
    x, y = _batches(1)[0]
    for _ in range(4):
        before = [p.data.copy() for p in model.parameters()]
        step(x, y)
        changed = any(not np.array_equal(a, p.data) for a, p in zip(before, model.parameters()))
        assert changed == (len(seen) % 2 == 0)
    assert all(has_grads for _, has_grads in seen) and "if not guard(" in step.source()
    assert FOLD_NOTE not in step.source()        # a guard reads the gradients: nothing folded


class _ClipInCallback(gg.train.callbacks.Callback):
    """Clips in on_backward_end: between backward and the update, inside the compiled whole step."""

    def on_backward_end(self, state, logs):
        optim.clip_grad_norm_(state.model.parameters(), 0.05)


def _fit_run(make_opt, compile_, callbacks=(), x_bad=False):
    from glassgrad.data import make_moons

    x, y = make_moons(96, noise=0.1, seed=0)
    if x_bad:
        x = x.copy()
        x[70] = np.inf       # reaches the loss in the third batch: stops there, before its update
    gg.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 2))
    opt = make_opt(model.parameters())
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="gg.compile")      # no eager fallback expected
        warnings.filterwarnings("ignore", category=RuntimeWarning)   # the inf input's NaN arithmetic
        history = fit(model, F.cross_entropy, opt, (x, y), epochs=2, batch_size=32, progress=False,
                      verbose=False, compile=compile_, callbacks=callbacks, shuffle=not x_bad,
                      check_inputs=not x_bad)
    return history, [p.data.copy() for p in model.parameters()], opt


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_fit_compiles_the_whole_step_for_every_optimizer(name, monkeypatch):
    """fit(compile=True) runs the update inside the generated function; the same operations as the eager
    fit, so the same numbers bit for bit (gradients are kept: the callbacks read them)."""
    import importlib

    fit_module = importlib.import_module("glassgrad.train.fit")     # the module (the package exports fit())
    compiled_steps = []
    original = fit_module._Step.__init__

    def spy(self, *args):
        original(self, *args)
        compiled_steps.append(self.compiled)

    monkeypatch.setattr(fit_module._Step, "__init__", spy)
    eager, compiled = _fit_run(OPTIMIZERS[name], False), _fit_run(OPTIMIZERS[name], True)
    source = compiled_steps[-1].source()
    assert "if not guard(" in source and "update(params[" in source
    assert eager[0]["loss"] == compiled[0]["loss"]
    for a, b in zip(eager[1], compiled[1]):
        np.testing.assert_array_equal(a, b)
    for p_e, p_c in zip(eager[2].state, compiled[2].state):
        for k, v in eager[2].state[p_e].items():
            np.testing.assert_array_equal(v, compiled[2].state[p_c][k])


def test_fit_compiled_runs_callbacks_before_the_update_and_stops_on_a_nonfinite_loss():
    make = OPTIMIZERS["adam"]
    eager, compiled = _fit_run(make, False, [_ClipInCallback()]), _fit_run(make, True, [_ClipInCallback()])
    assert eager[0]["loss"] == compiled[0]["loss"]
    for a, b in zip(eager[1], compiled[1]):
        np.testing.assert_array_equal(a, b)
    eager, compiled = _fit_run(make, False, x_bad=True), _fit_run(make, True, x_bad=True)
    assert compiled[0].fault and compiled[0].stop_reason == eager[0].stop_reason
    assert "step 3" in compiled[0].stop_reason
    for a, b in zip(eager[1], compiled[1]):        # two updates, not the third
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("clip", [lambda ps: optim.clip_grad_norm_(ps, 0.05),
                                  lambda ps: optim.clip_grad_value_(ps, 0.01)])
def test_whole_compiled_step_clips_before_the_update(clip):
    eager = _whole_step_run(OPTIMIZERS["sgd momentum dampening wd"], compiled=False, clip=clip)
    compiled = _whole_step_run(OPTIMIZERS["sgd momentum dampening wd"], compiled=True, clip=clip)
    assert eager[0] == compiled[0]
    for a, b in zip(eager[1] + eager[2], compiled[1] + compiled[2]):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("activation", [nn.ReLU, nn.Tanh])
def test_whole_compiled_step_batch_of_one_and_other_activations(activation):
    eager = _whole_step_run(OPTIMIZERS["adam"], compiled=False, batch=1, activation=activation)
    compiled = _whole_step_run(OPTIMIZERS["adam"], compiled=True, batch=1, activation=activation)
    np.testing.assert_allclose(eager[0], compiled[0], rtol=1e-6)
    for a, b in zip(eager[1], compiled[1]):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert "multiply(" in compiled[3].source() and "reshape(-1, 1)" in compiled[3].source()  # outer product


def test_whole_compiled_step_follows_a_learning_rate_schedule():
    for a, b in zip(_scheduled_run(False, momentum=0.9)[0], _scheduled_run(True, momentum=0.9)[0]):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("option", [dict(before_step=lambda: None), dict(guard=lambda loss: True),
                                    dict(keep_grads=True)])
def test_whole_step_options_need_an_optimizer(option):
    with pytest.raises(ValueError, match="pass optimizer= too"):
        gg.compile(lambda x: x.sum(), **option)


def _replaying_sgd_step():
    """(model, whole compiled SGD step, x, y), the step already replaying its recording for (x, y)."""
    model = _mlp()()
    step = gg.compile(lambda x, y: F.cross_entropy(model(x), y), optimizer=optim.SGD(model.parameters(), lr=0.1))
    x, y = _batches(1)[0]
    for _ in range(3):
        step(x, y)
    return model, step, x, y


def test_compiled_step_reuses_its_arrays_and_holds_memory_flat():
    import gc
    import tracemalloc

    _, step, x, y = _replaying_sgd_step()
    gc.collect()
    tracemalloc.start()
    for _ in range(200):
        step(x, y)
    gc.collect()
    first = tracemalloc.get_traced_memory()[0]
    for _ in range(2000):
        step(x, y)
    gc.collect()
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert held - first < 4096, f"memory held grew by {held - first} bytes over 2,000 compiled steps"


def test_whole_compiled_step_hinge_loss_with_penalty_equals_eager():
    """micrograd's problem: relu margins, mean, an L2 term Σ p·p (a gate using one input twice), neg, add."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((20, 2)).astype(np.float32)
    y = np.where(rng.random((20, 1)) < 0.5, -1.0, 1.0).astype(np.float32)

    def run(compiled, keep_grads=True):
        gg.manual_seed(0)
        model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 1))
        opt = optim.SGD(model.parameters(), lr=0.1)

        def loss_fn(x, y):
            margins = F.relu(1 + -y * model(x))
            return margins.mean() + 1e-4 * sum((p * p).sum() for p in model.parameters())

        step = gg.compile(loss_fn, optimizer=opt, keep_grads=keep_grads)
        losses = []
        for _ in range(5):
            if compiled:
                losses.append(step(x, y).item())
            else:
                opt.zero_grad()
                loss = loss_fn(gg.as_tensor(x), gg.as_tensor(y))
                loss.backward()
                opt.step()
                losses.append(loss.item())
        return losses, [p.data.copy() for p in model.parameters()], step

    eager, compiled, folded = run(False), run(True), run(True, keep_grads=False)
    assert "add.reduce(" in compiled[2].source() and "# mean" in compiled[2].source()
    # unfolded: sum()'s start 0 is no addition (an exact rewrite), the penalties are the gates' own calls
    assert "x + 0 is x" in compiled[2].source() and "vdot(" not in compiled[2].source()
    assert eager[0] == compiled[0]
    for a, b in zip(eager[1], compiled[1]):
        np.testing.assert_array_equal(a, b)
    assert FOLD_NOTE in folded[2].source()      # the learning rate folded in: equal to rounding
    np.testing.assert_allclose(eager[0], folded[0], rtol=1e-6)
    for a, b in zip(eager[1], folded[1]):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("not_a_function", [None, 5, "step"])
def test_compile_refuses_what_is_not_a_function_up_front(not_a_function):
    with pytest.raises(TypeError, match="gg.compile: expected the step function"):
        gg.compile(not_a_function)


@pytest.mark.parametrize("bad", [-1, 4, 40])
def test_compiled_cross_entropy_checks_the_labels_it_replays(bad):
    """F.cross_entropy's label check is Python outside the gate, which a replay skips; the compiled gate
    addresses label entries in the flattened rows, so it checks them itself (a wrong label would otherwise
    read another example's entry), before anything changes."""
    model, step, x, y = _replaying_sgd_step()
    assert "bad_labels(" in step.source()
    before = [p.data.copy() for p in model.parameters()]
    labels = y.copy()
    labels[3] = bad
    with pytest.raises(ValueError, match=r"cross_entropy: labels must lie in \[0, 3\]"):
        step(x, labels)
    for a, p in zip(before, model.parameters()):
        np.testing.assert_array_equal(a, p.data)
    step(x, y.astype(np.int32))     # other integer labels: a signature of their own, checked the same way
    step(x, y.astype(np.int32))
    step(x, y.astype(np.int32))
    with pytest.raises(ValueError, match="labels must lie"):
        step(x, labels.astype(np.int32))


def test_a_loss_of_one_number_from_an_in_place_gate_and_the_square_of_a_parameter():
    """sigmoid's written-out forward works in place, which a fresh NumPy scalar cannot be: a returned 0-d
    sigmoid falls back to the gate's call; p·p's two gradients are written as one (g·p doubled, exact);
    sum's gradient stays one number where its use broadcasts it. All equal to eager bit for bit."""
    def run(compiled):
        w = gg.tensor(np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4), requires_grad=True)
        b = gg.tensor(np.float32(0.5), requires_grad=True)
        opt = optim.SGD([w, b], lr=0.1, momentum=0.5)

        def loss_fn(x):
            return (((x * w).sum() + b) * 0.1 + (w * w).sum() * 0.01 + (w * w).mean()).sigmoid()

        step = gg.compile(loss_fn, optimizer=opt)
        x = np.arange(12, dtype=np.float32).reshape(3, 4) / 10
        losses = []
        for _ in range(4):
            if compiled:
                losses.append(step(x))
            else:
                opt.zero_grad()
                loss = loss_fn(gg.as_tensor(x))
                loss.backward()
                opt.step()
                losses.append(loss)
        return losses, [w.data.copy(), b.data.copy()], step

    eager, compiled = run(False), run(True)
    source = compiled[2].source()
    assert "x·x: twice" in source and re.search(r"v\d+ = f\d+\(.*# sigmoid", source)
    assert all(type(loss.data) is np.ndarray for loss in compiled[0])
    assert [float(v.item()) for v in eager[0]] == [float(v.item()) for v in compiled[0]]
    for a, b in zip(eager[1], compiled[1]):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_small_batch_through_a_large_layer_runs_transposed_and_equals_eager(optimizer):
    """(w xᵀ)ᵀ instead of x wᵀ for a batch of 4..64 through a layer of ≥ 16K weights: the same products and
    sums in another BLAS call, so equal to the eager step to float rounding (checked to 1e-6)."""
    rng = np.random.default_rng(1)
    batches = [(rng.standard_normal((16, 256)).astype(np.float32), rng.integers(0, 10, 16)) for _ in range(4)]

    def make_model():
        gg.manual_seed(0)
        return nn.Sequential(nn.Linear(256, 64), nn.ReLU(), nn.Linear(64, 10))

    eager, compiled = (_whole_step_run(OPTIMIZERS[optimizer], c, keep_grads=False, make_model=make_model,
                                       batches=batches) for c in (False, True))
    source = compiled[3].source()
    assert len(re.findall(r"matmul\(v\d+, v\d+\.T, out=buf\d+\)\.T", source)) == 1, \
        "only the large first layer runs transposed"
    namespace = next(p for p in compiled[3].programs.values() if p).namespace
    relu_buffer = [a for name, a in namespace.items() if name.startswith("buf") and a.ndim == 2
                   and a.flags.f_contiguous and not a.flags.c_contiguous]
    assert [a.shape for a in relu_buffer] == [(16, 64)], "the relu writes in its input's (transposed) layout"
    np.testing.assert_allclose(eager[0], compiled[0], rtol=1e-6)
    for a, b in zip(eager[1], compiled[1]):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)



@pytest.mark.parametrize("reduction", ["sum", "mean"])
@pytest.mark.parametrize("shape, axis", [((), 0), ((), -1), ((3, 4), [0, 1]), ((3, 4), [-1])])
def test_compiled_sum_and_mean_take_every_axis_spelling_eager_takes(shape, axis, reduction):
    """A 0-d input's axis 0 or -1 and an axis list, as ops.reduce accepts them: replayed, equal to eager."""
    def run(compiled):
        w = gg.tensor(np.linspace(-1, 1, int(np.prod(shape)), dtype=np.float32).reshape(shape), requires_grad=True)
        step = gg.compile(lambda x: getattr(x * w, reduction)(axis=axis).sum())
        x = np.full(shape, 0.5, np.float32)
        for _ in range(3):
            w.grad = None
            loss = step(x) if compiled else step.fn(gg.as_tensor(x))
            if not compiled:
                loss.backward()
        return loss.item(), w.grad.data.copy(), step

    eager, compiled = run(False), run(True)
    assert all(compiled[2].programs.values()), compiled[2].reasons
    assert eager[0] == compiled[0]
    np.testing.assert_array_equal(eager[1], compiled[1])


ZERO_D_LOSSES = {
    "x·w summed and averaged": lambda x, w: (x * w).sum() + (x * w).mean(),
    "w·3 + w·2": lambda x, w: w * 3.0 + w * 2.0 + x.sum(),
    "exp(w) + tanh(w)": lambda x, w: w.exp() + w.tanh() + x.sum(),
    "w·w + w": lambda x, w: w * w + w + x.sum(),
    "(Σx)·w twice": lambda x, w: x.sum() * w + x.sum() * w,
}
ZERO_D_OPTIMIZERS = {"none": None, "sgd (folded)": lambda ps: optim.SGD(ps, lr=0.1),
                     "sgd keep_grads": lambda ps: optim.SGD(ps, lr=0.1), "adam": lambda ps: optim.Adam(ps, lr=0.1)}


@pytest.mark.parametrize("optimizer", list(ZERO_D_OPTIMIZERS))
@pytest.mark.parametrize("loss", list(ZERO_D_LOSSES))
def test_a_zero_d_parameter_whose_gradient_arrives_by_two_paths_replays(loss, optimizer):
    """Regression: a 0-d parameter's first gradient made fresh is a NumPy scalar (no array to add the
    second one into in place: TypeError "return arrays must be of ArrayType"), and adding to a gradient
    that is the namespace's ∂loss/∂loss made that name a local (UnboundLocalError). Equal to eager, bit for
    bit where nothing is folded."""
    loss_fn, make_opt = ZERO_D_LOSSES[loss], ZERO_D_OPTIMIZERS[optimizer]

    def run(compiled):
        w = gg.tensor(2.0, requires_grad=True)
        x = np.arange(4, dtype=np.float32) / 4
        opt = make_opt([w]) if make_opt else None
        step = gg.compile(lambda x: loss_fn(x, w), optimizer=opt, keep_grads=optimizer == "sgd keep_grads")
        losses, grads = [], []
        for _ in range(4):
            if compiled:
                losses.append(step(x).item())
            else:
                if opt is not None:
                    opt.zero_grad()
                value = loss_fn(gg.as_tensor(x), w)
                value.backward()
                if opt is not None:
                    opt.step()
                losses.append(value.item())
            grads.append(None if w.grad is None else w.grad.item())
        return losses, w.item(), grads, step

    eager, compiled = run(False), run(True)
    assert all(compiled[3].programs.values()), compiled[3].reasons
    if optimizer == "sgd (folded)":
        assert FOLD_NOTE in compiled[3].source()
        np.testing.assert_allclose(eager[0], compiled[0], rtol=1e-6)
        np.testing.assert_allclose(eager[1], compiled[1], rtol=1e-6)
        assert compiled[2] == [None] * 4              # a folded step hands no gradient to .grad
    else:
        assert eager[:3] == compiled[:3]


def test_a_gradient_shared_by_two_inputs_of_an_addition_keeps_its_value_when_one_gets_more():
    """z = x + y hands both x and y the same gradient array; x gets another gradient later (x·3): the sum
    must get a name of its own, not rebind the shared one that y's gradient still reads (which doubled it)."""
    def run(compiled):
        w = gg.tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)

        def loss_fn():
            x, y = w * 2.0, w * 4.0
            return (x * 3.0 + (x + y)).sum()

        step = gg.compile(loss_fn)
        for _ in range(3):
            w.grad = None
            if compiled:
                step()
            else:
                loss_fn().backward()
        return w.grad.data.copy(), step

    eager, compiled = run(False), run(True)
    assert any(compiled[1].programs.values())
    np.testing.assert_array_equal(eager[0], [12.0, 12.0])
    np.testing.assert_array_equal(eager[0], compiled[0])


def _penalty_data(dtype):
    """Inputs, ±1 targets and the parameters w1, b1, w2, b2 of a 3-8-1 ReLU network, and one more (2, 3)."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((20, 3)).astype(dtype)
    y = np.where(rng.random((20, 1)) < 0.5, -1.0, 1.0).astype(dtype)
    return x, y, [(rng.standard_normal(shape) / 2).astype(dtype) for shape in ((8, 3), (8,), (1, 8), (1,), (2, 3))]


def _penalty_loss(relu, params, x, y):
    """A hinge loss with L2 penalties Σ p·p on every parameter (Python's sum() of tensors, starting at 0), one
    more parameter that only the penalties reach, a second penalty on w2 and a Σ a·b term of two parameters."""
    w1, b1, w2, b2, extra = params
    score = relu(x @ w1.T + b1) @ w2.T + b2
    return relu(1 + -y * score).mean() + 1e-2 * sum((p * p).sum() for p in params) + 1e-3 * (w2 * w2).sum() \
        + 1e-2 * (w1[:2, :] * extra).sum()


def _penalty_run(make_opt, compiled: bool, steps=4, dtype=np.float32):
    x, y, arrays = _penalty_data(dtype)
    params = [gg.tensor(a, requires_grad=True) for a in arrays]
    opt = make_opt(params)
    step = gg.compile(lambda x, y: _penalty_loss(F.relu, params, x, y), optimizer=opt)
    losses = []
    for _ in range(steps):
        if compiled:
            losses.append(step(x, y).item())
        else:
            opt.zero_grad()
            loss = _penalty_loss(F.relu, params, gg.as_tensor(x), gg.as_tensor(y))
            loss.backward()
            opt.step()
            losses.append(loss.item())
    return losses, [p.data.copy() for p in params], step


@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
def test_folded_sgd_takes_l2_penalties_into_the_decay_and_equals_eager(weight_decay):
    """Folded SGD: Σ p·p becomes one vdot, its gradient 2·g·p a decay factor (shrink + 2g)·w, the sum's
    start value 0 no addition; Σ a·b of two parameters a vdot too. Equal to eager to float rounding."""
    make_opt = lambda ps: optim.SGD(ps, lr=0.1, weight_decay=weight_decay)      # noqa: E731
    eager, compiled = _penalty_run(make_opt, False), _penalty_run(make_opt, True)
    source = compiled[2].source()
    assert FOLD_NOTE in source
    assert len(re.findall(r"= vdot\(v(\d+), v\1\)", source)) == 6          # five Σ p·p and Σ w2·w2
    assert len(re.findall(r"= vdot\(v(\d+), v(?!\1\))\d+\)", source)) == 1   # Σ w1[:2]·extra
    assert "x·x: twice" not in source and "x + 0 is x" in source
    assert re.search(r"decay0 = shrink \+ 2 \* \(float\(g\d+\)\)", source)
    assert re.search(r"decay1 = shrink \+ 2 \* \(float\(g\d+\) \+ float\(g\d+\)\)", source)  # w2: two terms
    np.testing.assert_allclose(eager[0], compiled[0], rtol=1e-6)
    for a, b in zip(eager[1], compiled[1]):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", ["sgd momentum dampening wd", "sgd nesterov", "adam", "adamw"])
def test_l2_penalties_are_not_folded_where_the_update_reads_the_gradient(name):
    """Momentum and Adam read the gradient (an L2 term is not a decay there): no vdot, no decay factor,
    the eager step's operations, so its numbers bit for bit."""
    eager, compiled = _penalty_run(OPTIMIZERS[name], False), _penalty_run(OPTIMIZERS[name], True)
    source = compiled[2].source()
    assert "vdot(" not in source and "decay0" not in source and "x·x: twice" in source
    assert eager[0] == compiled[0]
    for a, b in zip(eager[1], compiled[1]):
        np.testing.assert_array_equal(a, b)


def test_folded_l2_penalty_gradient_equals_finite_differences_in_float64():
    """A folded SGD step with learning rate η moves w to w − η ∂loss/∂w (the decay factor included): the
    gradient read back from one replayed step equals centred finite differences of the loss (float64; the
    margins stay off the relu's kink at this point)."""
    lr = 0.5
    _, _, step = _penalty_run(lambda ps: optim.SGD(ps, lr=lr), True, steps=2, dtype=np.float64)
    assert any(step.programs.values()) and FOLD_NOTE in step.source() and "decay0" in step.source()
    x, y, _ = _penalty_data(np.float64)
    params = next(p for p in step.programs.values() if p).params
    start = [p.data.copy() for p in params]
    step(x, y)
    grads = [(a - p.data) / lr for a, p in zip(start, params)]
    for p, a in zip(params, start):
        p.data[...] = a
    with gg.no_grad():
        for p, g in zip(params, grads):
            flat, numeric = p.data.reshape(-1), np.empty(p.data.size)
            for i in range(flat.size):
                old = flat[i]
                flat[i] = old + 1e-6
                up = step.fn(x, y).item()
                flat[i] = old - 1e-6
                down = step.fn(x, y).item()
                flat[i] = old
                numeric[i] = (up - down) / 2e-6
            np.testing.assert_allclose(g.reshape(-1), numeric, rtol=1e-6, atol=1e-8)


def test_folded_l2_penalty_step_equals_pytorch():
    """The same hinge-and-penalty SGD steps in PyTorch (CPU, float64): the same parameters."""
    torch = pytest.importorskip("torch")
    _, final, step = _penalty_run(lambda ps: optim.SGD(ps, lr=0.1), True, dtype=np.float64)
    assert FOLD_NOTE in step.source() and "decay0" in step.source()
    x, y, arrays = _penalty_data(np.float64)
    params = [torch.tensor(a, requires_grad=True) for a in arrays]
    opt = torch.optim.SGD(params, lr=0.1)
    for _ in range(4):
        opt.zero_grad()
        _penalty_loss(torch.relu, params, torch.tensor(x), torch.tensor(y)).backward()
        opt.step()
    for ours, theirs in zip(final, params):
        np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=1e-10, atol=1e-12)
