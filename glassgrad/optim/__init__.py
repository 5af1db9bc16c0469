"""Optimisers, learning-rate schedules and gradient clipping (PyTorch's ``torch.optim`` rules, on NumPy).

A training step::

    opt = gg.optim.Adam(model.parameters(), lr=1e-3)
    sched = gg.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    for epoch in range(epochs):
        for x, y in loader:
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            gg.optim.clip_grad_norm_(model.parameters(), max_norm=1.0)
            opt.step()
        sched.step()

Update rules (per parameter w with gradient g; each class's docstring has the full rule):

* SGD:     v ← μ v + (1 − τ) g ;  w ← w − η v     (nesterov: w ← w − η (g + μ v))
* Adam:    m ← β₁ m + (1 − β₁) g ;  v ← β₂ v + (1 − β₂) g² ;  w ← w − η m̂ / (√v̂ + ε)
* AdamW:   w ← w (1 − η λ), then the Adam step (the decay never enters m and v)
* RMSprop: s ← α s + (1 − α) g² ;  w ← w − η g / (√s + ε)

Updates run on the parameters' arrays, in place. This package uses only NumPy and the glassgrad core.
"""
from glassgrad.optim import lr_scheduler
from glassgrad.optim.adam import Adam, AdamW
from glassgrad.optim.clip import clip_grad_norm_, clip_grad_value_
from glassgrad.optim.lr_scheduler import CosineAnnealingLR, ExponentialLR, LRScheduler, StepLR
from glassgrad.optim.optimizer import Optimizer, ParamsT, required
from glassgrad.optim.rmsprop import RMSprop
from glassgrad.optim.sgd import SGD

__all__ = [
    "Optimizer", "ParamsT", "required", "SGD", "Adam", "AdamW", "RMSprop", "lr_scheduler", "LRScheduler",
    "StepLR", "ExponentialLR", "CosineAnnealingLR", "clip_grad_norm_", "clip_grad_value_",
]
