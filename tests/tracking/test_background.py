"""The metric writer: every queued row reaches the store, whichever thread writes it."""

from __future__ import annotations

import threading

from mlflow.tracking import MlflowClient

from mlflow_improvenn.tracking.background import MetricWriter


def _history(client: MlflowClient, run_id: str, key: str) -> list[tuple[int, float]]:
    return sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))


def test_finish_soon_has_the_thread_write_the_queue_while_the_caller_goes_on(
    tracking_uri: str,
) -> None:
    client = MlflowClient()
    run_id = client.create_run("0").info.run_id
    writer = MetricWriter(client, run_id, interval_s=3600)  # never on its own
    for epoch in range(1, 1501):  # more than one log_batch of 1,000
        writer.add({"train_loss": 1 / epoch, "dev_loss": 2 / epoch}, step=epoch)
    written_by = set()
    log_batch = client.log_batch
    client.log_batch = lambda *a, **k: (written_by.add(threading.current_thread().name),
                                        log_batch(*a, **k))[1]
    writer.finish_soon()
    writer.close()
    assert written_by == {"improvenn-metrics"}  # before close, not by it
    assert _history(client, run_id, "dev_loss") == [(e, 2 / e) for e in range(1, 1501)]
    assert len(_history(client, run_id, "train_loss")) == 1500


def test_close_writes_what_the_thread_could_not(tracking_uri: str) -> None:
    client = MlflowClient()
    run_id = client.create_run("0").info.run_id
    writer = MetricWriter(client, run_id, interval_s=3600)
    writer.add({"dev_loss": 0.5}, step=1)
    log_batch = client.log_batch
    calls = []

    def failing_once(*args, **kwargs):
        calls.append(threading.current_thread().name)
        if len(calls) == 1:
            raise ConnectionError("store away")
        return log_batch(*args, **kwargs)

    client.log_batch = failing_once
    writer.finish_soon()
    writer.close()
    assert calls == ["improvenn-metrics", "MainThread"]
    assert _history(client, run_id, "dev_loss") == [(1, 0.5)]
