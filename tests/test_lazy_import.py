"""``import glassgrad`` loads the core and the gates only; the rest loads on first use, behind the same public
names. Structure only (which modules are loaded), never a timing: benchmarks/run.py measures the time."""
from __future__ import annotations

import inspect
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import glassgrad as gg

ROOT = Path(__file__).resolve().parents[1]

# Loaded only when used: the compiler, the checks and transforms, NumPy's API on tensors, every layer above the
# core, the optional libraries (numpy.typing: for the annotations only), and the standard library's `string`
# (einsum spells its letters out rather than pay for string.Template's regular expression).
LAZY = ["glassgrad.compile", "glassgrad.gradcheck", "glassgrad.transforms", "glassgrad.function",
        "glassgrad.nn", "glassgrad.optim", "glassgrad.data", "glassgrad.train", "glassgrad.explain",
        "glassgrad.distributed", "glassgrad.cuda", "glassgrad.cli", "numpy.typing", "cupy", "torch", "jax", "string"]


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
