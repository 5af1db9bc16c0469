"""Views that make gradients visible: gate-by-gate tables of a scalar expression, and more."""
from glassgrad.explain.circuit import GateStep, gate_steps, gate_table, sigmoid_neuron

__all__ = ["GateStep", "gate_steps", "gate_table", "sigmoid_neuron"]
