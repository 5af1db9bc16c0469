"""``import glassgrad`` loads the core and the gates only; the rest loads on first use, behind the same public
names. Structure only (which modules are loaded), never a timing: benchmarks/run.py measures the time."""
from __future__ import annotations

import inspect
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import glassgrad as gg

ROOT = Path(__file__).resolve().parents[1]

# Loaded only when used: the compiler, the checks and transforms, NumPy's API on tensors, every layer above the
# core, the rarely used gates (convolution and pooling, numpy.linalg's), the optional libraries (numpy.typing: for
# the annotations only), and the standard library's `string` (einsum spells its letters out rather than pay for
# string.Template's regular expression).
LAZY = ["glassgrad.compile", "glassgrad.gradcheck", "glassgrad.transforms", "glassgrad.function",
        "glassgrad.nn", "glassgrad.optim", "glassgrad.data", "glassgrad.train", "glassgrad.explain",
        "glassgrad.distributed", "glassgrad.cuda", "glassgrad.cli", "glassgrad.linalg", "glassgrad.ops.conv",
        "glassgrad.ops.linalg_decomp", "numpy.typing", "cupy", "torch", "jax", "string"]


def _fresh(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_import_glassgrad_leaves_the_rarely_used_modules_unloaded():
    loaded = _fresh("import sys, types, glassgrad\n"
                    f"print(sorted(m for m in {LAZY!r} if m in sys.modules))\n"
                    "api = sys.modules['glassgrad.ops.numpy_api']\n"
                    "print(type(api) is types.ModuleType)")     # still importlib's lazy module: not executed
    assert loaded.splitlines() == ["[]", "False"]


def test_first_use_loads_them_behind_the_same_names():
    """In a fresh process: gg.compile and gg.gradcheck are the functions even when their submodules are first
    imported from elsewhere (glassgrad.train imports glassgrad.compile), and np.exp(t) runs NumPy's API."""
    out = _fresh("import sys, types, numpy as np, glassgrad as gg\n"
                 "import glassgrad.train, glassgrad.gradcheck\n"
                 "print(isinstance(gg.compile, types.FunctionType), isinstance(gg.gradcheck, types.FunctionType))\n"
                 "t = gg.tensor([0.0, 1.0], requires_grad=True)\n"
                 "np.exp(t).sum().backward()\n"
                 "api = sys.modules['glassgrad.ops.numpy_api']\n"
                 "print([round(v, 4) for v in t.grad.tolist()], type(api) is types.ModuleType)")
    assert out.splitlines() == ["True True", "[1.0, 2.7183] True"]


def test_lazy_names_are_the_objects_of_their_modules():
    from glassgrad import compile as compile_module_function
    from glassgrad.compile import Compiled, compile
    from glassgrad.function import Function
    from glassgrad.gradcheck import GradcheckError, gradcheck, gradgradcheck, numerical_grad
    from glassgrad.transforms import grad, hessian, hvp, jacfwd, jacobian, jacrev, jvp, value_and_grad, vjp

    assert compile_module_function is compile
    for obj in (Compiled, compile, Function, GradcheckError, gradcheck, gradgradcheck, numerical_grad, grad,
                hessian, hvp, jacfwd, jacobian, jacrev, jvp, value_and_grad, vjp):
        assert getattr(gg, obj.__name__) is obj
    assert "optimizer" in inspect.signature(gg.compile).parameters
    assert isinstance(gg.nn, ModuleType) and isinstance(gg.transforms, ModuleType)


def test_dir_and_star_import_list_every_public_name():
    assert set(gg.__all__) <= set(dir(gg))
    assert {"nn", "optim", "train", "transforms"} <= set(dir(gg))
    namespace: dict = {}
    exec("from glassgrad import *", namespace)
    assert set(gg.__all__) <= set(namespace)


def test_an_unknown_name_is_an_attribute_error_naming_it():
    try:
        gg.no_such_thing  # noqa: B018
    except AttributeError as e:
        assert "no_such_thing" in str(e)
    else:
        raise AssertionError("gg.no_such_thing did not raise")


DEFERRED_GATE_MODULES = ("glassgrad.ops.conv", "glassgrad.ops.linalg_decomp")


WHOLE = ("conv2d", "inv")    # a gate of each deferred module


@pytest.mark.parametrize(("read", "loaded"), [
    *((whole, [True, True]) for whole in (
        "len(GATES)", "sorted(GATES)", "'conv2d' in GATES", "GATES['inv']", "GATES.get('det')",
        "list(GATES.values())", "list(GATES.items())", "list(GATES.keys())", "dict(GATES)", "{**GATES}",
        "repr(GATES)", "list(reversed(GATES))", "GATES.copy()",
        "importlib.import_module('glassgrad.ops.table').files_table()")),
    ("gg.ops.conv", [True, False]), ("gg.nn.functional.conv2d", [True, False]), ("gg.linalg.det", [False, True])])
def test_reading_the_gate_registry_or_a_deferred_module_loads_its_gates(read, loaded):
    """Each way of reading GATES as a whole sees every gate, and conv2d or gg.linalg reached from the package
    is there: in a fresh process, after the read, the deferred modules it needs are loaded and registered."""
    out = _fresh("import importlib, sys, glassgrad as gg\n"
                 "from glassgrad.engine import GATES\n"
                 f"print([m in sys.modules for m in {DEFERRED_GATE_MODULES!r}])\n"
                 f"_ = {read}\n"
                 f"print([m in sys.modules for m in {DEFERRED_GATE_MODULES!r}])\n"
                 f"print([dict.__contains__(GATES, name) for name in {WHOLE!r}])")
    assert out.splitlines() == ["[False, False]", str(loaded), str(loaded)]


def test_a_lookup_of_a_registered_gate_loads_nothing_and_an_unknown_name_is_a_key_error():
    out = _fresh("import sys, glassgrad as gg\n"
                 "from glassgrad.engine import GATES\n"
                 "print(GATES['add'].name, (gg.tensor([1.0]) * 2).tolist())\n"
                 f"print([m in sys.modules for m in {DEFERRED_GATE_MODULES!r}])\n"
                 "try:\n    GATES['no_such_gate']\nexcept KeyError as e:\n    print('KeyError', e)")
    assert out.splitlines() == ["add [2.0]", "[False, False]", "KeyError 'no_such_gate'"]


def test_a_gate_of_ones_own_may_not_take_the_name_of_a_deferred_gate():
    out = _fresh("import glassgrad as gg\n"
                 "try:\n    gg.gate('conv2d', lambda x: x, lambda g, out, x: g, doc='∂')\n"
                 "except ValueError as e:\n    print(e)")
    assert out == "a gate named 'conv2d' is already registered"
