"""The one array library behind glassgrad.

Every NumPy call of the core and the gates goes through the name ``xp`` so that another array library
with NumPy's interface (CuPy) can take its place later without touching the gates.
"""
import numpy as xp

ndarray = xp.ndarray

__all__ = ["xp", "ndarray"]
