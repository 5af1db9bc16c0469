"""Metrics on arrays: predicted labels, accuracy, the confusion matrix.

Labels and counts are computed on the arrays' device (only the count comes to the host); the confusion
matrix, which is printed, is made on the host.
"""
from __future__ import annotations

from glassgrad._backend import ndarray, xp
from glassgrad.device import array_module, to_host
from glassgrad.texttable import aligned


def predicted_labels(output: ndarray, threshold: float = 0.5) -> ndarray:
    """Class labels from a network's output: the arg-max of each row, or output > threshold for one column."""
    output = array_module(output).asarray(output)
    if output.ndim == 2 and output.shape[1] > 1:
        return output.argmax(axis=1)
    return (output.reshape(len(output)) > threshold).astype(xp.int64)


def true_labels(target: ndarray) -> ndarray:
    """Labels from integer targets or from one-hot rows."""
    target = array_module(target).asarray(target)
    return target.argmax(axis=1) if target.ndim == 2 and target.shape[1] > 1 else target.reshape(len(target))


def correct(output: ndarray, target: ndarray) -> int:
    """How many examples the output classifies right."""
    return int((predicted_labels(output) == true_labels(target)).sum())


def accuracy(output: ndarray, target: ndarray) -> float:
    """The fraction of examples the output classifies right (``correct`` over their number; 0.0 for none)."""
    return correct(output, target) / max(len(target), 1)


def confusion_matrix(predicted: ndarray, actual: ndarray, num_classes: int | None = None) -> ndarray:
    """counts[i, j] = how many examples of class i were predicted as class j."""
    predicted, actual = to_host(predicted).astype(xp.int64), to_host(actual).astype(xp.int64)
    k = num_classes or int(max(predicted.max(initial=0), actual.max(initial=0))) + 1
    return xp.bincount(actual * k + predicted, minlength=k * k).reshape(k, k)


def format_confusion(matrix: ndarray) -> str:
    """The confusion matrix as a text table: rows are true classes, columns predicted."""
    head = ["true\\pred", *(str(j) for j in range(len(matrix)))]
    rows = [[str(i), *(str(int(v)) for v in row)] for i, row in enumerate(matrix)]
    return "\n".join(aligned([head, *rows], align_right=True, sep=" "))
