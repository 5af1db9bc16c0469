"""Modules executed on first use, so that ``import glassgrad`` does not pay for what a program may never call."""
from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def lazy_import(name: str) -> ModuleType:
    """The module ``name``, registered in ``sys.modules`` now and executed on the first access to one of its
    attributes (``importlib.util.LazyLoader``); the module itself when it is already imported. Its parent
    package must be importable now. (Before Python 3.12 the loader takes no lock: two threads touching the
    module for the first time at the same moment could see it half-executed. glassgrad uses it for NumPy's
    API on tensors, which nothing inside glassgrad calls from a thread.)"""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"no module named {name!r}", name=name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module
