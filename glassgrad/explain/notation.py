"""The notes' three notations, and what one number is called in each (docs/backprop.md#the-forward-pass).

Layers are counted as in ``nndl`` internally: l = 1 … L for the layers with weights (l = 0 is the input).
Neurons are 1-based, as in the notes; index 0 is the bias unit x_0 = 1 where a notation has one.

* ``nndl``  (Nielsen, *Neural Networks and Deep Learning*): w^l_jk is the weight from neuron k of layer
  l−1 to neuron j of layer l; b^l_j, z^l_j, a^l_j, δ^l_j; a^0 = x; cost C.
* ``lfd``   (the *Learning From Data* lecture, Magdon-Ismail): W^(ℓ) is (d^(ℓ−1)+1) × d^(ℓ) and W^(ℓ)_ij goes
  from unit i of layer ℓ−1 to unit j of layer ℓ, row 0 being the bias; s^(ℓ), x^(ℓ) = [1; θ(s^(ℓ))],
  sensitivities δ^(ℓ); error e on one example, E_in on the data.
* ``theta`` (the course's lecture notes): the input is layer 1; Θ^(j) maps layer j to layer j+1 and
  Θ^(j)_ki goes from unit i of layer j to unit k of layer j+1, column 0 being the bias; z^(j), a^(j), δ^(j);
  cost J(Θ).

So the same number is w^l_jk = W^(l)_kj = Θ^(l)_jk, where the Θ index is the receiving layer's number
(l + 1 in theta's counting) minus one.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

from glassgrad.explain.export import Table

if TYPE_CHECKING:      # for annotations only
    from glassgrad.nn import Module

NOTATIONS = ("nndl", "lfd", "theta")

SOURCES = {
    "nndl": "Nielsen, Neural Networks and Deep Learning: w^l_jk from neuron k in layer l−1 to neuron j in layer l",
    "lfd": "Learning From Data lecture: W^(ℓ) is (d^(ℓ−1)+1) × d^(ℓ), W^(ℓ)_ij from unit i of layer ℓ−1 to unit j "
           "of layer ℓ, row 0 the bias (x_0 = 1)",
    "theta": "the course notes: Θ^(j)_ki from unit i of layer j to unit k of layer j+1 (the input is layer 1), "
             "column 0 the bias (x_0 = 1)",
}


def check_notation(notation: str, who: str = "explain") -> str:
    if notation not in NOTATIONS:
        raise ValueError(f"{who}: unknown notation {notation!r}; choose from {', '.join(NOTATIONS)}")
    return notation


def _pair(a: int, b: int) -> str:
    return f"{{{a},{b}}}"


@dataclass(frozen=True)
class Symbols:
    """The names of one notation; every ``l`` is the nndl layer number (1 … L), every unit index 1-based."""

    notation: str

    def __post_init__(self) -> None:
        check_notation(self.notation, "Symbols")

    @property
    def cost(self) -> str:
        return {"nndl": "C", "lfd": "e", "theta": "J"}[self.notation]

    def layer(self, ell: int) -> int:
        """The layer's number in this notation (theta counts the input as layer 1)."""
        return ell + 1 if self.notation == "theta" else ell

    def _up(self, ell: int) -> str:
        n = self.layer(ell)
        return f"^{n}" if self.notation == "nndl" else f"^({n})"

    def weights(self, ell: int) -> str:
        """The matrix of layer l's weights: W^l, W^(ℓ) or Θ^(l)."""
        return {"nndl": f"W^{ell}", "lfd": f"W^({ell})", "theta": f"Θ^({ell})"}[self.notation]

    def biases(self, ell: int) -> str:
        """Where layer l's biases are: b^l, row 0 of W^(ℓ), column 0 of Θ^(l)."""
        return {"nndl": f"b^{ell}", "lfd": f"W^({ell}) row 0", "theta": f"Θ^({ell}) column 0"}[self.notation]

    def weight(self, ell: int, j: int, k: int) -> str:
        """The weight into unit j of layer l from unit k of layer l−1 (k = 0: the bias)."""
        if self.notation == "nndl":
            return f"b^{ell}_{j}" if k == 0 else f"w^{ell}_{_pair(j, k)}"
        if self.notation == "lfd":
            return f"W^({ell})_{_pair(k, j)}"
        return f"Θ^({ell})_{_pair(j, k)}"

    def delta(self, ell: int, j: int) -> str:
        return f"δ{self._up(ell)}_{j}"

    def z(self, ell: int, j: int) -> str:
        return f"{'s' if self.notation == 'lfd' else 'z'}{self._up(ell)}_{j}"

    def a(self, ell: int, k: int) -> str:
        """Unit k's output in layer l (l = 0: the input x_k; k = 0: the bias unit 1)."""
        if ell == 0 and k > 0:
            return f"x_{k}"
        return f"{'x' if self.notation == 'lfd' else 'a'}{self._up(ell)}_{k}"

    def fprime(self, activation: str) -> str:
        """f' as the notation writes it: σ' for a sigmoid in nndl, θ' in lfd, g' in theta."""
        if self.notation == "lfd":
            return "θ'"
        if self.notation == "theta":
            return "g'"
        return "σ'" if activation == "sigmoid" else "f'"


def layer_label(ell: int, L: int) -> str:
    """Nielsen's words for layer l of L (1-based): "hidden layer l" or "output layer"."""
    return "output layer" if ell == L else f"hidden layer {ell}"


def parameter_label(ell: int, bias: bool, notation: str = "nndl") -> str:
    """A parameter's name for people: W^l / b^l (nndl), W^(ℓ) (lfd, biases in row 0), Θ^(l) (theta)."""
    s = Symbols(notation)
    return s.biases(ell) if bias else s.weights(ell)


def parameter_names(model: Module) -> dict[str, tuple[int, bool]]:
    """``{"0.weight": (1, False), "0.bias": (1, True), …}``: each Linear layer's parameters by module path,
    with the layer's 1-based number l (in the order ``named_modules`` lists them) and whether it is a bias."""
    from glassgrad.nn.layers import Linear

    names: dict[str, tuple[int, bool]] = {}
    linears = [name for name, m in model.named_modules() if isinstance(m, Linear)]
    for ell, name in enumerate(linears, start=1):
        prefix = f"{name}." if name else ""
        names[prefix + "weight"] = (ell, False)
        names[prefix + "bias"] = (ell, True)
    return names


def entry_label(path: str, index: tuple, names: dict[str, tuple[int, bool]], notation: str = "nndl") -> str:
    """One parameter entry for people: ``w^2_{3,1}`` for 0-based index (2, 0) of layer 2's weight, ``b^1_4``
    for a bias; any other parameter as ``path[index]`` (0-based, as stored)."""
    if path not in names or len(index) != (1 if names[path][1] else 2):
        return f"{path}{list(index)}"
    ell, bias = names[path]
    return Symbols(notation).weight(ell, index[0] + 1, 0 if bias else index[1] + 1)


# --------------------------------------------------------------------------------------------------
# Naming one entry on the command line: W2[1,2], b2[1], Theta1[2,2]
# --------------------------------------------------------------------------------------------------
_ENTRY = re.compile(r"^\s*(W|w|b|Theta|theta|Θ)\s*\^?\(?(\d+)\)?\s*\[\s*(\d+)\s*(?:,\s*(\d+)\s*)?\]\s*$")


def parse_entry(entry: str, notation: str, sizes: list[int]) -> tuple[int, int, int]:
    """``W2[1,2]`` in ``notation`` → (l, j, k): layer l (nndl count), unit j of layer l, unit k of layer l−1
    (k = 0 for a bias), all 1-based, checked against the network's ``sizes``.

    nndl: ``W2[j,k]`` is w^2_jk and ``b2[j]`` is b^2_j; lfd: ``W2[i,j]`` is W^(2)_ij (i = 0: the bias row);
    theta: ``W1[k,i]`` or ``Theta1[k,i]`` is Θ^(1)_ki (i = 0: the bias column).
    """
    check_notation(notation)
    m = _ENTRY.match(entry)
    example = {"nndl": "W2[1,2] or b2[1]", "lfd": "W2[0,1] (row 0 = the bias)", "theta": "Theta1[2,2]"}[notation]
    if m is None:
        raise ValueError(f"--entry {entry!r}: write a weight as in {example}")
    letter, n, a, b = m.group(1), int(m.group(2)), int(m.group(3)), m.group(4)
    L = len(sizes) - 1
    if letter == "b":
        if notation != "nndl" or b is not None:
            raise ValueError(f"--entry {entry!r}: b^l_j is nndl's name for a bias; in {notation} write {example}")
        ell, j, k = n, a, 0
    elif b is None:
        raise ValueError(f"--entry {entry!r}: a weight needs two indices, e.g. {example}")
    elif notation == "lfd":
        ell, j, k = n, int(b), a
    else:
        ell, j, k = n, a, int(b)
    if not 1 <= ell <= L:
        first, last = (1, L)
        raise ValueError(f"--entry {entry!r}: the network {sizes} has weight layers {first} … {last}")
    if not 1 <= j <= sizes[ell]:
        raise ValueError(f"--entry {entry!r}: layer {Symbols(notation).layer(ell)} has units 1 … {sizes[ell]}")
    lowest = 1 if notation == "nndl" and letter != "b" else 0
    if not lowest <= k <= sizes[ell - 1]:
        raise ValueError(f"--entry {entry!r}: the layer before has units {lowest} … {sizes[ell - 1]}"
                         + ("" if lowest else " (0 = the bias unit)"))
    return ell, j, k


# --------------------------------------------------------------------------------------------------
# The same number in the three notations
# --------------------------------------------------------------------------------------------------
def correspondence(weights: list, biases: list, limit: int = 12) -> Table:
    """A table naming each of the first ``limit`` weights and biases in all three notations, with its value.

    ``weights[l-1]`` is layer l's (out, in) matrix and ``biases[l-1]`` its bias vector (nndl's W^l, b^l).
    """
    rows: list[Sequence[str]] = []
    for ell, (W, b) in enumerate(zip(weights, biases), start=1):
        for j in range(1, len(b) + 1):
            for k in range(0, W.shape[1] + 1):
                if len(rows) >= limit:
                    break
                value = b[j - 1] if k == 0 else W[j - 1, k - 1]
                rows.append((f"{float(value):.4g}", *(Symbols(n).weight(ell, j, k) for n in NOTATIONS),
                             "bias" if k == 0
                             else f"unit {k} of layer {ell - 1} → unit {j} of layer {ell} (nndl count)"))
    return Table(("value", "nndl", "lfd", "theta", "what"), rows, align_right=(0,))
