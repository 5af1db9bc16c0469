"""Views that make gradients visible: gate-by-gate tables, graph views, layer traces (BP1–BP4 with
numbers), whole-model gradient checks, gradient health, and the HTML run report.

Every view is an observer on the ordinary backward pass; the engine has no special cases for them.
"""
from glassgrad.explain.circuit import GateStep, gate_steps, gate_table, sigmoid_neuron
from glassgrad.explain.expression import ExpressionError
from glassgrad.explain.expression import evaluate as evaluate_expression
from glassgrad.explain.graph import GraphEdge, GraphNode, GraphView, GraphvizNotFound, graph
from glassgrad.explain.health import Finding, GradientHealth, HealthSnapshot, LayerHealth, diagnose, health_report
from glassgrad.explain.model_check import (
    CostRow,
    ModelGradcheck,
    ParamCheck,
    check_model_gradients,
    gradient_cost_comparison,
)
from glassgrad.explain.neurons import NeuronView, neuron_view
from glassgrad.explain.report import render_report, write_report
from glassgrad.explain.trace import LayerTrace, TracedLayer, trace

__all__ = [
    "GateStep", "gate_steps", "gate_table", "sigmoid_neuron", "graph", "GraphView", "GraphNode", "GraphEdge",
    "GraphvizNotFound", "trace", "LayerTrace", "TracedLayer", "evaluate_expression", "ExpressionError",
    "check_model_gradients", "gradient_cost_comparison", "ModelGradcheck", "ParamCheck", "CostRow",
    "GradientHealth", "health_report", "diagnose", "HealthSnapshot", "LayerHealth", "Finding",
    "write_report", "render_report", "neuron_view", "NeuronView",
]
