"""Which logged metrics stand for a run's train and dev error: paired by rule, not by a list.

A metric name is read as ``[split prefix]stem[level suffix]``:

* split prefixes: train ``train_``, ``training_``, ``train/`` or none; dev ``val_``,
  ``valid_``, ``validation_``, ``eval_``, ``dev_`` (and the same with ``/``); test ``test_``,
  ``test/``, used as the dev side only when no dev metric pairs;
* level suffixes: ``_epoch`` (Lightning's epoch mean: taken), ``_step`` and ``_batch``
  (single batches: never compared with a dev metric of a whole epoch);
* a train and a dev metric pair when their stems are equal. scikit-learn's autolog names its
  training metrics ``training_<stem>`` and the metrics of a later evaluation ``<stem>``,
  ``<stem>_<dataset>`` or ``<stem>_<dataset>-N``: those pair too.

The stem says what the number is (:func:`stem_kind`): an accuracy (error = 1 - value), an
error rate, R^2 (unexplained variance = 1 - value), a loss, or any other score (F1, AUC,
``score``...), which is never read as an error. Pairs are preferred in this order: our
trainer's summary (``best_train_*``/``best_dev_*``, the restored best weights in eval mode),
then error rates (accuracy or error), then R^2, then losses; a dev split before a test split;
epoch-level train metrics before per-step ones.

Hugging Face's ``Trainer`` logs ``train_loss`` once at the end as the mean over all of
training (beside ``train_runtime``); that is not the model's last train loss, so such a
``train_loss`` pairs with ``eval_loss`` only when nothing else does: exactly after one
epoch, as an upper bound of the last epoch's loss after more.

>>> choice = choose_metrics({"accuracy": 0.9, "val_accuracy": 0.8, "loss": 0.3, "val_loss": 0.5})
>>> choice.pair.label, round(choice.dev_error, 6)
('accuracy/val_accuracy', 0.2)
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from mlflow_improvenn.diagnosis.verdicts import Scale

Kind = Literal["error", "accuracy", "r2", "loss", "score"]
Split = Literal["train", "dev", "test"]

_SPLIT_PREFIXES: tuple[tuple[str, Split], ...] = tuple(
    (f"{word}{separator}", split)
    for word, split in (
        ("training", "train"), ("train", "train"), ("validation", "dev"), ("valid", "dev"),
        ("val", "dev"), ("eval", "dev"), ("dev", "dev"), ("test", "test"),
    )
    for separator in ("_", "/")
)
_LEVEL_SUFFIXES = {"_epoch": "epoch", "_step": "step", "_batch": "step"}
_SUMMARY_PREFIX = "best_"
_SKLEARN_TRAIN_PREFIX = "training_"
_SKLEARN_COUNTER = re.compile(r"-\d+$")
_HF_SUMMARY_MARKER = "train_runtime"
_HF_TRAIN_MEAN, _HF_DEV_LOSS = "train_loss", "eval_loss"
_KIND_ORDER: dict[Kind, int] = {"error": 0, "accuracy": 0, "r2": 1, "loss": 2}
_LOSS_WORDS = ("loss", "mse", "mae", "rmse", "squared_error", "absolute_error", "nll", "entropy")


@dataclass(frozen=True)
class MetricName:
    """One logged metric name, read: which split, what stem, logged per epoch or per step."""

    key: str
    split: Split
    stem: str
    level: str = "epoch"
    summary: bool = False  # our trainer's best_* metrics
    prefixed: bool = False  # the split was named (``train_loss``), not implied (``loss``)
    suffixed: bool = False  # the level was named (``train_acc_epoch``), not implied


def parse(key: str) -> MetricName:
    """Read a metric name (see the module's rules).

    >>> name = parse("val_acc_epoch")
    >>> name.split, name.stem, name.level
    ('dev', 'acc', 'epoch')
    """
    name, summary = key, key.startswith(_SUMMARY_PREFIX)
    if summary:
        name = name[len(_SUMMARY_PREFIX):]
    level, suffixed = "epoch", False
    for suffix, suffix_level in _LEVEL_SUFFIXES.items():
        if name.endswith(suffix) and len(name) > len(suffix):
            name, level, suffixed = name[: -len(suffix)], suffix_level, True
            break
    for prefix, split in _SPLIT_PREFIXES:
        if name.startswith(prefix) and len(name) > len(prefix):
            return MetricName(key, split, name[len(prefix):], level, summary, True, suffixed)
    return MetricName(key, "train", name, level, summary, suffixed=suffixed)


def stem_kind(stem: str) -> Kind:
    """What a metric's stem measures.

    >>> [stem_kind(s) for s in ("sparse_categorical_accuracy", "mean_squared_error", "f1_score",
    ...                         "r2_score", "error", "log_loss", "zero_one_loss")]
    ['accuracy', 'loss', 'score', 'r2', 'error', 'loss', 'error']
    """
    lowered = stem.lower()
    if lowered in ("r2", "r2_score", "r_squared") or lowered.endswith("_r2"):
        return "r2"
    if lowered.endswith(("accuracy", "acc", "accuracy_score")):
        return "accuracy"
    if lowered.startswith("zero_one") or lowered in ("error", "err", "error_rate"):
        return "error"
    if any(word in lowered for word in _LOSS_WORDS):
        return "loss"
    if lowered.endswith(("_error", "error_rate", "_err")):
        return "error"
    return "score"


@dataclass(frozen=True)
class MetricPair:
    """A train metric and its dev counterpart, and what kind of number they hold.

    ``per_step``: the train metric is logged per batch, so its latest value is one batch's;
    its epoch-level value has to be read from its history. ``train_upper_bound``: the train
    value is a mean over several epochs of a falling loss (Hugging Face's ``train_loss``),
    so it bounds the last epoch's from above.
    """

    train: str
    dev: str
    kind: Kind
    per_step: bool = False
    train_upper_bound: bool = False

    @property
    def label(self) -> str:
        return f"{self.train}/{self.dev}"

    def scale(self) -> Scale:
        """Error rates for accuracies and errors, unexplained variance for R^2, else the
        loss's own units."""
        if self.kind in ("error", "accuracy"):
            return Scale.ERROR_RATE
        if self.kind == "r2":
            return Scale.UNEXPLAINED_VARIANCE
        return Scale.LOSS

    def as_scale(self, value: float) -> float:
        """The logged value on the pair's scale: 1 - accuracy, 1 - R^2, else as logged."""
        return 1.0 - value if self.kind in ("accuracy", "r2") else value


@dataclass(frozen=True)
class MetricChoice:
    """The chosen pair and its values on its scale, or ``missing`` saying why there is none."""

    pair: MetricPair | None
    train_error: float | None = None
    dev_error: float | None = None
    missing: str = ""

    @property
    def scale(self) -> Scale:
        return self.pair.scale() if self.pair else Scale.ERROR_RATE


def candidate_pairs(
    metrics: Mapping[str, float] | Iterable[str], task: str | None = None
) -> list[MetricPair]:
    """Every train/dev pair the rules find among the run's metric names, the preferred first.

    Hugging Face's end-of-training ``train_loss`` comes last, as the mean of all its epochs:
    exact after one epoch (the latest ``epoch`` metric says how many), an upper bound after
    more.
    """
    values = metrics if isinstance(metrics, Mapping) else dict.fromkeys(metrics, math.nan)
    names = [parse(key) for key in values]
    hugging_face = _HF_SUMMARY_MARKER in values
    train_side = [n for n in names if n.split == "train"
                  and not (hugging_face and n.key == _HF_TRAIN_MEAN)]
    ranked = []
    for train in train_side:
        kind = stem_kind(train.stem)
        if kind == "score" or (task == "regression" and kind in ("error", "accuracy")):
            continue
        for dev in _dev_partners(train, names):
            rank = (not train.summary, _KIND_ORDER[kind], dev.split == "test",
                    train.level == "step", not (train.suffixed or train.summary),
                    not train.prefixed)
            ranked.append((rank, MetricPair(train.key, dev.key, kind, train.level == "step")))
    ranked.sort(key=lambda item: item[0])
    pairs = list(dict.fromkeys(pair for _, pair in ranked))
    if hugging_face and _HF_TRAIN_MEAN in values and _HF_DEV_LOSS in values:
        epochs = values.get("epoch", math.nan)
        pairs.append(MetricPair(_HF_TRAIN_MEAN, _HF_DEV_LOSS, "loss",
                                train_upper_bound=not epochs <= 1))
    return pairs


def dev_error_metric(metrics: Mapping[str, float]) -> str | None:
    """A dev-side accuracy or error metric, for judging a run whose pair is a loss pair: a dev
    error at the Bayes error leaves nothing to gain, whatever the losses say."""
    for name in map(parse, metrics):
        if name.split == "dev" and stem_kind(name.stem) in ("accuracy", "error") \
                and name.level == "epoch":
            return name.key
    return None


def _dev_partners(train: MetricName, names: list[MetricName]) -> list[MetricName]:
    partners = [
        n for n in names
        if n.split in ("dev", "test") and n.stem == train.stem and n.summary == train.summary
        and n.level == "epoch"
    ]
    if train.key.startswith(_SKLEARN_TRAIN_PREFIX):
        partners += [n for n in names if _is_sklearn_evaluation(n.key, train.stem)]
    return partners


def _is_sklearn_evaluation(key: str, stem: str) -> bool:
    """``<stem>``, ``<stem>_<dataset>`` or either with a ``-N`` counter (scikit-learn autolog)."""
    key = _SKLEARN_COUNTER.sub("", key)
    return key == stem or key.startswith(f"{stem}_")


def pair_from_names(
    train_metric: str | None, dev_metric: str | None, kind: Kind | None = None
) -> MetricPair | None:
    """An explicit pair from the user's two names; both or neither, since units must agree.

    ``kind`` says what they hold where the names do not (accuracy, error, r2 or loss).
    """
    if train_metric is None and dev_metric is None:
        return None
    if not train_metric or not dev_metric:
        raise ValueError("give both the train metric and the dev metric, or neither")
    if kind is None:
        kinds = {stem_kind(parse(train_metric).stem), stem_kind(parse(dev_metric).stem)}
        if len(kinds) > 1:
            raise ValueError(f"{train_metric} and {dev_metric} are not the same kind of metric; "
                             "say which with --metric-kind")
        kind = kinds.pop()
        if kind == "score":
            raise ValueError(f"{train_metric} reads as a score, not an error: say what it is "
                             "with --metric-kind (accuracy, error, r2 or loss)")
    return MetricPair(train_metric, dev_metric, kind)


def choose_metrics(
    metrics: Mapping[str, float], task: str | None = None, override: MetricPair | None = None
) -> MetricChoice:
    """The preferred pair among the run's metrics, its values on the pair's scale."""
    pairs = [override] if override else candidate_pairs(metrics, task)
    for pair in pairs:
        if pair.train in metrics and pair.dev in metrics:
            return _convert(pair, metrics[pair.train], metrics[pair.dev])
    return MetricChoice(None, missing=describe_missing(metrics, override))


def _convert(pair: MetricPair, train: float, dev: float) -> MetricChoice:
    if pair.kind in ("accuracy", "r2", "error"):
        low = -math.inf if pair.kind == "r2" else 0.0
        bad = [f"{n}={v:g}" for n, v in ((pair.train, train), (pair.dev, dev))
               if math.isfinite(v) and not low <= v <= 1.0]
        if bad:
            return MetricChoice(pair, missing=f"{pair.kind} outside [0, 1]: {', '.join(bad)}")
    return MetricChoice(pair, pair.as_scale(train), pair.as_scale(dev))


def describe_missing(metrics: Mapping[str, float], override: MetricPair | None = None) -> str:
    """What the run has and lacks, in its own names, and how to name a pair."""
    hint = "name a pair with --train-metric/--dev-metric"
    if override:
        present = [k for k in (override.train, override.dev) if k in metrics]
        absent = [k for k in (override.train, override.dev) if k not in metrics]
        has = f"has {', '.join(present)} but " if present else ""
        return f"{has}no {', '.join(absent)}"
    names = [parse(key) for key in metrics]
    usable = [n for n in names if stem_kind(n.stem) != "score"]
    train = sorted(n.key for n in usable if n.split == "train")
    dev = sorted(n.key for n in usable if n.split in ("dev", "test"))
    if not train and not dev:
        found = f" (it logged {', '.join(sorted(metrics)[:8])})" if metrics else ""
        return f"no train or dev metric{found}; {hint}"
    if not dev:
        return f"has {', '.join(train[:6])} but no dev metric (val_..., eval_...); {hint}"
    if not train:
        return f"has {', '.join(dev[:6])} but no train metric; {hint}"
    return (f"no train metric pairs with a dev metric of the same name (train: "
            f"{', '.join(train[:6])}; dev: {', '.join(dev[:6])}); {hint}")


#: Per-epoch curves under our names, with the other tools' names that mean the same.
CURVE_ALIASES: dict[str, tuple[str, ...]] = {
    "train_loss": ("train_loss", "loss", "train_loss_epoch"),
    "dev_loss": ("dev_loss", "val_loss", "valid_loss", "eval_loss", "validation_loss"),
    "train_error": ("train_error", "accuracy", "acc", "train_acc", "train_accuracy",
                    "train_acc_epoch"),
    "dev_error": ("dev_error", "val_accuracy", "val_acc", "valid_acc", "eval_accuracy"),
    "lr": ("lr", "learning_rate"),
}


def as_error(name: str, value: float) -> float:
    """Accuracy becomes error; everything else is taken as it is."""
    return 1.0 - value if stem_kind(parse(name).stem) == "accuracy" else value
