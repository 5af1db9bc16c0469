"""``Module``: a piece of a network that owns parameters, and ``Sequential``: modules in a row.

Parameters and sub-modules are found by looking at a module's attributes (in the order they were set),
so a layer is just a class that sets ``self.weight = Parameter(...)`` and defines ``forward``.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Iterator, Mapping

from glassgrad._backend import ndarray
from glassgrad.device import Device, array_module, device, device_of, to_device
from glassgrad.state import CheckpointError, Commit, StateKeyError, checked_array
from glassgrad.tensor import Tensor, TensorLike


class Parameter(Tensor):
    """A tensor that is a model's parameter: it requires grad, and modules list it in ``parameters()``."""

    __slots__ = ()

    def __init__(self, data: TensorLike, requires_grad: bool = True) -> None:
        super().__init__(data.data if isinstance(data, Tensor) else data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter(" + super().__repr__()[len("tensor("):]


class Module:
    """Base class of layers and models: set parameters and sub-modules as attributes, define ``forward``."""

    def __init__(self) -> None:
        self.training = True
        self._buffers: list[str] = []

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The module's computation; ``module(x)`` calls it."""
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # ---- what the module owns -----------------------------------------------------------------
    def register_buffer(self, name: str, value: ndarray) -> None:
        """An array that is state but not a parameter (running statistics); saved in ``state_dict``."""
        setattr(self, name, value)
        if name not in self._buffers:
            self._buffers.append(name)

    def named_children(self) -> Iterator[tuple[str, "Module"]]:
        """The direct sub-modules with their attribute names."""
        for name, value in vars(self).items():
            if isinstance(value, Module):
                yield name, value

    def children(self) -> Iterator["Module"]:
        """The direct sub-modules."""
        return (m for _, m in self.named_children())

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, "Module"]]:
        """This module and every sub-module (depth first) with its dotted name."""
        yield prefix, self
        for name, child in self.named_children():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self) -> Iterator["Module"]:
        """This module and every sub-module, depth first."""
        return (m for _, m in self.named_modules())

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """Every parameter with its dotted name, sub-modules' included."""
        for name, value in vars(self).items():
            full = f"{prefix}.{name}" if prefix else name
            if isinstance(value, Parameter):
                yield full, value
            elif isinstance(value, Module):
                yield from value.named_parameters(full)

    def parameters(self) -> list[Parameter]:
        """Every parameter, sub-modules' included, as a list."""
        return [p for _, p in self.named_parameters()]

    def named_buffers(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, ndarray]]:
        """Every buffer (``register_buffer``: running statistics) with its dotted name, as PyTorch's
        ``named_buffers``: this module's own in the order they were registered, then each sub-module's, depth
        first. ``recurse=False``: this module's own only, by their attribute names. ``prefix`` is put before
        every name (``"encoder"`` gives ``"encoder.0.running_mean"``)."""
        for path, module in self.named_modules(prefix) if recurse else [(prefix, self)]:
            for name in module._buffers:
                yield (f"{path}.{name}" if path else name), getattr(module, name)

    def buffers(self, recurse: bool = True) -> list[ndarray]:
        """Every buffer's array, sub-modules' included (``recurse=False``: this module's own), as a list."""
        return [b for _, b in self.named_buffers(recurse=recurse)]

    def num_parameters(self) -> int:
        """The number of entries over all parameters."""
        return sum(p.numel() for p in self.parameters())

    def zero_grad(self) -> None:
        """Forget the gradients (they accumulate across backward calls otherwise)."""
        for p in self.parameters():
            p.grad = None

    # ---- devices --------------------------------------------------------------------------------
    def to(self, device_spec: str | Device) -> "Module":
        """Move every parameter (and its gradient) and every buffer to ``device_spec`` (``"cpu"``,
        ``"cuda"``, ``"cuda:1"``) **in place** and return the module, as PyTorch's ``module.to(device)``.

        The parameters stay the same ``Parameter`` objects, now holding arrays on the device, so an optimiser
        built before or after the move keeps working (build or move before its first step: its state is made
        on the parameters' device then). All or nothing: every copy is made before any array is replaced.
        """
        target = device(device_spec)
        moves: list[tuple[Any, str, Any]] = []
        for p in self.parameters():
            moves.append((p, "data", to_device(p.data, target)))
            grad = p.grad
            if isinstance(grad, Tensor) and grad.grad_fn is None:
                moves.append((grad, "data", to_device(grad.data, target)))
        for m in self.modules():
            moves += [(m, name, to_device(b, target)) for name, b in m.named_buffers(recurse=False)]
        for holder, name, array in moves:   # every copy exists: now only assignments, which cannot fail
            setattr(holder, name, array)
        return self

    def cpu(self) -> "Module":
        """``to("cpu")``: every parameter and buffer in host memory."""
        return self.to("cpu")

    def cuda(self, index: int | None = None) -> "Module":
        """``to("cuda")`` (the current GPU) or ``to(f"cuda:{index}")``."""
        return self.to("cuda" if index is None else f"cuda:{index}")

    @property
    def device(self) -> Device:
        """The device of the first parameter or buffer (``cpu`` for a module without either)."""
        for p in self.parameters():
            return device_of(p.data)
        for _, b in self.named_buffers():
            return device_of(b)
        return device("cpu")

    # ---- train / eval ---------------------------------------------------------------------------
    def train(self, mode: bool = True) -> "Module":
        """Training mode: dropout drops, batch norm uses batch statistics."""
        for m in self.modules():
            m.training = mode
        return self

    def eval(self) -> "Module":
        """Evaluation mode: dropout passes everything, batch norm uses running statistics."""
        return self.train(False)

    # ---- state --------------------------------------------------------------------------------
    def state_dict(self) -> "OrderedDict[str, ndarray]":
        """Every parameter and buffer by dotted name, as copies of the arrays, on the device each lives on
        (``glassgrad.device.to_host`` brings one to NumPy; checkpoints and weight files always do)."""
        state = OrderedDict((name, p.data.copy()) for name, p in self.named_parameters())
        state.update((name, array_module(b).array(b)) for name, b in self.named_buffers())
        return state

    def load_state_dict(self, state: Mapping[str, Any], strict: bool = True) -> None:
        """Copy arrays into the parameters and buffers in place (optimisers keep their references), each
        onto the device of the parameter or buffer it loads into, wherever the array comes from.

        All or nothing: every key, shape and dtype is checked first (``prepare_state_dict``); on a
        problem a ``CheckpointError`` names the key and nothing is changed.
        """
        self.prepare_state_dict(state, strict)()

    def prepare_state_dict(self, state: Mapping[str, Any], strict: bool = True) -> Commit:
        """Check ``state`` against this module without changing anything; return the function that loads it.

        Arrays must have the parameter's shape, hold real numbers that convert to its dtype without loss
        (no complex, strings or objects) and be finite. ``strict``: the keys must match exactly.
        """
        if not isinstance(state, Mapping):
            raise CheckpointError(f"load_state_dict: expected a dict of arrays by parameter name (from "
                                  f"state_dict()), not a {type(state).__name__}")
        targets = {name: p.data for name, p in self.named_parameters()}
        targets.update(self.named_buffers())
        missing = [k for k in targets if k not in state]
        unexpected = [k for k in state if k not in targets]
        if strict and (missing or unexpected):
            raise StateKeyError(f"load_state_dict: missing keys {missing}, unexpected keys {unexpected}; the state "
                                "was saved from a model with other layers — build the same model (or pass "
                                "strict=False to load the keys that match)")
        # checked on the host, then copied to each target's device now, so that the commit only assigns
        values = {name: to_device(checked_array(state[name], targets[name].shape, targets[name].dtype, name),
                                  device_of(targets[name]))
                  for name in targets if name in state}

        def commit() -> None:
            for name, value in values.items():
                targets[name][...] = value
        return commit

    # ---- display -------------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The module's settings as shown inside its repr (empty by default)."""
        return ""

    def __repr__(self) -> str:
        children = list(self.named_children())
        own = sum(p.numel() for p in vars(self).values() if isinstance(p, Parameter))
        head = f"{type(self).__name__}({self.extra_repr()})"
        if not children:
            return head + (f"  # {own:,} parameters" if own else "")
        lines = [f"{type(self).__name__}("]
        for name, child in children:
            lines += [f"  ({name}): " + "\n  ".join(repr(child).splitlines())]
        lines.append(f")  # {self.num_parameters():,} parameters")
        return "\n".join(lines)


class Sequential(Module):
    """Modules applied one after the other: ``Sequential(Linear(784, 30), Sigmoid(), Linear(30, 10))``."""

    def __init__(self, *layers: Module):
        super().__init__()
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise TypeError(f"Sequential: item {i} is a {type(layer).__name__}, not a Module")
            setattr(self, str(i), layer)

    def forward(self, x: Any) -> Any:
        """x through each module in order."""
        for layer in self.children():
            x = layer(x)
        return x

    def __getitem__(self, i: int) -> Module:
        return list(self.children())[i]

    def __len__(self) -> int:
        return sum(1 for _ in self.children())

    def __iter__(self) -> Iterator[Module]:
        return self.children()
