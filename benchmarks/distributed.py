"""Data-parallel scaling of glassgrad.distributed: 1, 2 and 4 ranks (one BLAS thread each) on the wide
784-1024-1024-10 network and on MNIST [784, 128, 10], at a fixed global batch (strong scaling).

    python benchmarks/distributed.py                  # default run: about 2 minutes on 2 cores
    python benchmarks/distributed.py --ranks 1 2 4 8 --steps 40 --batch 512

Launches ``mpirun`` itself (the one beside this Python, else the one on PATH; ``--oversubscribe`` lets it
start more ranks than cores, which then share cores and cannot scale). Prints Markdown ready to paste into
docs/distributed.md: per model and rank count the step time, the time per step that ``step()`` spent
finishing the gradient Allreduces (without and with overlap; it includes waiting for the slowest rank), speedup and scaling efficiency; the measured compute, update and
Allreduce numbers; and what the model in docs/distributed.md predicts from them for N nodes on a network of a
given bandwidth.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))    # glassgrad from the checkout

MODELS = {"wide": [784, 1024, 1024, 10], "mnist": [784, 128, 10]}
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


# ---- one rank (run under mpirun) ------------------------------------------------------------------------
def _inputs(name: str, n: int):
    import numpy as np

    if name == "mnist":
        try:
            from glassgrad.data import load_mnist

            X, y = load_mnist(val_size=0).train
            return X[:n].astype(np.float32), y[:n], "MNIST training images"
        except (FileNotFoundError, OSError, ValueError) as e:
            note = f"synthetic inputs (MNIST not found: {str(e).splitlines()[0]})"
    else:
        note = "synthetic inputs"
    rng = np.random.default_rng(0)
    return rng.random((n, 784), dtype=np.float32), rng.integers(0, 10, n), note


def worker(name: str, batch: int, steps: int, warmup: int) -> None:
    import numpy as np

    import glassgrad as gg
    from glassgrad import distributed as dist
    from glassgrad.data import DataLoader, TensorDataset
    from glassgrad.train import mlp

    world = dist.init()
    if batch % world.size:
        raise SystemExit(f"--batch {batch} is not divisible by {world.size} ranks")
    X, y, note = _inputs(name, batch * 8)
    result: dict = {"model": name, "ranks": world.size, "batch": batch, "data": note}
    with gg.blas_threads(1):
        for overlap in (False, True):
            gg.manual_seed(0)
            model = mlp(MODELS[name], activation="relu")
            opt = dist.DistributedOptimizer(gg.optim.SGD(model.parameters(), lr=0.01, momentum=0.9), overlap=overlap)
            loader = DataLoader(TensorDataset(X, y), batch_size=batch // world.size, shuffle=True, seed=1,
                                num_replicas=world.size, rank=world.rank, as_tensor=True)
            batches = list(loader)
            compute = update = 0.0
            for i in range(warmup + steps):
                if i == warmup:
                    world.barrier()
                    started, waited, compute, update = time.perf_counter(), opt.wait_seconds, 0.0, 0.0
                x, t = batches[i % len(batches)]
                t0 = time.perf_counter()
                opt.zero_grad()
                gg.nn.functional.cross_entropy(model(x), t).backward()
                t1 = time.perf_counter()
                opt.synchronize()
                t2 = time.perf_counter()
                opt.optimizer.step()
                compute += t1 - t0
                update += time.perf_counter() - t2
            world.barrier()
            key = "overlap_" if overlap else ""
            per_rank = world.sum([(time.perf_counter() - started) / steps, (opt.wait_seconds - waited) / steps,
                                  compute / steps, update / steps])
            step, reduce, fb, upd = (v / world.size for v in per_rank)
            result.update({f"{key}step_s": step, f"{key}allreduce_s": reduce})
            if not overlap:
                result.update(compute_s=fb, update_s=upd, grad_bytes=sum(p.data.nbytes for p in model.parameters()),
                              buckets=len(opt.buckets))
            opt.close()
        # the raw collective: one Allreduce of the whole gradient, and of 4 floats (latency)
        for label, size in (("allreduce_full_s", result["grad_bytes"] // 4), ("allreduce_tiny_s", 4)):
            buf = np.ones(size, np.float32)
            world.barrier()
            t0 = time.perf_counter()
            for _ in range(20):
                world.allreduce_(buf)
            result[label] = world.sum([(time.perf_counter() - t0) / 20])[0] / world.size
    if world.is_writer:
        print("RESULT " + json.dumps(result), flush=True)


# ---- the launcher ---------------------------------------------------------------------------------------
def mpirun_path() -> str:
    beside = Path(sys.executable).with_name("mpirun")
    found = str(beside) if beside.exists() else shutil.which("mpirun")
    if found is None:
        raise SystemExit("benchmarks/distributed.py: no mpirun; pip install 'glassgrad[mpi]'")
    return found


def launch(n: int, name: str, args) -> dict:
    cmd = [mpirun_path(), "--allow-run-as-root", "--oversubscribe", "-n", str(n), sys.executable, __file__,
           "--worker", name, "--batch", str(args.batch), "--steps", str(args.steps), "--warmup", str(args.warmup)]
    env = {**os.environ, **ONE_THREAD,
           "PYTHONPATH": os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if done.returncode or line is None:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return json.loads(line[len("RESULT "):])


def predicted_step(r1: dict, n: int, gbit: float, latency_s: float) -> tuple[float, float]:
    """docs/distributed.md's model: T(N) = t_ex·B/N + t_upd + 2(N−1)/N · M/β + 2(N−1)·k·α (ring Allreduce of
    M bytes in k buckets); returns (T(N), communication part)."""
    t_ex = r1["compute_s"] / r1["batch"]
    comm = 0.0 if n == 1 else (2 * (n - 1) / n * r1["grad_bytes"] / (gbit * 1e9 / 8)
                               + 2 * (n - 1) * r1["buckets"] * latency_s)
    return t_ex * r1["batch"] / n + r1["update_s"] + comm, comm


def report(results: list[dict], args, seconds: float) -> str:
    ms = lambda s: f"{s * 1e3:.2f}"     # noqa: E731
    lines = [f"Measured {time.strftime('%Y-%m-%d')} on {platform.processor() or platform.machine()}, "
             f"{os.cpu_count()} CPU cores, one BLAS thread per rank, global batch {args.batch}, {args.steps} timed "
             f"steps after {args.warmup} warm-up; `python benchmarks/distributed.py "
             f"--ranks {' '.join(map(str, args.ranks))} --steps {args.steps} --batch {args.batch}` ({seconds:.0f} s). "
             f"Ranks beyond {os.cpu_count()} cores share cores (oversubscribed) and cannot speed up.", "",
             "| model | ranks | per-rank batch | step ms | Allreduce wait ms/step | step ms, overlap | Allreduce wait ms/step, "
             "overlap | speedup | efficiency |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    ones = {r["model"]: r for r in results if r["ranks"] == 1}
    for r in results:
        base = ones.get(r["model"])
        best = min(r["step_s"], r["overlap_step_s"])
        speedup = min(base["step_s"], base["overlap_step_s"]) / best if base else float("nan")
        lines.append(f"| {r['model']} {MODELS[r['model']]} | {r['ranks']} | {r['batch'] // r['ranks']} | "
                     f"{ms(r['step_s'])} | {ms(r['allreduce_s'])} | {ms(r['overlap_step_s'])} | "
                     f"{ms(r['overlap_allreduce_s'])} | {speedup:.2f}× | {speedup / r['ranks']:.0%} |")
    lines += ["", "Measured inputs of the model (1 rank for compute; the 2-rank run for the collective):", "",
              "| model | gradient M | buckets | forward+backward t_ex per example | update t_upd | Allreduce of M, 2 ranks "
              "| bus bandwidth 2(N−1)/N·M/t | 4-float Allreduce α |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r1 in ones.items():
        r2 = next((r for r in results if r["model"] == name and r["ranks"] == 2), None)
        collective = (f"{ms(r2['allreduce_full_s'])} ms | {r2['grad_bytes'] / r2['allreduce_full_s'] / 1e9:.2f} GB/s | "
                      f"{r2['allreduce_tiny_s'] * 1e6:.1f} µs" if r2 else "– | – | –")
        lines.append(f"| {name} | {r1['grad_bytes'] / 2**20:.2f} MiB | {r1['buckets']} | "
                     f"{r1['compute_s'] / r1['batch'] * 1e6:.1f} µs | {ms(r1['update_s'])} ms | {collective} |")
    lines += ["", f"Predicted for N nodes (one rank each) at global batch {args.batch}, from the 1-rank compute and "
              f"update above, ring Allreduce with α = {args.latency_us:g} µs per message and bucket (assumed) and the "
              "network bandwidth β of each column: step ms (efficiency).", ""]
    heads = [f"{g:g} Gbit/s" for g in args.gbit]
    lines += ["| model | N | " + " | ".join(heads) + " |", "|---|---:|" + "---:|" * len(heads)]
    for name, r1 in ones.items():
        t1, _ = predicted_step(r1, 1, 1.0, 0.0)
        for n in args.nodes:
            cells = []
            for g in args.gbit:
                t, _ = predicted_step(r1, n, g, args.latency_us * 1e-6)
                cells.append(f"{t * 1e3:.1f} ({t1 / (n * t):.0%})")
            lines.append(f"| {name} | {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--models", nargs="+", choices=sorted(MODELS), default=["wide", "mnist"])
    ap.add_argument("--batch", type=int, default=256, help="global batch (default 256)")
    ap.add_argument("--steps", type=int, default=20, help="timed steps per configuration (default 20)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--gbit", type=float, nargs="+", default=[1, 10, 100], help="network bandwidths for the model")
    ap.add_argument("--latency-us", type=float, default=10.0, help="per-message network latency α for the model")
    ap.add_argument("--nodes", type=int, nargs="+", default=[1, 2, 4, 8, 16, 64])
    ap.add_argument("--worker", choices=sorted(MODELS), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(args.worker, args.batch, args.steps, args.warmup)
        return
    started = time.perf_counter()
    results = []
    for name in args.models:
        for n in args.ranks:
            results.append(launch(n, name, args))
            print(f"  {name}, {n} rank(s): step {results[-1]['step_s'] * 1e3:.1f} ms", file=sys.stderr, flush=True)
    print(report(results, args, time.perf_counter() - started))


if __name__ == "__main__":
    main()
