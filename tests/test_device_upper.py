"""Devices above the core: ``Module.to``, optimiser state on the parameters' device, ``DataLoader(device=)``,
``fit(device=)``, ``--device`` on the command line, checkpoints written as host arrays (portable to a machine
without a GPU), explain views and MPI buffers on the host, and the GPU check script's dry run.

"cuda" here is the CPU-side stand-in of tests/devices.py (it refuses host arrays as CuPy does, so a device array
that reaches a host-only place fails a test); tests taking the ``device`` fixture also run on a real GPU when
``gg.cuda.is_available()``. What the stand-in cannot prove (CuPy's numerics, synchronisation, speed) is said there
and in docs/gpu.md.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from devices import StandInArray, standin_registered

import glassgrad as gg
from glassgrad import nn, optim
from glassgrad.data import DataLoader
from glassgrad.device import device_of, to_host
from glassgrad.nn import functional as F
from glassgrad.train import fit, load_checkpoint, save_checkpoint

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def cuda():
    """The stand-in registered as the "cuda" backend (two stand-in GPUs)."""
    with standin_registered() as backend:
        yield backend


def small_model(seed: int = 0) -> nn.Sequential:
    gg.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.BatchNorm1d(8), nn.Dropout(0.25), nn.Linear(8, 3))


def data(n: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4)).astype(np.float32)
    return x, (x[:, 0] + x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 1).astype(np.int64)


def devices_of(model: nn.Module) -> set:
    """The devices of every parameter and buffer of ``model``."""
    found = {p.device for p in model.parameters()}
    found |= {device_of(b) for b in model.buffers()}
    return found


# --------------------------------------------------------------------------------------------------
# Module.to
# --------------------------------------------------------------------------------------------------
def test_module_to_moves_parameters_gradients_and_buffers_in_place(cuda):
    model = small_model()
    params = model.parameters()
    before = [to_host(p).copy() for p in params]
    model(gg.tensor(data()[0])).sum().backward()
    assert model.to("cuda") is model
    assert model.parameters() == params and all(a is b for a, b in zip(model.parameters(), params))
    assert devices_of(model) == {gg.device("cuda:0")} and model.device == "cuda"
    assert all(isinstance(p.grad.data, StandInArray) for p in params)            # gradients moved too
    assert isinstance(model[2].running_var, StandInArray)                         # and batch norm's statistics
    for p, b in zip(params, before):
        np.testing.assert_array_equal(to_host(p), b)
    model.cuda(1)
    assert devices_of(model) == {gg.device("cuda:1")}
    assert model.cpu() is model and devices_of(model) == {gg.device("cpu")}
    assert all(type(p.data) is np.ndarray for p in params)
    for p, b in zip(params, before):
        np.testing.assert_array_equal(p.data, b)


def test_module_to_refuses_a_bad_device_and_moves_nothing(cuda):
    model = small_model()
    with pytest.raises(ValueError, match="unknown device 'gpu'"):
        model.to("gpu")
    with pytest.raises(RuntimeError, match="cuda:5"):
        model.to("cuda:5")
    assert devices_of(model) == {gg.device("cpu")}


def test_module_to_cuda_without_a_gpu_names_the_install_line():
    if gg.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(RuntimeError, match=r'pip install "glassgrad\[cuda\]"'):
        small_model().to("cuda")


@pytest.mark.parametrize("build_optimizer_first", [True, False])
def test_optimiser_built_before_or_after_the_move_trains_as_on_the_cpu(device, build_optimizer_first):
    x, y = data()
    results = []
    for where in ("cpu", device):
        model = small_model()
        model.eval()        # no dropout: the two runs are compared step for step
        opt = optim.Adam(model.parameters(), lr=0.01, amsgrad=True) if build_optimizer_first else None
        model.to(where)
        opt = opt or optim.Adam(model.parameters(), lr=0.01, amsgrad=True)
        xb, yb = gg.tensor(x, device=where), gg.tensor(y, device=where)
        for _ in range(4):
            opt.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            opt.step()
        assert {device_of(v) for s in opt.state.values() for v in s.values() if hasattr(v, "shape")} == {model.device}
        results.append([to_host(p) for p in model.parameters()])
    for a, b in zip(*results):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)


def test_state_dict_stays_on_the_device_and_loads_onto_each_parameters_device(cuda):
    model = small_model().to("cuda")
    state = model.state_dict()
    assert all(isinstance(v, StandInArray) for v in state.values())
    cpu_model = small_model(seed=1)
    cpu_model.load_state_dict(state)                     # device arrays into a CPU model
    assert devices_of(cpu_model) == {gg.device("cpu")}
    for (name, value), p in zip(state.items(), cpu_model.state_dict().values()):
        np.testing.assert_array_equal(to_host(value), p, err_msg=name)
    other = small_model(seed=2).to("cuda:1")
    other.load_state_dict(cpu_model.state_dict())          # host arrays into a model on the second GPU
    assert devices_of(other) == {gg.device("cuda:1")}
    bad = dict(cpu_model.state_dict(), **{"0.weight": np.full((8, 4), np.nan, np.float32)})
    with pytest.raises(gg.train.CheckpointError, match="0.weight"):
        other.load_state_dict(bad)
    np.testing.assert_array_equal(to_host(other[0].weight), cpu_model[0].weight.data)   # nothing changed


def test_layers_make_their_arrays_on_the_inputs_device(cuda):
    x = gg.ones(4, 6, device="cuda")
    gg.manual_seed(5)
    dropped = F.dropout(x, 0.5)
    gg.manual_seed(5)
    assert dropped.device == "cuda"
    np.testing.assert_array_equal(to_host(dropped), F.dropout(gg.ones(4, 6), 0.5).data)   # one seed, one mask
    out = F.batch_norm(gg.randn(5, 3, device="cuda"), training=True)          # γ = 1, β = 0 made on the device
    assert out.device == "cuda"
    weight = nn.Linear(6, 2).to("cuda").weight
    nn.init.he_normal_(weight, generator=gg.Generator(0))                     # drawn on the host, copied over
    np.testing.assert_array_equal(to_host(weight), nn.init.he_normal_(nn.Linear(6, 2).weight, gg.Generator(0)).data)
    with pytest.raises(RuntimeError, match="batch_norm: .*cuda:0 and cpu"):
        F.batch_norm(gg.randn(5, 3, device="cuda"), np.zeros(3, np.float32), np.ones(3, np.float32), training=True)


# --------------------------------------------------------------------------------------------------
# Optimisers
# --------------------------------------------------------------------------------------------------
def test_optimiser_over_parameters_on_several_devices_updates_each_on_its_own(cuda):
    """One optimiser, parameters on the CPU, stand-in GPU 0 and GPU 1: each update runs where its parameter is,
    with its state there, and gives the numbers of an all-CPU run."""
    rng = np.random.default_rng(0)
    start = [rng.standard_normal(s) for s in [(3, 2), (4,), (2, 2)]]
    grads = [[rng.standard_normal(a.shape) for a in start] for _ in range(3)]
    results = []
    for places in (["cpu"] * 3, ["cpu", "cuda:0", "cuda:1"]):
        params = [gg.tensor(a, requires_grad=True, device=d) for a, d in zip(start, places)]
        opt = optim.RMSprop(params, lr=0.01, momentum=0.9, centered=True)
        for step in grads:
            for p, g in zip(params, step):
                p.grad = gg.tensor(g, device=p.device)
            opt.step()
        for p in params:
            assert {device_of(v) for v in opt.state[p].values() if hasattr(v, "shape")} == {p.device}
        results.append([to_host(p) for p in params])
    for a, b in zip(*results):
        np.testing.assert_allclose(b, a, rtol=1e-12)


@pytest.mark.parametrize("param_device, grad_device", [("cuda:0", "cpu"), ("cpu", "cuda:1"), ("cuda:0", "cuda:1"),
                                                       ("cuda:1", "cuda:0")])
def test_a_gradient_on_another_device_is_refused_naming_the_parameter_and_both_devices(cuda, param_device,
                                                                                       grad_device):
    fine = gg.zeros(2, requires_grad=True, device=param_device)
    p = gg.zeros(3, requires_grad=True, device=param_device)
    fine.grad, p.grad = gg.ones(2, device=param_device), gg.ones(3, device=grad_device)
    opt = optim.SGD([{"params": [fine]}, {"params": [gg.zeros(1, requires_grad=True), p]}], lr=0.1)
    with pytest.raises(RuntimeError, match=rf"SGD\.step: parameter 1 of param group 1 \(shape \(3,\)\) is on "
                                           rf"{param_device} but its gradient is on {grad_device}; a gradient must "
                                           "be on its parameter's device"):
        opt.step()
    assert not to_host(p).any()       # refused before any update of that parameter
    p.grad = gg.ones(3, device=param_device)
    opt.step()                        # the same device, index included: accepted
    np.testing.assert_allclose(to_host(p), -0.1 * np.ones(3))


def test_optimiser_state_dict_keeps_the_device_and_loads_onto_the_parameters(cuda):
    model = small_model().eval().to("cuda")
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = data()
    F.cross_entropy(model(gg.tensor(x, device="cuda")), gg.tensor(y, device="cuda")).backward()
    opt.step()
    state = opt.state_dict()
    assert all(isinstance(s["momentum_buffer"], StandInArray) for s in state["state"].values())
    model.cpu()          # moved after a step: reloading the state brings it along
    opt.load_state_dict(state)
    assert all(type(s["momentum_buffer"]) is np.ndarray for s in opt.state.values())
    opt.step()           # runs on the CPU with CPU state
    model.to("cuda:1")
    opt.load_state_dict(opt.state_dict())
    assert {device_of(s["momentum_buffer"]) for s in opt.state.values()} == {gg.device("cuda:1")}


def test_gradient_clipping_on_the_device(device):
    params = [gg.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True, device=device)]
    params[0].grad = gg.tensor(np.full((2, 3), 2.0), device=device)
    total = optim.clip_grad_norm_(params, 1.0)
    assert total == pytest.approx(np.sqrt(24.0))
    np.testing.assert_allclose(to_host(params[0].grad), np.full((2, 3), 2.0 / (np.sqrt(24.0) + 1e-6)))
    optim.clip_grad_value_(params, 0.1)
    assert params[0].grad.device == device and to_host(params[0].grad).max() == pytest.approx(0.1)


# --------------------------------------------------------------------------------------------------
# Data loaders and fit
# --------------------------------------------------------------------------------------------------
def test_data_loader_puts_batches_on_its_device(cuda):
    x, y = data(10)
    batches = list(DataLoader((x, y), batch_size=4, device="cuda:1"))
    assert [b[0].device for b in batches] == [gg.device("cuda:1")] * 3
    np.testing.assert_array_equal(np.concatenate([to_host(b[0]) for b in batches]), x)
    raw = next(iter(DataLoader((x, y), batch_size=4, device="cuda", as_tensor=False)))
    assert all(isinstance(a, StandInArray) for a in raw)
    assert "device=cuda:1" in repr(DataLoader((x, y), device="cuda:1"))
    with pytest.raises(ValueError, match="unknown device 'gpu:0'"):
        DataLoader((x, y), device="gpu:0")


@pytest.mark.parametrize("compiled", [False, True])
def test_fit_on_a_device_trains_as_on_the_cpu(device, compiled):
    """One fit run (validation, batch norm, momentum; dropout when eager, since a compiled step cannot replay
    fresh masks) on the device, eager and compiled: the model ends up there and the history matches the CPU's."""
    x, y = data(96)
    histories = []
    for where in ("cpu", device):
        model = small_model()
        if compiled:
            model[3].p = 0.0
        opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        history = fit(model, F.cross_entropy, opt, (x[:80], y[:80]), epochs=2, batch_size=16, verbose=False,
                      validation=(x[80:], y[80:]), device=where, compile=compiled)
        assert devices_of(model) == {gg.device(where)}
        histories.append(history)
    for a, b in zip(histories[0].epochs, histories[1].epochs):
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            assert b[key] == pytest.approx(a[key], rel=1e-5, abs=1e-6), key


def test_fit_device_needs_a_module_and_a_valid_spec():
    x, y = data(8)
    with pytest.raises(TypeError, match="needs a model with .to"):
        fit(lambda t: t, F.cross_entropy, optim.SGD([gg.zeros(1, requires_grad=True)], lr=0.1), (x, y),
            device="cpu", verbose=False)
    with pytest.raises(ValueError, match="unknown device"):
        fit(small_model(), F.cross_entropy, optim.SGD(small_model().parameters(), lr=0.1), (x, y), device="tpu",
            verbose=False)


def test_evaluate_and_predict_on_a_device(cuda):
    x, y = data(20)
    model = small_model().eval()
    expected = gg.train.predict(model, x)
    model.to("cuda")
    out = gg.train.predict(model, x, batch_size=8, device="cuda")
    assert type(out) is np.ndarray
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    assert gg.train.evaluate(model, (x, y), F.cross_entropy, device="cuda")["accuracy"] == pytest.approx(
        gg.train.evaluate(model.cpu(), (x, y), F.cross_entropy)["accuracy"])


# --------------------------------------------------------------------------------------------------
# Checkpoints and weight files: always host NumPy, loaded onto the model's device
# --------------------------------------------------------------------------------------------------
def test_checkpoint_of_a_model_trained_on_the_device_loads_on_a_cpu_only_machine(device, tmp_path):
    """Train on the device, save; then — with no "cuda" backend at all — load into a CPU model: equal. And back
    onto the device: arrays land there."""
    x, y = data()
    model = small_model()
    opt = optim.Adam(model.parameters(), lr=0.01)
    fit(model, F.cross_entropy, opt, (x, y), epochs=1, batch_size=16, verbose=False, device=device)
    path = save_checkpoint(tmp_path / "model.npz", model, opt, metadata={"note": "trained on " + device})
    trained = {k: to_host(v) for k, v in model.state_dict().items()}
    with np.load(path, allow_pickle=False) as saved:      # plain host arrays in the file
        assert all(saved[k].dtype.kind in "biuf" for k in saved.files)
    code = ("import numpy as np, glassgrad as gg, sys\n"
            "from glassgrad import nn, optim\n"
            "from glassgrad.device import registered_backend\n"
            "from glassgrad.train import load_checkpoint\n"
            "assert registered_backend('cuda') is None\n"
            "gg.manual_seed(7)\n"
            "m = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.BatchNorm1d(8), nn.Dropout(0.25), nn.Linear(8, 3))\n"
            "o = optim.Adam(m.parameters(), lr=0.01)\n"
            f"load_checkpoint({str(path)!r}).restore(m, o)\n"
            "np.savez(sys.argv[1], **m.state_dict())\n")
    out = tmp_path / "loaded.npz"
    subprocess.run([sys.executable, "-c", code, str(out)], check=True, cwd=tmp_path, timeout=120,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})
    with np.load(out) as loaded:
        for name, value in trained.items():
            np.testing.assert_array_equal(loaded[name], value, err_msg=name)
    fresh, fresh_opt = small_model(seed=3).to(device), None
    fresh_opt = optim.Adam(fresh.parameters(), lr=0.01)
    load_checkpoint(path).restore(fresh, fresh_opt)
    assert devices_of(fresh) == {gg.device(device)}
    assert {device_of(v) for s in fresh_opt.state.values() for v in s.values() if hasattr(v, "shape")} == \
        {gg.device(device)}
    for name, value in fresh.state_dict().items():
        np.testing.assert_array_equal(to_host(value), trained[name], err_msg=name)


def test_fit_resumes_onto_the_device_and_a_refused_checkpoint_moves_nothing(cuda, tmp_path):
    x, y = data()
    model = small_model()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    fit(model, F.cross_entropy, opt, (x, y), epochs=1, batch_size=16, verbose=False, device="cuda",
        callbacks=[gg.train.ModelCheckpoint(tmp_path / "ckpt.npz")])
    again = small_model(seed=1)
    opt2 = optim.SGD(again.parameters(), lr=0.1, momentum=0.9)
    history = fit(again, F.cross_entropy, opt2, (x, y), epochs=2, batch_size=16, verbose=False, device="cuda",
                  resume=str(tmp_path / "ckpt.npz"))
    assert len(history) == 2 and devices_of(again) == {gg.device("cuda")}
    (tmp_path / "bad.npz").write_bytes(b"not a checkpoint")
    third = small_model(seed=2)
    with pytest.raises(gg.train.CheckpointError):
        fit(third, F.cross_entropy, optim.SGD(third.parameters(), lr=0.1), (x, y), epochs=2, verbose=False,
            device="cuda", resume=str(tmp_path / "bad.npz"))
    assert devices_of(third) == {gg.device("cpu")}


def test_weight_files_are_written_from_the_device_as_host_arrays(cuda, tmp_path):
    pytest.importorskip("safetensors")
    torch = pytest.importorskip("torch")
    from glassgrad.train import load_safetensors, save_safetensors, to_torch_state_dict

    model = small_model().to("cuda")
    save_safetensors(model, tmp_path / "w.safetensors")
    loaded = load_safetensors(tmp_path / "w.safetensors")
    exported = to_torch_state_dict(model)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(loaded[name], to_host(value))
        assert exported[name].device == torch.device("cpu")
    other = small_model(seed=4).to("cuda:1")
    other.load_state_dict(loaded)
    assert devices_of(other) == {gg.device("cuda:1")}


# --------------------------------------------------------------------------------------------------
# The command line
# --------------------------------------------------------------------------------------------------
def cli(argv: list[str], capsys) -> tuple[int, str, str]:
    from glassgrad.cli import main

    try:
        rc = main(argv)
    except SystemExit as e:          # a flag refused while parsing exits, as argparse does
        rc = e.code
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


@pytest.mark.parametrize("command", [["train"], ["evaluate", "model.npz"], ["predict", "model.npz", "--data", "xor"]])
def test_cli_device_flag_is_checked_at_parse_time(command, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, out, err = cli([*command, "--device", "gpu"], capsys)
    assert rc == 2 and "--device: must be cpu, cuda or cuda:N" in err and len(err.strip().splitlines()) == 1
    if not gg.cuda.is_available():
        rc, out, err = cli([*command, "--device", "cuda"], capsys)
        assert rc == 2 and len(err.strip().splitlines()) == 1
        assert "CUDA is not available" in err and 'pip install "glassgrad[cuda]"' in err
    with standin_registered():
        rc, out, err = cli([*command, "--device", "cuda:2"], capsys)
    assert rc == 2 and "this machine has 2 GPU(s), cuda:0 to cuda:1" in err
    assert not list(tmp_path.iterdir())          # refused before anything was written


def test_cli_trains_evaluates_and_predicts_on_the_device(cuda, capsys, tmp_path):
    out = tmp_path / "run"
    rc, text, err = cli(["train", "--data", "xor", "--epochs", "2", "--hidden", "8", "--no-progress",
                         "--device", "cuda", "--out", str(out)], capsys)
    assert rc == 0, err
    assert "test accuracy" in text and (out / "model.npz").is_file()
    rc, text, err = cli(["evaluate", str(out / "model.npz"), "--device", "cuda:1"], capsys)
    assert rc == 0 and "accuracy" in text, err
    on_cpu = cli(["evaluate", str(out / "model.npz")], capsys)[1]
    assert text == on_cpu                        # the same numbers (the stand-in computes with NumPy)
    rc, text, err = cli(["predict", str(out / "model.npz"), "--data", "xor", "--limit", "3", "--device", "cuda"],
                        capsys)
    assert rc == 0 and len(text.strip().splitlines()) == 3, err


# --------------------------------------------------------------------------------------------------
# The GPU check script
# --------------------------------------------------------------------------------------------------
def test_gpu_check_dry_run_runs_end_to_end_and_reports_no_gpu_numbers(tmp_path):
    """benchmarks/gpu_check.sh --dry-run: every step of the GPU check on the stand-in (so the script cannot rot);
    no time is reported, since a stand-in time is a CPU time."""
    results = tmp_path / "results.json"
    done = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--dry-run", "--out", str(results),
                           "--tests", "tests/test_device_upper.py::test_gradient_clipping_on_the_device"],
                          capture_output=True, text=True, timeout=300, cwd=ROOT,
                          env={**os.environ, "PYTHON": sys.executable, "PYTHONPATH": str(ROOT)})
    report = json.loads(results.read_text())
    assert report["dry_run"] is True and "stand-in" in report["device"]["device"]
    assert report["tests"]["status"] == "passed" and "passed" in report["tests"]["summary"], report["tests"]
    gates = report["gates"]["gates"]
    assert set(gates) == set(gg.GATES) and not report["gates"]["failed"] and not report["gates"]["not_run"]
    assert all(v == "ok" for r in gates.values() for v in r.values())
    for row in report["steps"]:
        assert row["glassgrad eager first loss"] == row["glassgrad compiled first loss"] == "ok", row
        timed = [k for k, v in row.items() if isinstance(v, float)]
        assert not timed, f"the dry run reported times: {timed}"
        assert row["torch cuda"] == row["glassgrad eager"] == "not timed (dry run on the CPU stand-in)"
    assert report["problems"] == [] and done.returncode == 0, done.stdout[-2000:]


# --------------------------------------------------------------------------------------------------
# Explain views: values come to the host to be printed and drawn
# --------------------------------------------------------------------------------------------------
def test_the_main_explain_views_work_on_a_model_on_the_device(cuda, tmp_path):
    """graph, trace (and its neuron picture), the whole-model gradient check, gradient health during fit and the
    HTML report, on a model living on the stand-in "cuda" device: each equals the same view of the CPU model
    (so nothing was silently dropped or left on the device)."""
    from glassgrad import explain as E

    x, y = data(32)
    one_hot = np.eye(3, dtype=np.float32)[y]
    views = []
    for where in ("cpu", "cuda"):
        gg.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 6), nn.Sigmoid(), nn.Linear(6, 3)).to(where)
        xb, yb = gg.tensor(x, device=where), gg.tensor(y, device=where)
        health = E.GradientHealth(every=1)
        fit(model, F.cross_entropy, optim.SGD(model.parameters(), lr=0.1), (x, y), epochs=1, batch_size=8,
            verbose=False, device=where, callbacks=[health])
        graph = E.graph(F.cross_entropy(model(xb[:2]), yb[:2]))
        traced = E.trace(model, xb[:1], one_hot[:1])
        check = E.check_model_gradients(model, F.cross_entropy, xb[:4], yb[:4])
        report = E.render_report([{"epoch": 1, "loss": 0.5}], model, health=health)
        assert all(p.device == where for p in model.parameters())          # the views left the model where it was
        views.append((str(graph), graph.to_dot(), str(traced), E.neuron_view(traced).forward_svg(), str(check),
                      str(E.health_report(model, F.cross_entropy, xb, yb)), health.table(),
                      report.count("<svg")))
    for what, on_cpu, on_device in zip(("graph", "dot", "trace", "neuron", "check", "health report", "health",
                                        "report svgs"), *views):
        assert on_device == on_cpu, what
