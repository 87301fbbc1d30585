"""Learning-rate decay, stepped once per epoch, with an optional linear warm-up.

torch's schedulers do the arithmetic; this module only composes them so that every
schedule, ReduceLROnPlateau included, takes the same ``step(monitored_value)`` call.

With ``warmup_epochs = W`` epoch ``e <= W`` trains at ``lr * e / (W + 1)`` and the decay
schedule starts at the full ``lr`` in epoch ``W + 1``. For ``onecycle`` the warm-up is its
own rising phase: the peak falls on epoch ``W + 1`` (without warm-up, 30% into training).
"""

from __future__ import annotations

from typing import Any

from torch.optim import Optimizer, lr_scheduler

from mlflow_improvenn.training.options import TrainConfig

_ONECYCLE_DEFAULT_RISE = 0.3


class LRSchedule:
    """The configured decay, behind one interface for the training loop."""

    def __init__(self, config: TrainConfig, optimizer: Optimizer) -> None:
        self.optimizer = optimizer
        self.warmup_epochs = 0 if config.scheduler == "onecycle" else config.warmup_epochs
        self.decay = _build_decay(config, optimizer)
        self.warmup = (
            lr_scheduler.LinearLR(
                optimizer,
                start_factor=1.0 / (self.warmup_epochs + 1),
                end_factor=1.0,
                total_iters=self.warmup_epochs,
            )
            if self.warmup_epochs
            else None
        )
        self.epochs_stepped = 0

    @property
    def lr(self) -> float:
        """The learning rate in force now (first parameter group)."""
        return float(self.optimizer.param_groups[0]["lr"])

    def step(self, monitored: float) -> None:
        """Advance by one epoch; ``monitored`` feeds ReduceLROnPlateau and is ignored otherwise."""
        self.epochs_stepped += 1
        if self.warmup is not None and self.epochs_stepped <= self.warmup_epochs:
            self.warmup.step()
        elif isinstance(self.decay, lr_scheduler.ReduceLROnPlateau):
            self.decay.step(monitored)
        elif self.decay is not None:
            self.decay.step()

    def state_dict(self) -> dict[str, Any]:
        return {
            "epochs_stepped": self.epochs_stepped,
            "decay": None if self.decay is None else self.decay.state_dict(),
            "warmup": None if self.warmup is None else self.warmup.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epochs_stepped = state["epochs_stepped"]
        if self.decay is not None:
            self.decay.load_state_dict(state["decay"])
        if self.warmup is not None:
            self.warmup.load_state_dict(state["warmup"])


def _build_decay(config: TrainConfig, optimizer: Optimizer) -> Any:
    decay_epochs = config.max_epochs - config.warmup_epochs
    if config.scheduler == "plateau":
        return lr_scheduler.ReduceLROnPlateau(
            optimizer,
            mode=config.mode,
            factor=config.plateau_factor,
            patience=config.plateau_patience,
            threshold=config.min_delta,
            threshold_mode="abs",
            min_lr=config.min_lr,
        )
    if config.scheduler == "step":
        return lr_scheduler.StepLR(optimizer, step_size=config.step_size, gamma=config.gamma)
    if config.scheduler == "exponential":
        return lr_scheduler.ExponentialLR(optimizer, gamma=config.gamma)
    if config.scheduler == "cosine":
        return lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=max(decay_epochs - 1, 1), eta_min=config.min_lr
        )
    if config.scheduler == "onecycle":
        default_peak = max(1, int(_ONECYCLE_DEFAULT_RISE * config.max_epochs))
        peak_epoch_index = config.warmup_epochs or default_peak
        rise = (peak_epoch_index + 1) / config.max_epochs  # so the peak falls on an epoch
        return lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=config.lr,
            total_steps=config.max_epochs,
            pct_start=rise,
            cycle_momentum=False,
        )
    return None
