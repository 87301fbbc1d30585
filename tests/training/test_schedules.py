"""Each schedule's learning-rate sequence, epoch by epoch, against its closed form."""

from __future__ import annotations

import math

import pytest
import torch

from mlflow_improvenn.training.options import TrainConfig
from mlflow_improvenn.training.schedules import LRSchedule

LR = 0.1
EPOCHS = 12


def lr_sequence(monitored: list[float] | None = None, **options: object) -> list[float]:
    """The LR in force during each epoch, stepping once per epoch as the trainer does."""
    config = TrainConfig(lr=LR, max_epochs=EPOCHS, **options)
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=LR)
    schedule = LRSchedule(config, optimizer)
    values = monitored or [1.0] * EPOCHS
    sequence = []
    for epoch in range(EPOCHS):
        sequence.append(schedule.lr)
        schedule.step(values[epoch])
    return sequence


def test_none_keeps_the_rate() -> None:
    assert lr_sequence(scheduler="none") == [LR] * EPOCHS


def test_step_decays_every_step_size_epochs() -> None:
    expected = [LR * 0.5 ** (k // 4) for k in range(EPOCHS)]
    assert lr_sequence(scheduler="step", step_size=4, gamma=0.5) == pytest.approx(expected)


def test_exponential_decays_every_epoch() -> None:
    expected = [LR * 0.9**k for k in range(EPOCHS)]
    assert lr_sequence(scheduler="exponential", gamma=0.9) == pytest.approx(expected)


def test_cosine_reaches_min_lr_on_the_last_epoch() -> None:
    t_max = EPOCHS - 1
    expected = [0.01 + (LR - 0.01) * (1 + math.cos(math.pi * k / t_max)) / 2 for k in range(EPOCHS)]
    assert lr_sequence(scheduler="cosine", min_lr=0.01) == pytest.approx(expected)


def test_plateau_decays_after_patience_epochs_without_improvement() -> None:
    monitored = [1.0, 0.9, 0.9, 0.9, 0.9, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8]
    got = lr_sequence(monitored, scheduler="plateau", plateau_patience=2, plateau_factor=0.5)
    # best 0.9 at epoch 2; epochs 3 and 4 don't improve; the 3rd miss (epoch 5) decays, so
    # epoch 6 runs at 0.05; 0.8 at epoch 6 improves, then 7, 8 miss and 9 decays again.
    expected = [LR] * 5 + [LR / 2] * 4 + [LR / 4] * 3
    assert got == pytest.approx(expected)


def test_plateau_never_goes_below_min_lr() -> None:
    got = lr_sequence([1.0] * EPOCHS, scheduler="plateau", plateau_patience=0,
                      plateau_factor=0.1, min_lr=0.001)
    assert min(got) == pytest.approx(0.001)


def test_onecycle_rises_to_lr_then_anneals() -> None:
    got = lr_sequence(scheduler="onecycle")
    peak = got.index(max(got))
    assert max(got) == pytest.approx(LR)
    assert got[0] == pytest.approx(LR / 25)
    assert all(a < b for a, b in zip(got[:peak], got[1:peak + 1], strict=True))
    assert all(a > b for a, b in zip(got[peak:-1], got[peak + 1:], strict=True))


@pytest.mark.parametrize("scheduler", ["none", "step", "exponential", "cosine", "plateau"])
def test_warmup_ramps_linearly_then_hands_over_at_full_rate(scheduler: str) -> None:
    warm = lr_sequence(scheduler=scheduler, warmup_epochs=3, step_size=4, gamma=0.5)
    assert warm[:3] == pytest.approx([LR * e / 4 for e in (1, 2, 3)])
    assert warm[3] == pytest.approx(LR)


def test_warmup_delays_the_step_schedule_by_its_length() -> None:
    warm = lr_sequence(scheduler="step", warmup_epochs=3, step_size=4, gamma=0.5)
    expected = [LR * 0.5 ** (k // 4) for k in range(EPOCHS - 3)]
    assert warm[3:] == pytest.approx(expected)


def test_onecycle_warmup_places_the_peak_after_the_warmup() -> None:
    got = lr_sequence(scheduler="onecycle", warmup_epochs=4)
    assert got.index(max(got)) == 4
