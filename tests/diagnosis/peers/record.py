"""Read a finished run back from MLflow into a JSON-ready record of what the tool logged."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from mlflow import MlflowClient

#: Tags every run gets from MLflow itself, telling nothing about the tool that logged.
NOISE_TAGS = ("mlflow.source.", "mlflow.user", "mlflow.git.")


def logged(client: MlflowClient, run_id: str) -> dict[str, Any]:
    """Params, tool tags, latest metrics (as ``search_runs`` gives them) and full histories.

    Histories are ``[step, value, timestamp_ms]`` lists in the order MLflow returns them.
    ``metric_links`` names, per key, the dataset or logged model MLflow 3 tied entries to.
    """
    run = client.get_run(run_id)
    searched = client.search_runs([run.info.experiment_id], f"attributes.run_id = '{run_id}'")
    histories = {key: client.get_metric_history(run_id, key) for key in sorted(run.data.metrics)}
    return {
        "status": run.info.status,
        "params": dict(sorted(run.data.params.items())),
        "tags": {k: v for k, v in sorted(run.data.tags.items()) if not k.startswith(NOISE_TAGS)},
        "latest": dict(sorted(searched[0].data.metrics.items())),
        "history": {key: [[m.step, m.value, m.timestamp] for m in entries]
                    for key, entries in histories.items()},
        "metric_links": _links(histories),
        "dataset_inputs": [_dataset_input(d) for d in run.inputs.dataset_inputs],
    }


def versions(packages: tuple[str, ...]) -> dict[str, str]:
    """Installed versions of ``packages`` (and of MLflow and torch), for the record's header."""
    found = {}
    for name in ("mlflow", "torch", *packages):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "absent"
    return found


def _links(histories: dict[str, list]) -> dict[str, dict[str, Any]]:
    links = {}
    for key, entries in histories.items():
        datasets = sorted({m.dataset_name for m in entries if m.dataset_name})
        with_model = sum(1 for m in entries if m.model_id)
        if datasets or with_model:
            links[key] = {"dataset_names": datasets, "entries_with_model_id": with_model}
    return links


def _dataset_input(dataset_input: Any) -> dict[str, Any]:
    tags = {tag.key: tag.value for tag in dataset_input.tags}
    return {"name": dataset_input.dataset.name, "source_type": dataset_input.dataset.source_type,
            "tags": tags}
