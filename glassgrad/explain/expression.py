"""A safe parser for arithmetic expressions of named variables, for ``glassgrad explain circuit --expr``.

The text is parsed with Python's ``ast`` and walked node by node; only numbers, the given variable
names, ``+ − * / **``, unary minus and calls of a few named functions are accepted, and statements
``name = expression`` separated by ``;`` name a value for the statements after them
(``b = a + a; c = b + b``). Anything else
(attribute access, subscripts, lambdas, comprehensions, other names or calls) is refused with an error
naming it. Nothing is ever passed to ``eval``: each accepted node becomes one glassgrad gate.
"""
from __future__ import annotations

import ast
import math
from typing import Mapping, Sequence

from numpy.typing import DTypeLike

from glassgrad import ops
from glassgrad._backend import xp
from glassgrad.tensor import Tensor, tensor

MAX_LENGTH = 2000   # an expression for a gate table, not a program

FUNCTIONS = {   # name → (gate, number of arguments)
    "exp": (ops.exp, 1), "log": (ops.log, 1), "sqrt": (ops.sqrt, 1), "tanh": (ops.tanh, 1),
    "sigmoid": (ops.sigmoid, 1), "relu": (ops.relu, 1), "abs": (ops.abs, 1),
    "max": (ops.maximum, 2), "min": (ops.minimum, 2),
}
BINARY = {ast.Add: ops.add, ast.Sub: ops.sub, ast.Mult: ops.mul, ast.Div: ops.div, ast.Pow: ops.pow}


class ExpressionError(ValueError):
    """The expression uses something the parser does not allow, or cannot be evaluated."""


def _describe(node: ast.AST) -> str:
    """What a refused node is, in words, with its source text where that helps."""
    words = {ast.Attribute: "attribute access", ast.Subscript: "subscripts", ast.Lambda: "lambda",
             ast.Compare: "comparisons", ast.BoolOp: "and/or", ast.IfExp: "if-else",
             ast.ListComp: "comprehensions", ast.GeneratorExp: "comprehensions", ast.Dict: "dicts",
             ast.List: "lists", ast.Tuple: "tuples", ast.Set: "sets", ast.Starred: "starred arguments",
             ast.JoinedStr: "f-strings", ast.NamedExpr: "assignment (:=)"}
    what = words.get(type(node), type(node).__name__)
    try:
        return f"{what} ({ast.unparse(node)})"
    except Exception:   # pragma: no cover - unparse handles every node parse produces
        return what


class _Evaluator:
    """Walks the syntax tree; each node is either refused or turned into a gate application."""

    def __init__(self, variables: dict[str, Tensor]):
        self.variables = variables

    def __call__(self, node: ast.AST):
        method = getattr(self, "visit_" + type(node).__name__, None)
        if method is None:
            raise ExpressionError(f"not allowed in an expression: {_describe(node)}")
        return method(node)

    def visit_Constant(self, node: ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise ExpressionError(f"not allowed in an expression: the constant {node.value!r} (numbers only)")
        return xp.float64(node.value)   # NumPy floats: 10 ** 999 overflows to inf instead of a huge int

    def visit_Name(self, node: ast.Name):
        if node.id not in self.variables:
            given = ", ".join(self.variables) or "none"
            raise ExpressionError(f"unknown name {node.id!r} in the expression (variables given: {given})")
        return self.variables[node.id]

    def visit_BinOp(self, node: ast.BinOp):
        gate = BINARY.get(type(node.op))
        if gate is None:
            raise ExpressionError(f"not allowed in an expression: the operator in {ast.unparse(node)} "
                                  "(allowed: + - * / **)")
        return gate(self(node.left), self(node.right))

    def visit_UnaryOp(self, node: ast.UnaryOp):
        if isinstance(node.op, ast.UAdd):
            return self(node.operand)
        if isinstance(node.op, ast.USub):
            return -self(node.operand)
        raise ExpressionError(f"not allowed in an expression: the operator in {ast.unparse(node)}")

    def visit_Call(self, node: ast.Call):
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name not in FUNCTIONS:
            raise ExpressionError(f"not allowed in an expression: the call {ast.unparse(node.func)}(…) "
                                  f"(functions allowed: {', '.join(FUNCTIONS)})")
        gate, arity = FUNCTIONS[name]
        if node.keywords or len(node.args) != arity:
            raise ExpressionError(f"{name} takes {arity} positional argument{'s' * (arity > 1)}: "
                                  f"{ast.unparse(node)}")
        return gate(*(self(a) for a in node.args))


def _run_statements(body: list, evaluator: _Evaluator, expr: str):
    """``b = a + a; c = b + b``: each ``name = expression`` defines a name for the statements after it (so
    a value can be used twice: fan-out); the value of the last statement is the result."""
    if not body:
        raise ExpressionError("the expression is empty")
    result = None
    for statement in body:
        if isinstance(statement, ast.Expr):
            result = evaluator(statement.value)
        elif (isinstance(statement, ast.Assign) and len(statement.targets) == 1
              and isinstance(statement.targets[0], ast.Name)):
            name = statement.targets[0].id
            if name in evaluator.variables or name in FUNCTIONS:
                raise ExpressionError(f"{ast.unparse(statement)}: {name!r} is already a variable or a function")
            result = evaluator.variables[name] = evaluator(statement.value)
        else:
            raise ExpressionError(f"not allowed in an expression: {_describe(statement)} "
                                  "(only expressions and 'name = expression')")
    return result


def parse_values(items: Mapping[str, float] | Sequence[str]) -> dict[str, float]:
    """``["x=-2", "y=5"]`` (or a dict) → ``{"x": -2.0, "y": 5.0}``, with an error naming a bad item."""
    if isinstance(items, dict):
        pairs = list(items.items())
    else:
        pairs = []
        for item in items:
            name, eq, value = str(item).partition("=")
            if not eq:
                raise ExpressionError(f"value {item!r} is not of the form name=number (e.g. x=-2)")
            pairs.append((name.strip(), value.strip()))
    values = {}
    for name, value in pairs:
        if not name.isidentifier() or name in FUNCTIONS:
            raise ExpressionError(f"{name!r} cannot be a variable name")
        try:
            values[name] = float(value)
        except (TypeError, ValueError):
            raise ExpressionError(f"the value of {name} is not a number: {value!r}") from None
        if not math.isfinite(values[name]):
            raise ExpressionError(f"the value of {name} must be a finite number, not {value!r}")
    return values


def evaluate(expr: str, values: Mapping[str, float] | Sequence[str], dtype: DTypeLike = xp.float64) \
        -> tuple[Tensor, list[Tensor]]:
    """Evaluate ``expr`` with glassgrad gates: ``(f, leaves)``, the leaves named and requiring grad.

    ``values`` is a dict or a list of ``"name=number"`` strings. Raises ExpressionError for anything
    the parser does not allow, an unknown name, or an expression that does not depend on a variable.
    """
    values = parse_values(values)
    if len(expr) > MAX_LENGTH:
        raise ExpressionError(f"the expression is longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(expr.strip(), mode="exec")
    except SyntaxError as e:
        raise ExpressionError(f"cannot parse the expression {expr!r}: {e.msg}") from None
    leaves = [tensor(v, dtype=dtype, requires_grad=True) for v in values.values()]
    for t, name in zip(leaves, values):
        t.name = name
    evaluator = _Evaluator(dict(zip(values, leaves)))
    with xp.errstate(all="ignore"):   # log(-1) is nan and 1/0 is inf, as in NumPy; the table shows them
        f = _run_statements(tree.body, evaluator, expr)
    if isinstance(f, Tensor) and f.grad_fn is None:
        raise ExpressionError(f"the expression {expr!r} is a single variable: it has no gates to show")
    if not isinstance(f, Tensor):
        raise ExpressionError(f"the expression {expr!r} does not depend on any variable: nothing to differentiate")
    return f, leaves
