"""Tests of glassgrad.optim: parity with torch.optim, schedules, clipping, checkpoints, errors, convergence."""
from __future__ import annotations

import ast
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

import glassgrad as gg
from glassgrad import optim
from glassgrad.device import device_of, to_host
from glassgrad.optim import lr_scheduler

SHAPES = [(3, 4), (5,), (2, 1, 3)]
RTOL = 1e-10

OPTIMISERS = {"SGD": (optim.SGD, torch.optim.SGD), "Adam": (optim.Adam, torch.optim.Adam),
              "AdamW": (optim.AdamW, torch.optim.AdamW), "RMSprop": (optim.RMSprop, torch.optim.RMSprop)}

# Every option and the combinations that interact, for each optimiser.
CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.3)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.1, weight_decay=0.05)),
    ("SGD", dict(lr=0.1, momentum=0.8, dampening=0.2, weight_decay=0.05)),
    ("SGD", dict(lr=0.1, momentum=0.8, weight_decay=0.05, nesterov=True)),
    ("Adam", dict(lr=0.05)),
    ("Adam", dict(lr=0.05, weight_decay=0.1)),
    ("Adam", dict(lr=0.05, amsgrad=True)),
    ("Adam", dict(lr=0.05, betas=(0.3, 0.8), eps=1e-3, weight_decay=0.1, amsgrad=True)),
    ("AdamW", dict(lr=0.05)),
    ("AdamW", dict(lr=0.05, weight_decay=0.3)),
    ("AdamW", dict(lr=0.05, weight_decay=0.3, amsgrad=True, betas=(0.6, 0.95))),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, eps=1e-4)),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.01, momentum=0.9)),
    ("RMSprop", dict(lr=0.01, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, weight_decay=0.1, momentum=0.7, centered=True)),
]
CONFIG_IDS = [f"{name}-" + "-".join(f"{k}={v}" for k, v in kw.items()) for name, kw in CONFIGS]


# ------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------
def initial_arrays(seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in SHAPES]


def gradient_sequence(steps, seed=1, dtype=np.float64):
    """Fixed pseudo-random gradients; on step 2 the second parameter has none (it must be skipped)."""
    rng = np.random.default_rng(seed)
    seq = []
    for k in range(steps):
        gs = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
        if k == 2:
            gs[1] = None
        seq.append(gs)
    return seq


def gg_params(arrays, device="cpu"):
    return [gg.tensor(a, requires_grad=True, device=device) for a in arrays]


def torch_params(arrays):
    return [torch.tensor(a, requires_grad=True) for a in arrays]


def groups_of(params, group_opts):
    """Split params into groups: group_opts is a list of (indices, options)."""
    if group_opts is None:
        return params
    return [{"params": [params[i] for i in idx], **opts} for idx, opts in group_opts]


def set_grads(gparams, tparams, grads):
    for gp, tp, g in zip(gparams, tparams, grads):
        gp.grad = None if g is None else gg.tensor(g, device=gp.device)
        if tp is not None:
            tp.grad = None if g is None else torch.tensor(g)


def assert_close(gparams, tparams, rtol=RTOL):
    for gp, tp in zip(gparams, tparams):
        np.testing.assert_allclose(to_host(gp), tp.detach().numpy(), rtol=rtol, atol=0)


def assert_plain(obj, path="state_dict"):
    """Only dicts, lists, numbers (incl. bool) and NumPy arrays: storable as .npz + JSON, no pickle."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            assert isinstance(k, (str, int)) and not isinstance(k, bool), f"{path}: key {k!r}"
            assert_plain(v, f"{path}[{k!r}]")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            assert_plain(v, f"{path}[{i}]")
    else:
        assert type(obj) in (int, float, bool, np.ndarray), f"{path} is a {type(obj).__name__}"


def to_npz_json(state):
    """Store a state dict the way a checkpoint would: arrays in an .npz, everything else in JSON."""
    arrays = {}

    def strip(obj):
        if isinstance(obj, np.ndarray):
            key = f"a{len(arrays)}"
            arrays[key] = obj
            return {"__array__": key}
        if isinstance(obj, dict):
            return {str(k): strip(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [strip(v) for v in obj]
        return obj

    text = json.dumps(strip(state))
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return text, buf.getvalue()


def from_npz_json(text, blob):
    arrays = np.load(io.BytesIO(blob), allow_pickle=False)

    def fill(obj):
        if isinstance(obj, dict):
            if set(obj) == {"__array__"}:
                return arrays[obj["__array__"]]
            return {k: fill(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [fill(v) for v in obj]
        return obj

    return fill(json.loads(text))


# ------------------------------------------------------------------------------------------------
# parity with torch.optim
# ------------------------------------------------------------------------------------------------
def run_parity(name, kwargs, group_opts=None, steps=6, device="cpu"):
    gcls, tcls = OPTIMISERS[name]
    arrays = initial_arrays()
    gp, tp = gg_params(arrays, device), torch_params(arrays)
    gopt, topt = gcls(groups_of(gp, group_opts), **kwargs), tcls(groups_of(tp, group_opts), **kwargs)
    for grads in gradient_sequence(steps):
        set_grads(gp, tp, grads)
        gopt.step()
        topt.step()
        assert_close(gp, tp)
    # the parameters really moved (the comparison is not between two copies of the start)
    assert not np.allclose(to_host(gp[0]), arrays[0])
    # the state lives on the parameters' device (momentum, moments, maxima, averages)
    for p, state in gopt.state.items():
        for key, value in state.items():
            if hasattr(value, "shape"):
                assert device_of(value) == p.device, f"state {key!r} on {device_of(value)}, parameter on {p.device}"
    return gopt


@pytest.mark.parametrize("name, kwargs", CONFIGS, ids=CONFIG_IDS)
def test_parity_with_torch(name, kwargs, device):
    """Every configuration on every device (the stand-in "cuda" of tests/devices.py; a real GPU when there is
    one): the steps against torch.optim on the CPU, the state on the parameters' device."""
    run_parity(name, kwargs, device=device)


@pytest.mark.parametrize("name, kwargs", CONFIGS, ids=CONFIG_IDS)
def test_parity_with_torch_for_a_zero_d_parameter(name, kwargs):
    """A 0-d parameter: arithmetic between 0-d arrays gives NumPy scalars, which an update's out= cannot
    take (Adam and RMSprop failed with "return arrays must be of ArrayType"); its steps equal torch's."""
    gcls, tcls = OPTIMISERS[name]
    gp, tp = gg.tensor(0.7, dtype=gg.float64, requires_grad=True), torch.tensor(0.7, dtype=torch.float64,
                                                                                 requires_grad=True)
    gopt, topt = gcls([gp], **kwargs), tcls([tp], **kwargs)
    for g in np.random.default_rng(2).standard_normal(6):
        set_grads([gp], [tp], [np.array(g)])
        gopt.step()
        topt.step()
        assert gp.shape == () and gp.dtype == gg.float64
        assert_close([gp], [tp])
    assert gp.item() != 0.7


GROUP_CONFIGS = [
    ("SGD", dict(lr=0.1, momentum=0.9), [([0], dict(lr=0.3)), ([1, 2], dict(momentum=0.5, nesterov=True))]),
    ("Adam", dict(lr=0.05), [([0, 2], dict(lr=0.01, amsgrad=True)), ([1], dict(betas=(0.5, 0.9)))]),
    ("AdamW", dict(lr=0.05), [([1], dict(lr=0.2, weight_decay=0.5)), ([0, 2], {})]),
    ("RMSprop", dict(lr=0.01), [([2], dict(lr=0.001, centered=True)), ([0, 1], dict(momentum=0.9))]),
]


@pytest.mark.parametrize("name, kwargs, group_opts", GROUP_CONFIGS, ids=[c[0] for c in GROUP_CONFIGS])
def test_parity_with_torch_param_groups(name, kwargs, group_opts):
    opt = run_parity(name, kwargs, group_opts)
    assert [len(g["params"]) for g in opt.param_groups] == [len(idx) for idx, _ in group_opts]
    assert opt.param_groups[0]["lr"] == group_opts[0][1].get("lr", kwargs["lr"])


@pytest.mark.parametrize("name, kwargs", CONFIGS[1::3], ids=CONFIG_IDS[1::3])
def test_float32_stays_float32_and_updates_in_place(name, kwargs):
    """float32 parameters: updated in place, state in float32, values as the float64 computation."""
    arrays = initial_arrays(dtype=np.float32)
    p32 = gg_params(arrays)
    p64 = gg_params([a.astype(np.float64) for a in arrays])
    held = [p.data for p in p32]
    o32, o64 = OPTIMISERS[name][0](p32, **kwargs), OPTIMISERS[name][0](p64, **kwargs)
    for grads in gradient_sequence(4, dtype=np.float32):
        set_grads(p32, [None] * 3, grads)
        set_grads(p64, [None] * 3, [None if g is None else g.astype(np.float64) for g in grads])
        o32.step()
        o64.step()
    for p, a, q in zip(p32, held, p64):
        assert p.data is a and p.dtype == np.float32
        np.testing.assert_allclose(p.data, q.data, rtol=1e-4, atol=1e-5)
    for s in o32.state.values():
        for v in s.values():
            if isinstance(v, np.ndarray):
                assert v.dtype == np.float32


@pytest.mark.parametrize("name, kwargs", CONFIGS, ids=CONFIG_IDS)
def test_step_leaves_gradients_alone(name, kwargs):
    p = gg_params(initial_arrays())
    opt = OPTIMISERS[name][0](p, **kwargs)
    for grads in gradient_sequence(2):
        set_grads(p, [None] * 3, grads)
        before = [None if q.grad is None else q.grad.data.copy() for q in p]
        opt.step()
        for q, b in zip(p, before):
            assert (q.grad is None) if b is None else np.array_equal(q.grad.data, b)


def test_read_only_gradient_is_fine():
    w = gg.tensor(np.ones((3, 2)), requires_grad=True)
    w.grad = gg.Tensor(np.broadcast_to(np.array([1.0, 2.0]), (3, 2)))
    opt = optim.SGD([w], lr=0.5, momentum=0.9, weight_decay=0.1)
    opt.step()
    opt.step()
    ref = torch.ones((3, 2), dtype=torch.float64, requires_grad=True)
    ref.grad = torch.tensor([1.0, 2.0], dtype=torch.float64).expand(3, 2).contiguous()
    topt = torch.optim.SGD([ref], lr=0.5, momentum=0.9, weight_decay=0.1)
    topt.step()
    topt.step()
    np.testing.assert_allclose(w.data, ref.detach().numpy(), rtol=RTOL)


def test_closure_is_called_and_its_loss_returned():
    w = gg.tensor(np.array([3.0]), requires_grad=True)
    opt = optim.SGD([w], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    with gg.no_grad():   # the closure runs with gradients enabled even so
        loss = opt.step(closure)
    assert loss.item() == 9.0 and w.data[0] == 3.0 - 0.25 * 6.0


# ------------------------------------------------------------------------------------------------
# learning-rate schedules
# ------------------------------------------------------------------------------------------------
SCHEDULERS = [
    ("StepLR", dict(step_size=3)),
    ("StepLR", dict(step_size=4, gamma=0.5)),
    ("ExponentialLR", dict(gamma=0.9)),
    ("CosineAnnealingLR", dict(T_max=7)),
    ("CosineAnnealingLR", dict(T_max=6, eta_min=0.001)),
]


def sched_pair(name, kwargs, lrs=(0.1, 0.02)):
    arrays = initial_arrays()
    gp, tp = gg_params(arrays), torch_params(arrays)
    gopt = optim.SGD([{"params": gp[:1], "lr": lrs[0]}, {"params": gp[1:], "lr": lrs[1]}], lr=1.0)
    topt = torch.optim.SGD([{"params": tp[:1], "lr": lrs[0]}, {"params": tp[1:], "lr": lrs[1]}], lr=1.0)
    gsched = getattr(lr_scheduler, name)(gopt, **kwargs)
    tsched = getattr(torch.optim.lr_scheduler, name)(topt, **kwargs)
    return gopt, topt, gsched, tsched


@pytest.mark.parametrize("name, kwargs", SCHEDULERS, ids=[f"{n}-{k}" for n, k in SCHEDULERS])
def test_scheduler_parity_with_torch(name, kwargs):
    gopt, topt, gs, ts = sched_pair(name, kwargs)
    seq_g, seq_t = [gs.get_last_lr()], [ts.get_last_lr()]
    for _ in range(20):
        gopt.step()
        topt.step()
        gs.step()
        ts.step()
        seq_g.append(gs.get_last_lr())
        seq_t.append(ts.get_last_lr())
        assert [g["lr"] for g in gopt.param_groups] == seq_g[-1]
    np.testing.assert_allclose(seq_g, seq_t, rtol=RTOL, atol=1e-15)
    assert gs.last_epoch == ts.last_epoch == 20
    assert len({round(v[0], 12) for v in seq_g}) > 3   # the schedule did change the learning rate


@pytest.mark.parametrize("name, kwargs", SCHEDULERS[::2], ids=[n for n, _ in SCHEDULERS[::2]])
def test_scheduler_state_dict_round_trip(name, kwargs):
    gopt, _, gs, _ = sched_pair(name, kwargs)
    for _ in range(5):
        gs.step()
    saved = json.loads(json.dumps(gs.state_dict()))   # plain numbers and lists
    opt_saved = gopt.state_dict()
    expected = []
    for _ in range(5):
        gs.step()
        expected.append(gs.get_last_lr())

    fresh = gg_params(initial_arrays())
    gopt2 = optim.SGD([{"params": fresh[:1], "lr": 0.1}, {"params": fresh[1:], "lr": 0.02}], lr=1.0)
    gs2 = getattr(lr_scheduler, name)(gopt2, **kwargs)
    gopt2.load_state_dict(opt_saved)
    gs2.load_state_dict(saved)
    assert gs2.last_epoch == 5 and [g["lr"] for g in gopt2.param_groups] == gs2.get_last_lr()
    got = []
    for _ in range(5):
        gs2.step()
        got.append(gs2.get_last_lr())
    assert got == expected


def test_scheduler_errors():
    w = gg.zeros(2, requires_grad=True)
    opt = optim.SGD([w], lr=0.1)
    with pytest.raises(TypeError, match="Optimizer"):
        lr_scheduler.StepLR(torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1), step_size=2)
    with pytest.raises(ValueError, match="step_size"):
        lr_scheduler.StepLR(opt, step_size=0)
    with pytest.raises(ValueError, match="T_max"):
        lr_scheduler.CosineAnnealingLR(opt, T_max=0)
    with pytest.raises(TypeError, match=r"StepLR step_size must be an integer >= 1, not float \(2\.5\)"):
        lr_scheduler.StepLR(opt, step_size=2.5)
    with pytest.raises(TypeError, match=r"CosineAnnealingLR T_max must be an integer >= 1, not bool"):
        lr_scheduler.CosineAnnealingLR(opt, T_max=True)
    with pytest.raises(ValueError, match="gamma"):
        lr_scheduler.ExponentialLR(opt, gamma=-0.5)
    sched = lr_scheduler.ExponentialLR(opt, gamma=0.5)
    with pytest.raises(ValueError, match="parameter group"):
        sched.load_state_dict({**sched.state_dict(), "base_lrs": [0.1, 0.2]})
    with pytest.raises(ValueError, match="unexpected keys"):
        sched.load_state_dict({"T_max": 3})


# ------------------------------------------------------------------------------------------------
# gradient clipping
# ------------------------------------------------------------------------------------------------
def clip_pair(scale=1.0, seed=3, none_at=1):
    arrays = initial_arrays(seed)
    grads = [scale * g for g in initial_arrays(seed + 1)]
    grads[none_at] = None
    gp, tp = gg_params(arrays), torch_params(arrays)
    set_grads(gp, tp, grads)
    return gp, tp


@pytest.mark.parametrize("norm_type", [2.0, 1, 3.0, 0.5, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_parity(norm_type, max_norm):
    gp, tp = clip_pair()
    total = optim.clip_grad_norm_(gp, max_norm, norm_type=norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(tp, max_norm, norm_type=norm_type)
    assert isinstance(total, float)
    np.testing.assert_allclose(total, ttotal.item(), rtol=RTOL)
    for g, t in zip(gp, tp):
        assert (g.grad is None) == (t.grad is None)
        if g.grad is not None:
            np.testing.assert_allclose(g.grad.data, t.grad.numpy(), rtol=RTOL)
    if max_norm < total:
        assert abs(optim.clip_grad_norm_(gp, 1e9, norm_type=norm_type) - max_norm) < 1e-5


def test_clip_grad_norm_single_tensor_and_no_grads():
    w = gg.tensor(np.array([3.0, 4.0]), requires_grad=True)
    assert optim.clip_grad_norm_([w], 1.0) == 0.0          # no gradient: nothing to clip
    w.grad = gg.tensor(np.array([3.0, 4.0]))
    assert optim.clip_grad_norm_(w, 1.0) == 5.0
    np.testing.assert_allclose(w.grad.data, [0.6, 0.8], rtol=1e-6)


def test_clip_grad_norm_nonfinite():
    gp, tp = clip_pair()
    gp[0].grad.data[0, 0] = np.nan
    tp[0].grad[0, 0] = float("nan")
    with pytest.raises(RuntimeError, match="non-finite"):
        optim.clip_grad_norm_(gp, 1.0, error_if_nonfinite=True)
    with pytest.raises(RuntimeError):
        torch.nn.utils.clip_grad_norm_(tp, 1.0, error_if_nonfinite=True)
    gp, _ = clip_pair()
    gp[2].grad.data[0, 0, 0] = np.inf
    with pytest.raises(RuntimeError, match=r"non-finite \(inf\)"):
        optim.clip_grad_norm_(gp, 1.0, norm_type=math.inf, error_if_nonfinite=True)
    # without the error, as torch: a NaN norm makes every gradient NaN
    gp, tp = clip_pair()
    gp[0].grad.data[0, 0] = np.nan
    tp[0].grad[0, 0] = float("nan")
    assert math.isnan(optim.clip_grad_norm_(gp, 1.0))
    torch.nn.utils.clip_grad_norm_(tp, 1.0)
    for g, t in zip(gp, tp):
        if g.grad is not None:
            assert np.isnan(g.grad.data).all() and torch.isnan(t.grad).all()


@pytest.mark.parametrize("clip_value", [0.3, 5.0])
def test_clip_grad_value_parity(clip_value):
    gp, tp = clip_pair(scale=2.0)
    assert optim.clip_grad_value_(gp, clip_value) is None
    torch.nn.utils.clip_grad_value_(tp, clip_value)
    for g, t in zip(gp, tp):
        if g.grad is not None:
            np.testing.assert_array_equal(g.grad.data, t.grad.numpy())
            assert np.abs(g.grad.data).max() <= clip_value


def test_clipping_is_in_place_keeps_dtype_and_copes_with_read_only_grads():
    w = gg.tensor(np.ones((3, 2), np.float32), requires_grad=True)
    v = gg.tensor(np.ones(4, np.float32), requires_grad=True)
    w.grad = gg.tensor(np.full((3, 2), 10.0, np.float32))
    held = w.grad.data
    source = np.array([5.0, -7.0], np.float32)
    v.grad = gg.Tensor(np.broadcast_to(np.float32(3.0), (4,)))       # read-only, stride 0
    assert not v.grad.data.flags.writeable
    total = optim.clip_grad_norm_([w, v], 1.0)
    assert total == pytest.approx(math.sqrt(6 * 100 + 4 * 9), rel=1e-6)
    assert w.grad.data is held and w.grad.dtype == np.float32 and v.grad.dtype == np.float32
    assert v.grad.data.flags.writeable
    np.testing.assert_allclose(np.sqrt((w.grad.data ** 2).sum() + (v.grad.data ** 2).sum()), 1.0, rtol=1e-5)
    v.grad = gg.Tensor(np.broadcast_to(source, (2, 2)))
    v2 = gg.tensor(np.ones((2, 2), np.float32), requires_grad=True)
    v2.grad = v.grad
    optim.clip_grad_value_([v2], 6.0)
    np.testing.assert_array_equal(v2.grad.data, [[5.0, -6.0], [5.0, -6.0]])
    np.testing.assert_array_equal(source, [5.0, -7.0])   # the broadcast source is untouched


def test_clipping_errors():
    gp, _ = clip_pair()
    with pytest.raises(ValueError, match="max_norm"):
        optim.clip_grad_norm_(gp, -1.0)
    for bad in (-2, 0, float("nan")):
        with pytest.raises(ValueError, match="norm_type"):
            optim.clip_grad_norm_(gp, 1.0, norm_type=bad)
    with pytest.raises(ValueError, match="clip_value"):
        optim.clip_grad_value_(gp, -1.0)
    with pytest.raises(TypeError, match="Tensors"):
        optim.clip_grad_norm_([np.ones(3)], 1.0)


# ------------------------------------------------------------------------------------------------
# state_dict / load_state_dict
# ------------------------------------------------------------------------------------------------
ROUND_TRIP = [CONFIGS[i] for i in (1, 6, 9, 10, 13, 17, 19)] + [("SGD", dict(lr=0.1))]


@pytest.mark.parametrize("name, kwargs", ROUND_TRIP, ids=[f"{n}-{sorted(k)}" for n, k in ROUND_TRIP])
def test_state_dict_round_trip(name, kwargs):
    cls = OPTIMISERS[name][0]
    grads = gradient_sequence(5)
    arrays = initial_arrays()
    group_opts = [([0], dict(lr=kwargs["lr"] * 0.5)), ([1, 2], {})]

    straight = gg_params(arrays)
    opt = cls(groups_of(straight, group_opts), **kwargs)
    for g in grads:
        set_grads(straight, [None] * 3, g)
        opt.step()

    first = gg_params(arrays)
    opt1 = cls(groups_of(first, group_opts), **kwargs)
    for g in grads[:3]:
        set_grads(first, [None] * 3, g)
        opt1.step()
    saved = opt1.state_dict()
    assert_plain(saved)
    assert sorted(saved) == ["param_groups", "state"]
    assert [g["params"] for g in saved["param_groups"]] == [[0], [1, 2]]
    snapshot = json.dumps(saved, default=lambda a: a.tolist())
    set_grads(first, [None] * 3, grads[3])
    opt1.step()                                            # later steps do not change the saved state
    assert json.dumps(saved, default=lambda a: a.tolist()) == snapshot

    # through .npz + JSON (no pickle): state keys come back as strings
    restored = from_npz_json(*to_npz_json(saved))
    resumed = gg_params(_replay(cls, kwargs, group_opts, arrays, grads[:3]))   # the weights after 3 steps
    opt2 = cls(groups_of(resumed, group_opts), **{**kwargs, "lr": 123.0})
    opt2.load_state_dict(restored)
    assert opt2.param_groups[0]["lr"] == kwargs["lr"] * 0.5 and opt2.param_groups[1]["lr"] == kwargs["lr"]
    for g in grads[3:]:
        set_grads(resumed, [None] * 3, g)
        opt2.step()
    for p, q in zip(resumed, straight):
        np.testing.assert_array_equal(p.data, q.data)
    assert opt2.state_dict()["param_groups"] == opt.state_dict()["param_groups"]


def _replay(cls, kwargs, group_opts, arrays, grads):
    params = gg_params(arrays)
    opt = cls(groups_of(params, group_opts), **kwargs)
    for g in grads:
        set_grads(params, [None] * 3, g)
        opt.step()
    return [p.data.copy() for p in params]


def test_state_dict_matches_torch_layout():
    gp = gg_params(initial_arrays())
    tp = torch_params(initial_arrays())
    gopt = optim.Adam([{"params": gp[:2]}, {"params": gp[2:], "lr": 0.1}], amsgrad=True)
    topt = torch.optim.Adam([{"params": tp[:2]}, {"params": tp[2:], "lr": 0.1}], amsgrad=True)
    set_grads(gp, tp, gradient_sequence(1)[0])
    gopt.step()
    topt.step()
    gsd, tsd = gopt.state_dict(), topt.state_dict()
    assert list(gsd["state"]) == list(tsd["state"]) == [0, 1, 2]
    for i in range(3):
        assert set(gsd["state"][i]) == set(tsd["state"][i])
        assert gsd["state"][i]["step"] == int(tsd["state"][i]["step"])
        np.testing.assert_allclose(gsd["state"][i]["exp_avg_sq"], tsd["state"][i]["exp_avg_sq"].numpy(), rtol=RTOL)
    for gg_group, t_group in zip(gsd["param_groups"], tsd["param_groups"]):
        assert gg_group["params"] == t_group["params"]
        assert gg_group["lr"] == t_group["lr"] and gg_group["betas"] == list(t_group["betas"])


def test_load_state_dict_errors_leave_optimiser_unchanged():
    p = gg_params(initial_arrays())
    opt = optim.Adam(p, lr=0.1)
    set_grads(p, [None] * 3, gradient_sequence(1)[0])
    opt.step()
    sd = opt.state_dict()
    before = json.dumps(opt.state_dict(), default=lambda a: a.tolist())

    fewer = optim.Adam(gg_params(initial_arrays())[:2], lr=0.1)
    with pytest.raises(ValueError, match=r"group 0 of the state dict has 3 parameter\(s\) but .* has 2"):
        fewer.load_state_dict(sd)
    two_groups = optim.Adam([{"params": p[:1]}, {"params": p[1:]}])
    with pytest.raises(ValueError, match="1 parameter group"):
        two_groups.load_state_dict(sd)
    bad_shape = {"state": {**sd["state"], 1: {**sd["state"][1], "exp_avg": np.zeros(7)}},
                 "param_groups": sd["param_groups"]}
    with pytest.raises(ValueError, match=r"'exp_avg' of parameter 1 has shape \(7,\)"):
        opt.load_state_dict(bad_shape)
    with pytest.raises(ValueError, match="invalid learning rate"):
        opt.load_state_dict({"state": sd["state"], "param_groups": [{**sd["param_groups"][0], "lr": -1.0}]})
    with pytest.raises(ValueError, match="none of its parameter groups"):
        opt.load_state_dict({"state": {**sd["state"], 9: {}}, "param_groups": sd["param_groups"]})
    with pytest.raises(ValueError, match="'state' and 'param_groups'"):
        opt.load_state_dict({"state": {}})
    assert json.dumps(opt.state_dict(), default=lambda a: a.tolist()) == before

    sgd = optim.SGD(p, lr=0.1, momentum=0.9)
    sgd.step()
    with pytest.raises(ValueError, match="another kind of optimiser"):
        opt.load_state_dict(sgd.state_dict())


# ------------------------------------------------------------------------------------------------
# zero_grad and construction errors
# ------------------------------------------------------------------------------------------------
def test_zero_grad():
    p = gg_params(initial_arrays())
    opt = optim.SGD(p, lr=0.1)
    set_grads(p, [None] * 3, gradient_sequence(3)[2])    # p[1] has no gradient
    held = p[0].grad.data
    opt.zero_grad(set_to_none=False)
    assert p[0].grad.data is held and not held.any()
    assert p[1].grad is None
    p[2].grad = gg.Tensor(np.broadcast_to(np.float64(1.0), SHAPES[2]))    # read-only
    opt.zero_grad(set_to_none=False)
    assert not p[2].grad.data.any() and p[2].grad.data.flags.writeable and p[2].grad.shape == SHAPES[2]
    opt.zero_grad()
    assert all(q.grad is None for q in p)
    opt.step()                                           # nothing to do
    np.testing.assert_array_equal(p[0].data, initial_arrays()[0])


def test_gradients_accumulate_until_zero_grad():
    w = gg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    opt = optim.SGD([w], lr=0.1)
    for _ in range(2):
        (w * w).sum().backward()
    np.testing.assert_array_equal(w.grad.data, [4.0, 8.0])
    opt.zero_grad()
    (w * w).sum().backward()
    np.testing.assert_array_equal(w.grad.data, [2.0, 4.0])


@pytest.mark.parametrize("name", list(OPTIMISERS))
def test_construction_errors(name):
    cls = OPTIMISERS[name][0]
    w = gg.zeros(3, requires_grad=True)
    with pytest.raises(ValueError, match="learning rate"):
        cls([w], lr=-0.1)
    with pytest.raises(ValueError, match="learning rate"):
        cls([{"params": [w], "lr": -1.0}], lr=0.1)
    with pytest.raises(TypeError, match="real number"):
        cls([w], lr="0.1")
    with pytest.raises(ValueError, match="does not require grad"):
        cls([w, gg.zeros(3)], lr=0.1)
    with pytest.raises(ValueError, match="not a leaf"):
        cls([w * 2], lr=0.1)
    with pytest.raises(TypeError, match="can only optimise Tensors"):
        cls([np.zeros(3)], lr=0.1)
    with pytest.raises(TypeError, match="single tensor"):
        cls(w, lr=0.1)
    with pytest.raises(TypeError, match="set"):
        cls({w}, lr=0.1)
    with pytest.raises(ValueError, match="empty parameter list"):
        cls([], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        cls([{"params": [w]}, {"params": [w]}], lr=0.1)
    with pytest.raises(ValueError, match="appears twice"):
        cls([w, w], lr=0.1)
    with pytest.raises(ValueError, match="read-only"):
        cls([gg.Tensor(np.broadcast_to(np.float64(1.0), (3,)), requires_grad=True)], lr=0.1)
    with pytest.raises(TypeError, match="mixes"):
        cls([w, {"params": [gg.zeros(2, requires_grad=True)]}], lr=0.1)
    opt = cls([w], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [w]})
    w.grad = gg.zeros(4)
    with pytest.raises(ValueError, match=r"shape \(3,\) has a gradient of shape \(4,\)"):
        opt.step()


@pytest.mark.parametrize("make, key", [(optim.SGD, "momentum"), (optim.SGD, "weight_decay"), (optim.Adam, "eps"),
                                       (optim.Adam, "weight_decay"), (optim.AdamW, "eps"), (optim.RMSprop, "alpha"),
                                       (optim.RMSprop, "eps"), (optim.RMSprop, "momentum"),
                                       (optim.RMSprop, "weight_decay")])
def test_each_nonnegative_hyperparameter_is_checked_in_the_defaults_and_in_a_group(make, key):
    w = gg.zeros(3, requires_grad=True)
    with pytest.raises(ValueError, match=rf"invalid {key}: -0\.5 \(must be a finite number >= 0\)"):
        make([w], lr=0.1, **{key: -0.5})
    with pytest.raises(ValueError, match=rf"invalid {key}: -0\.5"):
        make([{"params": [w], key: -0.5}], lr=0.1)
    with pytest.raises(TypeError, match=rf"{key} must be a real number"):
        make([w], lr=0.1, **{key: "0.5"})
    make([w], lr=0.1, **{key: 0.5})


def test_option_specific_errors():
    w = gg.zeros(3, requires_grad=True)
    with pytest.raises(ValueError, match="does not give 'lr'"):
        optim.SGD([w])                                    # SGD has no default learning rate
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD([w], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD([w], lr=0.1, momentum=0.9, dampening=0.1, nesterov=True)
    with pytest.raises(ValueError, match="momentum"):
        optim.SGD([w], lr=0.1, momentum=-0.9)
    with pytest.raises(ValueError, match="weight_decay"):
        optim.SGD([w], lr=0.1, weight_decay=-1)
    with pytest.raises(ValueError, match="beta2"):
        optim.Adam([w], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="beta1"):
        optim.AdamW([w], betas=(-0.1, 0.9))
    with pytest.raises(ValueError, match="pair"):
        optim.Adam([w], betas=(0.9,))
    with pytest.raises(ValueError, match="eps"):
        optim.Adam([w], eps=-1e-8)
    with pytest.raises(ValueError, match="alpha"):
        optim.RMSprop([w], alpha=-0.5)
    optim.SGD([w], lr=0.1, momentum=0.9, dampening=-0.5)      # any finite dampening, as in torch
    with pytest.raises(ValueError, match="requires"):
        optim.Optimizer([w], {"lr": optim.required})
    opt = optim.SGD([{"params": []}, {"params": [w]}], lr=0.1)   # an empty group is allowed (as in torch)
    w.grad = gg.ones(3)
    opt.step()
    assert opt.state_dict()["param_groups"][1]["params"] == [0]


def test_integer_hyperparameters_and_repr():
    w = gg.tensor(np.array([1.0, -1.0]), requires_grad=True)
    opt = optim.SGD([w], lr=1, momentum=0)
    w.grad = gg.tensor(np.array([0.5, 0.5]))
    opt.step()
    np.testing.assert_array_equal(w.data, [0.5, -1.5])
    assert "SGD (" in repr(opt) and "lr: 1" in repr(opt)


# ------------------------------------------------------------------------------------------------
# end to end: minimise sum((w - c)^2) with real backward passes
# ------------------------------------------------------------------------------------------------
E2E = [
    (optim.SGD, dict(lr=0.1), 1e-6),
    (optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True), 1e-6),
    (optim.Adam, dict(lr=0.05), 1e-3),
    (optim.Adam, dict(lr=0.05, amsgrad=True), 1e-3),
    (optim.AdamW, dict(lr=0.05, weight_decay=1e-4), 1e-3),
    (optim.RMSprop, dict(lr=0.05), 1e-2),
    (optim.RMSprop, dict(lr=0.02, momentum=0.5, centered=True), 1e-2),
]


@pytest.mark.parametrize("cls, kwargs, tol", E2E, ids=[f"{c.__name__}-{sorted(k)}" for c, k, _ in E2E])
def test_minimises_a_quadratic(cls, kwargs, tol):
    c = gg.tensor(np.array([1.5, -2.0, 0.25, 3.0], np.float32))
    w = gg.zeros(4, requires_grad=True)
    opt = cls([w], **kwargs)
    sched = lr_scheduler.ExponentialLR(opt, gamma=0.995)
    first = None
    for _ in range(600):
        opt.zero_grad()
        loss = ((w - c) ** 2).sum()
        loss.backward()
        first = loss.item() if first is None else first
        opt.step()
        sched.step()
    assert w.dtype == np.float32
    assert ((w - c) ** 2).sum().item() < 1e-4 * first
    np.testing.assert_allclose(w.data, c.data, atol=tol)


# ------------------------------------------------------------------------------------------------
# layering: glassgrad.optim uses only numpy and the glassgrad core
# ------------------------------------------------------------------------------------------------
def test_optim_imports_only_numpy_and_the_core():
    allowed_glassgrad = {"glassgrad._backend", "glassgrad.tensor", "glassgrad.engine", "glassgrad.checks",
                         "glassgrad.state", "glassgrad.device"}   # the core
    package = Path(optim.__file__).parent
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            for name in names:
                top = name.split(".")[0]
                if top == "glassgrad":
                    assert name in allowed_glassgrad or name.startswith("glassgrad.optim"), f"{path.name}: {name}"
                else:
                    assert top in {"numpy", "__future__", "math", "numbers", "typing"}, f"{path.name}: {name}"


# ------------------------------------------------------------------------------------------------
# speed guard: a float32 step makes no float64 arrays
# ------------------------------------------------------------------------------------------------
class DtypeSpy(np.ndarray):
    """An array that records the dtype of every array a ufunc reads or makes from it."""

    seen: set = set()

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        plain = [x.view(np.ndarray) if isinstance(x, DtypeSpy) else x for x in inputs]
        if out is not None:
            kwargs["out"] = tuple(o.view(np.ndarray) if isinstance(o, DtypeSpy) else o for o in out)
        result = getattr(ufunc, method)(*plain, **kwargs)
        for x in [*plain, *(kwargs.get("out") or ()), *(result if isinstance(result, tuple) else (result,))]:
            if isinstance(x, np.ndarray):
                DtypeSpy.seen.add(x.dtype)
        if out is not None:
            return out[0] if len(out) == 1 else out
        return result.view(DtypeSpy) if isinstance(result, np.ndarray) and result.ndim else result


@pytest.mark.parametrize("name, kwargs", CONFIGS, ids=CONFIG_IDS)
def test_float32_step_makes_no_float64_arrays(name, kwargs):
    p = gg_params(initial_arrays(dtype=np.float32))
    for q in p:
        q.data = q.data.view(DtypeSpy)
    opt = OPTIMISERS[name][0](p, **{k: (np.float64(v) if k == "lr" else v) for k, v in kwargs.items()})
    DtypeSpy.seen = set()
    for grads in gradient_sequence(3, dtype=np.float32):
        for q, g in zip(p, grads):
            q.grad = None if g is None else gg.Tensor(g.view(DtypeSpy))
        opt.step()
        optim.clip_grad_norm_(p, 0.1, norm_type=3.0)
        optim.clip_grad_value_(p, 0.01)
    assert DtypeSpy.seen == {np.dtype(np.float32)}
    assert all(type(q.data) is DtypeSpy for q in p)   # still the same (in-place updated) arrays
