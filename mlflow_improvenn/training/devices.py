"""Pick the device a run trains on: CUDA, then Apple's MPS, then the CPU."""

from __future__ import annotations

import torch

from mlflow_improvenn.training.options import ConfigError


def resolve_device(requested: str) -> torch.device:
    """The device for ``requested`` (auto, cpu, cuda, cuda:N or mps), checked to exist."""
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(requested)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("device", f"{requested} asked for, but CUDA is not available here")
        index = device.index or 0
        if index >= torch.cuda.device_count():
            raise ConfigError(
                "device", f"{requested} asked for, but only {torch.cuda.device_count()} GPU(s)"
            )
        return torch.device("cuda", index)
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("device", "mps asked for, but MPS is not available here")
    return device

