"""The Python part of ``benchmarks/gpu_check.sh``: glassgrad on an NVIDIA GPU (CuPy) against the CPU.

    python benchmarks/gpu_check.py [--budget SECONDS] [--out FILE] [--examples N]   # on a GPU machine
    python benchmarks/gpu_check.py --dry-run                                         # anywhere: the CPU stand-in

It runs, within ``--budget`` seconds (what the shell script has left of its 8 minutes):

1. the device information (CuPy's view of the GPU; whether PyTorch has CUDA);
2. the CUDA-parametrised tests of the suite (``pytest -k cuda``), in a subprocess with a time limit;
3. every gate of ``glassgrad.GATES`` — new gates are included automatically — on the sample inputs of the
   gate test table (``tests/test_gates.py``'s ``CASES``, drawn by the same hypothesis recipes), in float64
   and float32: the value and every input's gradient (for a seeded random output gradient) on the device
   against the CPU;
4. one training step (forward, cross-entropy, backward, SGD update) of 784-128-10 at batch 256 and of
   784-1024-1024-10 at batch 1024, float32, timed with a device synchronisation after each block: glassgrad
   eager, glassgrad compiled (``gg.compile(..., optimizer=)``), and PyTorch CUDA when torch with CUDA is
   installed (otherwise the results say it was not); the first step's loss is also compared with the CPU.

Everything goes to a JSON results file. ``--dry-run`` runs the same code on the CPU stand-in that the test
suite registers as the "cuda" device (``tests/devices.py``), with small batches and few examples: it
proves the script runs end to end, and it reports no times at all — a number from the stand-in is a CPU
number, and this script never prints a GPU number it did not measure.

Exit status: 0 everything passed, 1 a check failed or did not finish in the budget.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
import traceback
import types
from pathlib import Path
from typing import Any, Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT / "tests", ROOT):         # glassgrad from this checkout; the gate cases from tests/
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import glassgrad as gg  # noqa: E402
from glassgrad.device import to_device, to_host  # noqa: E402

TOLERANCES = {"float64": (1e-9, 1e-12), "float32": (2e-4, 1e-5)}   # (rtol, atol) of device against CPU
MODELS = [((784, 128, 10), 256), ((784, 1024, 1024, 10), 1024)]   # (layer sizes, batch) of the timed steps
DRY_RUN_BATCH = 8


class Budget:
    """Seconds left of the time the script was given."""

    def __init__(self, seconds: float):
        self.deadline = time.monotonic() + seconds

    def left(self) -> float:
        return self.deadline - time.monotonic()


def say(line: str = "") -> None:
    print(line, flush=True)


# ---- 1. the device --------------------------------------------------------------------------------------
def device_info(dry_run: bool) -> dict[str, Any]:
    info: dict[str, Any] = {"python": platform.python_version(), "platform": platform.platform(),
                            "numpy": np.__version__, "glassgrad": gg.__version__,
                            "cuda_available": gg.cuda.is_available(), "device_count": gg.cuda.device_count()}
    if dry_run:
        info["device"] = "the CPU stand-in registered as 'cuda' (dry run: no GPU is used)"
    else:
        import cupy
        props = cupy.cuda.runtime.getDeviceProperties(0)
        info.update(cupy=cupy.__version__, device=props["name"].decode(errors="replace"),
                    memory_gib=round(props["totalGlobalMem"] / 2**30, 1),
                    compute_capability=f"{props['major']}.{props['minor']}",
                    cuda_runtime=cupy.cuda.runtime.runtimeGetVersion(),
                    cuda_driver=cupy.cuda.runtime.driverGetVersion())
    try:
        import torch
        info["torch"] = torch.__version__
        info["torch_cuda"] = bool(torch.cuda.is_available())
    except ImportError:
        info["torch"], info["torch_cuda"] = None, False
    return info


def synchronize(dry_run: bool) -> Callable[[], None]:
    """Waits for the device's queued work (CuPy launches kernels asynchronously); nothing to wait for on the
    stand-in."""
    if dry_run:
        return lambda: None
    import cupy
    return cupy.cuda.Device().synchronize


# ---- 2. the CUDA-parametrised tests ---------------------------------------------------------------------
def run_tests(selection: list[str], keyword: str, timeout: float) -> dict[str, Any]:
    """``pytest -k keyword selection`` in a subprocess; its summary line and exit status."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", keyword, *selection]
    say("$ " + " ".join(command))
    if timeout < 10:
        return {"command": command, "status": "not run: no time left in the budget"}
    started = time.monotonic()
    try:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"command": command, "status": f"not finished in {timeout:.0f} s (the time budget)"}
    lines = done.stdout.strip().splitlines()
    summary = lines[-1] if lines else done.stderr.strip()[-300:]
    failures = [line for line in lines if line.startswith(("FAILED", "ERROR"))]
    say("\n".join(failures[:40]) if failures else "")
    say(summary)
    # pytest exits 5 when the keyword selects nothing: that is a failure of the check, not a pass
    status = "passed" if done.returncode == 0 else f"failed (pytest exit {done.returncode})"
    return {"command": command, "status": status,
            "summary": summary, "failures": failures, "seconds": round(time.monotonic() - started, 1)}


# ---- 3. every gate, device against CPU ------------------------------------------------------------------
def draw_examples(case: Callable, count: int) -> list[tuple[Callable, list[np.ndarray]]]:
    """``count`` examples ``(f, inputs)`` of a gate case of the test table, drawn as the tests draw them
    (derandomized: the same examples on every run)."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st

    drawn: list[tuple[Callable, list[np.ndarray]]] = []

    @settings(max_examples=count, derandomize=True, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def collect(data):
        drawn.append(case(data))

    collect()
    return drawn[:count]


def moved(value: Any, device: str) -> Any:
    """``value`` with the host arrays and tensors in it on ``device``: a case's constants (a ``where``
    condition, a pooling's routing arrays) are made on the host when it is drawn, and gates never move arrays
    themselves. Functions get their closure's values moved the same way."""
    if isinstance(value, np.ndarray):
        return to_device(value, device)
    if isinstance(value, gg.Tensor):
        return value.to(device)
    if isinstance(value, (list, tuple)):
        return type(value)(moved(v, device) for v in value)
    if isinstance(value, dict):
        return {k: moved(v, device) for k, v in value.items()}
    if isinstance(value, types.FunctionType) and value.__closure__:
        cells = tuple(types.CellType(moved(c.cell_contents, device)) for c in value.__closure__)
        return types.FunctionType(value.__code__, value.__globals__, value.__name__, value.__defaults__, cells)
    return value


def gate_run(f: Callable, inputs: list[np.ndarray], device: str, dtype: Any):
    """The value and the inputs' gradients of ``f`` on ``device`` in ``dtype``, as host arrays."""
    arrays = [a.astype(dtype) if a.dtype.kind == "f" else a for a in inputs]
    tensors = [gg.tensor(a, requires_grad=a.dtype.kind == "f", device=device) for a in arrays]
    out = moved(f, device)(*tensors)
    cotangent = np.random.default_rng(0).standard_normal(out.shape).astype(out.dtype)
    out.backward(gg.tensor(cotangent, device=out.device))   # (the to_device gate's output is elsewhere)
    return to_host(out.data), [None if t.grad is None else to_host(t.grad.data) for t in tensors]


def mismatch(cpu, dev, dtype_name: str) -> str | None:
    """Why the device result differs from the CPU's, or None if it agrees within the dtype's tolerance."""
    rtol, atol = TOLERANCES[dtype_name]
    (value_c, grads_c), (value_d, grads_d) = cpu, dev
    for what, a, b in [("value", value_c, value_d)] + [(f"gradient {i}", a, b)
                                                       for i, (a, b) in enumerate(zip(grads_c, grads_d))]:
        if (a is None) != (b is None):
            return f"{what}: present on one device only"
        if a is None:
            continue
        if a.shape != b.shape or a.dtype != b.dtype:
            return f"{what}: {a.dtype}{list(a.shape)} on the CPU, {b.dtype}{list(b.shape)} on the device"
        if not np.allclose(b, a, rtol=rtol, atol=atol, equal_nan=True):
            worst = float(np.nanmax(np.abs(b.astype(np.float64) - a)))
            return f"{what}: differs by up to {worst:.3g} (rtol {rtol}, atol {atol})"
    return None


def compare_gates(device: str, examples: int, budget: Budget) -> dict[str, Any]:
    """Each gate's examples in float64 and float32: "ok", or what differed or failed."""
    import test_gates  # tests/test_gates.py: the case table every gate must have an entry in

    from glassgrad.engine import GATES

    results: dict[str, dict[str, str]] = {}
    started = time.monotonic()
    for name in sorted(GATES):
        if budget.left() < 0:
            results[name] = {"float64": "not run: out of time", "float32": "not run: out of time"}
            continue
        case = test_gates.CASES.get(name)
        if case is None:
            results[name] = {"float64": "FAIL: no case in tests/test_gates.py", "float32": "FAIL: no case"}
            continue
        results[name] = {}
        drawn = draw_examples(case, examples)
        for dtype in (np.float64, np.float32):
            dtype_name = np.dtype(dtype).name
            verdict = "ok"
            for k, (f, inputs) in enumerate(drawn):
                try:
                    cpu = gate_run(f, inputs, "cpu", dtype)
                except Exception as error:   # the CPU refuses this example in this dtype: nothing to compare
                    verdict = f"n/a: the CPU refuses example {k} in {dtype_name} ({type(error).__name__})"
                    continue
                try:
                    dev = gate_run(f, inputs, device, dtype)
                except Exception as error:
                    verdict = f"FAIL: example {k} raises on the device: {type(error).__name__}: {error}"
                    break
                problem = mismatch(cpu, dev, dtype_name)
                if problem is not None:
                    verdict = f"FAIL: example {k}: {problem}"
                    break
            results[name][dtype_name] = verdict
    failed = sorted(n for n, r in results.items() if any(v.startswith("FAIL") for v in r.values()))
    unfinished = sorted(n for n, r in results.items() if any(v.startswith("not run") for v in r.values()))
    for name in failed:
        say(f"  {name}: " + "; ".join(f"{k} {v}" for k, v in results[name].items() if v.startswith("FAIL")))
    say(f"{len(results)} gates, {examples} example(s) each, float64 and float32: {len(failed)} failed"
        + (f", {len(unfinished)} not run (time budget)" if unfinished else ""))
    return {"examples_per_gate": examples, "tolerances": TOLERANCES, "gates": results, "failed": failed,
            "not_run": unfinished, "seconds": round(time.monotonic() - started, 1)}


# ---- 4. one training step, timed ------------------------------------------------------------------------
def glassgrad_step(sizes: tuple[int, ...], batch: int, device: str, compiled: bool) -> Callable[[], Any]:
    """One SGD step of an MLP (ReLU between the layers) with cross-entropy, on ``device``; returns the loss
    tensor (not its value: reading it would synchronise every step)."""
    from glassgrad import nn, optim
    from glassgrad.nn import functional as F

    gg.manual_seed(0)
    layers: list[nn.Module] = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
    model = nn.Sequential(*layers[:-1]).to(device)
    optimizer = optim.SGD(model.parameters(), lr=0.01)
    data = np.random.default_rng(1)
    x = gg.tensor(data.standard_normal((batch, sizes[0]), dtype=np.float32), device=device)
    y = gg.tensor(data.integers(0, sizes[-1], batch), device=device)

    def loss_of(x, y):
        return F.cross_entropy(model(x), y)

    if compiled:
        whole_step = gg.compile(loss_of, optimizer=optimizer)
        return lambda: whole_step(x, y)

    def step() -> Any:
        optimizer.zero_grad()
        loss = loss_of(x, y)
        loss.backward()
        optimizer.step()
        return loss
    return step


def torch_step(sizes: tuple[int, ...], batch: int) -> Callable[[], Any]:
    """The same step in PyTorch on CUDA (its own initial weights: only the time is compared)."""
    import torch

    torch.manual_seed(0)
    layers: list[Any] = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        layers += [torch.nn.Linear(fan_in, fan_out), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1]).cuda()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.randn(batch, sizes[0], device="cuda")
    y = torch.randint(0, sizes[-1], (batch,), device="cuda")

    def step() -> Any:
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        return loss
    return step


def seconds_per_step(step: Callable[[], Any], sync: Callable[[], None], repeats: int = 5,
                     block: float = 0.2) -> float:
    """Median over ``repeats`` blocks of the time per step, the device synchronised around each block."""
    sync()
    started = time.perf_counter()
    step()
    sync()
    n = max(1, min(200, round(block / max(time.perf_counter() - started, 1e-6))))
    times = []
    for _ in range(repeats):
        sync()
        started = time.perf_counter()
        for _ in range(n):
            step()
        sync()
        times.append((time.perf_counter() - started) / n)
    return statistics.median(times)


def time_steps(device: str, dry_run: bool, budget: Budget) -> list[dict[str, Any]]:
    sync = synchronize(dry_run)
    torch_cuda = False
    if not dry_run:
        try:
            import torch
            torch_cuda = torch.cuda.is_available()
        except ImportError:
            pass
    rows = []
    for sizes, batch in MODELS:
        if dry_run:
            batch = DRY_RUN_BATCH
        name = "-".join(map(str, sizes))
        row: dict[str, Any] = {"model": name, "batch": batch}
        cpu_loss = glassgrad_step(sizes, batch, "cpu", compiled=False)().item()
        for label, compiled in (("glassgrad eager", False), ("glassgrad compiled", True)):
            try:
                step = glassgrad_step(sizes, batch, device, compiled)
                losses = [step().item() for _ in range(3)]   # compiled: two recordings, then the replay
            except Exception as error:     # reported, and the other implementations still run
                row[label] = f"FAIL: {type(error).__name__}: {error}"
                continue
            if not math.isclose(losses[0], cpu_loss, rel_tol=1e-4):
                row[f"{label} first loss"] = f"FAIL: {losses[0]!r} on the device, {cpu_loss!r} on the CPU"
            elif not all(map(math.isfinite, losses)):
                row[f"{label} first loss"] = f"FAIL: non-finite losses {losses}"
            else:
                row[f"{label} first loss"] = "ok"
            if dry_run:
                row[label] = "not timed (dry run on the CPU stand-in)"
            elif budget.left() < 20:
                row[label] = "not timed: out of time"
            else:
                row[label] = seconds_per_step(step, sync)
        if dry_run:
            row["torch cuda"] = "not timed (dry run on the CPU stand-in)"
        elif not torch_cuda:
            row["torch cuda"] = "not measured: torch with CUDA is not installed on this machine"
        elif budget.left() < 20:
            row["torch cuda"] = "not timed: out of time"
        else:
            import torch
            row["torch cuda"] = seconds_per_step(torch_step(sizes, batch), torch.cuda.synchronize)
        rows.append(row)
        say(f"  {name} at batch {batch}: " + ", ".join(
            f"{k} {v * 1e3:.3f} ms" if isinstance(v, float) else f"{k}: {v}" for k, v in row.items()
            if k not in ("model", "batch")))
    return rows


# ---- the whole check ------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true",
                        help="run on the CPU stand-in of the 'cuda' device (no GPU, no numbers)")
    parser.add_argument("--budget", type=float, default=420.0, help="seconds this part may take")
    parser.add_argument("--out", default=str(ROOT / "gpu_check_results.json"), help="the results file (JSON)")
    parser.add_argument("--examples", type=int, default=None,
                        help="examples per gate (default 3; 1 in a dry run)")
    parser.add_argument("--tests", nargs="*", default=None,
                        help="test files for step 2 (default: tests/; in a dry run: tests/test_optim.py)")
    args = parser.parse_args(argv)
    if args.dry_run:        # the test suite's CPU stand-in (tests/devices.py) registered as the "cuda" device
        import devices
        with devices.standin_registered():
            return check(args)
    return check(args)


def check(args: argparse.Namespace) -> int:
    """Steps 1-4 and the results file; the exit status."""
    budget = Budget(args.budget)
    results: dict[str, Any] = {"dry_run": args.dry_run, "started": time.strftime("%Y-%m-%d %H:%M:%S UTC",
                                                                                  time.gmtime())}
    if not gg.cuda.is_available():
        say("gpu_check: CUDA is not available (no NVIDIA GPU or driver, or CuPy cannot use it); nothing to "
            "measure. Use --dry-run to check the script itself on the CPU stand-in.")
        return 1
    device = "cuda"

    say("== 1. device")
    results["device"] = device_info(args.dry_run)
    for key, value in results["device"].items():
        say(f"  {key}: {value}")

    say("== 2. the CUDA-parametrised tests")
    selection = args.tests if args.tests is not None else (["tests/test_optim.py"] if args.dry_run else ["tests"])
    # the test ids: "cuda" (a real GPU), "standin-cuda" (the stand-in: the dry run's "GPU")
    keyword = "standin" if args.dry_run else "cuda and not standin"
    results["tests"] = run_tests(selection, keyword, min(budget.left() - 120, 240.0))

    say("== 3. every gate, device against CPU")
    examples = args.examples if args.examples is not None else (1 if args.dry_run else 3)
    results["gates"] = compare_gates(device, examples, Budget(max(budget.left() - 60, 0.0)))

    say("== 4. one training step" + (" (dry run: the code runs, nothing is timed)" if args.dry_run else ""))
    try:
        results["steps"] = time_steps(device, args.dry_run, budget)
    except Exception:
        results["steps"] = "FAIL: " + traceback.format_exc(limit=4)
        say(results["steps"])

    problems = []
    if results["tests"]["status"] != "passed":
        problems.append(f"tests {results['tests']['status']}")
    if results["gates"]["failed"] or results["gates"]["not_run"]:
        problems.append(f"gates failed: {results['gates']['failed']}, not run: {len(results['gates']['not_run'])}")
    steps = results["steps"]
    if isinstance(steps, str) or any(str(v).startswith(("FAIL", "not timed: out")) for r in steps for v in r.values()):
        problems.append("training steps: see 'steps'")
    results["problems"] = problems
    results["seconds"] = round(args.budget - budget.left(), 1)
    Path(args.out).write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    say(f"== results written to {os.path.relpath(args.out)}" + (": all checks passed" if not problems
                                                                 else ": PROBLEMS: " + "; ".join(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
