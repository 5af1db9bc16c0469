"""NumPy, the array library of the CPU, as ``xp``.

The gates call ``xp`` (NumPy) functions on their input arrays; for a GPU array NumPy dispatches them to
CuPy (``__array_ufunc__``/``__array_function__``). Where a gate makes a new array it asks the input's own
library, ``glassgrad.device.array_module(x)``: the library is chosen per array, never globally.
"""
import numpy as xp

ndarray = xp.ndarray

__all__ = ["xp", "ndarray"]
