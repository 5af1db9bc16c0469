"""The backward pass: the worked examples of docs/backprop.md#gates-and-worked-examples gate by gate,
accumulation, the graph walk, freeing saved arrays, create_graph (Hessians), grad mode, error messages and
dtype rules."""
from __future__ import annotations

import gc
import math
import weakref

import numpy as np
import pytest

import glassgrad as gg
from glassgrad import engine


def f64(v, requires_grad=True):
    return gg.tensor(np.asarray(v, dtype=np.float64), requires_grad=requires_grad)


# --------------------------------------------------------------------------------------------------
# Worked examples (docs/backprop.md#gates-and-worked-examples)
# --------------------------------------------------------------------------------------------------
def test_add_then_multiply_circuit():
    """f(x, y, z) = (x + y)·z at x = −2, y = 5, z = −4."""
    x, y, z = f64(-2.0), f64(5.0), f64(-4.0)
    q = x + y
    q.retain_grad()
    f = q * z
    f.retain_grad()
    assert f.item() == -12.0
    f.backward()
    assert f.grad.item() == 1.0          # the seed: ∂f/∂f
    assert z.grad.item() == 3.0          # multiply swaps its inputs: ∂f/∂z = q
    assert q.grad.item() == -4.0         # ∂f/∂q = z
    assert x.grad.item() == -4.0         # add copies the gradient to both inputs
    assert y.grad.item() == -4.0


def neuron_inputs():
    return [f64(v) for v in (2.0, -1.0, -3.0, -2.0, -3.0)]        # w0, x0, w1, x1, w2


EXPECTED_INPUT_GRADS = [-0.197, 0.393, -0.393, -0.590, 0.197]   # ∂f/∂w0, ∂f/∂x0, ∂f/∂w1, ∂f/∂x1, ∂f/∂w2


def test_sigmoid_neuron_from_elementary_gates():
    """f = 1/(1 + exp(−(w0·x0 + w1·x1 + w2))), one gate at a time, with the gradient at every wire."""
    w0, x0, w1, x1, w2 = leaves = neuron_inputs()
    dot = w0 * x0 + w1 * x1 + w2
    negated = -dot
    e = negated.exp()
    denominator = e + 1
    f = denominator.reciprocal()
    for t in (dot, negated, e, denominator):
        t.retain_grad()
    assert dot.item() == 1.0
    assert f.item() == pytest.approx(0.7311, abs=5e-5)
    f.backward()
    assert denominator.grad.item() == pytest.approx(-1 / 1.3679 ** 2, abs=5e-4)
    assert denominator.grad.item() == pytest.approx(-0.534, abs=5e-4)     # at the 1/x gate
    assert e.grad.item() == pytest.approx(-0.534, abs=5e-4)               # "+1" passes it on
    assert negated.grad.item() == pytest.approx(-0.197, abs=5e-4)         # after exp
    assert dot.grad.item() == pytest.approx(0.197, abs=5e-4)              # after ×(−1)
    for t, expected in zip(leaves, EXPECTED_INPUT_GRADS):
        assert t.grad.item() == pytest.approx(expected, abs=5e-4)


def test_sigmoid_neuron_with_the_sigmoid_gate():
    w0, x0, w1, x1, w2 = leaves = neuron_inputs()
    dot = w0 * x0 + w1 * x1 + w2
    dot.retain_grad()
    f = dot.sigmoid()
    assert f.item() == pytest.approx(0.7311, abs=5e-5)
    f.backward()
    assert dot.grad.item() == pytest.approx(0.1966, abs=5e-5)             # σ(1 − σ)
    assert dot.grad.item() == pytest.approx(f.item() * (1 - f.item()), rel=1e-12)
    for t, expected in zip(leaves, EXPECTED_INPUT_GRADS):
        assert t.grad.item() == pytest.approx(expected, abs=5e-4)


def test_neuron_gradients_agree_between_the_two_circuits():
    a, b = neuron_inputs(), neuron_inputs()
    (1 / (1 + gg.exp(-(a[0] * a[1] + a[2] * a[3] + a[4])))).backward()
    (b[0] * b[1] + b[2] * b[3] + b[4]).sigmoid().backward()
    for s, t in zip(a, b):
        assert s.grad.item() == pytest.approx(t.grad.item(), rel=1e-12)


def test_observer_sees_each_gate_once_from_the_output_back():
    x, y, z = f64(-2.0), f64(5.0), f64(-4.0)
    seen = []
    engine.backward((x + y) * z, np.ones(()), observer=lambda node, g, grads: seen.append(
        (node.gate.name, float(g), [float(gi) for gi in grads])))
    assert seen == [("mul", 1.0, [-4.0, 3.0]), ("add", -4.0, [-4.0, -4.0])]


# --------------------------------------------------------------------------------------------------
# Accumulation and the graph walk
# --------------------------------------------------------------------------------------------------
def test_grad_accumulates_across_backward_calls():
    x = f64([1.0, 2.0])
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3 + 2, 3 + 4])
    x.grad = None
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3, 3])


def test_retained_intermediate_grad_accumulates_like_a_leaf():
    x = f64([1.0, 2.0])
    y = x * 2
    y.retain_grad()
    s = (y * y).sum()
    s.backward(retain_graph=True)
    np.testing.assert_array_equal(y.grad.numpy(), [4.0, 8.0])
    s.backward()
    np.testing.assert_array_equal(y.grad.numpy(), [8.0, 16.0])
    np.testing.assert_array_equal(x.grad.numpy(), [16.0, 32.0])


def test_a_tensor_used_several_times_sums_its_gradients():
    x = f64(3.0)
    (x * x + x * 4 + x.exp() + x).backward()          # d/dx = 2x + 4 + e^x + 1
    assert x.grad.item() == pytest.approx(2 * 3 + 4 + math.exp(3) + 1)
    y = f64([1.0, 2.0])
    (y + y + y).sum().backward()                      # the same gradient array handed to one leaf 3 times
    np.testing.assert_array_equal(y.grad.numpy(), [3.0, 3.0])


def test_gradient_arrays_are_never_aliased():
    """Two leaves fed by the same gradient array (add) and a leaf that saw the root's gradient must own
    their arrays: changing one must not change the other, or later accumulation corrupts both."""
    a, b = f64([1.0, 2.0]), f64([3.0, 4.0])
    g = np.array([1.0, 1.0])
    (a + b).backward(g)
    a.grad.numpy()[0] = 100.0
    assert b.grad.numpy()[0] == 1.0
    assert g[0] == 1.0
    c = f64([1.0, 2.0])
    c.reshape(2, 1).backward(np.ones((2, 1)))
    c.grad.numpy()[:] = 7.0
    d = f64([1.0, 2.0])
    d.backward(np.array([5.0, 5.0]))                 # a leaf as the root
    np.testing.assert_array_equal(d.grad.numpy(), [5.0, 5.0])


def test_diamond_graph_processes_each_node_once_after_all_its_consumers():
    x = f64(2.0)
    h = x.exp()
    names = []
    out = h * h.tanh() + h.sigmoid() * h
    engine.backward(out, np.ones(()), observer=lambda node, g, grads: names.append(node.gate.name))
    assert names.count("exp") == 1
    assert names[-1] == "exp"                          # exp waits until all four consumers passed g down
    t = np.tanh(np.exp(2.0))
    s = 1 / (1 + np.exp(-np.exp(2.0)))
    expected = (t + np.exp(2.0) * (1 - t ** 2) + s * (1 - s) * np.exp(2.0) + s) * np.exp(2.0)
    assert x.grad.item() == pytest.approx(expected, rel=1e-12)


def test_only_nodes_that_need_a_gradient_are_processed():
    w = f64([1.0, 2.0])
    c = f64([3.0, 4.0], requires_grad=False)
    with gg.no_grad():
        frozen = w.exp()                               # computed from w, but not recorded
    constant_branch = (c.exp() * 2 + frozen).tanh()    # no input needs a gradient: no nodes at all
    assert constant_branch.grad_fn is None and not constant_branch.requires_grad
    detached = w.detach().sigmoid()
    loss = (w * constant_branch + detached * w.log()).sum()
    calls = []
    engine.backward(loss, np.ones(()), observer=lambda node, g, grads: calls.append((node.gate.name, grads)))
    assert sorted(name for name, _ in calls) == ["add", "log", "mul", "mul", "sum"]
    for name, grads in calls:
        if name == "mul":      # the constant factor of each mul gets no gradient computed
            assert sum(gi is None for gi in grads) == 1
    b = constant_branch.numpy()
    np.testing.assert_allclose(w.grad.numpy(), b + detached.numpy() / np.array([1.0, 2.0]))


def test_backward_with_inputs_returns_gradients_and_leaves_grad_alone():
    x, y = f64(2.0), f64(3.0)
    z = x * y
    h = z.exp()
    gx, gz = engine.backward(h, np.ones(()), inputs=[x, z], retain_graph=True)
    assert x.grad is None and y.grad is None
    assert float(gx) == pytest.approx(3 * math.exp(6))
    assert float(gz) == pytest.approx(math.exp(6))


def test_long_chain_has_no_recursion_limit():
    x = gg.tensor(np.ones(1), requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y = y + x
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0])
    del y
    gc.collect()


# --------------------------------------------------------------------------------------------------
# Freeing the graph, retain_graph
# --------------------------------------------------------------------------------------------------
def test_saved_arrays_are_freed_after_backward():
    x = f64(np.arange(3.0))
    h = x.exp()
    ref = weakref.ref(h.data)
    node = h.grad_fn
    loss = (h * 2).sum()
    del h
    gc.collect()
    assert ref() is not None                            # kept by the graph for the backward pass
    loss.backward()
    gc.collect()
    assert ref() is None                                # freed with the graph
    assert node.released and loss.grad_fn.released


def test_backward_keeps_no_output_alive_past_its_node():
    """The backward loop holds no array of a node it is done with while it runs the next VJPs (a local left
    over from the previous node would raise the peak memory of every step by that array)."""
    seen = []

    def spy_vjp(g, out, x):
        seen.append(ref() is None)            # the product's output, its node done: freed already?
        return g * 2

    spy = engine.gate("spy_double", lambda x: 2 * x, spy_vjp, doc="2x, watching memory.", elementwise=True)
    try:
        x = f64(np.ones(1000))
        product = spy(x) * 3
        ref = weakref.ref(product.data)
        loss = product.sum()
        del product
        loss.backward()
        assert seen == [True] and np.all(x.grad.numpy() == 6)
    finally:
        del engine.GATES["spy_double"]


def test_second_backward_through_a_freed_graph_names_retain_graph():
    x = f64([1.0, 2.0])
    loss = (x.exp() * x).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        loss.backward()


def test_retain_graph_allows_a_second_backward():
    x = f64([1.0, 2.0])
    loss = (x.exp() * x).sum()
    loss.backward(retain_graph=True)
    assert not loss.grad_fn.released
    first = x.grad.numpy().copy()
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * first)
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        loss.backward()


def test_shared_subgraph_freed_by_one_root_raises_for_the_other():
    x = f64([1.0, 2.0])
    y = x.exp()
    a, b = y.sum(), (y * 3).sum()
    a.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        b.backward()


def test_a_backward_that_stops_at_a_freed_graph_changes_no_grad():
    x = f64([1.0, 2.0])
    y = x.exp()
    y.sum().backward()                       # frees y's node
    before = x.grad.numpy().copy()
    z = y * x
    z.retain_grad()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        (z * 2).sum().backward()             # reaches x through z's node before y's freed node
    np.testing.assert_array_equal(x.grad.numpy(), before)
    assert z.grad is None


def test_backward_order_is_topological_when_a_tensor_is_used_again_much_later():
    """Newest node first: y's node waits until every consumer of y, however late it was made, has passed its
    gradient down; y's gradient (retained) and x's are then the sums over all uses."""
    x = f64([0.5, -1.0])
    y = x.tanh()
    y.retain_grad()
    early = y * 3.0
    middle = (early.exp() * x).sum()
    late = (y * y).sum()                     # a second and third use of y, made last
    (middle + late).backward()
    t = np.tanh([0.5, -1.0])
    dy = 3.0 * np.exp(3.0 * t) * np.array([0.5, -1.0]) + 2 * t
    np.testing.assert_allclose(y.grad.numpy(), dy)
    np.testing.assert_allclose(x.grad.numpy(), dy * (1 - t ** 2) + np.exp(3.0 * t))


def test_grad_ready_fires_during_backward_as_soon_as_a_leaf_is_final():
    """With an on_grad_ready hook, a leaf used only near the output gets its .grad (and the hook its call)
    before backward reaches the nodes far from the output, as the distributed optimiser needs for overlap."""
    w0, w1 = f64([1.0, 2.0]), f64(3.0)
    x = gg.tensor(np.array([0.5, 0.25]))
    events = []
    hook = gg.hooks.Hook(on_grad_ready=lambda leaf: events.append(("ready", "w1" if leaf is w1 else "w0")),
                         on_backward_step=lambda node, g, grads: events.append(("step", node.gate.name)))
    with gg.hooks.installed(hook):
        ((w0 * x).exp().sum() * w1).backward()
    assert events.index(("ready", "w1")) < events.index(("step", "exp")) < events.index(("ready", "w0"))
    assert events.count(("ready", "w1")) == 1 and events.count(("ready", "w0")) == 1
    np.testing.assert_allclose(w1.grad.numpy(), np.exp([0.5, 0.5]).sum())


# --------------------------------------------------------------------------------------------------
# create_graph: gradients of gradients
# --------------------------------------------------------------------------------------------------
def cubic(x):
    """f(x) = Σ x_i³ + x_0 x_1."""
    return (x ** 3).sum() + x[0] * x[1]


def test_hessian_from_hessian_vector_products():
    x0 = np.array([0.5, -1.0, 2.0])
    expected = np.diag(6 * x0)
    expected[0, 1] = expected[1, 0] = 1.0
    x = f64(x0)
    cubic(x).backward(create_graph=True)
    grad = x.grad
    assert grad.requires_grad and grad.grad_fn is not None
    np.testing.assert_allclose(grad.detach().numpy(), 3 * x0 ** 2 + np.array([x0[1], x0[0], 0.0]))
    rows = []
    for i in range(3):
        x.grad = None
        v = np.eye(3)[i]
        (grad * gg.tensor(v)).sum().backward(retain_graph=True)     # H v: row i of the symmetric H
        rows.append(x.grad.numpy().copy())
    np.testing.assert_allclose(np.array(rows), expected, rtol=1e-12, atol=1e-12)


def test_hessian_with_the_functional_api():
    x0 = np.array([0.5, -1.0, 2.0])
    hess_rows = [gg.grad(lambda x, i=i: gg.grad(cubic)(x)[i])(x0) for i in range(3)]
    expected = np.diag(6 * x0)
    expected[0, 1] = expected[1, 0] = 1.0
    np.testing.assert_allclose(np.array(hess_rows), expected, rtol=1e-12, atol=1e-12)


def test_second_derivative_of_tanh():
    xs = np.array([-1.5, -0.2, 0.0, 0.7, 2.0])
    x = f64(xs)
    x.tanh().sum().backward(create_graph=True)
    first = x.grad
    np.testing.assert_allclose(first.detach().numpy(), 1 - np.tanh(xs) ** 2)
    x.grad = None
    first.sum().backward()
    t = np.tanh(xs)
    np.testing.assert_allclose(x.grad.numpy(), -2 * t * (1 - t ** 2), rtol=1e-12, atol=1e-15)


def test_third_derivative_through_nested_grad():
    d3 = gg.grad(gg.grad(gg.grad(lambda x: (x ** 4 + x.exp()).sum())))
    assert float(d3(np.array(1.5))) == pytest.approx(24 * 1.5 + math.exp(1.5), rel=1e-12)


def test_create_graph_through_a_gate_that_is_not_twice_differentiable_is_an_error():
    once = gg.Gate("square_once", np.square, [lambda g, out, x: g * 2 * np.asarray(x)], twice_differentiable=False)
    x = f64([1.0, 2.0])
    once(x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])
    with pytest.raises(RuntimeError, match="square_once.*create_graph=True"):
        once(x).sum().backward(create_graph=True)


def test_gradients_without_create_graph_are_constants():
    x = f64([1.0, 2.0])
    (x ** 3).sum().backward()
    assert x.grad.grad_fn is None and not x.grad.requires_grad


# --------------------------------------------------------------------------------------------------
# Grad mode
# --------------------------------------------------------------------------------------------------
def test_no_grad_context_records_nothing():
    x = f64([1.0])
    with gg.no_grad():
        assert not gg.is_grad_enabled()
        y = x * 2
        with gg.enable_grad():
            assert gg.is_grad_enabled()
            z = x * 2
        assert not gg.is_grad_enabled()
    assert gg.is_grad_enabled()
    assert y.grad_fn is None and not y.requires_grad
    assert z.grad_fn is not None and z.requires_grad


def test_no_grad_restores_the_mode_after_an_exception():
    with pytest.raises(KeyError):
        with gg.no_grad():
            raise KeyError
    assert gg.is_grad_enabled()


def test_grad_mode_decorators():
    @gg.no_grad()
    def evaluate(t):
        return t * 2, gg.is_grad_enabled()

    @gg.enable_grad()
    def train(t):
        return t * 2, gg.is_grad_enabled()

    x = f64([1.0])
    y, mode = evaluate(x)
    assert mode is False and y.grad_fn is None
    assert gg.is_grad_enabled()
    with gg.no_grad():
        z, mode = train(x)
        assert not gg.is_grad_enabled()
    assert mode is True and z.grad_fn is not None


def test_set_grad_enabled_as_call_context_and_decorator():
    gg.set_grad_enabled(False)
    assert not gg.is_grad_enabled()
    gg.set_grad_enabled(True)
    assert gg.is_grad_enabled()
    with gg.set_grad_enabled(False):
        assert not gg.is_grad_enabled()
        with gg.set_grad_enabled(True):
            assert gg.is_grad_enabled()
        assert not gg.is_grad_enabled()
    assert gg.is_grad_enabled()

    @gg.set_grad_enabled(False)
    def evaluate(t):
        return t * 2, gg.is_grad_enabled()

    assert gg.is_grad_enabled(), "decorating a function must not switch grad mode off"
    y, mode = evaluate(f64([1.0]))
    assert mode is False and y.grad_fn is None
    assert gg.is_grad_enabled()


def test_backward_works_inside_no_grad():
    x = f64([1.0, 2.0])
    loss = (x * x).sum()
    with gg.no_grad():
        loss.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])


# --------------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------------
def test_backward_on_a_non_scalar_needs_a_gradient():
    x = f64(np.ones((2, 3)))
    with pytest.raises(RuntimeError, match=r"\(2, 3\)") as info:
        (x * 2).backward()
    assert ".sum()" in str(info.value)
    with pytest.raises(ValueError, match=r"\(3,\).*\(2, 3\)"):
        (x * 2).backward(np.ones(3))
    (x * 2).backward(np.ones((2, 3)))
    np.testing.assert_array_equal(x.grad.numpy(), np.full((2, 3), 2.0))


def test_backward_on_a_single_element_tensor_of_any_rank():
    x = f64([[3.0]])
    (x * x).backward()
    assert x.grad.shape == (1, 1) and x.grad.item() == 6.0


def test_backward_on_a_tensor_that_does_not_require_grad():
    with pytest.raises(RuntimeError, match="does not require grad"):
        gg.tensor([1.0]).sum().backward()
    x = f64([1.0])
    with gg.no_grad():
        y = (x * 2).sum()
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()


def test_integer_tensors_have_no_gradient():
    with pytest.raises(TypeError, match="int64"):
        gg.tensor([1, 2]).sum().backward()
    with pytest.raises(TypeError, match="floating"):
        gg.tensor([1, 2], requires_grad=True)
    with pytest.raises(TypeError, match="floating"):
        gg.tensor([True]).requires_grad_()
    t = gg.tensor([1, 2])
    with pytest.raises(TypeError):
        t.requires_grad = True
    assert not t.requires_grad


def test_requires_grad_cannot_be_switched_off_on_a_non_leaf():
    y = f64([1.0]) * 2
    with pytest.raises(RuntimeError, match="detach"):
        y.requires_grad = False


@pytest.mark.parametrize("op, name, sx, sy", [
    (lambda a, b: a + b, "add", (2, 3), (4,)),
    (lambda a, b: a * b, "mul", (3, 2), (2, 3)),
    (lambda a, b: a @ b, "matmul", (2, 3), (4, 5)),
    (lambda a, b: a @ b, "matmul", (3,), (4,)),
])
def test_shape_errors_name_the_gate_and_both_shapes(op, name, sx, sy):
    a, b = f64(np.ones(sx)), f64(np.ones(sy), requires_grad=False)
    with pytest.raises(gg.ShapeError) as info:
        op(a, b)
    message = str(info.value)
    assert message.startswith(name + ":")
    assert str(sx) in message and str(sy) in message
    assert isinstance(info.value, ValueError)


def test_backward_with_a_grad_of_the_wrong_shape_is_not_broadcast():
    x = f64(np.ones((2, 2)))
    with pytest.raises(ValueError):
        (x * 1).backward(np.ones(1))


# --------------------------------------------------------------------------------------------------
# Dtypes
# --------------------------------------------------------------------------------------------------
def test_python_numbers_keep_float32():
    x = gg.tensor([1.0, 2.0], requires_grad=True)
    assert x.dtype == np.float32
    for y in (x * 0.5, x + 1, 1 - x, x / 3, 2 ** x, x ** 2, x ** 0.5, 0.5 * x, -x, x.exp() * 2.0, x.mean(),
              x.var(), x.softmax(), x.sigmoid(), x.max(), gg.where(x.numpy() > 1, x, 0.0)):
        assert y.dtype == np.float32, y
    (2 ** x * 0.5 + x ** 2).sum().backward()
    assert x.grad.dtype == np.float32


def test_mixed_float_dtypes_combine_to_the_wider_and_grads_keep_their_inputs_dtype():
    a = gg.tensor([1.0, 2.0], requires_grad=True)                         # float32
    b = gg.tensor(np.array([3.0, 4.0]), requires_grad=True)               # float64
    c = a * b + a
    assert c.dtype == np.float64
    c.sum().backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64
    np.testing.assert_allclose(a.grad.numpy(), [4.0, 5.0])
    d = gg.tensor([1.0], requires_grad=True)
    (d.double() * 3).sum().backward()
    assert d.grad.dtype == np.float32 and d.grad.item() == 3.0
    e = gg.tensor(np.array([1.0]), requires_grad=True)
    (e.float() @ gg.tensor([2.0])).backward()
    assert e.grad.dtype == np.float64 and e.grad.item() == 2.0


def test_tensor_dtype_from_data():
    assert gg.tensor(1.5).dtype == np.float32
    assert gg.tensor([1.0, 2.0]).dtype == np.float32
    assert gg.tensor([[1.0], [2.0]]).dtype == np.float32
    assert gg.tensor(np.array([1.0])).dtype == np.float64
    assert gg.tensor(np.array([1.0], dtype=np.float32)).dtype == np.float32
    assert gg.tensor([1, 2]).dtype == np.int64
    assert gg.tensor([True, False]).dtype == np.bool_
    assert gg.tensor([1.0], dtype=gg.float64).dtype == np.float64
    assert gg.tensor(np.array([1.0]), dtype=gg.float32).dtype == np.float32


def test_float32_gradients_through_a_float32_network():
    rng = np.random.default_rng(0)
    x = gg.tensor(rng.standard_normal((4, 3)).astype(np.float32))
    w = gg.tensor(rng.standard_normal((3, 2)).astype(np.float32), requires_grad=True)
    b = gg.zeros(2, requires_grad=True)
    loss = ((x @ w + b).tanh() ** 2).mean()
    assert loss.dtype == np.float32
    loss.backward()
    assert w.grad.dtype == np.float32 and b.grad.dtype == np.float32


def test_backward_with_inputs_leaves_retained_grads_alone():
    """Asking for chosen gradients (inputs=, as the functional API and explain views do) touches no .grad."""
    x = gg.tensor([1.0, 2.0], dtype=gg.float64, requires_grad=True)
    h = (x * 3.0).retain_grad()
    y = (h * h).sum()
    (gx,) = engine.backward(y, np.ones(()), retain_graph=True, inputs=[x])
    np.testing.assert_allclose(gx, 18.0 * np.array([1.0, 2.0]))
    assert h.grad is None and x.grad is None
    y.backward()
    np.testing.assert_allclose(h.grad.data, 2 * 3.0 * np.array([1.0, 2.0]))


def test_backward_with_inputs_computes_only_the_branches_that_lead_to_them():
    # as torch.autograd.grad: the VJPs towards w (which needs a gradient but was not asked for) are skipped
    w = f64([1.0, 2.0, 3.0])
    x = f64([0.5, -1.0, 2.0])
    h = gg.tanh(w * x)                       # mul: one input wanted (x), one not (w)
    y = (h * w).sum()                        # a second use of w, on a branch that also reaches x through h
    seen = {}

    def observe(node, g, in_grads):
        seen[node.gate.name] = seen.get(node.gate.name, []) + [[gi is not None for gi in in_grads]]

    (gx,) = engine.backward(y, np.ones_like(y.data), inputs=[x], retain_graph=True, observer=observe)
    assert seen["mul"] == [[True, False], [False, True]]   # (h * w): only towards h; (w * x): only towards x
    torch = pytest.importorskip("torch")
    t = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64, requires_grad=True)
    u = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64, requires_grad=True)
    (expected,) = torch.autograd.grad((torch.tanh(t * u) * t).sum(), [u])
    np.testing.assert_allclose(gx, expected.numpy(), rtol=1e-12)
    assert w.grad is None and x.grad is None
    (gw, gx2) = engine.backward(y, np.ones_like(y.data), inputs=[w, x])   # both asked: nothing skipped
    np.testing.assert_allclose(gx2, gx, rtol=0, atol=0)
    assert gw is not None


@pytest.mark.parametrize("other", [2.5, 2, True, np.float32(2.5), [2.5, 2.5, 2.5], np.full(3, 2.5, np.float64),
                                   np.full(3, 2.5, np.float32)], ids=repr)
def test_the_fast_gate_functions_agree_with_the_general_apply(other):
    """Gates of one input x or two x, y without parameters, and the operators and methods made of them, take
    a fast path into the engine (engine._unary_function, binary_function): for every operand kind it must
    give what engine.apply gives, values, dtypes and gradients."""
    import operator

    def general(name):
        return lambda *args: engine.apply(engine.GATES[name], args, {})

    ops = [(operator.add, gg.add, "add"), (operator.sub, gg.sub, "sub"), (operator.mul, gg.mul, "mul"),
           (operator.truediv, gg.div, "div"), (operator.pow, gg.pow, "pow")]
    for op, fn, name in ops:
        for swap in (False, True):
            values = []
            for call in (op, fn, general(name)):
                x = gg.tensor([1.0, 2.0, 3.0], requires_grad=True)
                y = call(other, x) if swap else call(x, other)
                y.tanh().sigmoid().exp().sum().backward()
                values.append((y.dtype, y.numpy().copy(), x.grad.numpy()))
            for d, v, g in values[1:]:
                assert d == values[0][0] and np.array_equal(v, values[0][1]) and np.array_equal(g, values[0][2]), \
                    (name, swap)
    for method in ("exp", "log", "tanh", "sigmoid", "relu", "__neg__"):
        name = method.strip("_")
        x = gg.tensor([1.0, 2.0, 3.0], requires_grad=True)
        with gg.no_grad():
            assert getattr(x, method)().grad_fn is None
        results = [getattr(x, method)(), getattr(gg, name)(x), general(name)(x)]
        assert all(r.grad_fn.gate is engine.GATES[name] for r in results)
        assert all(np.array_equal(r.numpy(), results[0].numpy()) for r in results)
    assert gg.Tensor.__mul__ is gg.mul and gg.Tensor.tanh is gg.tanh     # one function for both spellings


def test_the_fast_gate_functions_keep_plain_numpy_and_keywords():
    """On arrays a gate is plain NumPy (how VJPs run); keywords name the inputs as the signature does (a gate
    whose inputs are not x or x, y, like where(c, x, y), takes the general path)."""
    a = np.array([0.5, -1.0])
    assert type(gg.tanh(a)) is np.ndarray and np.array_equal(gg.tanh(a), np.tanh(a))
    assert type(gg.mul(a, 2.0)) is np.ndarray
    assert np.array_equal(gg.sigmoid(x=gg.tensor(a)).numpy(), gg.sigmoid(gg.tensor(a)).numpy())
    c, x, y = gg.tensor([True, False]), gg.tensor([1.0, 2.0]), gg.tensor([3.0, -1.0])
    assert np.array_equal(gg.where(y=y, x=x, c=c).numpy(), [1.0, -1.0])
    with pytest.raises(TypeError, match="tanh"):
        gg.tanh(gg.tensor(a), 2)


def test_elementwise_is_declared_only_for_one_input_without_parameters():
    with pytest.raises(TypeError, match="elementwise=True is for a gate with one input and no parameters"):
        engine.gate("two_inputs_elementwise", np.add, lambda g, out, x, y: g, lambda g, out, x, y: g,
                    doc="x + y.", elementwise=True)
    with pytest.raises(TypeError, match="elementwise=True is for a gate with one input and no parameters"):
        engine.gate("scaled_elementwise", lambda x, c=2.0: c * x, lambda g, out, x, *, c: c * g,
                    doc="c · x.", elementwise=True)
    assert "two_inputs_elementwise" not in engine.GATES and "scaled_elementwise" not in engine.GATES


@pytest.mark.parametrize("f", [
    lambda x: x.tanh().exp().sigmoid().sum(),                                 # a chain
    lambda x: (x.tanh().exp() * x.tanh().sin()).sum(),                        # two chains from one leaf
    lambda x: (lambda h: (h.exp() + h.sin() * h).sum())(x.tanh()),            # one node, three consumers
    lambda x: (lambda h: (h.exp().exp() + h.cos()).sum())(x.sigmoid() * 2),   # a chain meets a short branch
    lambda x: (x.exp() * (x * 3).tanh()).sum() + x.sin().sum(),               # a leaf used by many
    lambda x: (lambda h: (h * h).sum())(x.tanh()),                            # one tensor as both inputs
    lambda x: (lambda h, k: (h * k).sum())(x.tanh(), x.exp().sin()),          # the older parent waits
], ids=["chain", "two-chains", "three-consumers", "long-and-short", "leaf-reused", "same-twice", "older-waits"])
def test_plain_backward_agrees_with_the_general_loop(f):
    """backward() takes the plain route (elementwise gates passed down directly, a chain's next node taken
    without the heap); backward(inputs=...) the general one. Same VJPs in the same order: equal exactly."""
    x = f64([0.3, -1.2, 0.7])
    f(x).backward()
    y = f64([0.3, -1.2, 0.7])
    (general,) = engine.backward(f(y), np.ones(()), inputs=[y])
    assert np.array_equal(x.grad.numpy(), general)
    assert gg.gradcheck(f, [np.array([0.3, -1.2, 0.7])])


def test_an_error_inside_an_elementwise_vjp_is_reported_as_it_is():
    """Backward passes an elementwise gate's gradient on without its loop over the inputs; a TypeError raised
    by the VJP itself must still come out as that error, not as a missing derivative rule."""
    def broken_vjp(g, out, x):
        return g * "not a number"

    double = engine.gate("broken_double", lambda x: 2 * x, broken_vjp, doc="2x, with a broken VJP.",
                         elementwise=True)
    try:
        x = f64([1.0, 2.0])
        y = (double(x * x) * x).sum()
        with pytest.raises(TypeError) as info:
            y.backward()
        assert "derivative rule" not in str(info.value)
    finally:
        del engine.GATES["broken_double"]


def test_a_backward_that_fails_midway_leaves_no_gradient_behind_in_a_kept_graph():
    """Backward keeps each node's running gradient on the node; a pass that raises must clear them, or the
    next pass through the retained graph would add the stale ones in."""
    calls = []

    def flaky_vjp(g, out, x):
        calls.append(1)
        if len(calls) == 1:
            raise ValueError("flaky")
        return g * 3

    triple = engine.gate("flaky_triple", lambda x: 3 * x, flaky_vjp, doc="3x, whose VJP fails once.")
    try:
        x = f64([1.0, 2.0])
        h = x * 2
        y = (triple(h) + h * h).sum()        # two paths into h: h waits with a gradient when the VJP fails
        with pytest.raises(ValueError, match="flaky"):
            y.backward(retain_graph=True)
        assert x.grad is None
        y.backward()
        assert np.array_equal(x.grad.numpy(), 2 * (3 + 2 * h.numpy()))
    finally:
        del engine.GATES["flaky_triple"]


def test_grad_fn_is_one_node_per_tensor_that_reads_the_tensor():
    x = f64([1.0, 2.0])
    y = x * 3
    node = y.grad_fn
    assert node is y.grad_fn and node.gate is engine.GATES["mul"] and node.inputs == (x, 3)
    assert node.out is y.data and list(node.needs) == [True, False] and not node.released
    assert x.grad_fn is None and gg.tensor([1.0]).grad_fn is None
    y.sum().backward()
    assert node.released and node.inputs is None
