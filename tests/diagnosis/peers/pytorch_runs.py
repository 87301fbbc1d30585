"""A plain PyTorch loop that logs the way users write it: ``mlflow.log_metrics(..., step=epoch)``.

Per epoch (0-based step): ``train_loss``/``train_acc`` as the mean over the epoch's batches
(the model changing during the epoch, as users compute them), ``val_loss``/``val_acc`` on the
dev split after the epoch.
"""

from __future__ import annotations

import mlflow
import torch

from tests.diagnosis.peers.nets import loader, mlp, predicted_error
from tests.diagnosis.peers.setups import MOONS_SETUPS, TINY, PeerRun, Setup, Split, Variant, moons

PACKAGES = ()


def log_metrics_run(setup: Setup, split: Split) -> PeerRun:
    torch.manual_seed(0)
    model = mlp(setup.hidden, split.x_train.shape[1])
    optimizer = torch.optim.Adam(model.parameters(), lr=setup.lr)
    train, dev = loader(split.x_train, split.y_train, setup, True), loader(
        split.x_dev, split.y_dev, setup, False)
    with mlflow.start_run() as run:
        mlflow.log_params({"hidden": setup.hidden, "lr": setup.lr, "epochs": setup.epochs,
                           "batch_size": setup.batch_size})
        for epoch in range(setup.epochs):
            train_loss, train_acc = _epoch(model, train, optimizer)
            with torch.no_grad():
                val_loss, val_acc = _epoch(model, dev, None)
            mlflow.log_metrics({"train_loss": train_loss, "train_acc": train_acc,
                                "val_loss": val_loss, "val_acc": val_acc}, step=epoch)
    return PeerRun(run.info.run_id, predicted_error(model, split.x_train, split.y_train),
                   predicted_error(model, split.x_dev, split.y_dev))


def _epoch(model: torch.nn.Module, batches: torch.utils.data.DataLoader,
           optimizer: torch.optim.Optimizer | None) -> tuple[float, float]:
    """Mean loss and accuracy over one pass; a step per batch when ``optimizer`` is given."""
    model.train(optimizer is not None)
    total_loss = correct = seen = 0.0
    for x, y in batches:
        logits = model(x)
        loss = torch.nn.functional.cross_entropy(logits, y)
        if optimizer is not None:
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        total_loss += loss.item() * len(y)
        correct += (logits.argmax(dim=1) == y).sum().item()
        seen += len(y)
    return total_loss / seen, correct / seen


VARIANTS = (Variant("pytorch", "log_metrics", MOONS_SETUPS, moons, log_metrics_run, TINY),)
