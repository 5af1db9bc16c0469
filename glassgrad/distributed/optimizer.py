"""``DistributedOptimizer``: gradients averaged over every rank before each update; the broadcasts that make
all ranks start (and resume) from rank 0's parameters and optimiser state.

Data parallelism: every rank holds the whole model and computes the gradient of its share of the global
batch; averaging those gradients gives every rank the gradient of the whole batch (for a loss that is a
mean over examples, and equal shares), so every rank takes the same step and the replicas stay identical.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Mapping

from glassgrad import engine, hooks
from glassgrad._backend import ndarray, xp
from glassgrad.device import device_of, is_device_array, to_device, to_host, writable
from glassgrad.distributed.world import World, init
from glassgrad.nn.module import Module
from glassgrad.optim.optimizer import Optimizer
from glassgrad.state import Commit
from glassgrad.tensor import Tensor


class _Bucket:
    """Parameters whose gradients travel together in one flat buffer: ``[grad values…, has-grad flags…]``.

    The flags (1 where this rank has a gradient) are summed with the values, so a parameter that no rank
    has a gradient for keeps ``grad = None`` and is skipped by the update, as without distribution.

    The buffer is in host memory whatever device the parameters are on: GPU gradients are copied into it and
    the averages copied back (CUDA-aware MPI is not used)."""

    def __init__(self, params: list[Tensor]):
        self.params = params
        self.sizes = [p.data.size for p in params]
        self.values = sum(self.sizes)
        self.buffer = xp.empty(self.values + len(params), params[0].data.dtype)
        self.request: Any = None
        self.launched = False
        self.waiting = len(params)      # parameters whose gradient backward has not finished yet (overlap)

    def pack(self) -> None:
        buf, offset = self.buffer, 0
        for i, (p, n) in enumerate(zip(self.params, self.sizes)):
            g = p.grad
            if g is None:
                buf[offset:offset + n] = 0
                buf[self.values + i] = 0
            else:
                buf[offset:offset + n] = to_host(g).reshape(-1)
                buf[self.values + i] = 1
            offset += n

    def unpack(self, size: int) -> None:
        buf, offset = self.buffer, 0
        buf[:self.values] /= size
        for i, (p, n) in enumerate(zip(self.params, self.sizes)):
            view = mean = buf[offset:offset + n].reshape(p.data.shape)
            offset += n
            if buf[self.values + i] == 0:
                p.grad = None
                continue
            if type(p.data) is not ndarray:        # back to the parameter's device (a copy: the buffer is reused)
                mean = to_device(mean, device_of(p.data))
            grad = p.grad
            g = grad.data if isinstance(grad, Tensor) and grad.grad_fn is None else None
            if g is not None and g.shape == mean.shape and g.dtype == mean.dtype and writable(g):
                g[...] = mean                       # in place: the array backward handed this parameter
            else:                                   # the buffer is reused: a view of it needs a copy, a moved one not
                p.grad = Tensor._make(mean.copy() if mean is view else mean)

    def reset(self) -> None:
        self.request, self.launched, self.waiting = None, False, len(self.params)


class DistributedOptimizer(Optimizer):
    """Wrap an optimiser so that ``step()`` first averages every parameter's gradient over all ranks.

    ``opt = gg.distributed.DistributedOptimizer(gg.optim.SGD(model.parameters(), lr=0.1))`` is the one
    line that makes a script data-parallel under ``mpirun``; in a world of one it changes nothing.

    * Gradients travel in a few fused *buckets* of about ``bucket_mb`` MiB (parameters in reverse order,
      as backward finishes them), one Allreduce per bucket rather than one per parameter.
    * ``overlap=True`` starts each bucket's non-blocking Allreduce during backward, as soon as backward has
      finished every gradient in it (PyTorch DDP's overlap), so communication runs under the rest of the
      backward pass. It needs one ``backward()`` per ``step()`` (no gradient accumulation).
    * On construction (``broadcast=True``) rank 0's parameters and optimiser state are copied to every rank,
      so all replicas start equal whatever their seeds.
    * Under ``fit`` (``fit_callbacks``) with more than one rank, ``batch_size`` is the global batch, rank 0
      alone writes and prints, and glassgrad's default generator (dropout) is reseeded at every epoch from
      ``(seed, epoch, rank)``: masks differ across ranks and repeat on resume with any number of ranks.

    It shares the wrapped optimiser's ``param_groups`` and ``state`` (the same objects), so learning-rate
    schedulers, ``clip_grad_norm_`` and checkpoints work as with the wrapped one; ``state_dict()`` is the
    wrapped optimiser's, so a checkpoint resumes with any number of ranks or without MPI.
    ``world`` is the job (``init()`` by default); ``wait_seconds`` and ``steps`` count the time ``step()``
    spent finishing the Allreduces (the communication backward did not hide).
    """

    def __init__(self, optimizer: Optimizer, *, bucket_mb: float = 1.0, overlap: bool = False,
                 broadcast: bool = True, seed: int = 0, world: World | None = None):
        # No Optimizer.__init__: this object holds no groups or state of its own, it shares the wrapped one's.
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"DistributedOptimizer wraps a glassgrad Optimizer, not a {type(optimizer).__name__}")
        if isinstance(optimizer, DistributedOptimizer):
            raise TypeError("DistributedOptimizer: this optimiser is already distributed")
        if isinstance(bucket_mb, bool) or not isinstance(bucket_mb, (int, float)) or not bucket_mb > 0:
            raise ValueError(f"DistributedOptimizer: bucket_mb must be a positive number of MiB, not {bucket_mb!r}")
        self.optimizer = optimizer
        self.world = world if world is not None else init()
        self.overlap = bool(overlap)
        self.seed = int(seed)
        self.buckets = _make_buckets([p for g in optimizer.param_groups for p in g["params"]],
                                     int(bucket_mb * 2 ** 20))
        self._bucket_of = {id(p): b for b in self.buckets for p in b.params}
        self._next = 0                      # the first bucket not yet launched (launches go in bucket order)
        self._synchronized = False          # the gradients are already averaged (synchronize() before step())
        self.wait_seconds = 0.0
        self.steps = 0
        self._hook = hooks.Hook(on_grad_ready=self._grad_ready)
        if self.overlap and self.world.size > 1:
            hooks.install(self._hook)
        if broadcast:
            broadcast_parameters(self.params(), world=self.world)
            broadcast_optimizer_state(optimizer, world=self.world)

    # the wrapped optimiser's groups, state and defaults, shared
    @property   # read-only: a view of the wrapped optimizer's attribute
    def param_groups(self) -> list[dict[str, Any]]:  # type: ignore[override]
        """The wrapped optimizer's parameter groups (the same list)."""
        return self.optimizer.param_groups

    @property
    def defaults(self) -> dict[str, Any]:  # type: ignore[override]
        """The wrapped optimizer's default hyperparameters (the same dict)."""
        return self.optimizer.defaults

    @property
    def state(self) -> dict:
        """The wrapped optimiser's per-parameter state (the same dict)."""
        return self.optimizer.state

    @state.setter
    def state(self, value: dict) -> None:
        self.optimizer.state = value

    def params(self) -> list[Tensor]:
        """Every parameter this optimiser updates, in order."""
        return [p for g in self.param_groups for p in g["params"]]

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Average the gradients over all ranks (unless ``synchronize()`` already did since the last
        backward), then take the wrapped optimiser's step."""
        loss = None
        if closure is not None:
            with engine.enable_grad():
                loss = closure()
        if not self._synchronized:
            self.synchronize()
        self.optimizer.step()
        self._synchronized = False
        return loss

    def synchronize(self) -> None:
        """Average every gradient over the ranks now; each ``.grad`` then holds the mean, the same on every
        rank, and the next ``step()`` uses it as it is. ``fit`` calls this as soon as backward is done, so that
        its checks (non-finite gradients) see the same gradients on every rank."""
        if self.world.size == 1:
            return
        started = time.perf_counter()
        self._launch_ready(every=True)
        self.world.wait([b.request for b in self.buckets])
        for b in self.buckets:
            b.unpack(self.world.size)
            b.reset()
        self._next = 0
        self.wait_seconds += time.perf_counter() - started
        self.steps += 1
        self._synchronized = True

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the gradients (and finish any Allreduce that backward started for them)."""
        if self._next:       # backward started Allreduces for gradients no step will use: finish them
            self.world.wait([b.request for b in self.buckets])
            for b in self.buckets:
                b.reset()
            self._next = 0
        self._synchronized = False
        self.optimizer.zero_grad(set_to_none)

    @property
    def fit_callbacks(self) -> list:
        """What ``fit`` adds for this optimiser: ``DataParallel`` and ``StopTogether``
        (glassgrad.distributed.training)."""
        from glassgrad.distributed.training import DataParallel, StopTogether

        return [DataParallel(self, self.seed), StopTogether(self)]

    def _grad_ready(self, leaf: Tensor) -> None:
        """Engine hook: backward has finished ``leaf``'s gradient; launch the buckets that are now complete."""
        bucket = self._bucket_of.get(id(leaf))
        if bucket is None:
            return
        if bucket.launched:
            raise RuntimeError("DistributedOptimizer(overlap=True): a second backward() before step(); overlap "
                               "sends each gradient as soon as backward finishes it, so it needs one backward "
                               "per step (use overlap=False to accumulate gradients over several backward calls)")
        bucket.waiting -= 1
        self._launch_ready(every=False)

    def _launch_ready(self, every: bool) -> None:
        # In bucket order on every rank: MPI needs the same sequence of collectives everywhere.
        while self._next < len(self.buckets):
            b = self.buckets[self._next]
            if not (every or b.waiting == 0):
                return
            b.pack()
            b.request = self.world.iallreduce_(b.buffer)
            b.launched = True
            self._next += 1

    def close(self) -> None:
        """Stop watching backward (``overlap=True``); the optimiser still works, without overlap."""
        hooks.remove(self._hook)
        self.overlap = False

    # checkpoints: the wrapped optimiser's, so they resume with any number of ranks
    def state_dict(self) -> dict[str, Any]:
        """The wrapped optimiser's ``state_dict()`` (the same on every rank)."""
        return self.optimizer.state_dict()

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Load into the wrapped optimiser."""
        self.optimizer.load_state_dict(state_dict)

    def prepare_state_dict(self, state_dict: Mapping[str, Any]) -> Commit:
        """The wrapped optimiser's check-then-load (so a checkpoint restores all or nothing)."""
        return self.optimizer.prepare_state_dict(state_dict)

    def __repr__(self) -> str:
        sizes = ", ".join(f"{b.values:,}" for b in self.buckets)
        return (f"DistributedOptimizer(rank {self.world.rank} of {self.world.size}, {len(self.buckets)} buckets "
                f"[{sizes}] values, overlap={self.overlap}) over {self.optimizer!r}")


def _make_buckets(params: list[Tensor], capacity: int) -> list[_Bucket]:
    """Parameters in reverse order (backward reaches the last layer first), one dtype per bucket, each bucket
    closed when the next parameter would take it past ``capacity`` bytes."""
    buckets: list[_Bucket] = []
    current: list[Tensor] = []
    used = 0
    for p in reversed(params):
        nbytes = p.data.nbytes
        if current and (used + nbytes > capacity or p.data.dtype != current[0].data.dtype):
            buckets.append(_Bucket(current))
            current, used = [], 0
        current.append(p)
        used += nbytes
    if current:
        buckets.append(_Bucket(current))
    return buckets


def broadcast_parameters(params: Any, world: World | None = None, root: int = 0) -> None:
    """Copy rank ``root``'s values into ``params`` on every rank, in place: a Module (its parameters and its
    buffers, e.g. batch-norm running statistics) or an iterable of Tensors or arrays."""
    world = world if world is not None else init()
    if world.size == 1:
        return
    for array in _arrays_of(params):
        if is_device_array(array) or (array.flags.c_contiguous and writable(array)):
            world.broadcast_(array, root)       # (a GPU array through a host copy)
        else:
            copy = xp.ascontiguousarray(array)
            world.broadcast_(copy, root)
            array[...] = copy


def _arrays_of(params: Any) -> list[ndarray]:
    """The arrays ``broadcast_parameters`` copies: a module's parameters and buffers, or the given tensors' arrays."""
    if isinstance(params, Module):
        return [p.data for p in params.parameters()] + params.buffers()
    return [p.data if isinstance(p, Tensor) else p for p in params]


def broadcast_optimizer_state(optimizer: Optimizer, world: World | None = None, root: int = 0) -> None:
    """Give every rank rank ``root``'s optimiser state and hyperparameters (momentum buffers, Adam's moments
    and step counts, learning rates): after a resume, or when ranks built their optimisers differently.
    The structure travels as JSON and the arrays as raw buffers (nothing is pickled)."""
    world = world if world is not None else init()
    if world.size == 1:
        return
    arrays: list[ndarray] = []
    skeleton = world.broadcast_json(_strip_arrays(optimizer.state_dict(), arrays) if world.rank == root else None,
                                    root)
    state = _fill_arrays(skeleton, arrays if world.rank == root else None, world, root)
    if world.rank != root:
        optimizer.load_state_dict(state)


def _strip_arrays(value: Any, arrays: list[ndarray]) -> Any:
    """``value`` with each array replaced by ``{"__array__": index, "shape", "dtype"}`` (JSON-ready)."""
    if isinstance(value, ndarray) or is_device_array(value):    # GPU state travels through the host
        arrays.append(xp.ascontiguousarray(to_host(value)))
        return {"__array__": len(arrays) - 1, "shape": list(value.shape), "dtype": value.dtype.str}
    if isinstance(value, dict):
        return {str(k): _strip_arrays(v, arrays) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strip_arrays(v, arrays) for v in value]
    return value


def _fill_arrays(value: Any, arrays: list[ndarray] | None, world: World, root: int) -> Any:
    """The arrays back into the skeleton, broadcast from ``root`` in the order they were stripped."""
    if isinstance(value, dict) and "__array__" in value:
        array = arrays[value["__array__"]] if arrays is not None else xp.empty(value["shape"], xp.dtype(value["dtype"]))
        return world.broadcast_(array, root)
    if isinstance(value, dict):
        return {k: _fill_arrays(v, arrays, world, root) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill_arrays(v, arrays, world, root) for v in value]
    return value
