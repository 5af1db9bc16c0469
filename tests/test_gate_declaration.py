"""The gate declaration: signatures and docstrings from the forward, defaults stated once, the checks made
at registration, clear errors for a missing derivative rule, and the generated gate tables."""
from __future__ import annotations

import functools
import inspect
import pydoc

import numpy as np
import pytest

import glassgrad as gg
from glassgrad.engine import GATES, gate
from glassgrad.ops import table


def f64(v, requires_grad=True):
    return gg.tensor(np.asarray(v, dtype=np.float64), requires_grad=requires_grad)


def test_a_gate_has_its_forwards_signature_and_its_doc():
    # the forward's parameters and defaults, annotated: the inputs take tensors (or constants), a tensor comes out
    assert (str(inspect.signature(gg.sum))
            == "(x: 'TensorLike', axis: 'Axis' = None, keepdims: 'bool' = False) -> 'Tensor'")
    assert str(inspect.signature(gg.add)) == "(x: 'TensorLike', y: 'TensorLike', /) -> 'Tensor'"
    conv2d = inspect.signature(gg.ops.conv.conv2d)
    assert str(conv2d.replace(parameters=[p.replace(annotation=p.empty) for p in conv2d.parameters.values()],
                              return_annotation=conv2d.empty)) == "(x, w, b=None, stride=(1, 1), padding=(0, 0))"
    assert conv2d.return_annotation == "Tensor" and conv2d.parameters["w"].annotation == "TensorLike"
    text = pydoc.render_doc(gg.sum, renderer=pydoc.plaintext)
    assert "sum(x: 'TensorLike', axis: 'Axis' = None, keepdims: 'bool' = False) -> 'Tensor'" in text and "∂/∂x" in text
    assert gg.sigmoid.__doc__ == GATES["sigmoid"].doc and gg.sum.gate is GATES["sum"]


@pytest.mark.parametrize("name", sorted(GATES))
def test_every_gate_states_its_derivative_rule(name):
    assert "∂" in GATES[name].doc, f"{name}: doc= should give the derivative rule"
    assert GATES[name].signature is not None


def test_the_vjps_receive_the_forwards_defaults():
    seen = {}
    sum_gate = GATES["sum"]
    rule = sum_gate.vjps[0]

    def probe(g, out, x, *, axis, keepdims):
        seen.update(axis=axis, keepdims=keepdims)
        return rule(g, out, x, axis=axis, keepdims=keepdims)

    sum_gate.vjps = (probe,)
    try:
        gg.sum(f64(np.ones((2, 3)))).backward()
    finally:
        sum_gate.vjps = (rule,)
    assert seen == {"axis": None, "keepdims": False}


def test_parameters_by_position_and_inputs_by_keyword_bind_as_python_would():
    x = f64(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(gg.sum(x, 1).numpy(), [3.0, 12.0])
    np.testing.assert_array_equal(gg.sum(x=x, axis=0).numpy(), [3.0, 5.0, 7.0])
    gg.sum(x, 1).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.ones((2, 3)))
    w, b = f64(np.ones((2, 3))), f64([1.0, 2.0])
    out = gg.ops.fused.linear(x, w, b=b)              # an optional input by keyword is still an input
    out.sum().backward()
    np.testing.assert_array_equal(b.grad.numpy(), [2.0, 2.0])
    with pytest.raises(TypeError, match=r"sum\(\): .*keepdims"):
        gg.sum(x, 1, False, keepdims=True)
    with pytest.raises(TypeError, match=r"sum\(\): too many positional arguments"):
        gg.sum(x, 1, False, "one too many")
    a = np.arange(6.0).reshape(1, 2, 3)             # VJPs call gates on arrays, parameters by position
    np.testing.assert_array_equal(gg.swapaxes(a, 0, 2), np.swapaxes(a, 0, 2))
    np.testing.assert_array_equal(gg.swapaxes(a, 0, axis2=2), np.swapaxes(a, 0, 2))


def test_registration_checks_one_vjp_per_input():
    with pytest.raises(TypeError, match="gate bad_linear: 2 VJP.*3 inputs"):
        gate("bad_linear", lambda x, w, b: x, lambda g, out, x, w, b: g, lambda g, out, x, w, b: g, doc="∂")
    with pytest.raises(TypeError, match="gate bad_fewer: 2 VJPs, but the forward takes fewer inputs"):
        gate("bad_fewer", lambda x: x, lambda g, out, x: g, lambda g, out, x: g, doc="∂")
    assert "bad_linear" not in GATES and "bad_fewer" not in GATES


def test_registration_checks_that_vjps_take_the_parameters_without_defaults():
    def forward(x, axis=None):
        return x

    with pytest.raises(TypeError, match="gate bad_default: a VJP gives defaults for \\['axis'\\]"):
        gate("bad_default", forward, lambda g, out, x, *, axis=None: g, doc="∂")
    with pytest.raises(TypeError, match="gate bad_params: a VJP takes the parameters \\[\\].*\\['axis'\\]"):
        gate("bad_params", forward, lambda g, out, x: g, doc="∂")
    with pytest.raises(ValueError, match="already registered"):
        gate("sum", forward, lambda g, out, x, *, axis: g, doc="∂")
    assert "bad_default" not in GATES and "bad_params" not in GATES


def _signature_parameters(rule):
    return [(p.name, p.kind, p.default is not p.empty) for p in inspect.signature(rule).parameters.values()]


def test_the_vjp_check_reads_each_function_as_inspect_signature_does():
    """Registration reads a VJP's parameters from its code object (inspect.signature costs too much at import):
    the reading agrees with inspect.signature for every registered VJP and for every kind of parameter."""
    from glassgrad.engine import Each, _parameters_of

    rules = [v for g in GATES.values() for v in ([g.vjps.vjp] if isinstance(g.vjps, Each) else g.vjps)
             if v is not None]
    assert len(rules) > 100

    def every_kind(a, b=1, /, c=2, *rest, d, e=3, **more):
        return a

    def posonly(g, out, x, y, /, *, axis):
        return g

    def wrapped(g, out, x, *, axis):
        return g

    wrapper = functools.wraps(wrapped)(lambda *args, **kwargs: wrapped(*args, **kwargs))
    for rule in [*rules, every_kind, posonly, wrapper, lambda g, out, x, *, axis=None: g,
                 lambda g, out, *xs, axis: g, lambda **kw: 0, lambda: 0, functools.partial(posonly, 1)]:
        assert _parameters_of(rule) == _signature_parameters(rule), rule


def test_a_missing_rule_names_the_gate_and_the_input():
    c, x, y = f64([1.0, 0.0]), f64([1.0, 2.0]), f64([3.0, 4.0])
    with pytest.raises(RuntimeError, match=r"where: input 0 \(c\) needs a gradient, but the gate has no "
                                           r"derivative rule"):
        gg.where(c, x, y).sum().backward()
    half = gg.Gate("half_add", np.add, [lambda g, out, x, y: g])   # made directly: one rule for two inputs
    with pytest.raises(RuntimeError, match="half_add: input 1 needs a gradient"):
        half(x, y).sum().backward()


def test_the_generated_gate_tables_are_current():
    stale = [str(p) for p, text in table.targets().items() if p.read_text(encoding="utf-8") != text]
    assert not stale, f"out of date: {stale}; run python -m glassgrad.ops.table"
    assert table.main(["--check"]) == 0
