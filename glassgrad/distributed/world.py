"""The processes of one training job (an MPI world): who am I (``rank``), how many are we (``size``), and
the few collective operations data-parallel training needs, on NumPy buffers.

GPU arrays go through host memory: ``allreduce_`` and ``broadcast_`` copy a GPU array to a host buffer, run
the collective on it and copy the result back in place. CUDA-aware MPI (handing device pointers to MPI) is
not used, so any MPI build works, at the price of one round trip per call.

A process started without ``mpirun`` / ``mpiexec`` / ``srun`` is a world of one: every operation is then
the identity and MPI is never loaded, so the same script runs unchanged on a laptop.
"""
from __future__ import annotations

import json
import os
import sys
from typing import Any, Sequence

from glassgrad._backend import ndarray, xp
from glassgrad.device import device_of, is_device_array, to_device, to_host

INSTALL_HINT = "pip install 'glassgrad[mpi]'   (installs mpi4py and an Open MPI with mpirun)"

# Variables that MPI launchers set in every process they start: Open MPI, PMIx (Open MPI 5, Slurm with
# --mpi=pmix), and the PMI of MPICH / Intel MPI / Slurm's pmi2.
_LAUNCHER_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "PMI_RANK")


def launched_by_mpi() -> bool:
    """True when an MPI launcher (mpirun, mpiexec, srun) started this process."""
    return any(v in os.environ for v in _LAUNCHER_VARIABLES)


class World:
    """The processes of one job. ``rank`` is this process's number (0 … ``size`` − 1); rank 0 is the *writer*,
    the one process that prints, draws the progress bar and writes files.

    The collectives below act on NumPy arrays in place and must be called by every rank, in the same order
    (that is MPI's rule; a rank that skips one leaves the others waiting). In a world of one they return at once.
    """

    def __init__(self, comm: Any = None):
        self.comm = comm
        self.rank: int = 0 if comm is None else comm.Get_rank()
        self.size: int = 1 if comm is None else comm.Get_size()

    @property
    def is_writer(self) -> bool:
        """True on rank 0: the process that prints and writes checkpoints, logs and reports."""
        return self.rank == 0

    def allreduce_(self, array: ndarray) -> ndarray:
        """Sum ``array`` over all ranks, in place (every rank ends with the same sum); a GPU array via a host
        copy."""
        if self.size > 1:
            if is_device_array(array):
                array[...] = to_device(self.allreduce_(to_host(array)), device_of(array))
            else:
                self.comm.Allreduce(_mpi().IN_PLACE, _contiguous(array, "allreduce_"))
        return array

    def iallreduce_(self, array: ndarray) -> Any:
        """Start summing ``array`` over all ranks in place and return at once; ``wait(request)`` finishes it.
        Until then the array must not be read or written."""
        if self.size == 1:
            return None
        return self.comm.Iallreduce(_mpi().IN_PLACE, _contiguous(array, "iallreduce_"))

    @staticmethod
    def wait(requests: Sequence[Any]) -> None:
        """Finish the non-blocking operations ``requests`` (from ``iallreduce_``)."""
        pending = [r for r in requests if r is not None]
        if pending:
            _mpi().Request.Waitall(pending)

    def broadcast_(self, array: ndarray, root: int = 0) -> ndarray:
        """Overwrite ``array`` on every rank with rank ``root``'s values, in place; a GPU array via a host copy."""
        if self.size > 1:
            if is_device_array(array):
                array[...] = to_device(self.broadcast_(to_host(array), root), device_of(array))
            else:
                self.comm.Bcast(_contiguous(array, "broadcast_"), root=root)
        return array

    def broadcast_json(self, value: Any, root: int = 0) -> Any:
        """Rank ``root``'s ``value`` (numbers, strings, lists, dicts) on every rank, sent as JSON text (never
        pickled)."""
        if self.size == 1:
            return value
        text = json.dumps(value).encode() if self.rank == root else b""
        length = xp.array([len(text)], xp.int64)
        self.comm.Bcast(length, root=root)
        buf = xp.frombuffer(text, xp.uint8).copy() if self.rank == root else xp.empty(int(length[0]), xp.uint8)
        self.comm.Bcast(buf, root=root)
        return json.loads(buf.tobytes().decode())

    def any(self, flag: bool) -> bool:
        """True on every rank if ``flag`` is true on at least one (to stop all ranks at the same step)."""
        if self.size == 1:
            return bool(flag)
        return bool(self.allreduce_(xp.array([1 if flag else 0], xp.int64))[0])

    def sum(self, values: Sequence[float]) -> list[float]:
        """The sum over ranks of each number in ``values`` (as float64), the same list on every rank."""
        return self.allreduce_(xp.array(values, xp.float64)).tolist()

    def barrier(self) -> None:
        """Wait until every rank has arrived here."""
        if self.size > 1:
            self.comm.Barrier()

    def abort(self, code: int = 1) -> None:
        """End every rank of the job at once (after an error on one rank, so no peer waits forever)."""
        if self.size > 1:
            self.comm.Abort(code)

    def __repr__(self) -> str:
        return f"World(rank={self.rank}, size={self.size})"


def _contiguous(array: ndarray, what: str) -> ndarray:
    if not isinstance(array, ndarray) or not array.flags.c_contiguous or not array.flags.writeable:
        flags = f" with flags {array.flags}" if isinstance(array, ndarray) else ""
        raise ValueError(f"World.{what} needs a writeable C-contiguous NumPy array (it works in place), "
                         f"not {type(array).__name__}{flags}")
    return array


def _mpi():
    from mpi4py import MPI
    return MPI


_world: World | None = None


def init() -> World:
    """Join the job's world and return it (``world.rank``, ``world.size``); later calls return the same world.

    Under ``mpirun -n 4`` this process is one of 4 ranks; started plainly it is a world of one and MPI is
    not loaded. If an MPI launcher started the process but mpi4py is not installed, it raises an ImportError
    naming the install command. After ``init()`` an uncaught exception on any rank aborts the whole job
    (``MPI_Abort``), so a failing rank never leaves its peers waiting in a collective.
    """
    global _world
    if _world is None:
        _world = World(_mpi_world() if launched_by_mpi() else None)
        if _world.size > 1:
            _abort_job_on_uncaught_exception(_world)
    return _world


def manual_seed(seed: int, *keys: int, world: World | None = None) -> None:
    """Seed glassgrad's default generator (dropout masks, ``gg.randn`` …) differently on every rank: from
    ``(seed, *keys, rank)``. The same seed and keys give the same numbers on the same rank; different ranks
    draw different dropout masks, as they should for different examples. ``fit`` calls it with
    ``(seed, epoch)`` at the start of every epoch when there is more than one rank."""
    from glassgrad.tensor import default_generator

    world = world if world is not None else init()
    entropy = xp.random.SeedSequence([int(seed), *map(int, keys), world.rank]).generate_state(1, xp.uint64)
    default_generator.manual_seed(int(entropy[0]))


def _mpi_world():
    try:
        from mpi4py import MPI
    except ImportError as e:
        n = next((os.environ[v] for v in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE") if v in os.environ), "several")
        raise ImportError(f"glassgrad.distributed: this process was started by an MPI launcher ({n} processes) "
                          f"but mpi4py is not installed; install it with: {INSTALL_HINT}") from e
    return MPI.COMM_WORLD


def _abort_job_on_uncaught_exception(world: World) -> None:
    """Print the traceback, then MPI_Abort: without this, the failed rank's MPI_Finalize at exit waits for
    peers that wait in a collective for it (what ``python -m mpi4py`` does too)."""
    previous = sys.excepthook

    def hook(kind, value, traceback):
        previous(kind, value, traceback)
        sys.stderr.flush()
        sys.stdout.flush()
        world.abort(130 if issubclass(kind, KeyboardInterrupt) else 1)

    sys.excepthook = hook
