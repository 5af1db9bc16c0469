"""Data-parallel training over MPI: the same script on one process, under ``mpirun -n 4``, or on a cluster.

::

    import glassgrad as gg
    from glassgrad import distributed as dist

    opt = dist.DistributedOptimizer(gg.optim.SGD(model.parameters(), lr=0.1))   # the one-line change
    gg.train.fit(model, loss, opt, (X, y), epochs=5, batch_size=256)          # batch_size: the global batch

Every rank (process) holds the whole model, computes the gradient of its shard of each global batch,
and the gradients are averaged over the ranks before every update, so all replicas take the same steps.
``init()`` gives this process's ``World`` (``rank``, ``size``); started without an MPI launcher it is a
world of one and MPI is not loaded. MPI comes from mpi4py: ``pip install 'glassgrad[mpi]'``.
See docs/distributed.md.
"""
from glassgrad.distributed.batchnorm import SyncBatchNorm
from glassgrad.distributed.optimizer import DistributedOptimizer, broadcast_optimizer_state, broadcast_parameters
from glassgrad.distributed.world import INSTALL_HINT, World, init, launched_by_mpi, manual_seed

__all__ = ["init", "World", "launched_by_mpi", "INSTALL_HINT", "manual_seed", "DistributedOptimizer",
           "broadcast_parameters", "broadcast_optimizer_state", "SyncBatchNorm"]
