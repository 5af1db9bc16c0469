"""The engine's one extension point (glassgrad.hooks): what an installed hook sees, and that it changes
nothing the engine computes; grad mode in its own module."""
from __future__ import annotations

import numpy as np
import pytest

import glassgrad as gg
from glassgrad import engine, grad_mode, hooks


class Recorder(hooks.Hook):
    def __init__(self):
        self.events = []

    def on_gate(self, gate, args, params, needs, result, forward=None):
        self.events.append(("gate", gate.name if gate is not None else forward.__name__, tuple(needs)))

    def on_read(self, tensor):
        self.events.append(("read", tensor.shape))

    def on_backward_step(self, node, g, input_grads):
        self.events.append(("step", node.gate.name, tuple(gi is not None for gi in input_grads)))


def test_a_hook_sees_gates_reads_and_backward_steps_in_order():
    x = gg.tensor(np.array([1.0, -2.0]), requires_grad=True)
    rec = Recorder()
    with hooks.installed(rec):
        y = (x * 3.0).relu().sum()
        gg.argmax(x)
        y.item()
        y.backward()
    assert rec.events == [
        ("gate", "mul", (True, False)), ("gate", "relu", (True,)), ("gate", "sum", (True,)),
        ("gate", "argmax", (False,)), ("read", ()),
        ("step", "sum", (True,)), ("step", "relu", (True,)), ("step", "mul", (True, False))]
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 0.0])
    assert hooks.active == ()


def test_hooks_nest_and_leave_when_their_block_ends_even_on_error():
    outer, inner = Recorder(), Recorder()
    x = gg.tensor([1.0], requires_grad=True)
    with hooks.installed(outer):
        with pytest.raises(RuntimeError):
            with hooks.installed(inner):
                assert hooks.active == (outer, inner)
                x.exp()
                raise RuntimeError("boom")
        assert hooks.active == (outer,)
        x.log()
    assert hooks.active == ()
    assert [e[1] for e in outer.events] == ["exp", "log"] and [e[1] for e in inner.events] == ["exp"]


def test_the_observer_argument_is_a_hook_for_one_call_beside_the_installed_ones():
    x = gg.tensor(np.array([0.5, 1.5]), requires_grad=True)
    seen, rec = [], Recorder()
    y = (x.tanh() * x).sum()
    with hooks.installed(rec):
        grads = engine.backward(y, np.ones(()), inputs=[x], retain_graph=True,
                                observer=lambda node, g, grads: seen.append(node.gate.name))
    assert seen == ["sum", "mul", "tanh"] and [e[1] for e in rec.events] == seen
    assert x.grad is None                                   # inputs= touches no .grad
    expected = np.tanh([0.5, 1.5]) + np.array([0.5, 1.5]) / np.cosh([0.5, 1.5]) ** 2
    np.testing.assert_allclose(grads[0], expected, rtol=1e-12)


def test_retain_grad_still_fills_grad_and_capture_still_leaves_it_alone():
    x = gg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    h = x * x
    h.retain_grad()
    y = h.sum()
    engine.backward(y, np.ones(()), inputs=[h], retain_graph=True)
    assert h.grad is None
    y.backward()
    np.testing.assert_array_equal(h.grad.numpy(), [1.0, 1.0])
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])


def test_grad_mode_lives_in_its_own_module_and_the_engine_names_still_work():
    assert gg.no_grad is grad_mode.no_grad is engine.no_grad
    x = gg.tensor([1.0], requires_grad=True)
    with grad_mode.no_grad():
        assert not grad_mode.is_grad_enabled() and not (x * 2).requires_grad
        with grad_mode.enable_grad():
            assert (x * 2).requires_grad
    assert grad_mode.is_grad_enabled()
