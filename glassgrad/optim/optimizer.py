"""``Optimizer``: the base class of every optimiser: parameter groups, per-parameter state, checkpoints.

An optimiser holds *parameter groups* (``param_groups``: a list of dicts, each with a ``"params"`` list and
its own hyperparameters) and a per-parameter ``state`` dict (momentum buffers, moment estimates, step
counts). ``step()`` reads each parameter's ``.grad`` and updates ``.data`` **in place**, so arrays held
elsewhere (a model's layers, a checkpoint writer) stay valid. Parameters whose ``.grad`` is None are skipped.

``state_dict()`` gives plain nested dicts and lists of numbers and arrays (parameters are referred to
by their index across all groups, as in PyTorch), so a checkpoint can keep it in an ``.npz`` plus JSON,
without pickle. ``load_state_dict()`` accepts it back, also with string indices (JSON object keys).

Devices: a parameter's state is made on the parameter's device, and its update runs there (with the
array module of its arrays: NumPy or CuPy), so one optimiser may hold parameters on several devices.
``state_dict()`` leaves each array on its device; ``load_state_dict()`` puts each on its parameter's.
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Callable, Iterable, Mapping, Union

import numpy

from glassgrad._backend import ndarray, xp
from glassgrad.checks import check_number
from glassgrad.device import array_module, device_of, is_device_array, on_device_of, to_device, writable
from glassgrad.engine import enable_grad
from glassgrad.state import CheckpointError, Commit, checked_array
from glassgrad.tensor import Tensor

__all__ = ["Optimizer", "required", "ParamsT"]

ParamsT = Union[Iterable[Tensor], Iterable[Mapping[str, Any]]]
"""What an optimiser accepts: an iterable of tensors, or of param-group dicts ``{"params": [...], ...}``."""


class _Required:
    """Marks a hyperparameter that has no default: every parameter group must give it."""

    def __repr__(self) -> str:
        return "<required parameter>"


required: Any = _Required()    # Any: it stands in for a value of whatever type the parameter has


def _plain(value: Any, where: str) -> Any:
    """A copy of ``value`` made only of dicts, lists, numbers, strings, None and arrays (on their device)."""
    if isinstance(value, ndarray) or is_device_array(value):
        return value.copy()
    if isinstance(value, xp.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v, where) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v, where) for k, v in value.items()}
    raise TypeError(f"state_dict: {where} holds a {type(value).__name__}, which cannot be saved without "
                    "pickle; optimiser state must be numbers, arrays, lists and dicts")


def with_weight_decay(w, g, wd: float):
    """g + wd·w: L2 weight decay folded into the gradient, as a new array (g itself is the user's .grad); for a
    0-d parameter a 0-d array too, not the NumPy scalar its arithmetic gives (SGD keeps it as momentum state)."""
    d = w * wd
    d += g
    return d if d.ndim else array_module(w).asarray(d)


class Optimizer:
    """Base class: holds parameter groups and per-parameter state; subclasses implement ``step``.

    ``params`` is an iterable of tensors that require grad, or of dicts ``{"params": [...], "lr": ...}``
    (one *parameter group* each; keys left out take their value from ``defaults``).
    """

    #: state keys a loaded state must have for each parameter that has state (subclasses set this)
    _required_state: tuple[str, ...] = ()
    #: the hyperparameters that must be finite numbers ≥ 0, as (key, the name an error gives it); subclasses
    #: extend it with their own
    _nonnegative: tuple[tuple[str, str], ...] = (("lr", "learning rate (lr)"), ("weight_decay", "weight_decay"))

    def __init__(self, params: ParamsT, defaults: Mapping[str, Any]):
        self.defaults: dict[str, Any] = dict(defaults)
        self._validate({k: v for k, v in self.defaults.items() if v is not required})
        self.state: dict[Tensor, dict[str, Any]] = {}
        self.param_groups: list[dict[str, Any]] = []
        if isinstance(params, (Tensor, Mapping)) or not isinstance(params, Iterable):
            raise TypeError(f"{type(self).__name__}: params must be an iterable of Tensors or of param-group "
                            f"dicts, not a {type(params).__name__}" +
                            (" (wrap a single group in a list: [{'params': ...}])" if isinstance(params, Mapping)
                             else " (wrap a single tensor in a list)" if isinstance(params, Tensor) else ""))
        if isinstance(params, (set, frozenset)):
            raise TypeError(f"{type(self).__name__}: params must be an ordered iterable (a list), not a set: "
                            "the order of parameters must be stable for state_dict()")
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        if all(isinstance(g, Mapping) for g in groups):
            for g in groups:
                self.add_param_group(g)  # type: ignore[arg-type]  # (checked just above)
        elif any(isinstance(g, Mapping) for g in groups):
            raise TypeError(f"{type(self).__name__}: params mixes tensors and param-group dicts; give one or "
                            "the other")
        else:
            self.add_param_group({"params": groups})

    # ---- parameter groups ----------------------------------------------------------------------
    def _validate(self, hyper: Mapping[str, Any]) -> None:
        """Check the hyperparameters ``hyper`` gives (a group's, or the defaults): each of ``_nonnegative`` a finite
        number ≥ 0. Subclasses extend it for the rest, raising ``ValueError`` / ``TypeError`` on a bad one."""
        for key, name in self._nonnegative:
            if key in hyper:
                check_number(name, hyper[key])

    def add_param_group(self, param_group: Mapping[str, Any]) -> None:
        """Add a group ``{"params": [...], <hyperparameter>: value, ...}``; missing keys take the defaults."""
        if not isinstance(param_group, Mapping):
            raise TypeError(f"a param group must be a dict, not a {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError("a param group needs a 'params' entry (the tensors it optimises)")
        group = dict(param_group)
        params = group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError("a param group's params must be an ordered iterable (a list), not a set")
        else:
            params = list(params)
        gi = len(self.param_groups)
        seen: set[int] = set()
        for i, p in enumerate(params):
            where = f"parameter {i} of param group {gi}"
            if not isinstance(p, Tensor):
                raise TypeError(f"{type(self).__name__} can only optimise Tensors, but {where} is a "
                                f"{type(p).__name__}")
            if not p.requires_grad:
                raise ValueError(f"{where} does not require grad, so it would never get a gradient; create it "
                                 "with requires_grad=True (or leave it out of the optimiser)")
            if not p.is_leaf:
                raise ValueError(f"{where} is not a leaf (it was computed from other tensors); optimise the "
                                 "leaves, or use t.detach().requires_grad_()")
            if not writable(p.data):
                raise ValueError(f"{where} has a read-only array (a broadcast view?); updates happen in "
                                 "place, so give it an array of its own (e.g. a copy)")
            if id(p) in seen:
                raise ValueError(f"{where} appears twice in the group; each parameter may appear once")
            seen.add(id(p))
        in_other = {id(p) for g in self.param_groups for p in g["params"]}
        if seen & in_other:
            raise ValueError("some parameters appear in more than one parameter group")
        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise ValueError(f"param group {gi} does not give {name!r}, which {type(self).__name__} "
                                 "requires (pass it to the constructor or put it in the group)")
            group.setdefault(name, default)
        self._validate(group)
        group["params"] = params
        self.param_groups.append(group)

    # ---- gradients ------------------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's gradient: ``p.grad = None`` (default), or fill it with zeros."""
        for group in self.param_groups:
            for p in group["params"]:
                grad = p.grad
                if grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                elif (isinstance(grad, Tensor) and grad.grad_fn is None and not grad.requires_grad
                      and writable(grad.data)):
                    grad.data.fill(0)
                else:   # read-only, part of a graph (create_graph=True) or not a Tensor: a fresh zero grad
                    p.grad = Tensor(array_module(p.data).zeros_like(p.data))

    def _grads(self, group: Mapping[str, Any]):
        """``(param, weights, gradient)`` for each parameter of ``group`` that has a gradient (as arrays)."""
        for i, p in enumerate(group["params"]):
            grad = p.grad
            if grad is None:
                continue
            w = p.data
            g = grad.data if isinstance(grad, Tensor) else array_module(w).asarray(grad)
            if g.shape != w.shape:
                raise ValueError(f"a parameter of shape {w.shape} has a gradient of shape {g.shape}")
            # two host arrays share the device; otherwise compare the devices, GPU index included (cuda:0 ≠ cuda:1)
            if (type(w) is not numpy.ndarray or type(g) is not numpy.ndarray) and device_of(g) != device_of(w):
                gi = next(k for k, other in enumerate(self.param_groups) if other is group)
                raise RuntimeError(f"{type(self).__name__}.step: parameter {i} of param group {gi} (shape "
                                   f"{tuple(w.shape)}) is on {device_of(w)} but its gradient is on {device_of(g)}; a "
                                   "gradient must be on its parameter's device")
            if g.dtype != w.dtype:
                g = g.astype(w.dtype)
            yield p, w, g

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient. ``closure`` (optional) re-evaluates the model and
        returns the loss; it is called first, with gradients enabled, and its value returned."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        self._step()
        return loss

    def _step(self) -> None:
        """Apply ``_update`` to every parameter that has a gradient, group by group; a GPU parameter's update
        runs with its GPU current (parameters may live on different GPUs)."""
        for group in self.param_groups:
            hyper = self._hyper(group)
            for p, w, g in self._grads(group):
                if type(w) is numpy.ndarray:
                    self._update(p, w, g, hyper)
                else:
                    with on_device_of(w):
                        self._update(p, w, g, hyper)

    def _hyper(self, group: Mapping[str, Any]) -> tuple:
        """A group's hyperparameters as plain numbers, read once per step (schedulers change them)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement the update rule (_hyper, _update)")

    def _update(self, p: Tensor, w: ndarray, g: ndarray, hyper: tuple) -> None:
        """Update one parameter's array ``w`` in place from its gradient ``g`` (never written: it may be the
        user's ``.grad``), with the array module of ``w`` (``array_module(w)``: NumPy or CuPy). The one
        definition of the rule: ``step()`` and a compiled whole step both call it."""
        raise NotImplementedError(f"{type(self).__name__} does not implement the update rule (_hyper, _update)")

    def _folded(self, hyper: tuple) -> tuple[float, float] | None:
        """The update as ``w ← shrink·w + scale·g`` with no state, ``(scale, shrink)``, when the rule is that
        simple for these hyperparameters; None otherwise (the default). A compiled whole step folds ``scale``
        into the gradients (``gg.compile``), so that the update is one addition, as in a hand-tuned step."""
        return None

    # ---- checkpoints ----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """``{"state": {index: {name: value}}, "param_groups": [{..., "params": [index, ...]}]}``.

        Only dicts, lists, numbers and arrays (copies: later steps do not change them; each on its
        parameter's device — checkpoints bring them to the host); tuples (``betas``) become lists.
        Parameters are numbered in order across the groups, as in PyTorch.
        """
        index: dict[int, int] = {}
        groups = []
        for gi, group in enumerate(self.param_groups):
            packed = {k: _plain(v, f"param group {gi}, key {k!r},") for k, v in group.items() if k != "params"}
            ids = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                ids.append(index[id(p)])
            packed["params"] = ids
            groups.append(packed)
        state = {}
        for p, s in self.state.items():
            i = index.get(id(p))
            if i is not None and s:
                state[i] = {k: _plain(v, f"the state of parameter {i}, key {k!r},") for k, v in s.items()}
        return {"state": dict(sorted(state.items())), "param_groups": groups}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore state and hyperparameters saved by ``state_dict()`` (of an optimiser of the same kind,
        over parameters of the same shapes in the same groups). Arrays are copied and cast to the
        parameter's dtype, onto the parameter's device (wherever they were saved from). All or nothing: a
        ``CheckpointError`` (a ``ValueError``) names the problem and nothing changes if the state dict does
        not fit."""
        self.prepare_state_dict(state_dict)()

    def prepare_state_dict(self, state_dict: Mapping[str, Any]) -> Commit:
        """Check ``state_dict`` against this optimiser without changing anything; return the function
        that loads it (see ``load_state_dict``)."""
        name = type(self).__name__
        if not isinstance(state_dict, Mapping) or "state" not in state_dict or "param_groups" not in state_dict:
            raise CheckpointError(f"{name}.load_state_dict: expected a dict with 'state' and 'param_groups' (from "
                                  "state_dict())")
        saved_groups, saved_state = state_dict["param_groups"], state_dict["state"]
        if not isinstance(saved_groups, (list, tuple)) or not all(isinstance(g, Mapping) for g in saved_groups):
            raise CheckpointError(f"{name}.load_state_dict: 'param_groups' must be a list of dicts (from "
                                  "state_dict())")
        if not isinstance(saved_state, Mapping):
            raise CheckpointError(f"{name}.load_state_dict: 'state' must be a dict by parameter index, not a "
                                  f"{type(saved_state).__name__}")
        if len(saved_groups) != len(self.param_groups):
            raise CheckpointError(f"{name}.load_state_dict: the state dict has {len(saved_groups)} parameter "
                                  f"group(s) but this optimiser has {len(self.param_groups)}")
        id_map: dict[int, Tensor] = {}
        for gi, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            saved_ids = saved.get("params", ())
            if not isinstance(saved_ids, (list, tuple)) or len(saved_ids) != len(group["params"]):
                count = len(saved_ids) if isinstance(saved_ids, (list, tuple)) else repr(saved_ids)
                raise CheckpointError(f"{name}.load_state_dict: parameter group {gi} of the state dict has "
                                      f"{count} parameter(s) but this optimiser's group {gi} has "
                                      f"{len(group['params'])}")
            for i, p in zip(saved_ids, group["params"]):
                if _index(i) in id_map:
                    raise CheckpointError(f"{name}.load_state_dict: parameter index {i!r} appears twice in "
                                          "'param_groups'")
                id_map[_index(i)] = p

        new_state: dict[Tensor, dict[str, Any]] = {}
        for key, saved in saved_state.items():
            p = id_map.get(_index(key))
            if p is None:
                raise CheckpointError(f"{name}.load_state_dict: the state dict has state for parameter {key!r}, "
                                      "which is in none of its parameter groups")
            new_state[p] = self._load_param_state(p, saved, key)
        new_groups = [self._load_group(gi, group, saved)
                      for gi, (group, saved) in enumerate(zip(self.param_groups, saved_groups))]

        def commit() -> None:   # group dicts are updated in place, so references to them stay valid
            for group, new in zip(self.param_groups, new_groups):
                group.clear()
                group.update(new)
            self.state = new_state
        return commit

    def _load_group(self, gi: int, group: Mapping[str, Any], saved: Mapping[str, Any]) -> dict[str, Any]:
        """The hyperparameters of saved group ``gi`` merged into ``group``; each of a known name and kind."""
        name = type(self).__name__
        new = dict(group)
        for k, v in saved.items():
            if k == "params":
                continue
            where = f"{name}.load_state_dict: param group {gi}, key {k!r}"
            if k not in group:
                raise CheckpointError(f"{where}: not a setting of {name} (known: {sorted(group)}); a state dict of "
                                      "another kind of optimiser?")
            if _kind(v) != _kind(group[k]) and not (_kind(v) == "number" and group[k] is None):
                raise CheckpointError(f"{where}: expected {_kind(group[k])}, found {v!r}")
            if _kind(v) == "number" and not math.isfinite(v):
                raise CheckpointError(f"{where}: {v!r} is not a finite number")
            if isinstance(group[k], tuple) and isinstance(v, (list, tuple)):
                if len(v) != len(group[k]) or not all(_kind(x) == "number" for x in v):
                    raise CheckpointError(f"{where}: expected {len(group[k])} numbers, found {v!r}")
                v = tuple(v)
            new[k] = v
        try:
            self._validate(new)
        except (TypeError, ValueError) as e:
            raise CheckpointError(f"{name}.load_state_dict: param group {gi}: {e}") from None
        return new

    def _load_param_state(self, p: Tensor, saved: Mapping[str, Any], key: Any) -> dict[str, Any]:
        name = type(self).__name__
        if not isinstance(saved, Mapping):
            raise CheckpointError(f"{name}.load_state_dict: the state of parameter {key!r} must be a dict, not a "
                                  f"{type(saved).__name__}")
        missing = [k for k in self._required_state if k not in saved]
        if missing:
            raise CheckpointError(f"{name}.load_state_dict: the state of parameter {key!r} lacks {missing} (a "
                                  f"state dict from another kind of optimiser?)")
        out: dict[str, Any] = {}
        for k, v in saved.items():
            if k == "step":
                if _kind(v) != "number" or not (v >= 0 and v == int(v)):
                    raise CheckpointError(f"{name}.load_state_dict: 'step' of parameter {key!r} must be a whole "
                                          f"number >= 0, not {v!r}")
                out[k] = int(v)
            elif isinstance(v, (ndarray, list)) or is_device_array(v):
                out[k] = to_device(checked_array(v, p.shape, p.dtype, f"{name}.load_state_dict: state {k!r} of "
                                                 f"parameter {key}", "the parameter"), device_of(p.data))
            elif _kind(v) in ("number", "none"):
                out[k] = v
            else:
                raise CheckpointError(f"{name}.load_state_dict: state {k!r} of parameter {key!r} is a "
                                      f"{type(v).__name__}; optimiser state holds arrays and numbers")
        return out

    @staticmethod
    def _zeros_buffer(state: dict[str, Any], key: str, like: Any) -> Any:
        """``state[key]``, made as zeros shaped like ``like`` on first use: buffers that only some settings
        need (AMSGrad's maximum, centred RMSprop's average, RMSprop's momentum); on ``like``'s device."""
        buf = state.get(key)
        if buf is None:
            buf = state[key] = array_module(like).zeros_like(like)
        return buf

    def _param_state(self, p: Tensor, fresh: Callable[[], dict[str, Any]] | None = None) -> dict[str, Any]:
        """The state of parameter ``p`` (the one way every optimiser reads it), made on first use by ``fresh()``
        (empty without it)."""
        state = self.state.get(p)
        if not state:
            state = self.state[p] = fresh() if fresh is not None else {}
        return state

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(group):
                if k != "params":
                    lines.append(f"    {k}: {group[k]}")
        lines.append(")")
        return "\n".join(lines)


def _index(i: Any) -> int:
    """A parameter index from a state dict: an int, or a string of one (JSON object keys are strings)."""
    if isinstance(i, bool) or not isinstance(i, (int, str)) or not str(i).isdigit():
        raise CheckpointError(f"load_state_dict: {i!r} is not a parameter index (a whole number >= 0)")
    return int(i)


def _kind(value: Any) -> str:
    """The kind of a saved setting, for comparing with the live one: bool, number, sequence, none, other."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, numbers.Real):
        return "number"
    if isinstance(value, (list, tuple)):
        return "sequence"
    return "none" if value is None else type(value).__name__
