"""Training: the fit loop, callbacks, checkpoints, metrics, and models by name."""
from glassgrad.train.callbacks import (
                                       Callback,
                                       CallbackList,
                                       EarlyStopping,
                                       MetricsLogger,
                                       ModelCheckpoint,
                                       NonFiniteStop,
                                       PrintMetrics,
                                       ProgressBar,
)
from glassgrad.train.checkpoint import Checkpoint, CheckpointError, load_checkpoint, save_checkpoint
from glassgrad.train.fit import History, TrainingState, evaluate, evaluating, fit, predict
from glassgrad.train.metrics import accuracy, confusion_matrix, format_confusion, predicted_labels
from glassgrad.train.models import build_model, loss_by_name, mlp, optimizer_by_name
from glassgrad.train.weights import (
                                       from_torch_state_dict,
                                       load_safetensors,
                                       load_torch_state_dict,
                                       save_safetensors,
                                       to_torch_state_dict,
)

__all__ = [
    "fit", "evaluate", "evaluating", "predict", "History", "TrainingState", "Callback", "CallbackList",
    "EarlyStopping", "ModelCheckpoint", "MetricsLogger", "NonFiniteStop", "ProgressBar", "PrintMetrics",
    "save_checkpoint", "load_checkpoint", "Checkpoint", "CheckpointError",
    "accuracy", "confusion_matrix", "format_confusion", "predicted_labels", "build_model", "mlp",
    "loss_by_name", "optimizer_by_name", "save_safetensors", "load_safetensors", "from_torch_state_dict",
    "load_torch_state_dict", "to_torch_state_dict",
]
