"""Hugging Face ``Trainer`` runs with ``report_to="mlflow"`` on the token task.

The model is a BERT built from a config (nothing downloaded): ``len(hidden)`` layers of
``hidden[0]`` units. ``compute_metrics`` gives ``accuracy`` on the dev split, evaluated each
epoch. Variants: ``eval_epoch`` (logging left at its default, every 500 steps, which short
runs never reach) and ``log_epoch`` (``logging_strategy="epoch"`` too).
"""

from __future__ import annotations

import tempfile

import mlflow
import numpy as np
import torch
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

from tests.diagnosis.peers.setups import (
    TOKEN_LENGTH,
    TOKEN_VOCAB,
    PeerRun,
    Setup,
    Split,
    Variant,
    error_rate,
    tokens,
)

PACKAGES = ("transformers", "accelerate")
SETUPS = {
    "under_fit": Setup("under_fit", 2000, 1000, (32,), epochs=1, batch_size=500, lr=1e-4),
    "over_fit": Setup("over_fit", 32, 1000, (64, 64), epochs=20, batch_size=8, lr=3e-3),
    "good_fit": Setup("good_fit", 2000, 1000, (32,), epochs=3, batch_size=64, lr=3e-3),
}
TINY = Setup("good_fit", 32, 32, (16,), epochs=1, batch_size=16, lr=1e-3)


class TokenRows(torch.utils.data.Dataset):
    def __init__(self, ids: np.ndarray, labels: np.ndarray) -> None:
        self.ids, self.labels = torch.from_numpy(ids), torch.from_numpy(labels)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.ids[i], "labels": self.labels[i]}


def accuracy(prediction) -> dict[str, float]:
    return {"accuracy": float(np.mean(prediction.predictions.argmax(-1) == prediction.label_ids))}


def trainer_run(logging_strategy: str):
    def make(setup: Setup, split: Split) -> PeerRun:
        torch.manual_seed(0)
        model = BertForSequenceClassification(_config(setup))
        with tempfile.TemporaryDirectory() as output_dir:
            args = TrainingArguments(
                output_dir=output_dir, report_to="mlflow", eval_strategy="epoch",
                logging_strategy=logging_strategy, save_strategy="no",
                num_train_epochs=setup.epochs, learning_rate=setup.lr,
                per_device_train_batch_size=setup.batch_size, per_device_eval_batch_size=500,
                use_cpu=True, disable_tqdm=True, seed=0)
            Trainer(model=model, args=args, train_dataset=TokenRows(split.x_train, split.y_train),
                    eval_dataset=TokenRows(split.x_dev, split.y_dev),
                    compute_metrics=accuracy).train()
        return PeerRun(mlflow.last_active_run().info.run_id,
                       error_rate(_predict(model, split.x_train), split.y_train),
                       error_rate(_predict(model, split.x_dev), split.y_dev),
                       {"logging_strategy": logging_strategy, "eval_strategy": "epoch",
                        "logging_steps": args.logging_steps, "num_hidden_layers":
                        len(setup.hidden), "hidden_size": setup.hidden[0]})

    return make


def _config(setup: Setup) -> BertConfig:
    size = setup.hidden[0]
    return BertConfig(vocab_size=TOKEN_VOCAB, hidden_size=size, num_hidden_layers=len(setup.hidden),
                      num_attention_heads=2, intermediate_size=2 * size,
                      max_position_embeddings=TOKEN_LENGTH + 1, num_labels=2,
                      hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)


def _predict(model: BertForSequenceClassification, ids: np.ndarray) -> np.ndarray:
    model.eval()
    with torch.no_grad():
        return model(input_ids=torch.from_numpy(ids)).logits.argmax(dim=1).numpy()


VARIANTS = tuple(Variant("transformers", name, SETUPS, tokens, trainer_run(strategy), TINY)
                 for name, strategy in (("eval_epoch", "steps"), ("log_epoch", "epoch")))
