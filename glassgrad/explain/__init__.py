"""Views that make gradients visible: gate-by-gate tables of a scalar expression, and more."""
from glassgrad.explain.circuit import GateStep, gate_steps, gate_table, sigmoid_neuron

__all__ = ["GateStep", "gate_steps", "gate_table", "sigmoid_neuron"]

# Graph view, layer trace and the safe expression parser (explain circuit --expr, explain mlp).
from glassgrad.explain.expression import ExpressionError, evaluate as evaluate_expression  # noqa: E402
from glassgrad.explain.graph import GraphEdge, GraphNode, GraphView, GraphvizNotFound, graph  # noqa: E402
from glassgrad.explain.trace import LayerTrace, TracedLayer, trace  # noqa: E402

__all__ += ["graph", "GraphView", "GraphNode", "GraphEdge", "GraphvizNotFound", "trace", "LayerTrace",
            "TracedLayer", "evaluate_expression", "ExpressionError"]

# Whole-model gradient checks, gradient health and the run report (explain gradcheck / health, train --report).
from glassgrad.explain.health import (  # noqa: E402
    Finding, GradientHealth, HealthSnapshot, LayerHealth, diagnose, health_report)
from glassgrad.explain.model_check import (  # noqa: E402
    CostRow, ModelGradcheck, ParamCheck, check_model_gradients, gradient_cost_comparison)
from glassgrad.explain.report import render_report, write_report  # noqa: E402

__all__ += ["check_model_gradients", "gradient_cost_comparison", "ModelGradcheck", "ParamCheck", "CostRow",
            "GradientHealth", "health_report", "diagnose", "HealthSnapshot", "LayerHealth", "Finding",
            "write_report", "render_report"]
