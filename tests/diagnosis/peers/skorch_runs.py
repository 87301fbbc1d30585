"""skorch runs: ``NeuralNetClassifier`` with its ``MlflowLogger`` callback in the active run.

Variants: ``epoch`` (the logger's defaults, skorch's default scoring: no train accuracy),
``epoch_train_acc`` (an ``EpochScoring`` of train accuracy added, as users do to see both),
``batch`` (``log_on_batch_end=True`` too, which suffixes keys with ``_epoch``/``_batch``).
The dev split is given with ``predefined_split`` so that its size is known, and scored in
batches of ``VALID_BATCH_SIZE`` rows (with the training batch size, the batch variant's
over-fit run logged 3,000 dev-batch entries: 600 KiB of record).
"""

from __future__ import annotations

import mlflow
import torch
from skorch import NeuralNetClassifier
from skorch.callbacks import Callback, EpochScoring, MlflowLogger
from skorch.dataset import Dataset
from skorch.helper import predefined_split

from tests.diagnosis.peers.nets import mlp
from tests.diagnosis.peers.setups import (
    MOONS_SETUPS,
    TINY,
    PeerRun,
    Setup,
    Split,
    Variant,
    error_rate,
    moons,
)

PACKAGES = ("skorch",)
VALID_BATCH_SIZE = 500


def classifier_run(train_accuracy: bool, log_on_batch_end: bool):
    def make(setup: Setup, split: Split) -> PeerRun:
        torch.manual_seed(0)
        callbacks: list[Callback] = [MlflowLogger(log_on_batch_end=log_on_batch_end)]
        if train_accuracy:
            callbacks.insert(0, EpochScoring("accuracy", lower_is_better=False, on_train=True,
                                             name="train_acc"))
        net = NeuralNetClassifier(
            mlp(setup.hidden, split.x_train.shape[1]), criterion=torch.nn.CrossEntropyLoss,
            optimizer=torch.optim.Adam, lr=setup.lr, max_epochs=setup.epochs,
            batch_size=setup.batch_size, iterator_valid__batch_size=VALID_BATCH_SIZE,
            callbacks=callbacks, verbose=0,
            train_split=predefined_split(Dataset(split.x_dev, split.y_dev)))
        with mlflow.start_run() as run:
            net.fit(split.x_train, split.y_train)
        return PeerRun(run.info.run_id, error_rate(net.predict(split.x_train), split.y_train),
                       error_rate(net.predict(split.x_dev), split.y_dev),
                       {"iterator_valid__batch_size": VALID_BATCH_SIZE})

    return make


VARIANTS = (
    Variant("skorch", "epoch", MOONS_SETUPS, moons, classifier_run(False, False), TINY),
    Variant("skorch", "epoch_train_acc", MOONS_SETUPS, moons, classifier_run(True, False), TINY),
    Variant("skorch", "batch", MOONS_SETUPS, moons, classifier_run(True, True), TINY),
)
