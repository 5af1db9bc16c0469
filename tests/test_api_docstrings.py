"""Every public name of the documented modules has its own docstring: the API reference (mkdocs.yml,
docs/api/) is generated from them, and mkdocstrings silently leaves out a name that has none."""
import importlib
import inspect

import pytest

# The modules with a page in docs/api/ (keep the two lists together).
PUBLIC_MODULES = ["glassgrad", "glassgrad.nn", "glassgrad.optim", "glassgrad.data", "glassgrad.train",
                  "glassgrad.explain", "glassgrad.distributed", "glassgrad.transforms", "glassgrad.hooks",
                  "glassgrad.device", "glassgrad.cuda"]


def _public_names(module) -> list[str]:
    if hasattr(module, "__all__"):
        return list(module.__all__)
    return [name for name, obj in vars(module).items()
            if not name.startswith("_") and getattr(obj, "__module__", None) == module.__name__
            and (inspect.isfunction(obj) or inspect.isclass(obj))]


def _needs_doc(obj) -> bool:
    """Functions, classes and callable objects (gates); constants and type aliases (``ParamsT``) carry no
    docstring of their own at run time."""
    return callable(obj) and type(obj).__module__ not in ("typing", "types")


def _own_doc(obj) -> str:
    """The object's own docstring: not one inherited from its class or a base class."""
    doc = obj.__doc__ if inspect.isclass(obj) else getattr(obj, "__doc__", None)
    if not inspect.isclass(obj) and not inspect.isroutine(obj) and doc == type(obj).__doc__:
        return ""                                  # a callable instance showing its class's docstring
    return (doc or "").strip()


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_every_public_callable_has_a_docstring(module_name):
    module = importlib.import_module(module_name)
    assert (module.__doc__ or "").strip(), f"module {module_name} has no docstring"
    missing = [name for name in _public_names(module)
               if _needs_doc(getattr(module, name)) and not _own_doc(getattr(module, name))]
    assert not missing, f"{module_name}: public names without a docstring: {missing}"


def test_the_api_pages_cover_the_public_modules():
    from pathlib import Path
    api = Path(__file__).resolve().parent.parent / "docs" / "api"
    documented = {line.split()[1] for page in api.glob("*.md") for line in page.read_text().splitlines()
                  if line.startswith("::: ")}
    assert documented == set(PUBLIC_MODULES)
