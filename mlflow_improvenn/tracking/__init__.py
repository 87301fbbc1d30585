"""Tracking: what a run writes to MLflow and how runs are read back.

The store and its experiments (``store``), the per-epoch metric writer that keeps the store
off the training loop's path (``background``), one trainer run's params, summary, tags and
status (``tracker``), the files a run leaves (``artifacts``), the logged model that serves raw
rows (``serving``), its figures (``plots``, laid out from measured text by ``figures``; the
range test's and the learning curve's in ``finder_plots``), paged run queries (``queries``),
and whether a RUNNING run's process is gone (``liveness``, read by ``improvenn runs
--stale``). Imports only :mod:`mlflow_improvenn.training`.
"""

from mlflow_improvenn._lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "RunTracker": "tracker",
    "MetricWriter": "background",
    "prepare_store": "store",
    "redact_uri": "store",
    "learning_curves": "plots",
    "client_for": "queries",
    "search_runs": "queries",
    "RunRecord": "queries",
})
