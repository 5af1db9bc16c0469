"""Networks: modules, layers, losses and initialisers, built on the gates."""
from glassgrad.nn import functional, init
from glassgrad.nn.conv import Conv2d, MaxPool2d
from glassgrad.nn.layers import (
    ELU,
    Activation,
    Dropout,
    Flatten,
    Identity,
    LeakyReLU,
    Linear,
    LogSoftmax,
    ReLU,
    Sigmoid,
    Softmax,
    Softplus,
    Tanh,
)
from glassgrad.nn.loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, QuadraticCost
from glassgrad.nn.module import Module, Parameter, Sequential
from glassgrad.nn.norm import BatchNorm1d, BatchNorm2d

__all__ = [
    "functional", "init", "Module", "Parameter", "Sequential", "Linear", "Flatten", "Dropout", "Identity",
    "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "ELU", "Softplus", "Softmax", "LogSoftmax", "Activation",
    "MSELoss", "CrossEntropyLoss", "BCELoss", "BCEWithLogitsLoss", "QuadraticCost",
    "Conv2d", "MaxPool2d", "BatchNorm1d", "BatchNorm2d",
]
