"""``fit`` under ``mpirun``: the two callbacks a ``DistributedOptimizer`` brings to ``fit`` (through
``optimizer.fit_callbacks``; ``fit`` knows nothing else of distribution).

* ``DataParallel`` (runs first, ``ORDER_REDUCE``): makes rank 0 the only writer; gives every rank rank 0's
  shuffling state, parameters and optimiser state (also after a resume); cuts the loader into this rank's
  shard with ``batch_size / size`` examples per batch (``batch_size`` is the global batch); reseeds dropout
  per epoch and rank; averages the loss and the gradients as soon as backward is done (so the non-finite
  check sees the same numbers everywhere); averages batch-norm running statistics at the end of each epoch
  (before validation) and the epoch's metrics over the ranks, so every later callback and every rank sees
  the same numbers.
* ``StopTogether`` (runs last): after each backward pass and at each epoch's end, the ranks agree whether
  any of them stopped (a NaN loss, early stopping, a checkpoint refusing non-finite weights); if one did,
  all stop at the same step with its reason, so no rank is left waiting in an Allreduce.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from glassgrad._backend import xp
from glassgrad.data import DataLoader
from glassgrad.distributed.world import World, manual_seed
from glassgrad.train.callbacks import ORDER_REDUCE, ORDER_REPORT, Callback

if TYPE_CHECKING:
    from glassgrad.distributed.optimizer import DistributedOptimizer
    from glassgrad.nn import Module
    from glassgrad.train.fit import TrainingState


class DataParallel(Callback):
    """Shards the data, keeps the replicas equal and the metrics global (see the module docstring)."""

    order = ORDER_REDUCE

    def __init__(self, optimizer: "DistributedOptimizer", seed: int = 0):
        self.optimizer, self.world, self.seed = optimizer, optimizer.world, seed

    def on_train_begin(self, state: TrainingState) -> None:
        from glassgrad.distributed.optimizer import broadcast_optimizer_state, broadcast_parameters

        world = self.world
        state.is_writer = world.is_writer
        if world.size == 1:
            return
        generator = state.loader.generator.bit_generator     # one shuffle order on every rank: rank 0's
        generator.state = world.broadcast_json(generator.state)
        state.loader = shard(state.loader, world)
        broadcast_parameters(state.model, world=world)
        broadcast_optimizer_state(self.optimizer, world=world)

    def on_epoch_begin(self, state: TrainingState) -> None:
        if self.world.size > 1:
            manual_seed(self.seed, state.epoch, world=self.world)

    def on_backward_end(self, state: TrainingState, logs: dict) -> None:
        if self.world.size == 1:
            return
        # before the checks (ORDER_CHECK): every rank then checks the same global loss and averaged gradients,
        # so a NaN on one rank stops all of them at this step, each naming the loss
        logs["loss"] = self.world.sum([logs["loss"]])[0] / self.world.size
        self.optimizer.synchronize()

    def on_batch_end(self, state: TrainingState, logs: dict) -> None:
        if self.world.size > 1 and state.step == len(state.loader):    # the epoch's last step, before validation
            average_buffers(state.model, self.world)

    def on_epoch_end(self, state: TrainingState, logs: dict) -> None:
        if self.world.size == 1:
            return
        keys = [k for k, v in logs.items() if k != "epoch" and isinstance(v, (int, float)) and not isinstance(v, bool)]
        sums = self.world.sum([float(logs[k]) for k in keys])
        for k, total in zip(keys, sums):
            logs[k] = total if k == "examples_per_second" else total / self.world.size


class StopTogether(Callback):
    """All ranks stop at the same step when any one stops, with that rank's reason."""

    order = ORDER_REPORT + 100      # after every other callback has had its say

    def __init__(self, optimizer: "DistributedOptimizer"):
        self.optimizer, self.world = optimizer, optimizer.world

    def on_backward_end(self, state: TrainingState, logs: dict) -> None:
        self._agree(state)

    def on_epoch_end(self, state: TrainingState, logs: dict) -> None:
        self._agree(state)

    def _agree(self, state: TrainingState) -> bool:
        world = self.world
        if world.size == 1:
            return bool(state.stopped)
        stopped = xp.zeros(world.size, xp.int64)
        stopped[world.rank] = 1 if state.stopped else 0
        world.allreduce_(stopped)
        if not stopped.any():
            return False
        first = int(xp.flatnonzero(stopped)[0])
        reason, fault = world.broadcast_json([state.stopped, state.fault], root=first)
        if not state.stopped:
            state.stop(f"rank {first} of {world.size} stopped: {reason}", fault=bool(fault))
        return True


def shard(loader: DataLoader, world: World) -> DataLoader:
    """This rank's share of ``loader`` (whose ``batch_size`` is the global batch); a loader already cut for
    this world is returned as it is."""
    if loader.num_replicas == world.size and loader.rank == world.rank:
        return loader
    if loader.num_replicas != 1:
        raise ValueError(f"fit: the DataLoader is cut for rank {loader.rank} of {loader.num_replicas} but this "
                         f"process is rank {world.rank} of {world.size}")
    if loader.batch_size % world.size:
        raise ValueError(f"fit: batch_size {loader.batch_size} is the global batch and must be divisible by the "
                         f"{world.size} ranks (each rank takes batch_size / {world.size})")
    return DataLoader(loader.dataset, batch_size=loader.batch_size // world.size, shuffle=loader.shuffle,
                      drop_last=loader.drop_last, generator=loader.generator, as_tensor=loader.as_tensor,
                      num_replicas=world.size, rank=world.rank, device=loader.device)


def average_buffers(model: Module, world: World) -> None:
    """Replace every floating buffer of ``model`` (batch-norm running statistics) by its mean over the ranks."""
    for array in model.buffers():
        if getattr(array, "dtype", None) is not None and array.dtype.kind == "f":
            world.allreduce_(array)
            array /= world.size
