"""The lessons of "improving deep neural networks", each as data: a base set-up and variations.

:func:`~mlflow_improvenn.lessons.runner.run_lesson` trains every variation of a lesson as a
child run of one parent. The projects under ``projects/`` only name a lesson; the lessons
themselves live here.

``smoke=True`` shrinks every run to a few epochs on a few rows, so tests run every lesson in
seconds; the conclusions only hold at full size.

>>> sorted(LESSONS)[:3]
['batch_norm', 'bias_variance', 'dropout']
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mlflow_improvenn.lessons.stories import Story
from mlflow_improvenn.training.options import TrainConfig

TAG_LESSON = "improvenn.lesson"
TAG_VARIATION = "improvenn.variation"
#: Applied last to every run in smoke mode: tiny, but every option of the lesson still used.
SMOKE: dict[str, Any] = {"n_samples": 150, "max_epochs": 3}


@dataclass(frozen=True)
class Variation:
    """One child run: a label for the legend and the options it changes from the base."""

    name: str
    changes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Lesson:
    """A question, the set-up that answers it, and the runs to compare."""

    name: str
    question: str
    base: Mapping[str, Any]
    variations: tuple[Variation, ...]
    dev_loss_target: float | None = None
    story: Story = Story()
    #: Set for a learning-curve lesson: each variation is a learning curve over these shares
    #: of its train rows (a parent with a child per share), not one run.
    fractions: tuple[float, ...] | None = None

    def configs(self, smoke: bool = False) -> dict[str, TrainConfig]:
        """Each variation's validated config, by name."""
        extra = SMOKE if smoke else {}
        common = {"log_model": False, "device": "cpu"}
        return {
            v.name: TrainConfig(**{**common, **self.base, **v.changes, **extra,
                                   "run_name": v.name})
            for v in self.variations
        }


#: Every run trains its full epochs and keeps its last weights (early stopping is a lesson of
#: its own): a big network on 200 training rows of noisy spiral data then over-fits plainly.
_TO_THE_END = {"patience": 0, "monitor": "train_loss"}
#: Noise 0.6 puts the Bayes error at 0.081, so memorizing the training rows costs dev error;
#: the dev split (600 rows) is three times the train split so that a few points of variance
#: lie outside sampling noise (a 100-row dev split cannot tell 3 points from chance).
_OVERFIT = {
    "dataset": "spiral", "noise": 0.6, "n_samples": 1000, "dev_fraction": 0.6,
    "test_fraction": 0.2, "hidden_units": (256, 256), "lr": 0.003, "batch_size": 32,
    "max_epochs": 300, **_TO_THE_END,
}
_SPIRAL = {"dataset": "spiral", "n_samples": 600, "noise": 0.2, "batch_size": 32}
_BIAS = ("high_bias", "high_bias_and_variance")
_NOT_TOLD_TO_GROW = ("good_fit", "inconclusive", "high_variance")


def _grid(name: str, values: list[Any], label: Callable[[Any], str]) -> tuple[Variation, ...]:
    return tuple(Variation(label(v), {name: v}) for v in values)


LESSONS: dict[str, Lesson] = {lesson.name: lesson for lesson in (
    Lesson(
        "bias_variance",
        "Which regime is each network in: too small (high bias) or too big for its data "
        "(high variance)?",
        _OVERFIT,
        tuple(
            Variation(f"{size} net, {amount} data", {"hidden_units": units, "n_samples": n})
            for amount, n in (("little", 1000), ("more", 2000))
            for size, units in (("tiny", (2,)), ("small", (16,)), ("big", (256, 256)))
        ),
        story=Story({"tiny net, little data": ("high_bias",),
                     "tiny net, more data": _BIAS,
                     "big net, little data": ("high_variance",)}),
    ),
    Lesson(
        "l2_regularization",
        "How much L2 closes the train/dev gap of an over-fitting network, and do the three "
        "kinds of L2 differ?",
        _OVERFIT,
        _grid("weight_decay", [0.0, 1e-3, 3e-3, 1e-2, 3e-2], lambda v: f"l2={v:g}") + (
            Variation("l2=0.3 decoupled", {"weight_decay": 0.3, "l2_mode": "decoupled"}),
            Variation("l2=1 penalty", {"weight_decay": 1.0, "l2_mode": "penalty"}),
        ),
        story=Story(
            {"l2=0": ("high_variance",), "l2=0.01": _NOT_TOLD_TO_GROW,
             "l2=1 penalty": _NOT_TOLD_TO_GROW, "l2=0.03": _BIAS},
            ("l2=0", "l2=0.001", "l2=0.003", "l2=0.01"),
        ),
    ),
    Lesson(
        "dropout",
        "How much dropout, on the hidden layers and on the inputs, does an over-fitting "
        "network need?",
        _OVERFIT,
        tuple(
            Variation(f"dropout={rate:g}" + (f" input={inp:g}" if inp else ""),
                      {"dropout": (rate,), "input_dropout": inp})
            for rate, inp in ((0.0, 0.0), (0.2, 0.0), (0.5, 0.0), (0.2, 0.2), (0.5, 0.2))
        ),
        story=Story({"dropout=0": ("high_variance",), "dropout=0.5": _NOT_TOLD_TO_GROW},
                    ("dropout=0", "dropout=0.2", "dropout=0.5")),
    ),
    Lesson(
        "batch_norm",
        "Does BatchNorm let a deeper network train faster and at higher learning rates? "
        "(epochs to reach the dev loss target)",
        {**_SPIRAL, "hidden_units": (64, 64, 64), "optimizer": "sgd", "momentum": 0.9,
         "max_epochs": 60, "patience": 0},
        tuple(
            Variation(f"{'bn' if bn else 'plain'} lr={lr:g}", {"batch_norm": bn, "lr": lr})
            for lr in (0.01, 0.1, 0.5) for bn in (False, True)
        ),
        dev_loss_target=0.3,
        story=Story({"plain lr=0.5": _BIAS}),
    ),
    Lesson(
        "lr_decay",
        "Which learning-rate schedule ends lowest from the same start, in the same epochs?",
        {**_SPIRAL, "noise": 0.3, "hidden_units": (64, 64), "lr": 0.03, "max_epochs": 60,
         **_TO_THE_END},
        _grid("scheduler", ["none", "cosine", "plateau", "onecycle"], str) + (
            Variation("step", {"scheduler": "step", "step_size": 15, "gamma": 0.3}),
            Variation("exponential", {"scheduler": "exponential", "gamma": 0.95}),
        ),
    ),
    Lesson(
        "early_stopping",
        "How many epochs does early stopping save, and what dev/test loss does it keep?",
        {**_OVERFIT, "monitor": "dev_loss"},
        (Variation("no early stopping, last weights", _TO_THE_END),
         Variation("all epochs, best weights", {"patience": 0}))
        + _grid("patience", [3, 10, 30], lambda v: f"patience={v}"),
        story=Story({"no early stopping, last weights": ("high_variance",),
                     "all epochs, best weights": _NOT_TOLD_TO_GROW},
                    ("no early stopping, last weights", "all epochs, best weights")),
    ),
    Lesson(
        "learning_curve",
        "Will more data help? The dev error against the training rows, for a network that "
        "over-fits its data and for one too simple for its data.",
        {"dev_fraction": 0.3, "max_epochs": 60, **_TO_THE_END},
        (Variation("64 units on digits (high variance)",
                   {"dataset": "digits", "hidden_units": (64,)}),
         Variation("linear on spiral (high bias)",
                   {"dataset": "spiral", "n_samples": 1000, "hidden_units": ()})),
        fractions=(0.15, 0.25, 0.4, 0.7, 1.0),  # smoke mode: 11 of 75 rows for 10 digits
    ),
)}

def get_lesson(name: str) -> Lesson:
    """The lesson called ``name``; a ValueError lists the others."""
    if name not in LESSONS:
        raise ValueError(f"no lesson {name!r}; the lessons are: {', '.join(LESSONS)}")
    return LESSONS[name]
